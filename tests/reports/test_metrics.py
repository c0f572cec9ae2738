"""Prometheus output: parsed back by prometheus_client's own text parser; written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reports import metrics, summary
from reports.summary import Record


def run() -> summary.Summary:
    return summary.summarize(
        [
            Record("a", "passed", ("HYG-01",), "config_hygiene", "t1", "critical"),
            Record("b", "failed", ("HYG-02",), "config_hygiene", 't"2\\', "blocker"),
            Record("c", "waived", ("LH-02",), "longhorn", "t3", "normal"),
            Record("d", "skipped", ("ENC-01",), "disk_encryption", "t4", "critical"),
            Record("e", "remediated", ("NP-01",), "network_policy", "t5", "normal"),
        ]
    )


def parsed(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_the_exposition_parses_with_one_status_per_control() -> None:
    text = metrics.render(
        run(),
        {"HYG-02": metrics.ControlFindings(2, 0), "LH-02": metrics.ControlFindings(0, 1)},
        finished=1796000000.25,
        duration=12.5,
        expired_waivers=1,
    )
    families = parsed(text)
    status = {
        labels["control"]: (labels, value)
        for labels, value in families["talos_conformance_control_status"]
    }
    assert status["HYG-01"] == (
        {
            "control": "HYG-01",
            "area": "config_hygiene",
            "severity": "critical",
            "outcome": "passed",
        },
        1.0,
    )
    assert status["HYG-02"][1] == 0.0
    assert status["HYG-02"][0]["outcome"] == "failed"
    assert status["LH-02"][0]["outcome"] == "waived"
    assert status["LH-02"][1] == 0.0
    assert status["ENC-01"][0]["outcome"] == "skipped"
    assert status["NP-01"][1] == 1.0
    findings = {lab["control"]: v for lab, v in families["talos_conformance_control_findings"]}
    assert findings == {"HYG-01": 0, "HYG-02": 2, "LH-02": 0, "ENC-01": 0, "NP-01": 0}
    waived = {lab["control"]: v for lab, v in families["talos_conformance_control_waived_findings"]}
    assert waived["LH-02"] == 1
    per_outcome = {lab["outcome"]: v for lab, v in families["talos_conformance_controls"]}
    assert per_outcome["waived"] == per_outcome["failed"] == per_outcome["passed"] == 1
    assert families["talos_conformance_waivers_expired"] == [({}, 1.0)]
    assert families["talos_conformance_run_timestamp_seconds"] == [({}, 1796000000.0)]
    assert families["talos_conformance_run_duration_seconds"] == [({}, 12.5)]


def test_label_values_are_escaped() -> None:
    result = summary.summarize([Record("a", "failed", ("HYG-02",), 'a"b\\c\nd', "t", "normal")])
    text = metrics.render(result, {}, finished=0, duration=0, expired_waivers=0)
    ((labels, _),) = parsed(text)["talos_conformance_control_status"]
    assert labels["area"] == 'a"b\\c\nd'


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "talos_conformance.prom"
    metrics.write_atomically(target, "old 1\n")
    inode = target.stat().st_ino
    metrics.write_atomically(target, "new 1\n")
    assert target.read_text() == "new 1\n"
    assert target.stat().st_ino != inode, "written in place, not renamed over"
    assert os.listdir(target.parent) == ["talos_conformance.prom"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "talos_conformance.prom"
    metrics.write_atomically(target, "old 1\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        metrics.write_atomically(target, "new 1\n")
    assert target.read_text() == "old 1\n"
    assert os.listdir(tmp_path) == ["talos_conformance.prom"]
