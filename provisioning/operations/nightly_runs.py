"""The nightly runs directory: one ``<UTC timestamp>`` directory per run, the last N kept.

Runs are named ``%Y%m%dT%H%M%SZ`` (as the etcd backups are), so a directory
listing sorts them by time and the name alone dates a run -- never the
mtime, which a copy or a restore changes.  Two runs started in the same
second get ``-1``, ``-2``... suffixes and still sort in start order.

Pruning keeps the newest N runs and, whatever N is, the newest run that has a
``summary.json``: that run is the baseline the next comparison needs, and a
string of runs where the suite could not start must not delete it.  Anything
in the directory whose name is not a run name is left alone.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

RUN_NAME = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
TIMESTAMP = "%Y%m%dT%H%M%SZ"
SUMMARY = "summary.json"
HISTORY = "history.jsonl"


@dataclass(frozen=True)
class Run:
    """One run directory, ordered by its name's timestamp and then its suffix."""

    path: Path
    stamp: str
    sequence: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def has_summary(self) -> bool:
        return (self.path / SUMMARY).is_file()


def parse_run(path: Path) -> Run | None:
    """*path* as a run, or ``None`` when its name is not a run name."""
    match = RUN_NAME.match(path.name)
    if not match:
        return None
    return Run(path, match.group(1), int(match.group(2) or 0))


def list_runs(directory: Path) -> list[Run]:
    """The run directories in *directory*, oldest first."""
    if not directory.is_dir():
        return []
    runs = [parse_run(p) for p in directory.iterdir() if p.is_dir()]
    return sorted((r for r in runs if r is not None), key=lambda r: (r.stamp, r.sequence))


def new_run(directory: Path, moment: datetime) -> Run:
    """Create this run's directory (never reusing one); *moment* must be UTC."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = moment.strftime(TIMESTAMP)
    sequence = 0
    while True:
        name = stamp if sequence == 0 else f"{stamp}-{sequence}"
        path = directory / name
        try:
            path.mkdir()
        except FileExistsError:
            sequence += 1
            continue
        return Run(path, stamp, sequence)


def previous_with(runs: list[Run], current: Run, filename: str) -> Run | None:
    """The newest run before *current* holding *filename* (its baseline or its history)."""
    key = (current.stamp, current.sequence)
    earlier = [r for r in runs if (r.stamp, r.sequence) < key and (r.path / filename).is_file()]
    return earlier[-1] if earlier else None


def runs_to_prune(runs: list[Run], keep: int) -> list[Run]:
    """Which of *runs* (oldest first) go: all but the newest *keep* and the newest baseline."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    kept = {r.path for r in runs[-keep:]}
    baseline = next((r for r in reversed(runs) if r.has_summary), None)
    if baseline is not None:
        kept.add(baseline.path)
    return [r for r in runs if r.path not in kept]


def prune(directory: Path, keep: int) -> list[Run]:
    """Delete the runs :func:`runs_to_prune` picks; returns them."""
    removed = runs_to_prune(list_runs(directory), keep)
    for run in removed:
        shutil.rmtree(run.path)
    return removed
