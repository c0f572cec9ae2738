"""What a run says about its waivers: expired ones that fail it, stale ones to clean up.

Judged against the run, not the file alone (``python -m provisioning
validate`` does the file-only part):

* **expired**: a waiver past its date for a control this run verified --
  it waived nothing and fails the run (:mod:`reports.gate`), named with its
  owner, reason and expiry;
* **unknown control**: the waiver names a control no feature defines;
* **matched nothing**: the control ran but the waiver covered none of its
  findings (the control passes now, or the scope names the wrong thing).

Waivers of controls this run did not select (``-m``, ``-k``) are not judged.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path

import pytest

from provisioning.definition import waivers as waivers_file
from provisioning.definition.waivers import Waiver
from reports import results, summary


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _ran(records: Iterable[summary.Record]) -> set[str]:
    return {c for r in records for c in r.controls}


def expired(config: pytest.Config, records: Iterable[summary.Record]) -> list[Waiver]:
    """Expired waivers of controls this run verified."""
    ran = _ran(records)
    on = today()
    return [w for w in results.run_log(config).waivers if w.control in ran and w.is_expired(on)]


def notes(config: pytest.Config, records: Iterable[summary.Record]) -> list[str]:
    """One line per expired or stale waiver, for the summary files and the terminal."""
    log = results.run_log(config)
    if not log.waivers:
        return []
    listed = list(records)
    ran = _ran(listed)
    known = waivers_file.known_controls(Path(config.rootpath) / "features")
    on = today()
    lines = [f"EXPIRED {w.describe_expired()}" for w in expired(config, listed)]
    for waiver in log.waivers:
        if waiver.is_expired(on):
            continue
        if waiver.control not in known:
            lines.append(
                f"warning: {waiver.where}: waiver for unknown control {waiver.control} "
                f"(owner {waiver.owner})"
            )
        elif waiver.control in ran and waiver not in log.used:
            lines.append(
                f"warning: {waiver.where}: waiver for {waiver.control} matched no finding "
                f"(owner {waiver.owner}); remove it if the control passes"
            )
    return lines
