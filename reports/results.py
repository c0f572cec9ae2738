"""What a run found, finding by finding, for the outputs that need more than counts.

The summary counts scenarios; SARIF needs every finding (with the waiver that
covered it, if any) and the metrics need findings per control.  ``verify``
(through :mod:`fixtures.waive`) records the findings of the *last* time each
scenario's check ran -- with ``--remediate`` a check runs again after the fix,
and what counts is what the cluster looks like at the end -- and the waivers
the run loaded.  One :class:`RunLog` per session lives in the pytest config's
stash (:func:`run_log`), so the reporting plugins read what the fixtures wrote
without importing them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from checks.findings import Finding
from provisioning.definition.waivers import Waiver


@dataclass(frozen=True)
class Observed:
    """One finding of one scenario's check, and the waiver that covered it (if any)."""

    control: str
    check: str
    module: str
    finding: Finding
    waiver: Waiver | None = None


@dataclass(frozen=True)
class Scenario:
    """Where a scenario is written, for SARIF's rule help and locations."""

    feature: str
    line: int
    title: str
    upstream: str = ""


@dataclass
class RunLog:
    """Per scenario (pytest node id) its last findings; the run's waivers and timing."""

    started: float = field(default_factory=time.time)
    findings: dict[str, list[Observed]] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    waivers_file: str = ""
    # Valid waivers that covered a finding; expired waivers of controls that ran.
    used: set[Waiver] = field(default_factory=set)

    def record(self, nodeid: str, observed: list[Observed]) -> None:
        self.findings[nodeid] = observed
        self.used.update(o.waiver for o in observed if o.waiver is not None)


_LOG = pytest.StashKey[RunLog]()


def run_log(config: pytest.Config) -> RunLog:
    """The session's :class:`RunLog`, created on first use."""
    log = config.stash.get(_LOG, None)
    if log is None:
        log = config.stash[_LOG] = RunLog()
    return log
