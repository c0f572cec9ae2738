"""``--metrics PATH``: the run as Prometheus text, for node_exporter's textfile collector.

node_exporter reads every ``*.prom`` file in ``--collector.textfile.directory``
on each scrape (https://github.com/prometheus/node_exporter#textfile-collector),
so the file must never be seen half-written: :func:`write_atomically` writes a
temporary file in the same directory (a name not ending in ``.prom``) and
renames it over the target, which is atomic on POSIX file systems.

Series (text exposition format,
https://prometheus.io/docs/instrumenting/exposition_formats/):

* ``talos_conformance_control_status{control,area,severity,outcome}``: 1 when
  the control passed (``passed`` or ``remediated``), 0 otherwise; ``outcome``
  tells a drift (``failed``) from ``broken``, ``skipped``, ``waived`` or any
  other outcome the summary knows.  A waived control is 0: it does not
  conform, the exception is accepted -- alert on
  ``talos_conformance_control_status{outcome!="waived"} == 0``;
* ``talos_conformance_control_findings{control,area,severity}``: findings
  not covered by a waiver, and ``talos_conformance_control_waived_findings``
  those covered;
* ``talos_conformance_controls{outcome}``: controls per outcome;
* ``talos_conformance_waivers_expired``: expired waivers of controls that ran;
* ``talos_conformance_run_timestamp_seconds`` (end of the run, Unix time)
  and ``talos_conformance_run_duration_seconds``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reports import summary

PREFIX = "talos_conformance"
PASSING = ("passed", "remediated")


@dataclass(frozen=True)
class ControlFindings:
    open: int = 0
    waived: int = 0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _family(name: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> str:
    lines = [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} gauge"]
    lines += [f"{PREFIX}_{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines)


def render(
    result: summary.Summary,
    findings: Mapping[str, ControlFindings],
    *,
    finished: float,
    duration: float,
    expired_waivers: int,
) -> str:
    """The exposition text for one run (one family per metric, every control listed)."""
    controls = [c for c in result.controls.values() if c.control != summary.NO_CONTROL]

    def base(c: summary.ControlSummary) -> dict[str, str]:
        return {"control": c.control, "area": c.area, "severity": c.severity}

    per_outcome = dict.fromkeys(summary.OUTCOMES, 0)
    for control in controls:
        per_outcome[control.tally.result] = per_outcome.get(control.tally.result, 0) + 1
    families = [
        _family(
            "control_status",
            "1 if the control passed (or was remediated), else 0; outcome says why.",
            (
                ({**base(c), "outcome": c.tally.result}, 1 if c.tally.result in PASSING else 0)
                for c in controls
            ),
        ),
        _family(
            "control_findings",
            "Findings of the control not covered by a waiver.",
            ((base(c), findings.get(c.control, ControlFindings()).open) for c in controls),
        ),
        _family(
            "control_waived_findings",
            "Findings of the control covered by a valid waiver.",
            ((base(c), findings.get(c.control, ControlFindings()).waived) for c in controls),
        ),
        _family(
            "controls",
            "Controls per overall outcome in the run.",
            (({"outcome": o}, n) for o, n in per_outcome.items()),
        ),
        _family(
            "waivers_expired", "Expired waivers of controls that ran.", [({}, expired_waivers)]
        ),
        _family(
            "run_timestamp_seconds", "When the run finished (Unix time).", [({}, round(finished))]
        ),
        _family("run_duration_seconds", "How long the run took.", [({}, round(duration, 3))]),
    ]
    return "\n".join(families) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write *text* to *path* through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # node_exporter runs as its own user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
