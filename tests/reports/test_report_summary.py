"""Counting rules of the compliance summary (pure: records in, counts and tables out)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import summary
from reports.summary import Record

RUN = {"cluster": "K8S-CLUSTER", "target": "simulated"}


def record(nodeid: str, outcome: str, *controls: str, area: str = "a") -> Record:
    return Record(nodeid=nodeid, outcome=outcome, controls=controls, area=area, title=nodeid)


records = st.lists(
    st.builds(
        Record,
        nodeid=st.text(min_size=1, max_size=5),
        outcome=st.sampled_from(summary.OUTCOMES),
        controls=st.lists(
            st.sampled_from(["ENC-01", "HYG-01", "NP-02"]), max_size=2, unique=True
        ).map(tuple),
        area=st.sampled_from(["", "disk_encryption", "config_hygiene"]),
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(records)
def test_every_record_is_counted_once_in_totals_and_areas(rs: list[Record]) -> None:
    result = summary.summarize(rs)
    assert sum(result.totals.counts().values()) == len(rs)
    assert sum(sum(t.counts().values()) for t in result.areas.values()) == len(rs)


@settings(max_examples=60, deadline=None)
@given(records)
def test_each_control_counts_its_records(rs: list[Record]) -> None:
    result = summary.summarize(rs)
    for control, entry in result.controls.items():
        mine = [r for r in rs if control in (r.controls or (summary.NO_CONTROL,))]
        assert sum(entry.tally.counts().values()) == len(mine)
        for outcome in summary.OUTCOMES:
            assert entry.tally.counts()[outcome] == sum(r.outcome == outcome for r in mine)


@settings(max_examples=60, deadline=None)
@given(records)
def test_json_round_trips_the_counts(rs: list[Record]) -> None:
    result = summary.summarize(rs)
    data = json.loads(summary.to_json(result, RUN))
    assert data["run"] == RUN
    assert {k: v for k, v in data["totals"].items() if k != "result"} == result.totals.counts()
    assert set(data["controls"]) == set(result.controls)


def test_control_result_is_its_worst_scenario() -> None:
    result = summary.summarize(
        [
            record("a", "passed", "NP-01"),
            record("b", "failed", "NP-01"),
            record("c", "broken", "NP-01"),
            record("d", "remediated", "NP-02"),
            record("e", "passed", "NP-02"),
            record("f", "skipped", "NP-03"),
            record("g", "skipped", "NP-04"),
            record("h", "passed", "NP-04"),
        ]
    )
    results = {c: e.tally.result for c, e in result.controls.items()}
    assert results == {
        "NP-01": "failed",
        "NP-02": "remediated",
        "NP-03": "skipped",
        "NP-04": "skipped",  # one unobserved example leaves its control unverified
    }
    assert result.totals.result == "failed"


def test_unverified_controls_replace_the_pass_in_the_headline() -> None:
    reason = "check could not observe the cluster: talosctl calls: the 3s budget is spent"
    rs = [
        record("a", "passed", "TOP-01"),
        Record(nodeid="b", outcome="skipped", controls=("ENC-01",), reason=reason),
        Record(nodeid="c", outcome="skipped", controls=("ETCD-01",)),
        record("d", "remediated", "NP-01"),
    ]
    result = summary.summarize(rs)
    assert result.headline() == "NOT VERIFIED: 2 controls"
    assert [c.control for c in result.unverified] == ["ENC-01", "ETCD-01"]
    text = summary.to_markdown(result, RUN)
    assert text.startswith("## Conformance: NOT VERIFIED: 2 controls\n")
    assert f"- ENC-01: {reason}" in text
    assert "PASSED" not in text
    data = json.loads(summary.to_json(result, RUN))
    assert data["headline"] == "NOT VERIFIED: 2 controls"
    assert data["not_verified"] == {"ENC-01": [reason], "ETCD-01": []}
    assert data["controls"]["ENC-01"]["reasons"] == [reason]
    # A failure stays first; the unverified count is said beside it.
    failed = summary.summarize([*rs, record("e", "failed", "HYG-01")])
    assert failed.headline() == "FAILED; NOT VERIFIED: 2 controls"
    assert summary.summarize(rs[:1]).headline() == "PASSED"


def test_records_without_control_or_area_are_grouped_visibly() -> None:
    result = summary.summarize([record("x", "passed", area="")])
    assert list(result.controls) == [summary.NO_CONTROL]
    assert list(result.areas) == [summary.NO_AREA]


def test_unknown_outcome_is_rejected_naming_the_test() -> None:
    with pytest.raises(ValueError, match=r"'xpassed' of steps/test_x.py::t"):
        Record(nodeid="steps/test_x.py::t", outcome="xpassed")


def test_markdown_escapes_pipes_and_lists_counts() -> None:
    rs = [Record(nodeid="n", outcome="failed", controls=("NP-01",), area="net", title="a | b")]
    text = summary.to_markdown(summary.summarize(rs), RUN)
    assert "| NP-01 | net | a \\| b |  | failed | 0 | 1 | 0 | 0 | 0 | 0 |" in text
    assert "| net | failed | 0 | 1 | 0 | 0 | 0 | 0 |" in text
    assert "cluster K8S-CLUSTER, target simulated" in text


def test_waived_is_its_own_outcome_between_broken_and_remediated() -> None:
    result = summary.summarize(
        [
            record("a", "waived", "LH-02"),
            record("b", "remediated", "LH-02"),
            record("c", "waived", "LH-03"),
            record("d", "broken", "LH-03"),
            record("e", "waived", "LH-04"),
            record("f", "passed", "LH-04"),
        ]
    )
    results = {c: e.tally.result for c, e in result.controls.items()}
    assert results == {"LH-02": "waived", "LH-03": "broken", "LH-04": "waived"}
    assert result.totals.waived == 3


def test_waiver_warnings_are_listed_in_both_files() -> None:
    result = summary.summarize([record("a", "waived", "LH-02")])
    notes = ["EXPIRED w.yaml:2: waiver for LH-03 expired on 2020-01-01: owner a, reason: b"]
    data = json.loads(summary.to_json(result, RUN, notes))
    assert data["waivers"] == notes
    assert data["controls"]["LH-02"]["waived"] == 1
    assert data["totals"]["result"] == "waived"
    text = summary.to_markdown(result, RUN, notes)
    assert "### Waivers\n\n- EXPIRED w.yaml:2: waiver for LH-03 expired" in text
    assert "### Waivers" not in summary.to_markdown(result, RUN)
