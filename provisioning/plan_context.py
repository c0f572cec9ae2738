"""The vocabulary every provisioning step shares: driver protocols, the context, the step record.

What belongs here: :class:`PlanError`, the driver protocols (:class:`TalosOps`,
:class:`HelmOps`, :class:`KubeOps`, :class:`SecretSource`), the
:class:`Readiness` protocol, :class:`Timeouts`,
:class:`StepContext`, :class:`StepSpec`, and the few small helpers more than
one step module needs (naming a node, waiting with a deadline, picking one
node's objects out of a multi-node ``talosctl get``).  Split out of
:mod:`provisioning.plan_steps` so the step modules (:mod:`provisioning.plan_nodes`,
:mod:`provisioning.plan_cluster`, :mod:`provisioning.plan_addons`) depend on
one small module instead of on each other.  The drivers are protocols so
unit tests drive the plan with fakes.
"""

from __future__ import annotations

import argparse
import builtins
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from provisioning import polling
from provisioning.config.secrets import MachineSecrets
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from provisioning.drivers.helm import HelmRelease
from provisioning.drivers.talosctl import EtcdAlarmRow, EtcdMemberRow, SnapshotInfo

NODES: tuple[str, str, str] = ("", "v1", "nodes")
T = TypeVar("T")


class PlanError(Exception):
    """A step cannot be done; the message names the node, disk, file or release and why."""


class TalosOps(Protocol):
    def get(
        self,
        resource: str,
        nodes: Sequence[str],
        *,
        namespace: str | None = None,
        id: str | None = None,
        insecure: bool = False,
    ) -> list[dict[str, Any]]: ...

    def apply_config(
        self,
        node: str,
        config_file: Path,
        *,
        patches: Sequence[Path] = (),
        insecure: bool = False,
        mode: str = "auto",
        dry_run: bool = False,
    ) -> str: ...

    def bootstrap(self, node: str) -> None: ...

    def kubeconfig(self, path: Path, node: str, *, force: bool = True) -> None: ...

    def etcd_members(self, node: str) -> list[EtcdMemberRow]: ...

    def etcd_alarms(self, node: str) -> list[EtcdAlarmRow]: ...

    def etcd_snapshot(self, node: str, path: Path) -> SnapshotInfo: ...

    def wipe_disk(self, node: str, devices: Sequence[str], *, insecure: bool = False) -> None: ...


class HelmOps(Protocol):
    def repo_add(self, name: str, url: str) -> None: ...

    def list(self, namespace: str | None = None) -> list[HelmRelease]: ...

    def get_values(self, release: str, namespace: str) -> dict[str, Any]: ...

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
    ) -> str: ...


