"""Unit tests of the provisioning plan with fake drivers: skip rules, waits, errors.

No process or cluster is started (except one ``talosctl`` lookup that must
fail): the Talos, Helm and Kubernetes drivers are small fakes holding the
state a real cluster would report, and time is a fake clock, so timeouts are
exercised without waiting.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config.bundle import generate_secrets
from provisioning.config.secrets import MachineSecrets
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from provisioning.drivers.helm import HelmRelease
from provisioning.drivers.talosctl import EtcdAlarmRow, EtcdMemberRow, SnapshotInfo, TalosDriver
from provisioning.plan import PlanError, Step, Timeouts, build_plan, run_plan

ROOT = Path(__file__).resolve().parents[2]
TARGET = Target("fake", None, None, None)


@pytest.fixture(scope="module")
def cluster() -> inventory.Cluster:
    return inventory.load_cluster(ROOT / "cluster", "cluster")


@pytest.fixture(scope="module")
def machine_secrets() -> MachineSecrets:
    return generate_secrets()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeTalos:
    """Nodes by IP: ``maintenance`` or ``configured``; records every change asked of it."""

    def __init__(self, cluster: inventory.Cluster, state: str = "maintenance") -> None:
        self.cluster = cluster
        self.states = {str(n.ip): state for n in cluster.nodes}
        self.stays_in_maintenance: set[str] = set()
        self.signatures: dict[str, str] = {}  # ip -> signature on the storage disk (sdb)
        self.serves_discovered = True
        self.members: list[EtcdMemberRow] = []
        self.calls: list[tuple[str, str]] = []
        self.patches_sent: list[Path] = []
        self.base_mode = 0

    def _fail(self, why: str) -> errors.DriverError:
        return errors.DriverError("talosctl failed on target fake", stderr=why)

    def get(
        self,
        resource: str,
        nodes: Sequence[str],
        *,
        namespace: str | None = None,
        id: str | None = None,
        insecure: bool = False,
    ) -> list[dict[str, Any]]:
        for ip in nodes:
            if self.states[ip] == "gone":
                raise self._fail(f"dial tcp {ip}:50000: connect: no route to host")
            maintenance = self.states[ip] == "maintenance"
            if maintenance != insecure:
                raise self._fail("rpc error: code = Unavailable desc = tls: certificate required")
        if resource == "machinestatus":
            return [{"node": ip, "spec": {"stage": "running"}} for ip in nodes]
        if resource == "discoveredvolumes":
            if not self.serves_discovered:
                raise self._fail('resource "discoveredvolumes" is not registered')
            return [
                {"node": ip, "metadata": {"id": "sdb"}, "spec": {"name": self.signatures.get(ip)}}
                for ip in nodes
            ]
        if resource == "disks":
            by_ip = {str(n.ip): n for n in self.cluster.nodes}
            return [
                {
                    "node": ip,
                    "metadata": {"id": "sdb"},
                    "spec": {"dev_path": "/dev/sdb", "symlinks": [by_ip[ip].storage_disk]},
                }
                for ip in nodes
            ]
        if resource == "volumestatus":
            return [
                {
                    "node": ip,
                    "metadata": {"id": "u-longhorn"},
                    "spec": {"phase": "waiting", "errorMessage": "1 have wrong format"}
                    if ip in self.signatures
                    else {"phase": "ready"},
                }
                for ip in nodes
            ]
        raise AssertionError(resource)

    def apply_config(
        self,
        node: str,
        config_file: Path,
        *,
        patches: Sequence[Path] = (),
        insecure: bool = False,
        mode: str = "auto",
        dry_run: bool = False,
    ) -> str:
        assert insecure
        self.base_mode = stat.S_IMODE(config_file.stat().st_mode)
        assert "<redacted>" not in config_file.read_text()
        self.patches_sent = list(patches)
        self.calls.append(("apply-config", node))
        if node not in self.stays_in_maintenance:
            self.states[node] = "configured"
        return ""

    def bootstrap(self, node: str) -> None:
        self.calls.append(("bootstrap", node))
        self.members = [
            EtcdMemberRow(None, f"{i:016x}", n.hostname, (), (), False)
            for i, n in enumerate(self.cluster.control_plane_nodes)
        ]

    def kubeconfig(self, path: Path, node: str, *, force: bool = True) -> None:
        assert force
        self.calls.append(("kubeconfig", node))
        path.write_text("fake")

    def etcd_members(self, node: str) -> list[EtcdMemberRow]:
        if not self.members:
            raise self._fail("etcd is not running")
        return self.members

    def etcd_alarms(self, node: str) -> list[EtcdAlarmRow]:
        if not self.members:
            raise self._fail("etcd is not running")
        return []

    def etcd_snapshot(self, node: str, path: Path) -> SnapshotInfo:
        raise AssertionError("no backup in these tests")

    def wipe_disk(self, node: str, devices: Sequence[str], *, insecure: bool = False) -> None:
        self.calls.append(("wipe", f"{node}:{','.join(devices)}:{insecure}"))
        self.signatures.pop(node, None)


class FakeHelm:
    def __init__(self) -> None:
        self.releases: dict[str, tuple[HelmRelease, dict[str, Any]]] = {}
        self.fail_install = ""
        self.installs: list[str] = []
        self.waits: list[float | None] = []
        self.during: Callable[[str], None] | None = None  # blocks like helm --wait would

    def repo_add(self, name: str, url: str) -> None:
        assert url.startswith("https://")

    def list(self, namespace: str | None = None) -> list[HelmRelease]:
        return [r for r, _ in self.releases.values() if r["namespace"] == namespace]

    def get_values(self, release: str, namespace: str) -> dict[str, Any]:
        return self.releases[release][1]

    def upgrade_install(
        self,
        release: str,
        chart: str,
        *,
        namespace: str,
        version: str,
        values_files: Sequence[Path],
        create_namespace: bool = True,
        wait_timeout: float | None = None,
    ) -> str:
        self.waits.append(wait_timeout)
        if self.during is not None:
            self.during(release)
        if self.fail_install:
            raise errors.DriverError(
                f"helm failed on target fake (release {release})", stderr=self.fail_install
            )
        self.installs.append(release)
        values = yaml.safe_load(values_files[0].read_text())
        row: HelmRelease = {
            "name": release,
            "namespace": namespace,
            "revision": "1",
            "updated": "",
            "status": "deployed",
            "chart": f"{chart.rpartition('/')[2]}-{version}",
            "app_version": version,
        }
        self.releases[release] = (row, values)
        return ""


class FakeKube:
    def __init__(self, node_names: Iterable[str]) -> None:
        self.nodes = list(node_names)
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.applied = 0
        self.unserved = 0  # apply_manifest answers 404 on discovery this many times first

    def list(
        self,
        kind: tuple[str, str, str],
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        return [{"metadata": {"name": n}} for n in self.nodes]

    def get(
        self, kind: tuple[str, str, str], name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        found = self.objects.get((kind[2], name))
        if found is None:
            raise errors.NotFound("not found", code=404, reason="NotFound", request="GET")
        return found

    def apply_manifest(self, docs: Iterable[Mapping[str, Any]]) -> builtins.list[dict[str, Any]]:
        if self.unserved:
            self.unserved -= 1
            raise errors.NotFound(
                "the server could not find the requested resource",
                code=404,
                reason="NotFound",
                request="GET /apis/cilium.io/v2",
            )
        for doc in docs:
            plural = str(doc["kind"]).lower()
            plural = plural[:-1] + "ies" if plural.endswith("y") else plural + "s"
            self.objects[(plural, doc["metadata"]["name"])] = {**doc, "status": {}}
            self.applied += 1
        return []


class FakeSecrets:
    def __init__(self, value: MachineSecrets) -> None:
        self.value = value
        self.loads = 0

    def load_or_create(self) -> MachineSecrets:
        self.loads += 1
        return self.value


class FakeReadiness:
    """A judge whose stages become ready after *polls* questions each (never, when None)."""

    def __init__(self, polls: dict[str, int | None]) -> None:
        self.polls = dict(polls)
        self.asked: list[str] = []

    def stages(self) -> frozenset[str]:
        return frozenset(self.polls)

    def not_ready(self, stage: str) -> list[str]:
        self.asked.append(stage)
        left = self.polls[stage]
        if left is not None and left <= 0:
            return []
        if left is not None:
            self.polls[stage] = left - 1
        return [f"k8s-node02: {stage} not ready", f"StorageClass/{stage}: absent"]


class World:
    def __init__(self, cluster: inventory.Cluster, secrets: MachineSecrets, tmp: Path) -> None:
        self.cluster = cluster
        self.talos = FakeTalos(cluster)
        self.helm = FakeHelm()
        self.kube = FakeKube(n.hostname for n in cluster.nodes)
        self.secrets = FakeSecrets(secrets)
        self.clock = FakeClock()
        self.lines: list[str] = []
        self.target = Target("fake", tmp / "kubeconfig", None, None)

    def steps(
        self,
        *,
        allow_destructive: bool = False,
        skip_backup: bool = True,
        readiness: FakeReadiness | None = None,
    ) -> list[Step]:
        steps = build_plan(
            self.cluster,
            self.target,
            talos=self.talos,
            helm=self.helm,
            kube=lambda: self.kube,
            secrets=self.secrets,
            allow_destructive=allow_destructive,
            log=self.lines.append,
            timeouts=Timeouts(configured=30, etcd=30, nodes=30, addons=40, poll=1, progress=10),
            sleep=self.clock.sleep,
            clock=self.clock,
            readiness=readiness,
        )
        # The backup step writes real encrypted files; it is covered end to end.
        return [s for s in steps if not (skip_backup and s.name == "first backup")]

    def run(
        self, mode: str = "apply", *, allow_destructive: bool = False, skip_backup: bool = True
    ) -> list[str]:
        self.lines.clear()
        steps = self.steps(allow_destructive=allow_destructive, skip_backup=skip_backup)
        run_plan(steps, mode="apply" if mode == "apply" else "plan", log=self.lines.append)
        return self.lines


@pytest.fixture
def world(cluster: inventory.Cluster, machine_secrets: MachineSecrets, tmp_path: Path) -> World:
    return World(cluster, machine_secrets, tmp_path)


def _status(lines: list[str], step: str) -> str:
    for line in lines:
        if f"] {step}: " in line:
            return line.split(f"] {step}: ", 1)[1]
    raise AssertionError(f"no line for {step}: {lines}")


# -- run_plan ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(done=st.lists(st.booleans(), max_size=8), plan=st.booleans())
def test_apply_runs_exactly_the_steps_not_yet_true_and_plan_runs_none(
    done: list[bool], plan: bool
) -> None:
    applied: list[int] = []
    steps = [
        Step(f"s{i}", "", functools.partial(bool, d), functools.partial(applied.append, i))
        for i, d in enumerate(done)
    ]
    lines: list[str] = []
    result = run_plan(steps, mode="plan" if plan else "apply", log=lines.append)
    if plan:
        assert applied == []
        first = done.index(False) if False in done else len(done)
        assert [o.status for o in result.outcomes] == ["skipped (already true)"] * first + [
            "would run"
        ] * (len(done) - first)
    else:
        assert applied == [i for i, d in enumerate(done) if not d]
    assert result.changed == (False in done)
    assert (lines[-1] == "nothing to change") == all(done)


def test_progress_line_names_step_elapsed_time_and_outcome() -> None:
    ticks = iter([0.0, 1.25, 2.0, 2.0])
    lines: list[str] = []
    steps = [
        Step("apply-config node03", "", lambda: False, lambda: None),
        Step("bootstrap node01", "", lambda: True, lambda: None),
    ]
    run_plan(steps, mode="apply", log=lines.append, clock=lambda: next(ticks))
    assert lines == [
        "[  1.2s] apply-config node03: done",
        "[  0.0s] bootstrap node01: skipped (already true)",
    ]


def test_a_failing_step_stops_the_plan_with_its_name_and_cause() -> None:
    later: list[str] = []

    def boom() -> None:
        raise errors.DriverError("talosctl failed on target fake", stderr="boom: it broke")

    steps = [
        Step("bootstrap node01", "start etcd", lambda: False, boom),
        Step("later", "", lambda: False, lambda: later.append("ran")),
    ]
    with pytest.raises(PlanError) as failed:
        run_plan(steps, mode="apply", log=lambda _: None)
    assert "step bootstrap node01 (start etcd) failed" in str(failed.value)
    assert "boom: it broke" in str(failed.value)
    assert later == []


# -- the cluster plan with fakes --------------------------------------------------------


def test_fresh_cluster_is_built_then_a_second_run_changes_nothing(world: World) -> None:
    lines = world.run()
    assert _status(lines, "apply-config node03") == "done"
    assert _status(lines, "bootstrap node01") == "done"
    assert _status(lines, "helm cilium") == "done"
    assert _status(lines, "manifests") == "done"
    assert world.talos.base_mode == 0o600
    node06 = world.cluster.node("node06")
    assert world.talos.patches_sent == [ref.path for ref in node06.patches]
    assert world.helm.installs == ["cilium", "longhorn"]
    assert world.kube.applied > 0
    again = world.run()
    assert again[-1] == "nothing to change"
    assert all("skipped (already true)" in line for line in again if line.startswith("["))
    assert [c for c in world.talos.calls if c[0] == "bootstrap"] == [("bootstrap", "10.10.20.16")]


def test_plan_mode_changes_nothing_and_reads_no_secrets(world: World) -> None:
    lines = world.run("plan")
    assert world.talos.calls == []
    assert world.secrets.loads == 0
    assert _status(lines, "apply-config node01") == "would run"
    assert _status(lines, "manifests") == "would run"
    assert "nothing was changed" in lines[-1]


def test_bootstrap_is_skipped_when_etcd_has_members(world: World) -> None:
    world.talos.states = dict.fromkeys(world.talos.states, "configured")
    world.talos.bootstrap("10.10.20.16")
    world.talos.calls.clear()
    lines = world.run()
    assert _status(lines, "bootstrap node01") == "skipped (already true)"
    assert ("bootstrap", "10.10.20.16") not in world.talos.calls


def test_helm_release_is_reinstalled_when_its_values_differ(world: World) -> None:
    world.run()
    row, values = world.helm.releases["longhorn"]
    world.helm.releases["longhorn"] = (row, {**values, "drifted": True})
    lines = world.run()
    assert _status(lines, "helm longhorn") == "done"
    assert _status(lines, "helm cilium") == "skipped (already true)"


def test_node_that_never_leaves_maintenance_times_out_naming_it(world: World) -> None:
    world.talos.stays_in_maintenance.add("10.10.20.18")
    with pytest.raises(PlanError) as failed:
        world.run()
    message = str(failed.value)
    assert "apply-config node03" in message
    assert "node03 (10.10.20.18)" in message
    assert "timed out after 30s" in message
    assert "node04" not in message


def test_nodes_missing_from_kubernetes_are_named(world: World) -> None:
    world.kube.nodes = ["k8s-node01", "k8s-node02"]
    with pytest.raises(PlanError) as failed:
        world.run()
    assert "wait kubernetes nodes" in str(failed.value)
    assert "k8s-node03 (10.10.20.18)" in str(failed.value)
    assert "k8s-node01 " not in str(failed.value)


def test_old_signature_is_an_error_naming_node_disk_and_flag(world: World) -> None:
    world.talos.signatures["10.10.20.18"] = "lvm2"
    with pytest.raises(PlanError) as failed:
        world.run()
    message = str(failed.value)
    assert "node node03 (10.10.20.18) disk /dev/sdb (lvm2)" in message
    assert "--allow-destructive" in message
    assert not [c for c in world.talos.calls if c[0] == "wipe"]


def test_old_signature_is_wiped_with_allow_destructive(world: World) -> None:
    world.talos.signatures["10.10.20.20"] = "ceph_bluestore"
    world.run(allow_destructive=True)
    assert ("wipe", "10.10.20.20:sdb:True") in world.talos.calls


def test_without_discoveredvolumes_a_blocked_storage_volume_is_caught_after_config(
    world: World,
) -> None:
    world.talos.serves_discovered = False
    world.talos.signatures["10.10.20.18"] = "lvm2"
    with pytest.raises(PlanError) as failed:
        world.run()
    assert "preflight: old disk signatures not checked (no discoveredvolumes here)" in (world.lines)
    message = str(failed.value)
    assert message.startswith("step storage disks ")
    node03 = world.cluster.node("node03")
    assert f"node node03 (10.10.20.18) disk {node03.storage_disk}" in message
    assert "--allow-destructive" in message
    assert "node05" not in message
    lines = world.run(allow_destructive=True)
    assert ("wipe", "10.10.20.18:sdb:False") in world.talos.calls
    assert _status(lines, "storage disks") == "done"


def test_unanswering_node_is_named(world: World) -> None:
    world.talos.states["10.10.20.21"] = "gone"
    with pytest.raises(PlanError) as failed:
        world.run()
    assert "node node06 (10.10.20.21) does not answer" in str(failed.value)


def test_failing_helm_install_is_one_clear_error(world: World) -> None:
    world.helm.fail_install = 'Error: INSTALLATION FAILED: chart "cilium" not found'
    with pytest.raises(PlanError) as failed:
        world.run()
    message = str(failed.value)
    assert message.startswith("step helm cilium (cilium/cilium 1.19.1 in kube-system) failed")
    assert 'chart "cilium" not found' in message
    assert "Traceback" not in message


def test_missing_talosctl_is_one_clear_error(
    cluster: inventory.Cluster,
    machine_secrets: MachineSecrets,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    target = Target("fake", tmp_path / "kubeconfig", None, tmp_path / "bin")
    steps = build_plan(
        cluster,
        target,
        talos=TalosDriver(target),
        helm=FakeHelm(),
        kube=lambda: FakeKube([]),
        secrets=FakeSecrets(machine_secrets),
        allow_destructive=False,
        log=lambda _: None,
    )
    with pytest.raises(PlanError) as failed:
        run_plan(steps, mode="apply", log=lambda _: None)
    assert str(failed.value) == (
        "step preflight (every node answers; old disk signatures) failed: "
        f"talosctl not found (looked in {tmp_path / 'bin'}, PATH)"
    )


def test_manifests_wait_until_a_chart_s_kinds_are_served(world: World) -> None:
    world.run(skip_backup=True)
    world.kube.objects.clear()
    world.kube.unserved = 3
    lines = world.run(skip_backup=True)
    assert _status(lines, "manifests") == "done"
    assert world.kube.unserved == 0
    assert world.kube.objects


def test_manifests_give_up_naming_the_directory_when_kinds_never_appear(world: World) -> None:
    world.run(skip_backup=True)
    world.kube.objects.clear()
    world.kube.unserved = 10_000
    served = r"to be served; not ready yet: GET /apis/cilium\.io/v2: 404 NotFound"
    with pytest.raises(PlanError, match=served):
        world.run(skip_backup=True)


# -- readiness: nothing is done because a command returned --------------------------------


def test_each_release_is_installed_with_wait_then_waited_for_by_the_judge(world: World) -> None:
    judge = FakeReadiness({"etcd": 0, "cilium": 3, "longhorn": 0})
    world.lines.clear()
    steps = world.steps(readiness=judge)
    names = [s.name for s in steps]
    assert names[names.index("helm cilium") + 1] == "wait cilium"
    assert names[names.index("helm longhorn") + 1] == "wait longhorn"
    run_plan(steps, mode="apply", log=world.lines.append)
    assert world.helm.waits == [40, 40]  # --wait --timeout <addons deadline>
    assert _status(world.lines, "wait cilium") == "done"
    assert "wait cilium: waiting up to 40s for cilium to be ready" in world.lines
    assert any(
        line.startswith("wait cilium: not ready yet (0s): k8s-node02: cilium not ready")
        for line in world.lines
    ), world.lines
    assert judge.asked.index("cilium") < judge.asked.index("longhorn")
    assert "etcd" in judge.asked  # wait etcd asks the judge


def test_a_release_never_ready_stops_the_plan_naming_step_objects_and_deadline(
    world: World,
) -> None:
    judge = FakeReadiness({"cilium": 0, "longhorn": None})
    with pytest.raises(PlanError) as failed:
        run_plan(world.steps(readiness=judge), mode="apply", log=world.lines.append)
    message = str(failed.value)
    assert message.startswith("step wait longhorn (longhorn ready as the controls define it)")
    assert "timed out after 40s (the deadline) waiting for longhorn to be ready" in message
    assert "not ready yet: k8s-node02: longhorn not ready; StorageClass/longhorn: absent" in message
    assert _status(world.lines, "wait longhorn") == "failed"
    assert not any("] manifests: " in line for line in world.lines)  # nothing after it ran


def test_helm_running_out_of_its_timeout_says_what_is_not_ready(world: World) -> None:
    world.helm.fail_install = "Error: INSTALLATION FAILED: context deadline exceeded"
    judge = FakeReadiness({"cilium": None, "longhorn": None})
    with pytest.raises(PlanError) as failed:
        run_plan(world.steps(readiness=judge), mode="apply", log=world.lines.append)
    message = str(failed.value)
    assert message.startswith("step helm cilium")
    assert "not ready within the 40s deadline (helm: context deadline exceeded)" in message
    assert "not ready yet: k8s-node02: cilium not ready" in message


def test_without_a_judge_the_plan_has_no_wait_steps_but_still_waits_in_helm(
    world: World,
) -> None:
    names = [s.name for s in world.steps()]
    assert not any(n in ("wait cilium", "wait longhorn") for n in names)
    world.run()
    assert world.helm.waits == [40, 40]


# -- nodes Ready, whether or not a CNI release is declared --------------------------------


def test_nodes_ready_is_waited_for_after_the_cni_release_by_the_judge(world: World) -> None:
    judge = FakeReadiness({"nodes": 2, "cilium": 0, "longhorn": 0})
    steps = world.steps(readiness=judge)
    names = [s.name for s in steps]
    assert names.index("wait nodes ready") == names.index("wait cilium") + 1
    assert names.index("wait nodes ready") < names.index("helm longhorn")
    run_plan(steps, mode="apply", log=world.lines.append)
    assert _status(world.lines, "wait nodes ready") == "done"
    assert "wait nodes ready: waiting up to 30s for every node to be Ready" in world.lines
    assert judge.asked.index("cilium") < judge.asked.index("nodes") < judge.asked.index("longhorn")


def test_without_a_cni_release_nodes_ready_is_its_own_wait_before_the_releases(
    world: World,
) -> None:
    world.cluster = dataclasses.replace(
        world.cluster, helm={k: v for k, v in world.cluster.helm.items() if k != "cilium"}
    )
    judge = FakeReadiness({"nodes": 1, "longhorn": 0})
    names = [s.name for s in world.steps(readiness=judge)]
    assert "wait cilium" not in names
    assert names.index("wait nodes ready") == names.index("storage disks") + 1
    assert names.index("wait nodes ready") < names.index("helm longhorn")
    run_plan(world.steps(readiness=judge), mode="apply", log=world.lines.append)
    assert _status(world.lines, "wait nodes ready") == "done"
    assert "nodes" in judge.asked


def test_nodes_never_ready_stop_the_plan_naming_them_and_the_deadline(world: World) -> None:
    world.cluster = dataclasses.replace(world.cluster, helm={})
    judge = FakeReadiness({"nodes": None})
    with pytest.raises(PlanError) as failed:
        run_plan(world.steps(readiness=judge), mode="apply", log=world.lines.append)
    message = str(failed.value)
    assert message.startswith("step wait nodes ready")
    assert "timed out after 30s (the deadline) waiting for every node to be Ready" in message
    assert "not ready yet: k8s-node02: nodes not ready" in message
    assert not any("] manifests: " in line for line in world.lines)


def test_a_judge_without_a_nodes_stage_adds_no_nodes_wait(world: World) -> None:
    names = [s.name for s in world.steps(readiness=FakeReadiness({"cilium": 0}))]
    assert "wait nodes ready" not in names


# -- progress lines on long waits ---------------------------------------------------------


class SlowHelm:
    """Makes the fake helm return only once the fake clock reached *seconds* after it started.

    The plan's sleeps (main thread) advance the fake clock; once it passes
    the mark, the sleep lets the helm thread return before the plan looks
    again, so the lines printed are the same on every run.
    """

    def __init__(self, world: World, seconds: float) -> None:
        self.world, self.seconds = world, seconds
        self.release = threading.Event()
        self.returned = threading.Event()
        self.mark: float | None = None
        world.helm.during = self.hold
        self.plain_sleep = world.clock.sleep

    def hold(self, release: str) -> None:
        self.mark = self.world.clock.now + self.seconds
        self.returned.clear()
        assert self.release.wait(10), "the plan never let helm return"
        self.release.clear()

    def sleep(self, seconds: float) -> None:
        self.plain_sleep(seconds)
        if self.mark is not None and self.world.clock.now >= self.mark:
            self.mark = None
            self.release.set()
            time.sleep(0.2)  # let the helm thread return before the plan looks


def _slow_steps(world: World, judge: FakeReadiness | None, seconds: float) -> list[Step]:
    slow = SlowHelm(world, seconds)
    return build_plan(
        world.cluster,
        world.target,
        talos=world.talos,
        helm=world.helm,
        kube=lambda: world.kube,
        secrets=world.secrets,
        allow_destructive=False,
        log=world.lines.append,
        timeouts=Timeouts(configured=30, etcd=30, nodes=30, addons=40, poll=1, progress=10),
        sleep=slow.sleep,
        clock=world.clock,
        readiness=judge,
    )


def _helm_lines(lines: list[str], release: str) -> list[str]:
    return [line for line in lines if line.startswith(f"helm {release}: ")]


def test_helm_wait_prints_what_is_not_ready_every_progress_interval(world: World) -> None:
    judge = FakeReadiness({"cilium": None, "longhorn": None})
    steps = [s for s in _slow_steps(world, judge, 35) if s.name == "helm cilium"]
    run_plan(steps, mode="apply", log=world.lines.append)
    lines = _helm_lines(world.lines, "cilium")
    assert lines[0] == "helm cilium: upgrade --install --wait --timeout 40s"
    progress = lines[1:]
    # Every 10 s while helm ran 35 s: at 10, 20 and 30 s, each naming what is not ready.
    assert len(progress) == 3, world.lines
    for line, at in zip(progress, (10, 20, 30), strict=True):
        assert line.startswith(f"helm cilium: not ready yet ({at}s): k8s-node02: cilium not ready")
    # The judge is asked once per line, not at the poll pace (about 40 sleeps).
    assert judge.asked == ["cilium"] * 3
    assert _status(world.lines, "helm cilium") == "done"


def test_helm_wait_without_a_judge_for_the_release_still_says_it_runs(world: World) -> None:
    steps = [s for s in _slow_steps(world, None, 25) if s.name == "helm longhorn"]
    run_plan(steps, mode="apply", log=world.lines.append)
    assert _helm_lines(world.lines, "longhorn")[1:] == [
        "helm longhorn: still running (10s)",
        "helm longhorn: still running (20s)",
    ]


def test_a_quick_helm_prints_no_progress_and_its_failure_reaches_the_plan(world: World) -> None:
    world.helm.fail_install = "Error: INSTALLATION FAILED: context deadline exceeded"
    judge = FakeReadiness({"cilium": None})
    steps = [s for s in _slow_steps(world, judge, 3) if s.name == "helm cilium"]
    with pytest.raises(PlanError, match="not ready within the 40s deadline"):
        run_plan(steps, mode="apply", log=world.lines.append)
    assert _helm_lines(world.lines, "cilium") == [
        "helm cilium: upgrade --install --wait --timeout 40s"
    ]
    assert world.lines[-1].endswith("] helm cilium: failed")


def test_apply_config_and_storage_waits_name_their_step_while_waiting(world: World) -> None:
    world.talos.stays_in_maintenance.add(str(world.cluster.nodes[0].ip))
    with pytest.raises(PlanError):
        world.run()
    name = world.cluster.nodes[0].name
    assert f"apply-config {name}: waiting up to 30s for the node to leave maintenance mode" in (
        " ".join(world.lines)
    )
    assert any(line.startswith(f"apply-config {name}: not ready yet (") for line in world.lines)


def test_a_storage_volume_still_blocked_after_the_wipe_is_waited_for_by_name(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.talos.serves_discovered = False
    world.talos.signatures["10.10.20.18"] = "lvm2"
    # The wipe is accepted, but the volume keeps waiting (the signature stays).
    monkeypatch.setattr(world.talos, "wipe_disk", lambda *_, **__: None)
    with pytest.raises(PlanError, match="storage volumes after the wipe"):
        world.run(allow_destructive=True)
    assert "storage disks: waiting up to 30s for storage volumes after the wipe" in world.lines
    assert any(
        line.startswith("storage disks: not ready yet (") and "node03 (10.10.20.18)" in line
        for line in world.lines
    ), world.lines
