"""A time budget shared by every call of one kind: a deadline, not a per-call timeout.

Why a deadline: each call has its own timeout and retries, so a target that
never answers costs calls x attempts x timeout -- a hung ``talosctl`` held a
run for minutes per resource type.  A :class:`Budget` is one deadline for a
whole batch of calls (one observation of the cluster, one probe): every
call's timeout is cut to what is left, and once it is spent no call starts
and :class:`BudgetSpent` (a :class:`~provisioning.drivers.errors.TimedOut`)
says which budget ran out, so the controls needing that data are reported
not verified with the reason, within the budget.  Parallel calls share the
deadline, so a batch of them takes at most the budget in wall time.

:func:`budgeted` applies a budget to a :class:`~provisioning.drivers.Runner`
(the subprocess seam), which is how CLI drivers get it without knowing;
:class:`~provisioning.drivers.kube.KubeDriver` takes one directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from provisioning.drivers import errors
from provisioning.drivers.process import Completed, Runner


class BudgetSpent(errors.TimedOut, TimeoutError):
    """The budget's deadline has passed: the call was not started (or was cut short)."""


class Budget:
    """*seconds* from creation for every call made under it; *what* names it in messages."""

    def __init__(
        self, seconds: float, what: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if seconds <= 0:
            raise ValueError("a budget must be > 0 seconds")
        self.seconds, self.what = seconds, what
        self._clock = clock
        self._deadline = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock())

    def spent(self) -> BudgetSpent:
        return BudgetSpent(f"{self.what}: the {self.seconds:g}s budget is spent")

    def clip(self, timeout: float) -> float:
        """*timeout* cut to what is left; :class:`BudgetSpent` when nothing is."""
        left = self.remaining()
        if left <= 0:
            raise self.spent()
        return min(timeout, left)


def budgeted(runner: Runner, budget: Budget) -> Runner:
    """*runner* with every call's timeout cut to *budget*'s remaining time."""

    def run(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None) -> Completed:
        clipped = budget.clip(timeout)
        try:
            return runner(argv, timeout=clipped, env=env)
        except TimeoutError:
            if budget.remaining() <= 0:
                raise budget.spent() from None
            raise

    return run
