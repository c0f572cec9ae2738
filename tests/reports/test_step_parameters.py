"""Step parameters in Allure results: parsed values stay, fixture values never get in.

allure-pytest-bdd records every argument of a step function as a parameter,
fixtures included; ``reports.plugin`` removes the fixtures.  A throwaway
project (its own feature and steps, loading only ``reports.plugin``) shows
both halves: the parsed value is kept, a fixture holding a secret is not.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from reports.plugin import step_parameters_to_keep, upstream_link
from tests.reports.inner_pytest import run_pytest

SECRET = "s3cr3t-token-value-9f2c"

FEATURE = """\
Feature: Throwaway
  Upstream: https://example.invalid/feature-doc

  Scenario: A parsed value and a fixture
    Upstream: https://example.invalid/scenario-doc
    Given the namespace "kube-system"

  Scenario: A control brought back by remediation
    Given the control was remediated

  Scenario: A suite error
    Given the suite breaks

  Scenario: An unobservable control
    Given nothing can be observed
"""

STEPS = f'''\
from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, scenarios

scenarios("throwaway.feature")


@pytest.fixture
def token() -> str:
    return "{SECRET}"


@given(parsers.parse('the namespace "{{namespace}}"'))
def given_namespace(namespace: str, token: str) -> None:
    assert namespace == "kube-system"


@given("the control was remediated")
def given_remediated(request: pytest.FixtureRequest) -> None:
    request.node.user_properties.append(("remediated", "true"))


@given("the suite breaks")
def given_suite_breaks() -> None:
    raise KeyError("spec")


@given("nothing can be observed")
def given_unobservable() -> None:
    pytest.skip("check could not observe the cluster: no access")
'''


def test_parsed_values_are_kept_and_fixtures_dropped() -> None:
    args = {"namespace": "x", "token": "t", "datatable": [["a"]]}
    assert step_parameters_to_keep(args, {"token", "request"}) == {"namespace"}
    assert step_parameters_to_keep(args, {"namespace", "token"}) == set()


def test_scenario_upstream_wins_over_feature_upstream() -> None:
    feature = "text\nUpstream: https://a.invalid/f\n"
    assert upstream_link("Upstream: https://a.invalid/s", feature) == "https://a.invalid/s"
    assert upstream_link("", feature) == "https://a.invalid/f"
    assert upstream_link("no link here", "") == ""


@dataclass(frozen=True)
class ThrowawayRun:
    """The throwaway project and its one conformance run (both tests read the same run)."""

    project: Path
    proc: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayRun:
    project = tmp_path_factory.mktemp("throwaway")
    (project / "throwaway.feature").write_text(FEATURE)
    # Under steps/, so the plugin treats it as a conformance run and writes a summary.
    (project / "steps").mkdir()
    (project / "steps" / "test_throwaway.py").write_text(STEPS)
    (project / "conftest.py").write_text('pytest_plugins = ["reports.plugin"]\n')
    (project / "pytest.ini").write_text("[pytest]\nbdd_features_base_dir = .\n")
    proc = run_pytest(project, "steps", "--alluredir", "out/results", timeout=120)
    return ThrowawayRun(project, proc)


def test_allure_step_parameters_hold_no_fixture_values(throwaway: ThrowawayRun) -> None:
    project, proc = throwaway.project, throwaway.proc
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = [json.loads(p.read_text()) for p in (project / "out/results").glob("*-result.json")]
    [result] = [r for r in results if r["name"] == "A parsed value and a fixture"]
    [step] = result["steps"]
    assert step["parameters"] == [{"name": "namespace", "value": "'kube-system'"}]
    link = {"type": "link", "url": "https://example.invalid/scenario-doc", "name": "upstream doc"}
    assert link in result["links"]
    for path in (project / "out").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(), path.name


def test_summary_counts_remediated_broken_and_skipped(throwaway: ThrowawayRun) -> None:
    project = throwaway.project
    totals = json.loads((project / "out" / "summary.json").read_text())["totals"]
    assert totals == {
        "passed": 1,
        "failed": 0,
        "broken": 1,
        "skipped": 1,
        "remediated": 1,
        "waived": 0,
        "result": "broken",
    }
