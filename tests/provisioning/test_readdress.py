"""The IP-change procedure (lesson 3) and the graceful-reset rule (lesson 7), on a fake talosctl.

The fake keeps just what the procedure reads: who is an etcd member at which
peer URL, and whether the moving node answers in maintenance or configured
at which address.  The simulator-backed run is in tests/suite/test_readdress.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provisioning.config.bundle import MachineSecrets, generate_secrets
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from provisioning.drivers.talosctl import EtcdAlarmRow, EtcdMemberRow
from provisioning.operations.readdress import graceful_reset, peer_url, plan_readdress
from provisioning.plan import Step, run_plan
from provisioning.plan_context import PlanError, Timeouts

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "10.10.20.18", "10.10.20.118"


def member(hostname: str, ip: str, index: int) -> EtcdMemberRow:
    return EtcdMemberRow(
        node=None,
        id=f"{index:016x}",
        hostname=hostname,
        peer_urls=(peer_url(ip),),
        client_urls=(f"https://{ip}:2379",),
        is_learner=False,
    )


class FakeTalos:
    """Members and the moving node's (state, address); every write is recorded."""

    def __init__(self, cluster: inventory.Cluster, moving: str) -> None:
        self.members = [
            member(n.hostname, OLD if n.name == moving else str(n.ip), i + 1)
            for i, n in enumerate(cluster.control_plane_nodes)
        ]
        self.moving = next(n for n in cluster.nodes if n.name == moving)
        self.state, self.address = "configured", OLD
        self.calls: list[str] = []

    def get(self, resource: str, nodes: Sequence[str], **kw: Any) -> list[dict[str, Any]]:
        (address,) = nodes
        if address in (OLD, NEW) and address != self.address:
            raise errors.Unreachable(f"{address}: connection refused")
        wanted = "maintenance" if kw.get("insecure") else "configured"
        if address == self.address and self.state != wanted:
            raise errors.DriverError(f"{address}: not {wanted}")
        return [{"node": address}]

    def etcd_members(self, node: str) -> list[EtcdMemberRow]:
        return list(self.members)

    def etcd_alarms(self, node: str) -> list[EtcdAlarmRow]:
        return []

    def etcd_remove_member(self, node: str, member_id: str) -> None:
        self.calls.append(f"remove-member {member_id} via {node}")
        self.members = [m for m in self.members if m.id != member_id]

    def reset(
        self,
        node: str,
        *,
        graceful: bool = True,
        reboot: bool = False,
        labels: Sequence[str] = (),
    ) -> None:
        self.calls.append(f"reset {node} graceful={graceful} reboot={reboot} {','.join(labels)}")
        self.state = "maintenance"

    def apply_config(self, node: str, config_file: Path, **kw: Any) -> str:
        self.calls.append(f"apply-config {node} insecure={kw.get('insecure')}")
        self.state, self.address = "configured", NEW
        self.members.append(member(self.moving.hostname, NEW, 99))
        return ""

    # Unused by the procedure; present so the fake satisfies the protocol.
    def bootstrap(self, node: str) -> None:
        raise AssertionError("not used")

    def kubeconfig(self, path: Path, node: str, *, force: bool = True) -> None:
        raise AssertionError("not used")

    def etcd_snapshot(self, node: str, path: Path) -> Any:
        raise AssertionError("not used")

    def wipe_disk(self, node: str, devices: Sequence[str], *, insecure: bool = False) -> None:
        raise AssertionError("not used")


class FixedSecrets:
    def __init__(self) -> None:
        self.secrets = generate_secrets()

    def load_or_create(self) -> MachineSecrets:
        return self.secrets


def move_in_definition(directory: Path, node_file: str, old: str, new: str) -> None:
    """Edit a copy of the definition as the operator would: inventory IP and node patch."""
    for name in ("cluster.yaml", f"patches/{node_file}"):
        path = directory / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old} not in {name}"
        path.write_text(text.replace(f"{old}/", f"{new}/").replace(f"ip: {old}", f"ip: {new}"))


@pytest.fixture(scope="module")
def moved_cluster(tmp_path_factory: pytest.TempPathFactory) -> inventory.Cluster:
    """The shipped definition with node03 moved to NEW."""
    directory = tmp_path_factory.mktemp("readdress") / "cluster"
    shutil.copytree(ROOT / "cluster", directory)
    move_in_definition(directory, "k8s-node03.yaml", OLD, NEW)
    return inventory.load_cluster(directory)


TARGET = Target("fake", None, Path("talosconfig"), None)


def plan(
    cluster: inventory.Cluster, talos: FakeTalos, *, allow: bool, node: str = "node03"
) -> list[Step]:
    return plan_readdress(
        cluster,
        TARGET,
        node,
        OLD,
        talos=talos,
        secrets=FixedSecrets(),
        allow_destructive=allow,
        log=lambda line: None,
        timeouts=Timeouts(configured=1, etcd=1, nodes=1, poll=0),
        sleep=lambda seconds: None,
    )


def test_graceful_reset_only_for_a_member_with_peers() -> None:
    two = [member("a", "10.0.0.1", 1), member("b", "10.0.0.2", 2)]
    assert graceful_reset(two, "a") is True
    assert graceful_reset(two[:1], "a") is False  # the only member cannot leave (lesson 7)
    assert graceful_reset(two, "c") is False  # already removed: nothing to leave


def test_plan_mode_lists_every_step_and_changes_nothing(moved_cluster: inventory.Cluster) -> None:
    talos = FakeTalos(moved_cluster, "node03")
    result = run_plan(plan(moved_cluster, talos, allow=False), mode="plan", log=lambda s: None)
    assert [o.status for o in result.outcomes] == ["would run"] * 4
    assert result.outcomes[0].name == "remove etcd member node03"
    assert talos.calls == []


def test_apply_without_allowance_is_refused_naming_the_flag(
    moved_cluster: inventory.Cluster,
) -> None:
    talos = FakeTalos(moved_cluster, "node03")
    with pytest.raises(PlanError, match="--allow-destructive"):
        run_plan(plan(moved_cluster, talos, allow=False), mode="apply", log=lambda s: None)
    assert talos.calls == []


def test_apply_runs_the_member_procedure_then_reports_nothing_to_change(
    moved_cluster: inventory.Cluster,
) -> None:
    talos = FakeTalos(moved_cluster, "node03")
    run_plan(plan(moved_cluster, talos, allow=True), mode="apply", log=lambda s: None)
    assert talos.calls == [
        "remove-member 0000000000000003 via 10.10.20.16",
        f"reset {OLD} graceful=False reboot=True STATE,EPHEMERAL",
        f"apply-config {OLD} insecure=True",
    ]
    hostnames = {m.hostname: m.peer_urls for m in talos.members}
    assert hostnames["k8s-node03"] == (peer_url(NEW),)
    again = run_plan(plan(moved_cluster, talos, allow=True), mode="apply", log=lambda s: None)
    assert not again.changed


def test_bad_node_and_unchanged_address_are_named(moved_cluster: inventory.Cluster) -> None:
    talos = FakeTalos(moved_cluster, "node03")
    with pytest.raises(PlanError, match="no node named 'node09'"):
        plan(moved_cluster, talos, allow=True, node="node09")
    unchanged = inventory.load_cluster(ROOT / "cluster")
    with pytest.raises(PlanError, match="edit the definition"):
        plan(unchanged, talos, allow=True)
