"""The provisioning plan: ordered, idempotent steps that build a cluster from its definition.

What belongs here is the plan's shape and how it runs -- :class:`Step`,
:func:`build_plan`, :func:`run_plan` and the one-line progress report per
step -- so ``pytest --provision`` and ``--provision=plan`` share one code
path.  What each step does against the drivers lives in
:mod:`provisioning.plan_steps` (the order) and the modules it draws on
(``plan_nodes``, ``plan_cluster``, ``plan_addons``), kept apart because they
are the part that changes when Talos or the charts change.

Every step carries its own "already true" probe, so a second run on a built
cluster skips everything and reports ``nothing to change`` (Terraform's
plan/apply contract).  In ``plan`` mode nothing is applied; once one step
would run, the steps after it are reported as ``would run`` without probing,
because they depend on it (a cluster not yet bootstrapped has no etcd to ask).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError
from provisioning.drivers import Target, errors
from provisioning.operations.backup_files import BackupError
from provisioning.plan_steps import (
    HelmOps,
    KubeOps,
    PlanError,
    Readiness,
    SecretSource,
    StepContext,
    TalosOps,
    Timeouts,
    steps_for,
)

__all__ = [
    "Mode",
    "PlanError",
    "PlanResult",
    "Readiness",
    "Step",
    "StepOutcome",
    "Timeouts",
    "build_plan",
    "run_plan",
]

Mode = Literal["plan", "apply"]
Log = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One idempotent change: *apply* is called only when *is_done* says it is not true yet."""

    name: str
    summary: str
    is_done: Callable[[], bool]
    apply: Callable[[], None]


@dataclass(frozen=True)
class StepOutcome:
    name: str
    status: str  # "done", "skipped (already true)", "would run"
    seconds: float


@dataclass(frozen=True)
class PlanResult:
    mode: Mode
    outcomes: tuple[StepOutcome, ...]

    @property
    def changed(self) -> bool:
        """Whether anything was (apply) or would be (plan) changed."""
        return any(not o.status.startswith("skipped") for o in self.outcomes)


def build_plan(
    cluster: inventory.Cluster,
    target: Target,
    *,
    talos: TalosOps,
    helm: HelmOps,
    kube: Callable[[], KubeOps],
    secrets: SecretSource,
    allow_destructive: bool,
    log: Log,
    timeouts: Timeouts | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    readiness: Readiness | None = None,
) -> list[Step]:
    """The steps that take *target* from bare machines to the definition's cluster.

    *kube* is a factory because the kubeconfig exists only after bootstrap.
    *secrets* is read only when a step needs the config (never in plan mode).
    *readiness* judges when what a step started is ready, by the controls'
    definition; with it, every Helm release it knows gets a ``wait`` step
    and ``wait etcd`` asks it, so verification never meets a half-built
    cluster.
    """
    context = StepContext(
        cluster=cluster,
        target=target,
        talos=talos,
        helm=helm,
        kube=kube,
        secrets=secrets,
        allow_destructive=allow_destructive,
        log=log,
        timeouts=timeouts or Timeouts(),
        sleep=sleep,
        clock=clock,
        readiness=readiness,
    )
    return [Step(s.name, s.summary, s.is_done, s.apply) for s in steps_for(context)]


# What a failing step may raise; anything else is a bug and keeps its traceback.
_EXPECTED = (PlanError, errors.DriverError, DefinitionError, BackupError, OSError, ValueError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def run_plan(
    steps: Sequence[Step],
    *,
    mode: Mode,
    log: Log,
    clock: Callable[[], float] = time.monotonic,
    record: Callable[[StepOutcome], None] | None = None,
) -> PlanResult:
    """Run (or, in ``plan`` mode, only probe) *steps* in order, one progress line each.

    *record* receives every step's outcome as it ends, the failing one too
    (status ``failed``), so a report can show how far a failed run got.

    :raises PlanError: naming the step that failed and why; later steps do not run.
    """
    if mode not in ("plan", "apply"):
        raise ValueError(f"mode must be 'plan' or 'apply', got {mode!r}")
    outcomes: list[StepOutcome] = []
    blocked = False  # plan mode: an earlier step would run, so later probes mean nothing
    for step in steps:
        started = clock()
        try:
            if blocked:
                status = "would run"
            elif step.is_done():
                status = "skipped (already true)"
            elif mode == "plan":
                status, blocked = "would run", True
            else:
                step.apply()
                status = "done"
        except _EXPECTED as exc:
            elapsed = clock() - started
            log(f"[{elapsed:5.1f}s] {step.name}: failed")
            if record is not None:
                record(StepOutcome(step.name, "failed", elapsed))
            raise PlanError(f"step {step.name} ({step.summary}) failed: {_describe(exc)}") from None
        elapsed = clock() - started
        log(f"[{elapsed:5.1f}s] {step.name}: {status}")
        outcomes.append(StepOutcome(step.name, status, elapsed))
        if record is not None:
            record(outcomes[-1])
    result = PlanResult(mode, tuple(outcomes))
    if not result.changed:
        log("nothing to change")
    elif mode == "plan":
        count = sum(1 for o in outcomes if o.status == "would run")
        log(f"plan: {count} of {len(outcomes)} steps would run; nothing was changed")
    return result
