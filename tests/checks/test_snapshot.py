"""The snapshot's accessors: what a check gets, and the reason it gets instead when unread.

Every check relies on one promise -- a source the collector could not read
raises :class:`Unobservable` carrying the collector's reason, never an empty
value that would let the check pass -- so it is pinned here on hand-built
snapshots, together with the small lookup helpers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from checks import snapshot as model
from checks.findings import Unobservable
from checks.snapshot import Snapshot, dotted, in_namespace, named, on_node
from provisioning.definition import inventory


def snapshot_of(cluster: inventory.Cluster, **kw: Any) -> Snapshot:
    return Snapshot(definition=cluster, target="hand-built", taken_at=datetime.now(UTC), **kw)


def _resource(node: str, rid: str, spec: Any) -> dict[str, Any]:
    return {"node": node, "metadata": {"id": rid}, "spec": spec}


def test_objects_are_returned_and_unread_kinds_raise_the_collectors_reason(
    cluster: inventory.Cluster,
) -> None:
    pods = [{"metadata": {"name": "a", "namespace": "x"}}]
    snap = snapshot_of(
        cluster,
        kube={model.PODS.key: pods, model.STORAGE_CLASSES.key: []},
        missing={model.LONGHORN_VOLUMES.key: "the CRD volumes.longhorn.io is not installed"},
    )
    assert snap.objects(model.PODS) == pods
    assert snap.objects(model.STORAGE_CLASSES) == []  # observed, and there are none
    with pytest.raises(Unobservable, match=r"CRD volumes\.longhorn\.io is not installed"):
        snap.objects(model.LONGHORN_VOLUMES)
    with pytest.raises(Unobservable, match=r"deployments\.apps was not collected"):
        snap.objects(model.DEPLOYMENTS)


def test_a_missing_reason_wins_over_collected_data(cluster: inventory.Cluster) -> None:
    snap = snapshot_of(
        cluster,
        kube={model.NODES.key: []},
        talos={model.VOLUME_STATUS: {}},
        missing={model.NODES.key: "401 Unauthorized", model.VOLUME_STATUS: "talosctl failed"},
    )
    with pytest.raises(Unobservable, match="401 Unauthorized"):
        snap.objects(model.NODES)
    with pytest.raises(Unobservable, match="talosctl failed"):
        snap.resources(model.VOLUME_STATUS)


def test_per_node_absence_is_visible_and_raised_with_its_reason(
    cluster: inventory.Cluster,
) -> None:
    reason = "talosctl get volumestatuses got no answer from node03 (10.10.20.18): no route"
    snap = snapshot_of(
        cluster,
        talos={model.VOLUME_STATUS: {"node01": [_resource("10.10.20.16", "STATE", {})]}},
        configz={"node01": {"seccompDefault": True}},
        missing={
            on_node(model.VOLUME_STATUS, "node03"): reason,
            on_node(model.CONFIGZ, "node03"): "configz: 503",
        },
    )
    assert on_node(model.VOLUME_STATUS, "node03") == "volumestatuses on node03"
    assert snap.node_resources(model.VOLUME_STATUS, "node01")[0]["metadata"]["id"] == "STATE"
    with pytest.raises(Unobservable, match="no answer from node03"):
        snap.node_resources(model.VOLUME_STATUS, "node03")
    with pytest.raises(Unobservable, match="volumestatuses on node02 was not collected"):
        snap.node_resources(model.VOLUME_STATUS, "node02")
    assert snap.unread_nodes(model.VOLUME_STATUS) == {"node03": reason}
    assert snap.unread_nodes(model.CONFIGZ) == {"node03": "configz: 503"}
    assert snap.unread_nodes(model.MACHINE_CONFIG) == {}
    assert snap.kubelet_config("node01") == {"seccompDefault": True}
    with pytest.raises(Unobservable, match="configz: 503"):
        snap.kubelet_config("node03")


def test_kubelet_config_raises_when_configz_was_not_read_at_all(
    cluster: inventory.Cluster,
) -> None:
    snap = snapshot_of(cluster, missing={model.CONFIGZ: "the Kubernetes API did not answer"})
    with pytest.raises(Unobservable, match="did not answer"):
        snap.kubelet_config("node01")
    with pytest.raises(Unobservable, match="did not answer"):
        snap.require(model.CONFIGZ)
    snap.require(model.BACKUPS)  # read: no exception


def test_machine_config_gives_documents_or_the_nodes_reason(cluster: inventory.Cluster) -> None:
    docs = [{"version": "v1alpha1", "machine": {"token": "<redacted>"}}]
    snap = snapshot_of(
        cluster,
        talos={
            model.MACHINE_CONFIG: {
                "node01": [_resource("10.10.20.16", "v1alpha1", docs)],
                "node02": [_resource("10.10.20.17", "v1alpha1", "version: v1alpha1\n")],
            }
        },
        missing={on_node(model.MACHINE_CONFIG, "node03"): "node03 did not answer"},
    )
    assert snap.machine_config("node01") == docs
    with pytest.raises(Unobservable, match="not parsed YAML"):
        snap.machine_config("node02")
    with pytest.raises(Unobservable, match="node03 did not answer"):
        snap.machine_config("node03")
    with pytest.raises(Unobservable, match="no machine config was read from node04"):
        snap.machine_config("node04")


def test_named_in_namespace_and_dotted() -> None:
    objects: list[dict[str, Any]] = [
        {"metadata": {"name": "cilium", "namespace": "kube-system"}, "spec": {"a": {"b": 1}}},
        {"metadata": {"name": "cilium", "namespace": "other"}},
        {"metadata": {"name": "longhorn"}},
        {},
    ]
    assert named(objects, "cilium") is objects[0]
    assert named(objects, "cilium", "other") is objects[1]
    assert named(objects, "longhorn") is objects[2]
    assert named(objects, "absent") == {}
    assert named(objects, "longhorn", "kube-system") == {}
    assert in_namespace(objects, "kube-system") == [objects[0]]
    assert in_namespace(objects, "nowhere") == []
    assert dotted(objects[0], "spec.a.b") == 1
    assert dotted(objects[0], "spec.a.c") is None
    assert dotted(objects[0], "spec.a.b.c", default="x") == "x"
    assert dotted(objects[0], "metadata.name") == "cilium"
    assert dotted(None, "a", default=0) == 0


def test_kind_keys_and_paths_are_kubectls_resource_names() -> None:
    assert model.NODES.key == "nodes"
    assert model.NODES.path == ("", "v1", "nodes")
    assert model.DAEMONSETS.key == "daemonsets.apps"
    assert model.LONGHORN_VOLUMES.key == "volumes.longhorn.io"
    assert len({kind.key for kind in model.KUBE_KINDS}) == len(model.KUBE_KINDS)
