"""Which control has a planner: a registry keyed by control ID, filled by decorators.

Why keyed by control and not by finding type: a planner needs the whole
picture of its control (every finding, plus the snapshot and the definition
behind them) to plan once -- one helm upgrade for three Cilium findings, one
rolling node order for several nodes -- and the control ID is the stable name
the features, drifts and reports already share.  A control without a planner
is reported as ``manual`` with its findings' documentation.

The registry is an object so tests can build their own (kopf's registries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from checks.findings import Finding
from checks.snapshot import Snapshot
from remediation.actions import Plan, Risk

Planner = Callable[[Sequence[Finding], Snapshot], Plan]


class Registry:
    def __init__(self) -> None:
        self._planners: dict[str, Planner] = {}
        self._risks: dict[str, Risk] = {}

    def planner(self, *controls: str, risk: Risk) -> Callable[[Planner], Planner]:
        """Register the decorated function as the planner of *controls*.

        *risk* is the most severe class its actions can have; the features'
        ``@remediation:`` tags are checked against it.
        """

        def register(function: Planner) -> Planner:
            for control in controls:
                if control in self._planners:
                    raise ValueError(f"control {control} already has a planner")
                self._planners[control] = function
                self._risks[control] = risk
            return function

        return register

    def risk(self, control: str) -> Risk | None:
        """The declared risk of *control*'s fixes; None when it has no planner (manual)."""
        return self._risks.get(control)

    def get(self, control: str) -> Planner | None:
        return self._planners.get(control)

    @property
    def controls(self) -> frozenset[str]:
        return frozenset(self._planners)

    def plan(self, control: str, findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
        planner = self.get(control)
        if planner is None:
            docs = sorted({f.doc for f in findings if f.doc})
            why = "no automatic remediation for this control"
            return Plan(control, manual=(why + (f"; see {', '.join(docs)}" if docs else ""),))
        return planner(findings, snapshot)


REGISTRY = Registry()
planner = REGISTRY.planner
