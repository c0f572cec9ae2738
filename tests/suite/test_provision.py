"""``pytest steps --provision`` end to end against the simulated cluster, as an operator runs it.

The suite runs as a subprocess on a temporary copy of the shipped
definition (so its secrets, backups and state stay in the temp dir).  The
simulator is started here first so it outlives each run: the ``target``
fixture must find it serving the state dir and reuse it, and the test can
then look at what the run built through the kubeconfig it wrote.  Only
127.0.0.1 is dialled; node IPs are data.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.provision import provision
from fixtures.target import SimulatorProcess, already_serving, live_target
from provisioning.definition import inventory
from provisioning.drivers import Target
from provisioning.drivers.kube import KubeDriver
from tests.suite.harness import NO_TEST_PLUGINS

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0
SERVE = (sys.executable, "-m", "simulator", "serve")
SUITE = (
    sys.executable,
    "-m",
    "pytest",
    "steps",
    "-q",
    "-p",
    "no:cacheprovider",
    *NO_TEST_PLUGINS,
    "--allow-hosts=127.0.0.1,::1,localhost",  # the embedded target stays loopback-only
)
STEP_NAMES = (
    "preflight",
    *(f"apply-config node0{i}" for i in range(1, 7)),
    "bootstrap node01",
    "wait etcd",
    "kubeconfig",
    "wait kubernetes nodes",
    "storage disks",
    "helm cilium",
    "wait cilium",
    "wait nodes ready",
    "helm longhorn",
    "wait longhorn",
    "manifests",
    "first backup",
)


class Simulator:
    def __init__(self, state: Path, cluster: Path) -> None:
        self.state = state
        log = state.parent / f"{state.name}.serve.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*SERVE, "--state", str(state), "--cluster", str(cluster)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not log.read_text().startswith("simulator ready: "):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"simulator did not start: {log.read_text()}")
            time.sleep(0.1)

    def status(self) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "status", "--state", str(self.state)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_suite(state: Path, cluster: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SUITE, "--sim-state", str(state), "--cluster", str(cluster), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def verified(output: str) -> bool:
    """Exit 0: every control verified and passed (the embedded cluster offers every
    control a real one does, API-05's VIP included; issue #14)."""
    return output.startswith("exit 0\n")


def progress(output: str) -> dict[str, str]:
    """Step name -> outcome, from the ``provision: [  1.2s] name: outcome`` lines."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("provision: [") and "] " in line:
            name, _, outcome = line.split("] ", 1)[1].rpartition(": ")
            found[name] = outcome
    return found


def _copy_definition(base: Path) -> Path:
    shutil.copytree(ROOT / "cluster", base / "cluster")
    return base / "cluster"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, list[str]]]:
    """Three runs on one simulator: refused (old disk signatures), built, nothing to change."""
    base = tmp_path_factory.mktemp("provision")
    cluster = _copy_definition(base)
    sim = Simulator(base / "state", cluster)
    try:
        outputs: list[str] = []
        allure = ("--alluredir", str(base / "allure"))
        runs = (
            ("--provision", *allure),
            ("--provision", "--allow-destructive"),
            ("--provision",),
        )
        for extra in runs:
            done = run_suite(sim.state, cluster, *extra)
            outputs.append(f"exit {done.returncode}\n{done.stdout}{done.stderr}")
        yield sim, outputs
    finally:
        sim.stop()


def test_old_disk_signatures_stop_the_run_naming_nodes_disks_and_flag(
    built: tuple[Simulator, list[str]],
) -> None:
    _, (refused, _, _) = built
    assert refused.startswith("exit 1\n"), refused
    steps = progress(refused)
    assert steps["apply-config node03"] == "done"
    assert steps["storage disks"] == "failed"
    assert "helm cilium" not in steps
    message = next(line for line in refused.splitlines() if "provisioning failed" in line)
    assert "step storage disks" in message
    assert "node node03 (10.10.20.18) disk /dev/disk/by-id/ata-KINGSTON_SA400S37240G" in message
    assert "node node05 (10.10.20.20)" in message
    assert "node04" not in message
    assert "--allow-destructive" in message
    assert "Traceback" not in refused


def test_a_failed_build_is_an_allure_result_with_the_plan_steps(
    built: tuple[Simulator, list[str]],
) -> None:
    sim, _ = built
    results = [
        json.loads(path.read_text()) for path in (sim.state.parent / "allure").glob("*-result.json")
    ]
    built_result = next(r for r in results if r["name"] == "Provision K8S-CLUSTER (apply)")
    assert built_result["status"] == "failed"
    assert "step storage disks" in built_result["statusDetails"]["message"]
    steps = {s["name"]: s["status"] for s in built_result["steps"]}
    assert steps["apply-config node03: done"] == "passed"
    assert steps["storage disks: failed"] == "failed"
    assert {"name": "epic", "value": "provisioning"} in built_result["labels"]


def test_second_run_with_the_flag_builds_the_rest(built: tuple[Simulator, list[str]]) -> None:
    sim, (_, second, _) = built
    assert verified(second), second
    steps = progress(second)
    assert list(steps) == list(STEP_NAMES), second
    assert steps["apply-config node03"] == "skipped (already true)"
    assert steps["storage disks"] == "done"
    assert steps["helm cilium"] == "done"
    assert steps["first backup"] == "done"
    assert "wiped node03 (10.10.20.18)" in second
    assert "running (pid" in sim.status()  # the simulator started here was reused, not stopped


def test_the_built_cluster_has_six_ready_nodes_and_cilium(
    built: tuple[Simulator, list[str]],
) -> None:
    sim, _ = built
    target = Target("sim", sim.state / "kubeconfig", None, None)
    with KubeDriver(target) as kube:
        nodes = kube.list(("", "v1", "nodes"))
        cilium: dict[str, Any] = kube.get(("apps", "v1", "daemonsets"), "cilium", "kube-system")

    def ready(node: dict[str, Any]) -> bool:
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    assert sorted(n["metadata"]["name"] for n in nodes if ready(n)) == [
        f"k8s-node0{i}" for i in range(1, 7)
    ]
    status = cilium["status"]
    assert status["desiredNumberScheduled"] == 6
    assert status["numberReady"] == status["desiredNumberScheduled"]


def test_third_run_has_nothing_to_change(built: tuple[Simulator, list[str]]) -> None:
    _, (_, _, third) = built
    assert verified(third), third
    steps = progress(third)
    assert list(steps) == list(STEP_NAMES), third
    assert set(steps.values()) == {"skipped (already true)"}
    assert "provision: nothing to change" in third


def test_plan_on_a_fresh_state_lists_every_step_and_changes_nothing(tmp_path: Path) -> None:
    cluster = _copy_definition(tmp_path)
    sim = Simulator(tmp_path / "state", cluster)
    try:
        done = run_suite(sim.state, cluster, "--provision=plan")
        status = sim.status()
    finally:
        sim.stop()
    output = done.stdout + done.stderr
    steps = progress(output)
    assert list(steps) == list(STEP_NAMES), output
    assert steps["preflight"] == "skipped (already true)"
    assert all(steps[name] == "would run" for name in STEP_NAMES[1:])
    assert "nothing was changed" in output
    assert not (sim.state / "kubeconfig").exists()
    assert "bootstrapped: no" in status
    assert all(f"node node0{i} " in status for i in range(1, 7))
    assert status.count(": maintenance") == 6, status
    assert not (tmp_path / ".backups").exists()


def test_failing_step_exits_with_status_1_and_the_message(
    pytestconfig: pytest.Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cluster = inventory.load_cluster(_copy_definition(tmp_path), "cluster")
    target = Target("nowhere", tmp_path / "kubeconfig", None, tmp_path / "bin")
    with pytest.raises(pytest.exit.Exception) as stopped:
        provision(pytestconfig, cluster, target, tmp_path)
    assert stopped.value.returncode == 1
    assert stopped.value.msg == (
        "provisioning failed: step preflight (every node answers; old disk signatures) failed: "
        f"talosctl not found (looked in {tmp_path / 'bin'}, PATH)"
    )


# -- the target fixture's providers ---------------------------------------------------


def test_live_target_names_the_missing_file(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    with pytest.raises(pytest.UsageError, match=r"^--talosconfig .*/talosconfig: no such file$"):
        live_target(str(kubeconfig), str(tmp_path / "talosconfig"))
    with pytest.raises(pytest.UsageError, match=r"^--live needs --kubeconfig$"):
        live_target(None, str(kubeconfig))
    (tmp_path / "talosconfig").write_text("context: x\n")
    found = live_target(str(kubeconfig), str(tmp_path / "talosconfig"))
    assert (found.name, found.kubeconfig, found.bin_dir) == ("live", kubeconfig, None)


def test_a_state_dir_without_a_live_simulator_is_not_reused(tmp_path: Path) -> None:
    assert not already_serving(tmp_path, ROOT)
    (tmp_path / "serve.json").write_text('{"pid": 999999999}')
    assert not already_serving(tmp_path, ROOT)


def test_a_simulator_that_cannot_start_is_a_usage_error_with_its_log(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "etcd").write_text("not a directory")  # etcd cannot use its data dir
    process = SimulatorProcess(state, _copy_definition(tmp_path), ROOT)
    with pytest.raises(pytest.UsageError) as failed:
        process.start(timeout=60)
    message = str(failed.value)
    assert message.startswith("the simulated cluster did not start (exited with status 1")
    assert "etcd failed to start" in message
    assert f"logs in {state / 'logs'}" in message
    assert process.process is None
