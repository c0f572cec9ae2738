"""Every way written down in ``features/breakages/`` fails its control and is fixed if it can be.

The catalogue (:mod:`tools.breakages`) is written from upstream semantics,
one entry per way a real cluster can break a scenario's property.  This
guard holds the suite to it:

* statically: every control of every feature has at least one way; every
  way names a registered drift that declares its control;
* on the simulator, one copy per ``group`` of an area with all of its ways'
  drifts applied: ``pytest steps/test_<area>.py`` fails each way's control
  with a message naming the way's objects (so one way detected cannot hide
  another missed); then ``--remediate`` with every allowance passes the
  controls whose ways say ``fix: auto`` and plans ``[manual]`` for the rest.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tests.suite.harness import ClusterWith
from tools import breakages
from tools.breakages import CatalogueError, Way

WAYS = breakages.load()


def _groups() -> dict[tuple[str, str], list[Way]]:
    found: dict[tuple[str, str], list[Way]] = defaultdict(list)
    for way in WAYS:
        found[(way.area, way.group)].append(way)
    return dict(found)


GROUPS = _groups()


@pytest.mark.parametrize("area", breakages.areas())
def test_every_control_lists_the_ways_it_can_be_broken(area: str) -> None:
    listed = {way.control for way in WAYS if way.area == area}
    missing = [c for c in breakages.area_controls(area) if c not in listed]
    assert missing == [], f"features/breakages/{area}.yaml lists no way to break {missing}"


def test_every_way_names_a_drift_of_its_control() -> None:
    from simulator.drifts import list_drifts  # tests only: the suite never imports it

    drifts = {d.name: d for d in list_drifts()}
    wrong = []
    for way in WAYS:
        found = drifts.get(way.drift)
        if found is None:
            wrong.append(f"{way.where}: drift {way.drift} is not registered")
        elif way.control not in found.controls:
            wrong.append(f"{way.where}: drift {way.drift} declares {found.controls} only")
        elif (way.node is not None) != found.takes_node:
            wrong.append(f"{way.where}: drift {way.drift} node {way.node!r} (takes_node)")
    assert wrong == []


def test_a_malformed_catalogue_is_refused_naming_file_entry_and_field(tmp_path: Path) -> None:
    (tmp_path / "features" / "breakages").mkdir(parents=True)
    (tmp_path / "features" / "seccomp.feature").write_text("Feature: x\n  @SEC-01\n")
    bad = tmp_path / "features" / "breakages" / "seccomp.yaml"
    cases = {
        "- control: SEC-09\n": "entry 1: control: SEC-09 is not a scenario",
        "- {control: SEC-01, way: w, upstream: http://x, drift: d, names: [a], fix: auto}\n": (
            "entry 1: upstream: expected an https:// URL"
        ),
        "- {control: SEC-01, way: w, upstream: https://x, drift: d, names: [], fix: auto}\n": (
            "entry 1: names: expected a non-empty list"
        ),
        "- {control: SEC-01, way: w, upstream: https://x, drift: d, names: [a], fix: later}\n": (
            "entry 1: fix: expected one of auto, manual"
        ),
        "- {control: SEC-01, colour: red}\n": "entry 1: unknown field(s) colour",
        "{a: 1}\n": "expected a list of entries",
        "- [\n": "not valid YAML",
        "- {control: SEC-01, control: SEC-02}\n": 'mapping key "control" already defined at line 1',
    }
    for text, expected in cases.items():
        bad.write_text(text)
        with pytest.raises(CatalogueError) as caught:
            breakages.load_area("seccomp", tmp_path)
        assert str(caught.value).startswith("features/breakages/seccomp.yaml"), caught.value
        assert expected in str(caught.value), (text, caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(GROUPS), ids=lambda key: "-".join(key))
def test_each_way_fails_its_control_and_is_fixed_where_it_can_be(
    cluster_with: ClusterWith, key: tuple[str, str]
) -> None:
    area = key[0]
    ways = GROUPS[key]
    steps = f"steps/test_{area}.py"
    # A drift that breaks several controls is listed once per control, applied once.
    with cluster_with(*dict.fromkeys((way.drift, way.node) for way in ways)) as running:
        verified = running.run_suite(steps)
        missed = []
        for way in ways:
            if verified.outcomes.get(way.control) != "failed":
                missed.append(f"{way.where}: {verified.outcomes.get(way.control)}")
                continue
            message = verified.messages[way.control]
            missed += [f"{way.where}: message lacks {n!r}" for n in way.names if n not in message]
        assert missed == [], "\n".join(missed) + "\n" + verified.output[-4000:]

        fixed = running.run_suite(steps, "--remediate", "--allow-disruptive", "--allow-destructive")
        # A control passes after --remediate only when every way of it on this copy has a fix.
        auto = {w.control for w in ways} - {w.control for w in ways if w.fix == "manual"}
        wrong = [
            f"{control}: {fixed.outcomes.get(control)} after --remediate"
            for control in sorted(auto)
            if fixed.outcomes.get(control) != "passed"
        ]
        wrong += [
            f"{way.where}: no [manual] plan"
            for way in ways
            if way.control not in auto and "[manual]" not in fixed.messages.get(way.control, "")
        ]
        assert wrong == [], "\n".join(wrong) + "\n" + fixed.output[-4000:]
