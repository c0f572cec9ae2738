"""A time budget shared by every call of one kind in a run: one allowance, not a per-call timeout.

Why an allowance for the whole run: each call has its own timeout and
retries, so a target that never answers costs calls x attempts x timeout --
a hung ``talosctl`` held a run for minutes per resource type, and again in
every probe.  A :class:`Budget` is created once per run for each kind
(``fixtures.plugin.budget``) and shared by the collector, the probes and the
re-reads: every call's timeout is cut to what is left, and once it is spent
no call starts and :class:`BudgetSpent` (a
:class:`~provisioning.drivers.errors.TimedOut`) says which budget ran out, so
the controls needing that data are reported not verified with the reason.

What it counts is the time the run spent *waiting on the source*: wall time
during which at least one call under the budget was in flight.  Parallel
calls share it (ten calls hung together cost the same seconds as one), and
the time the run spends elsewhere -- judging, a remediation's reboots, other
sources -- costs nothing, so a healthy run of any length never exhausts it,
while a hung source stops every consumer together within the one budget.

:func:`budgeted` applies a budget to a :class:`~provisioning.drivers.Runner`
(the subprocess seam), which is how CLI drivers get it without knowing;
:class:`~provisioning.drivers.kube.KubeDriver` takes one directly.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from provisioning.drivers import errors
from provisioning.drivers.process import Completed, Runner


class BudgetSpent(errors.TimedOut, TimeoutError):
    """The budget is spent: the call was not started (or was cut short)."""


class Budget:
    """*seconds* of waiting for every call made under it; *what* names it in messages."""

    def __init__(
        self, seconds: float, what: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if seconds <= 0:
            raise ValueError("a budget must be > 0 seconds")
        self.seconds, self.what = seconds, what
        self._clock = clock
        self._lock = threading.Lock()
        self._used = 0.0  # waiting time of the busy spans already ended
        self._in_flight = 0
        self._since = 0.0  # when the current busy span began

    def _used_now(self) -> float:
        running = self._clock() - self._since if self._in_flight else 0.0
        return self._used + running

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self.seconds - self._used_now())

    def spent(self) -> BudgetSpent:
        return BudgetSpent(f"{self.what}: the {self.seconds:g}s budget is spent")

    def clip(self, timeout: float) -> float:
        """*timeout* cut to what is left; :class:`BudgetSpent` when nothing is."""
        left = self.remaining()
        if left <= 0:
            raise self.spent()
        return min(timeout, left)

    @contextlib.contextmanager
    def call(self, timeout: float) -> Iterator[float]:
        """Count one call's waiting against the budget; yields its timeout cut to what is left.

        :raises BudgetSpent: before the call when nothing is left.
        """
        with self._lock:
            left = self.seconds - self._used_now()
            if left <= 0:
                raise self.spent()
            if self._in_flight == 0:
                self._since = self._clock()
            self._in_flight += 1
        try:
            yield min(timeout, left)
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._used += self._clock() - self._since


def budgeted(runner: Runner, budget: Budget) -> Runner:
    """*runner* with every call's timeout cut to *budget*'s remaining time, and counted."""

    def run(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None) -> Completed:
        with budget.call(timeout) as clipped:
            try:
                return runner(argv, timeout=clipped, env=env)
            except TimeoutError:
                if budget.remaining() <= 0 or clipped < timeout:
                    raise budget.spent() from None
                raise

    return run
