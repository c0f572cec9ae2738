"""What changed between two nightly runs, per control: new failures, fixed, still failing.

A nightly run is only worth a page when something *changed*: a control that
passed yesterday and fails today is drift that needs a person, while a control
that has failed for a week is already known.  This module compares two
``summary.json`` documents (written by :mod:`reports.summary`; read here as
plain JSON so the provisioning layer does not import the reporting code) and
renders the result as ``changes.json`` and ``changes.md``.

The rules, per control id (a control's ``result`` is the worst of its
scenarios):

* *bad* means ``failed`` (drift) or ``broken`` (it could not be verified
  because something errored); both need a person;
* **new failure**: bad now, and not bad in the previous run -- including a
  control the previous run did not have, and every bad control when there is
  no previous run at all (a first run has no baseline, so nothing is "known");
* **fixed**: bad before, ``passed`` or ``remediated`` now;
* **still failing**: bad in both runs;
* **no longer verified**: bad before, now ``skipped`` or absent -- not fixed,
  just unobserved, and said so rather than counted as good news;
* **waived**: ``waived`` now (every finding covered by a valid waiver,
  ``cluster/waivers.yaml``) -- an accepted exception, listed every night so it
  stays visible until it is fixed or its waiver expires.

Pure functions over dictionaries; the file handling lives in
:mod:`provisioning.operations.nightly`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BAD = ("failed", "broken")
GOOD = ("passed", "remediated")
ABSENT = "absent"
WAIVED = "waived"


class SummaryError(Exception):
    """A ``summary.json`` that cannot be read; the message names the file and field."""


@dataclass(frozen=True)
class ControlResult:
    """One control's result in one run, as the comparison needs it."""

    control: str
    result: str
    title: str = ""
    area: str = ""
    severity: str = ""


@dataclass(frozen=True)
class Change:
    """One control's move between the previous run and this one."""

    control: str
    previous: str
    now: str
    title: str = ""
    area: str = ""
    severity: str = ""


@dataclass
class Changes:
    """The comparison of one run with the one before it."""

    run: str
    previous_run: str | None
    new_failures: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    still_failing: list[Change] = field(default_factory=list)
    no_longer_verified: list[Change] = field(default_factory=list)
    waived: list[Change] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "run": self.run,
            "previous_run": self.previous_run,
            "totals": self.totals,
            "new_failures": [asdict(c) for c in self.new_failures],
            "fixed": [asdict(c) for c in self.fixed],
            "still_failing": [asdict(c) for c in self.still_failing],
            "no_longer_verified": [asdict(c) for c in self.no_longer_verified],
            "waived": [asdict(c) for c in self.waived],
        }
        return json.dumps(document, indent=2) + "\n"

    def headline(self) -> str:
        since = f"since {self.previous_run}" if self.previous_run else "no previous run"
        return (
            f"{len(self.new_failures)} new failure(s), {len(self.fixed)} fixed, "
            f"{len(self.still_failing)} still failing, "
            f"{len(self.no_longer_verified)} no longer verified, "
            f"{len(self.waived)} waived ({since})"
        )


def controls_of(document: object, source: str) -> dict[str, ControlResult]:
    """The per-control results of a parsed ``summary.json``; *source* names it in errors."""
    if not isinstance(document, Mapping):
        raise SummaryError(f"{source}: expected a JSON object")
    controls = document.get("controls")
    if not isinstance(controls, Mapping):
        raise SummaryError(f"{source}: controls: expected an object of control ids")
    results: dict[str, ControlResult] = {}
    for name, entry in controls.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("result"), str):
            raise SummaryError(f"{source}: controls.{name}.result: expected a string")
        results[str(name)] = ControlResult(
            control=str(name),
            result=str(entry["result"]),
            title=str(entry.get("title", "")),
            area=str(entry.get("area", "")),
            severity=str(entry.get("severity", "")),
        )
    return results


def totals_of(document: Mapping[str, Any]) -> dict[str, int]:
    """The run's scenario counts (``totals`` minus its ``result``), for the change report."""
    totals = document.get("totals")
    if not isinstance(totals, Mapping):
        return {}
    return {str(k): v for k, v in totals.items() if isinstance(v, int)}


def load_summary(path: Path) -> dict[str, Any]:
    """Read *path* as a ``summary.json`` object; :class:`SummaryError` names what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SummaryError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SummaryError(f"{path}: not JSON: {exc}") from None
    controls_of(document, str(path))  # validates the shape once, here
    assert isinstance(document, dict)
    return document


def compare(
    current: Mapping[str, ControlResult],
    previous: Mapping[str, ControlResult] | None,
    *,
    run: str,
    previous_run: str | None = None,
    totals: Mapping[str, int] | None = None,
) -> Changes:
    """Sort every control that is or was bad, or is waived, into exactly one list."""
    changes = Changes(run=run, previous_run=previous_run, totals=dict(totals or {}))
    before = previous or {}
    for name in sorted(set(current) | set(before)):
        now = current.get(name)
        then = before.get(name)
        now_result = now.result if now else ABSENT
        then_result = then.result if then else ABSENT
        described = now or then
        assert described is not None
        change = Change(
            control=name,
            previous=then_result,
            now=now_result,
            title=described.title,
            area=described.area,
            severity=described.severity,
        )
        if now_result == WAIVED:
            changes.waived.append(change)
        elif now_result in BAD:
            target = changes.still_failing if then_result in BAD else changes.new_failures
            target.append(change)
        elif then_result in BAD:
            target = changes.fixed if now_result in GOOD else changes.no_longer_verified
            target.append(change)
    return changes


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(title: str, rows: list[Change]) -> list[str]:
    if not rows:
        return [f"### {title}: none", ""]
    lines = [
        f"### {title}: {len(rows)}",
        "",
        "| Control | Area | Scenario | Severity | Previous | Now |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        "| "
        + " | ".join(_cell(v) for v in (c.control, c.area, c.title, c.severity, c.previous, c.now))
        + " |"
        for c in rows
    ]
    return [*lines, ""]


def to_markdown(changes: Changes) -> str:
    """``changes.md``: the headline, then one table per list (new failures first)."""
    lines = [f"## Nightly run {changes.run}: {changes.headline()}", ""]
    if changes.totals:
        counts = ", ".join(f"{k} {v}" for k, v in changes.totals.items())
        lines += [f"Scenarios this run: {counts}", ""]
    if changes.previous_run is None:
        lines += ["No previous run to compare with: every failing control counts as new.", ""]
    lines += _table("New failures", changes.new_failures)
    lines += _table("Fixed", changes.fixed)
    lines += _table("Still failing", changes.still_failing)
    lines += _table("No longer verified (skipped or not run)", changes.no_longer_verified)
    lines += _table("Waived (accepted exceptions, see summary.md)", changes.waived)
    return "\n".join(lines).rstrip("\n") + "\n"
