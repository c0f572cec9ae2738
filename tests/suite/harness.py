"""The drift-test harness: a provisioned simulated cluster built once, drifted copies of it.

Why a template: provisioning the six-node cluster takes about forty seconds,
a copy of its stopped state directory a fraction of one.  A drift test
copies the template (definition, secrets, backups and state together, since
the definition names the secrets and backup directories relative to
itself), applies its drifts through the simulator's Python drift API while
the copy is stopped, starts ``python -m simulator serve`` on it, and then
observes it exactly as a conformance run does: through the real collector
(:func:`fixtures.observe.collect`) or by running the suite as a subprocess
(:meth:`RunningCluster.run_suite`), whose ``target`` fixture finds the
simulator serving the state directory and reuses it.

Nothing is written outside the temporary directories: the copy's secrets
and backups are its own, the suite's summary and JUnit files go to the
copy too.  This module is also a pytest plugin for those subprocess runs
(``-p tests.suite.harness``): it records each scenario's control id (its
``@ABC-01`` tag, a ``control`` mark) as a JUnit property, which is how the
outcomes are mapped back to controls without parsing test names.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from provisioning.definition import inventory
from provisioning.drivers import Target

if TYPE_CHECKING:
    # The suite's plugin modules (fixtures.*) are imported lazily: as the
    # subprocess plugin, this module loads before the root conftest, and a
    # plugin module imported early cannot be assertion-rewritten (a warning,
    # an error under filterwarnings=error).
    from checks.findings import Finding
    from checks.snapshot import Snapshot
    from fixtures.target import SimulatorProcess

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ("127.0.0.1", "::1", "localhost")
SUITE_TIMEOUT = 600.0
CONTROL_PROPERTY = "control"
# Plugins of the project's test dependencies that a conformance run never uses: a user's run
# does not have them, and hypothesis's plugin alone costs about two CPU-seconds at start-up.
NO_TEST_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:xdist")
# Drifts that edit a file the simulator rewrites when it starts (the kubeconfig is
# minted afresh at serve): applied once it runs, through its etcd.
AFTER_START = frozenset({"config_hygiene.expire_kubeconfig"})

Drift = tuple[str, str | None]
"""``(drift name, node or None)``, as ``python -m simulator drift NAME --node NODE``."""


def _target(state: Path) -> Target:
    return Target(
        name=f"simulated:{state}",
        kubeconfig=state / "kubeconfig",
        talosconfig=state / "talosconfig",
        bin_dir=state / "bin",
    )


@dataclass(frozen=True)
class Layout:
    """One copy of the cluster: ``base/cluster`` (definition), ``base/state`` (simulator)."""

    base: Path

    @property
    def cluster_dir(self) -> Path:
        return self.base / "cluster"

    @property
    def state(self) -> Path:
        return self.base / "state"

    def load(self) -> inventory.Cluster:
        return inventory.load_cluster(self.cluster_dir, display=str(self.cluster_dir))


def _simulator(layout: Layout, serve_args: Sequence[str] = ()) -> SimulatorProcess:
    from fixtures.target import SimulatorProcess

    return SimulatorProcess(layout.state, layout.cluster_dir, ROOT, serve_args)


@dataclass(frozen=True)
class BuiltCluster:
    """The provisioned, stopped template every drifted copy starts from."""

    layout: Layout
    seconds: float  # how long building it took (for the report, never asserted)


def build_template(base: Path, log: list[str] | None = None) -> BuiltCluster:
    """Copy ``cluster/`` to *base*, serve it and provision it, then stop the simulator.

    Provisioning runs in-process through the same plan ``pytest --provision
    --allow-destructive`` runs (node03/node05 carry old disk signatures);
    a failing step raises :class:`RuntimeError` with the plan's message.
    """
    from fixtures.readiness import ControlReadiness
    from provisioning.config.secrets import SecretStore
    from provisioning.drivers.helm import HelmDriver
    from provisioning.drivers.kube import KubeDriver
    from provisioning.drivers.talosctl import TalosDriver
    from provisioning.plan import PlanError, build_plan, run_plan
    from provisioning.plan_steps import KubeOps

    started = time.monotonic()
    layout = Layout(base)
    shutil.copytree(ROOT / "cluster", layout.cluster_dir)
    layout.state.mkdir(mode=0o700)
    cluster = layout.load()
    target = _target(layout.state)
    lines = log if log is not None else []
    simulator = _simulator(layout)
    simulator.start()
    kubes: list[KubeDriver] = []

    def kube() -> KubeOps:
        kubes.append(KubeDriver(target))
        return kubes[-1]

    try:
        store = SecretStore(
            cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
        )
        talos = TalosDriver(target)
        steps = build_plan(
            cluster,
            target,
            talos=talos,
            helm=HelmDriver(target, repository_config=base / "helm-repositories.yaml"),
            kube=kube,
            secrets=store,
            allow_destructive=True,
            log=lines.append,
            readiness=ControlReadiness(cluster, target, talos=talos, kube=kube),
        )
        run_plan(steps, mode="apply", log=lines.append)
    except PlanError as exc:
        raise RuntimeError(
            f"provisioning the template failed: {exc}\n" + "\n".join(lines)
        ) from None
    finally:
        for driver in kubes:
            driver.close()
        simulator.stop()
    return BuiltCluster(layout, time.monotonic() - started)


# -- running a suite against a copy ------------------------------------------------------


@dataclass(frozen=True)
class SuiteRun:
    """A ``pytest`` run of feature steps: exit code, per-control outcome and message."""

    returncode: int
    outcomes: dict[str, str]  # control id -> "passed" | "failed" | "skipped"
    messages: dict[str, str]  # control id -> failure or skip text ("" when passed)
    output: str
    remediated: frozenset[str] = frozenset()  # controls that passed after a remediation
    summary: dict[str, Any] = field(default_factory=dict)  # the run's summary.json

    @property
    def failed(self) -> list[str]:
        """The controls that failed, sorted: what a drift test compares with its declared set."""
        return sorted(control for control, outcome in self.outcomes.items() if outcome == "failed")


def cilium_operator_on(state: Snapshot, node: str) -> bool:
    """Whether the scheduler put a Cilium operator replica on Node *node*.

    Where it lands varies from one template build to the next (as kube-scheduler's
    choice does); a drift that cuts a node off fails CIL-05 too when one runs there.
    """
    from checks import snapshot as snap

    return any(
        str(pod["metadata"]["name"]).startswith("cilium-operator-")
        and pod.get("spec", {}).get("nodeName") == node
        for pod in state.objects(snap.PODS)
    )


def judged(check: Callable[[Snapshot], Sequence[Finding]], state: Snapshot) -> Any:
    """The check's findings, or ``"unobservable"`` (what the suite reports as a skip).

    Drift tests compare a whole area's judgements at once, so a check that
    cannot see its source has to be a value there rather than an exception.
    """
    from checks.findings import Unobservable

    try:
        return list(check(state))
    except Unobservable:
        return "unobservable"


_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def parse_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Control id -> outcome and message, from a JUnit file with ``control`` properties.

    A testcase without the property (a step module's stray test) is left
    out; two testcases of one control keep the worse outcome.
    """
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        controls = [
            str(prop.get("value"))
            for prop in case.iter("property")
            if prop.get("name") == CONTROL_PROPERTY
        ]
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                text = (found.text or "").strip()
                message = "\n".join(p for p in (found.get("message") or "", text) if p)
                break
        for control in controls:
            if _RANK[outcome] >= _RANK[outcomes.get(control, "passed")]:
                outcomes[control] = outcome
                messages[control] = message
    return outcomes, messages


