"""The compliance summary: per area and per control, how many scenarios passed or not.

Allure's HTML is for digging in; this is the one-glance answer ("are we
compliant, and where not") that fits a chat message or a ticket, written as
``summary.json`` (for tools) and ``summary.md`` (a Markdown table).  It is
built from plain records, not from pytest objects, so the counting rules are
testable on their own.

Outcomes: ``passed``, ``failed`` (drift: the check's findings), ``broken``
(an error outside the check: setup, a driver, the suite), ``skipped`` (not
observable, or deselected by a need), ``remediated`` and ``waived`` (every
finding covered by a valid waiver, :mod:`fixtures.waive`; the scenario carries
the user property ``waiver``).  pytest has no
"remediated" outcome, so a test that brought its control back records the user
property ``remediated=true`` (``request.node.user_properties``); a passing
result carrying it counts as remediated *instead of* passed, because the
control was found drifted in this run.

A control's overall result is the worst of its scenarios (an outline yields
one per example): failed, then broken, then skipped, then waived, then
remediated, then passed.  A skipped scenario is a control that was *not
verified* (its source could not be observed, or the target lacks what it
needs), so it ranks above a pass: one unobserved example leaves its control
unverified, and a run whose controls all passed but some were not verified is
not a pass -- its headline is ``NOT VERIFIED: N controls`` and pytest exits
:data:`EXIT_NOT_VERIFIED`.  Waiver warnings (expired, stale) are listed under
``waivers`` in both files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

OUTCOMES = ("passed", "failed", "broken", "skipped", "remediated", "waived")
_WORST_FIRST = ("failed", "broken", "skipped", "waived", "remediated", "passed")
EXIT_NOT_VERIFIED = 6
"""Exit status of a run in which no control failed but some were not verified (pytest uses 0-5)."""
NO_CONTROL = "(no control)"
NO_AREA = "(no area)"


@dataclass(frozen=True)
class Record:
    """One scenario's result, as the summary needs it."""

    nodeid: str
    outcome: str
    controls: tuple[str, ...] = ()
    area: str = ""
    title: str = ""
    severity: str = ""
    reason: str = ""  # why it was not verified (a skip's reason), else ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"outcome {self.outcome!r} of {self.nodeid}: expected one of {OUTCOMES}"
            )


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    broken: int = 0
    skipped: int = 0
    remediated: int = 0
    waived: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def counts(self) -> dict[str, int]:
        return {o: getattr(self, o) for o in OUTCOMES}

    @property
    def result(self) -> str:
        """The worst outcome counted (``skipped`` only if nothing else was)."""
        counts = self.counts()
        return next((o for o in _WORST_FIRST if counts[o]), "skipped")


@dataclass
class ControlSummary:
    control: str
    area: str
    title: str
    severity: str
    tally: Tally = field(default_factory=Tally)
    reasons: list[str] = field(default_factory=list)


@dataclass
class Summary:
    totals: Tally
    areas: dict[str, Tally]
    controls: dict[str, ControlSummary]

    @property
    def unverified(self) -> list[ControlSummary]:
        """Controls whose result is ``skipped``: not observed, so neither passed nor failed."""
        return [c for c in self.controls.values() if c.tally.result == "skipped"]

    def headline(self) -> str:
        """``FAILED``, ``BROKEN``, ``PASSED``/``REMEDIATED`` -- or ``NOT VERIFIED: N controls``.

        A failure stays the headline (it is what needs a person first), with the
        unverified count after it; otherwise unverified controls replace the pass.
        """
        result = self.totals.result
        unverified = len(self.unverified)
        if not unverified:
            return result.upper()
        not_verified = f"NOT VERIFIED: {unverified} control{'s' if unverified != 1 else ''}"
        if result in ("failed", "broken"):
            return f"{result.upper()}; {not_verified}"
        return not_verified


def summarize(records: Iterable[Record]) -> Summary:
    """Count *records* per area and per control (a scenario with two ids counts for both)."""
    totals = Tally()
    areas: dict[str, Tally] = {}
    controls: dict[str, ControlSummary] = {}
    for record in records:
        totals.add(record.outcome)
        area = record.area or NO_AREA
        areas.setdefault(area, Tally()).add(record.outcome)
        for control in record.controls or (NO_CONTROL,):
            entry = controls.setdefault(
                control, ControlSummary(control, area, record.title, record.severity)
            )
            entry.tally.add(record.outcome)
            if record.outcome == "skipped" and record.reason and record.reason not in entry.reasons:
                entry.reasons.append(record.reason)
    return Summary(
        totals=totals,
        areas=dict(sorted(areas.items())),
        controls=dict(sorted(controls.items())),
    )


def to_json(summary: Summary, run: Mapping[str, str], waivers: Sequence[str] = ()) -> str:
    """``summary.json``: the run's facts, totals, per area, per control, waiver warnings."""
    document = {
        "run": dict(run),
        "headline": summary.headline(),
        "totals": {**summary.totals.counts(), "result": summary.totals.result},
        "not_verified": {c.control: c.reasons for c in summary.unverified},
        "areas": {
            name: {**tally.counts(), "result": tally.result}
            for name, tally in summary.areas.items()
        },
        "controls": {
            c.control: {
                "area": c.area,
                "title": c.title,
                "severity": c.severity,
                **c.tally.counts(),
                "result": c.tally.result,
                **({"reasons": c.reasons} if c.reasons else {}),
            }
            for c in summary.controls.values()
        },
        "waivers": list(waivers),
    }
    return json.dumps(document, indent=2) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(_cell(str(c)) for c in cells) + " |"


def to_markdown(summary: Summary, run: Mapping[str, str], waivers: Sequence[str] = ()) -> str:
    """``summary.md``: a heading line, an area table, a control table, waiver warnings."""
    counts = [o.capitalize() for o in OUTCOMES]
    facts = ", ".join(f"{k} {v}" for k, v in run.items())
    lines = [
        f"## Conformance: {summary.headline()}",
        "",
        _cell(facts),
        "",
        *(
            [
                "Not verified (never a pass):",
                "",
                *(
                    f"- {c.control}: {_cell('; '.join(c.reasons) or 'skipped')}"
                    for c in summary.unverified
                ),
                "",
            ]
            if summary.unverified
            else []
        ),
        _row(["Area", "Result", *counts]),
        _row(["---"] * (2 + len(counts))),
        *(
            _row([name, tally.result, *tally.counts().values()])
            for name, tally in summary.areas.items()
        ),
        "",
        _row(["Control", "Area", "Scenario", "Severity", "Result", *counts]),
        _row(["---"] * (5 + len(counts))),
        *(
            _row(
                [c.control, c.area, c.title, c.severity, c.tally.result, *c.tally.counts().values()]
            )
            for c in summary.controls.values()
        ),
        *(["", "### Waivers", "", *(f"- {_cell(w)}" for w in waivers)] if waivers else []),
    ]
    return "\n".join(lines) + "\n"
