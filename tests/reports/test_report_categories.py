"""Defect categories: each kind of message lands in exactly the category its owner reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import categories

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (
            "failed",
            "AssertionError: no_secrets_committed: 1 finding(s)\n  - a: b",
            "Drift from the definition",
        ),
        (
            "skipped",
            "Skipped: luks2_with_node_id could not observe the cluster: kind missing",
            "Target unreachable or unobservable",
        ),
        (
            "broken",
            "provisioning.drivers.errors.Unreachable: talosctl get\ncommand: talosctl",
            "Target unreachable or unobservable",
        ),
        ("broken", "KeyError: 'spec'", "Suite errors"),
        (
            "skipped",
            "_pytest.outcomes.XFailed: waived: 1 finding(s) covered: HYG-02 waived until "
            "2099-12-31 by team-a: the cluster could not observe the cluster: yet",
            "Waived",
        ),
        ("skipped", "XFailed: waived: 1 finding(s) covered", "Waived"),
        ("broken", "", "Suite errors"),
        ("failed", "Failed: explicit pytest.fail", ""),
        ("skipped", "Skipped: needs live", ""),
    ],
)
def test_message_lands_in_its_category(status: str, message: str, expected: str) -> None:
    assert categories.categorize(status, message) == expected


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["failed", "broken", "skipped"]), st.text(max_size=60))
def test_categories_never_overlap(status: str, message: str) -> None:
    # Allure 2 puts a result in every matching category: at most one may match.
    matching = [
        c
        for c in categories.CATEGORIES
        if status in c.statuses and re.fullmatch(c.message_regex, message)
    ]
    assert len(matching) <= 1


def test_allure3_config_holds_the_same_categories() -> None:
    config = json.loads((ROOT / "reports" / "allurerc.json").read_text())
    assert config["categories"] == json.loads(categories.categories_json())
    assert config["historyPath"] == "./history/history.jsonl"
    assert config["output"] == "./html"