def remediated_controls(path: Path) -> frozenset[str]:
    """Controls whose scenario recorded ``remediated=true`` (``--remediate`` fixed them)."""
    found: set[str] = set()
    for case in ET.parse(path).getroot().iter("testcase"):
        props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        if ("remediated", "true") in props:
            found.update(str(value) for name, value in props if name == CONTROL_PROPERTY)
    return frozenset(found)


def suite_command(
    layout: Layout, *args: str, scratch: Path, loopback_only: bool = True
) -> list[str]:
    """The ``python -m pytest ARGS`` command line :func:`run_suite` runs (JUnit in *scratch*).

    *loopback_only* False leaves out the project's network rule, so the run is
    the operator's line as typed (a live run reaches what its files name).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    junit = scratch / "junit.xml"
    junit.unlink(missing_ok=True)
    (scratch / "summary.json").unlink(missing_ok=True)
    return [
        sys.executable,
        "-m",
        "pytest",
        *args,
        "--sim-state",
        str(layout.state),
        "--cluster",
        str(layout.cluster_dir),
        "-p",
        "no:cacheprovider",
        *NO_TEST_PLUGINS,
        "-p",
        "tests.suite.harness",
        # The embedded target stays loopback-only: the rule tests/conftest.py applies to
        # the project's own tests, given explicitly to the suite runs they start.
        *([f"--allow-hosts={','.join(LOOPBACK)}"] if loopback_only else []),
        # The simulator's controllers converge in seconds: the default settle (90 s, for a
        # real cluster's) would make each manual control after a fix wait that long for nothing.
        "--settle",
        SUITE_SETTLE,
        "--junitxml",
        str(junit),
        "--summary-dir",
        str(scratch),
        "-q",
    ]


SUITE_SETTLE = "30"  # seconds; see suite_command

# Imported once by the warm server (below) so each suite run starts without re-importing them:
# the suite's own packages, its pytest plugins and the libraries they load.
WARM_PACKAGES = ("fixtures", "checks", "remediation", "reports", "provisioning")
WARM_LIBRARIES = (
    "pytest",
    "_pytest.junitxml",
    "pytest_bdd",
    "allure_pytest_bdd",
    "kubernetes.client",
    "kubernetes.config",
    "kubernetes.stream",
    "pytest_socket",
)


def _warm_modules() -> list[str]:
    import pkgutil

    names = list(WARM_LIBRARIES)
    for package in WARM_PACKAGES:
        path = [str(ROOT / package.replace(".", "/"))]
        names.append(package)
        names += [
            info.name
            for info in pkgutil.walk_packages(path, prefix=f"{package}.")
            if not info.name.endswith("__main__")
        ]
    return [*names, __name__]


class _WarmSuite:
    """One warm ``pytest`` server per test process: each suite run is a fork of it.

    Why: a suite run started as ``python -m pytest`` spends seconds importing
    pytest, its plugins, the Kubernetes client and the suite's packages before
    its first request -- the same seconds in each of the hundreds of runs the
    suite tests start.  The server (the simulator's command server with
    ``pytest.main`` as its entry) imports them once; each run is a fork that
    takes the run's argv, environment, working directory and output files, and
    exits with pytest's status.  The one difference from a fresh process:
    ``--assert=plain`` (the suite's packages are already imported, so pytest
    could not rewrite their asserts; the suite reports through ``pytest.fail``
    messages, never bare asserts).  Where forking is not available the run is
    a fresh process as before.
    """

    def __init__(self) -> None:
        self._server: Any = None
        self._failed = False

    def address(self, scratch: Path) -> str | None:
        from simulator.talos import cli_server  # tests only

        if self._failed or not cli_server.supported():
            return None
        if self._server is None:
            server = cli_server.CommandServer(
                ROOT,
                scratch.parent / "warm-pytest.log",
                entry=("pytest", "pytest", "main"),
                warm=_warm_modules(),
            )
            if not server.start():
                self._failed = True
                return None
            self._server = server
            atexit.register(server.stop)
        return str(self._server.address)

    def run(self, command: Sequence[str], scratch: Path, timeout: float) -> tuple[int, str] | None:
        """Run ``python -m pytest ARGS`` (*command*) in a fork; ``None`` when not taken."""
        from simulator.talos import cli_server  # tests only

        address = self.address(scratch)
        if address is None:
            return None
        argv = [*command[3:], "--assert=plain"]
        out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
        with (
            open(os.devnull, "rb") as stdin,
            out_path.open("wb") as out,
            err_path.open("wb") as err,
        ):
            status = cli_server.call(
                address,
                argv,
                env=dict(os.environ),
                cwd=ROOT,
                fds=(stdin.fileno(), out.fileno(), err.fileno()),
                timeout=timeout,
            )
        if status is None:
            return None
        text = out_path.read_text(errors="replace") + err_path.read_text(errors="replace")
        return status, text


_WARM = _WarmSuite()


def run_suite(
    layout: Layout,
    *args: str,
    scratch: Path,
    timeout: float = SUITE_TIMEOUT,
    loopback_only: bool = True,
) -> SuiteRun:
    """``python -m pytest ARGS`` against *layout*'s running simulator, outcomes per control."""
    command = suite_command(layout, *args, scratch=scratch, loopback_only=loopback_only)
    junit = scratch / "junit.xml"
    served = _WARM.run(command, scratch, timeout)
    if served is None:
        done = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        returncode, output = done.returncode, done.stdout + done.stderr
    else:
        returncode, output = served
    if not junit.is_file():
        return SuiteRun(returncode, {}, {}, output)
    outcomes, messages = parse_junit(junit)
    summary_file = scratch / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    return SuiteRun(returncode, outcomes, messages, output, remediated_controls(junit), summary)


