"""The readiness judge ``pytest --provision`` waits on (:mod:`fixtures.readiness`), with fakes.

It must answer with the controls' own findings -- per node or object -- and
treat what it cannot read yet as not ready, never as ready.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fixtures.readiness import ControlReadiness
from provisioning.drivers import Target, errors
from provisioning.drivers.talosctl import EtcdAlarmRow, EtcdMemberRow
from provisioning.plan_context import KubeOps, TalosOps
from tests.checks.builders import reference_cluster

TARGET = Target("fake", Path("kubeconfig"), None, None)


class Kube:
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.lists = 0

    def list(
        self,
        kind: tuple[str, str, str],
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self.lists += 1
        if kind[2] not in self.objects:
            raise errors.NotFound(
                "the server could not find the requested resource",
                code=404,
                reason="NotFound",
                request=f"GET /apis/{kind[0]}/{kind[1]}/{kind[2]}",
            )
        return self.objects[kind[2]]

    def get(
        self, kind: tuple[str, str, str], name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        raise AssertionError("the judge only lists")

    def apply_manifest(self, docs: Iterable[Mapping[str, Any]]) -> builtins.list[dict[str, Any]]:
        raise AssertionError("the judge never writes")


class Talos:
    def __init__(self, rows: Sequence[EtcdMemberRow] | None) -> None:
        self.rows = rows

    def etcd_members(self, node: str) -> list[EtcdMemberRow]:
        if self.rows is None:
            raise errors.DriverError("talosctl failed", stderr="etcd is not running")
        return list(self.rows)

    def etcd_alarms(self, node: str) -> list[EtcdAlarmRow]:
        if self.rows is None:
            raise errors.DriverError("talosctl failed", stderr="etcd is not running")
        return []


def judge(kube: Kube, talos: Talos) -> ControlReadiness:
    fake_talos: Any = talos  # only etcd_members and etcd_alarms are asked
    ops: TalosOps = fake_talos
    api: KubeOps = kube
    return ControlReadiness(reference_cluster(), TARGET, talos=ops, kube=lambda: api)


def test_longhorn_before_its_crds_are_served_is_not_ready_saying_why() -> None:
    kube = Kube({"daemonsets": [], "deployments": [], "storageclasses": []})
    left = judge(kube, Talos([])).not_ready("longhorn")
    assert any(
        line.startswith("not observable yet: cannot list nodes.longhorn.io") for line in left
    ), left
    assert "StorageClass/longhorn: expected present, default" in "\n".join(left)
    assert any("DaemonSet longhorn-system/longhorn-manager" in line for line in left), left


def test_cilium_names_each_node_without_a_ready_agent() -> None:
    nodes = [
        {"metadata": {"name": f"k8s-node0{i}"}, "status": {"conditions": []}} for i in range(1, 7)
    ]
    kube = Kube({"nodes": nodes, "pods": [], "daemonsets": [], "deployments": []})
    left = judge(kube, Talos([])).not_ready("cilium")
    assert sum("no agent pod" in line for line in left) == 6, left
    assert any(line.startswith("Deployment kube-system/cilium-operator") for line in left), left
    assert kube.lists == 4  # one LIST per kind the stage's checks read


def test_etcd_that_does_not_answer_is_not_ready() -> None:
    left = judge(Kube({}), Talos(None)).not_ready("etcd")
    assert len(left) == 1
    assert left[0].startswith("not observable yet: no control-plane node answered etcd members")


def test_etcd_with_a_member_per_control_plane_node_is_ready() -> None:
    cluster = reference_cluster()
    rows = [
        EtcdMemberRow(None, f"{i:x}", n.hostname, (f"https://{n.ip}:2380",), (), False)
        for i, n in enumerate(cluster.control_plane_nodes)
    ]
    assert judge(Kube({}), Talos(rows)).not_ready("etcd") == []


def test_nodes_stage_is_top01_s_check_naming_each_node_not_ready() -> None:
    ready = {"type": "Ready", "status": "True"}
    not_ready = {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}
    nodes = [
        {"metadata": {"name": f"k8s-node0{i}"}, "status": {"conditions": [ready]}}
        for i in range(1, 6)
    ] + [{"metadata": {"name": "k8s-node06"}, "status": {"conditions": [not_ready]}}]
    kube = Kube({"nodes": nodes})
    left = judge(kube, Talos([])).not_ready("nodes")
    assert len(left) == 1, left
    assert "k8s-node06" in left[0]
    assert "Ready=False (KubeletNotReady)" in left[0]
    assert kube.lists == 1  # the Nodes only
    nodes[-1]["status"] = {"conditions": [ready]}
    assert judge(kube, Talos([])).not_ready("nodes") == []