class KubeOps(Protocol):
    def list(
        self,
        kind: tuple[str, str, str],
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def get(
        self, kind: tuple[str, str, str], name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    def apply_manifest(
        self, docs: Iterable[Mapping[str, Any]]
    ) -> builtins.list[dict[str, Any]]: ...


class SecretSource(Protocol):
    def load_or_create(self) -> MachineSecrets: ...


class Readiness(Protocol):
    """What is not ready yet after a step, by the definition of ready the controls use.

    Provisioning sits below the checks (import layers), so the judge is
    handed in: ``fixtures.readiness`` runs the controls' own check functions
    on a fresh partial snapshot.  *stage* is ``"etcd"``, ``"nodes"`` or a
    Helm release name from the definition (``"cilium"``, ``"longhorn"``);
    the answer lists one line per node or object that is not ready yet,
    empty when everything is.
    """

    def stages(self) -> frozenset[str]:
        """The stages this judge knows; a plan waits only for those."""
        ...

    def not_ready(self, stage: str) -> list[str]: ...


@dataclass(frozen=True)
class Timeouts:
    """Deadlines, in seconds, on waiting for the cluster to converge.

    The defaults suit real hardware (minutes: an install to disk and a
    reboot, image pulls for the add-ons); ``pytest --provision`` and
    ``python -m provisioning readdress`` take them as options.
    """

    configured: float = 600.0  # a node installed and out of maintenance after apply-config
    etcd: float = 300.0  # etcd healthy after bootstrap
    nodes: float = 600.0  # Kubernetes nodes registered (and Ready, once the CNI runs)
    addons: float = 900.0  # each Helm release (helm --wait --timeout), then ready by the controls
    poll: float = 1.0
    progress: float = 15.0  # how often a long wait says what it still waits for


@dataclass
class StepContext:
    cluster: inventory.Cluster
    target: Target
    talos: TalosOps
    helm: HelmOps
    kube: Callable[[], KubeOps]
    secrets: SecretSource
    allow_destructive: bool
    log: Callable[[str], None]
    timeouts: Timeouts
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    readiness: Readiness | None = None
    configured: dict[str, bool] = field(default_factory=dict)
    _kube: KubeOps | None = field(default=None, repr=False)

    def api(self) -> KubeOps:
        if self._kube is None:
            self._kube = self.kube()
        return self._kube


@dataclass(frozen=True)
class StepSpec:
    name: str
    summary: str
    is_done: Callable[[], bool]
    apply: Callable[[], None]


def who(node: inventory.Node) -> str:
    return f"{node.name} ({node.ip})"


def by_node(items: list[dict[str, Any]], ip: str, single: bool) -> list[dict[str, Any]]:
    # With several nodes, each object carries its node (talosctl get -o json).
    return items if single else [i for i in items if str(i.get("node", "")) == ip]


def seconds(text: str) -> float:
    """A deadline option's value (pytest's and ``python -m provisioning``'s): seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def wait_for(
    ctx: StepContext,
    timeout: float,
    missing: Callable[[], list[str]],
    what: str,
    *,
    progress: str | None = None,
) -> None:
    """Poll *missing* until it is empty; :class:`PlanError` once *timeout* passed.

    With *progress* (the step's name), a wait that is not over at once logs
    ``<progress>: waiting up to <timeout>s for <what>``, then every
    ``timeouts.progress`` seconds what is not ready yet, so an operator
    watching a slow cluster sees which node or object holds it up.  The
    error names the deadline and everything still not ready.
    """
    started = ctx.clock()
    deadline = started + timeout
    said: float | None = None
    pauses = polling.intervals(ctx.timeouts.poll)
    while True:
        left = missing()
        if not left:
            if said is not None and progress is not None:
                ctx.log(f"{progress}: ready after {ctx.clock() - started:.0f}s")
            return
        now = ctx.clock()
        if now >= deadline:
            raise PlanError(
                f"timed out after {timeout:g}s (the deadline) waiting for {what}; "
                f"not ready yet: {'; '.join(left)}"
            )
        if progress is not None and (said is None or now - said >= ctx.timeouts.progress):
            if said is None:
                ctx.log(f"{progress}: waiting up to {timeout:g}s for {what}")
            ctx.log(f"{progress}: not ready yet ({now - started:.0f}s): {'; '.join(left)}")
            said = now
        ctx.sleep(next(pauses))


# A short real wait for the command before each pause: a command that returns at
# once is seen at once, also when the plan's clock is not the real one (tests).
_GRACE = 0.05


def with_progress(
    ctx: StepContext,
    progress: str,
    run: Callable[[], T],
    not_ready: Callable[[], list[str]] | None = None,
) -> T:
    """*run* (one long command, such as ``helm upgrade --install --wait``), saying how it goes.

    The command runs in a thread while this one checks, at the wait's poll
    pace (in-process only: nothing is asked of the cluster), whether it has
    returned; every ``timeouts.progress`` seconds it logs ``<progress>: not
    ready yet (<N>s): ...`` with what *not_ready* (the readiness judge) still
    finds, or ``still running`` without one.  So the judge is asked once per
    progress line, never at the poll pace.  Returns what *run* returns and
    raises what it raises.  A judge that cannot read says so on the line
    instead of stopping the command.
    """
    outcome: list[tuple[bool, Any]] = []
    finished = threading.Event()

    def body() -> None:
        try:
            outcome.append((True, run()))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
            outcome.append((False, exc))
        finally:
            finished.set()

    worker = threading.Thread(target=body, name=progress, daemon=True)
    worker.start()
    started = said = ctx.clock()
    pauses = polling.intervals(ctx.timeouts.poll)
    while not finished.wait(_GRACE):
        ctx.sleep(next(pauses))
        now = ctx.clock()
        if finished.is_set() or now - said < ctx.timeouts.progress:
            continue
        said = now
        if not_ready is None:
            ctx.log(f"{progress}: still running ({now - started:.0f}s)")
            continue
        try:
            left = not_ready()
        except errors.DriverError as exc:
            left = [f"cannot judge yet: {str(exc).strip().splitlines()[0]}"]
        if left:
            ctx.log(f"{progress}: not ready yet ({now - started:.0f}s): {'; '.join(left)}")
        else:
            ctx.log(f"{progress}: ready by the controls, still running ({now - started:.0f}s)")
    worker.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result