# -- a drifted, running copy ------------------------------------------------------------


@dataclass
class RunningCluster:
    """A started copy of the template with its drifts applied."""

    layout: Layout
    target: Target
    cluster: inventory.Cluster
    drifts: tuple[Drift, ...]
    applied: list[str] = field(default_factory=list)  # what each drift said it changed
    _runs: int = 0

    def snapshot(self) -> Snapshot:
        """The cluster as observed now, through the real collector."""
        from fixtures.observe import collect

        return collect(self.target, self.cluster)

    def run_suite(self, *args: str, loopback_only: bool = True) -> SuiteRun:
        """Run ``pytest ARGS`` (feature step modules and options) against this cluster."""
        self._runs += 1
        scratch = self.layout.base / f"suite-{self._runs}"
        return run_suite(self.layout, *args, scratch=scratch, loopback_only=loopback_only)


def _normalise(drift: Drift | str) -> Drift:
    if isinstance(drift, str):
        return (drift, None)
    name, node = drift
    return (name, node)


def _apply(layout: Layout, drifts: Sequence[Drift]) -> list[str]:
    """Apply *drifts* in one session on the state's etcd (started once if stopped)."""
    if not drifts:
        return []
    # Tests only: the suite itself never imports the simulator.
    from simulator.drifts import apply_to
    from simulator.drifts.cli import open_state

    with open_state(layout.state, layout.cluster_dir) as ctx:
        return [f"{name}: {apply_to(ctx, name, node)}" for name, node in drifts]


