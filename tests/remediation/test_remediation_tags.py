"""Every scenario's ``@remediation:`` tag says what its planner really does.

The tag is documentation an operator reads in the feature file and the
report; the planner registry is what ``--remediate`` runs.  A control with a
planner is tagged with the planner's declared risk; one without is ``manual``.
"""

from __future__ import annotations

import re
from pathlib import Path

from remediation import catalogue

FEATURES = Path(__file__).resolve().parents[2] / "features"
TAGS = re.compile(r"@([A-Z]{2,5}-\d{2})\b[^\n]*@remediation:(\w+)")


def declared() -> dict[str, str]:
    return {
        control: kind
        for path in sorted(FEATURES.glob("*.feature"))
        for control, kind in TAGS.findall(path.read_text(encoding="utf-8"))
    }


def test_remediation_tags_match_the_planners() -> None:
    registry = catalogue.loaded()
    tags = declared()
    assert len(tags) >= 40
    wrong = {}
    for control, kind in tags.items():
        risk = registry.risk(control)
        expected = "manual" if risk is None else risk.value
        if kind != expected:
            wrong[control] = f"tagged {kind}, planner says {expected}"
    assert wrong == {}
    assert registry.controls <= set(tags), "a planner for a control no feature defines"