def apply_drifts(layout: Layout, drifts: Sequence[Drift | str]) -> list[str]:
    """Apply *drifts* to *layout*, running or stopped (the simulator's running caveat applies)."""
    return _apply(layout, [_normalise(d) for d in drifts])


class ClusterWith(Protocol):
    """The ``cluster_with`` fixture: ``with cluster_with(("name", "node03")) as running:``."""

    def __call__(self, *drifts: Drift | str) -> AbstractContextManager[RunningCluster]: ...


@contextmanager
def cluster_with(
    template: BuiltCluster, base: Path, *drifts: Drift | str, serve_args: Sequence[str] = ()
) -> Iterator[RunningCluster]:
    """A running copy of *template* in *base* with *drifts* applied; stopped on exit.

    *serve_args*: more ``python -m simulator serve`` options (``--proxy-host``).
    """
    wanted = tuple(_normalise(d) for d in drifts)
    layout = Layout(base)
    shutil.copytree(template.layout.base, layout.base, symlinks=True, dirs_exist_ok=False)
    applied = _apply(layout, [d for d in wanted if d[0] not in AFTER_START])
    simulator = _simulator(layout, serve_args)
    simulator.start()
    try:
        applied += _apply(layout, [d for d in wanted if d[0] in AFTER_START])
        yield RunningCluster(
            layout=layout,
            target=_target(layout.state),
            cluster=layout.load(),
            drifts=wanted,
            applied=applied,
        )
    finally:
        simulator.stop()
        # The copy's etcd is tens of megabytes; its logs stay for a failing test's reader.
        shutil.rmtree(layout.state / "etcd", ignore_errors=True)


# -- pytest plugin for the subprocess runs ------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Record each scenario's control id as a JUnit property (``-p tests.suite.harness``)."""
    for item in items:
        for mark in item.iter_markers("control"):
            if mark.args:
                item.user_properties.append((CONTROL_PROPERTY, str(mark.args[0])))
