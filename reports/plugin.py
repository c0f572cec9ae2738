"""The reporting pytest plugin: Allure run files, scenario labels, compliance summary, JUnit.

Loaded from the root conftest (``pytest_plugins``), it adds to what
allure-pytest-bdd records, without replacing any of it:

* per scenario, before allure-pytest-bdd reads the marks: a ``story`` label
  (the scenario title) and a ``link`` to the control's upstream document (the
  ``Upstream:`` line of the scenario's, else the feature's, description).
  allure-pytest-bdd already gives ``feature`` (the Feature name), ``tag``
  (argument-less marks, so the control id), the ``epic``/``severity`` labels
  that ``fixtures.plugin`` turns tags into, and ``testCaseId`` = md5 of
  ``features/<file>.feature:<scenario title>``;
* at session end, with ``--alluredir``: ``environment.properties``,
  ``executor.json`` and ``categories.json`` (:mod:`reports.environment`,
  :mod:`reports.categories`);
* per step, right after allure-pytest-bdd recorded it: the step's parameters
  are cut down to the values parsed from the step text.  allure-pytest-bdd
  records *every* argument of a step function, fixtures included, as
  ``repr()``; a fixture such as the definition state holds the text of every
  file of the definition, so a leaked key would be copied into every result
  file.  Fixtures are not parameters of a scenario; parsed values are;
* only for a conformance run (the session collected items under ``steps/``):
  ``summary.json`` + ``summary.md`` in ``--summary-dir`` (default: beside
  the Allure results directory, else ``reports/``) and, unless
  ``--junitxml`` was given, ``<summary-dir>/junit.xml``.  The project's own
  ``pytest tests`` run collects nothing under ``steps/`` and writes none of
  these, so it cannot overwrite the last conformance run's summary.
  A conformance run in which no control failed but some were not verified
  (skipped: not observable) ends with exit status 6
  (:data:`reports.summary.EXIT_NOT_VERIFIED`) and the headline
  ``NOT VERIFIED: N controls``, in the terminal and in the summary, with
  each such control's reason.

JUnit is produced by pytest's own ``LogXML`` registered after collection,
because only then is it known whether this is a conformance run; that class is
pytest-internal (``_pytest.junitxml``), the price of not writing a second
JUnit serializer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import LogXML
from allure_pytest_bdd.pytest_bdd_listener import (  # type: ignore[import-untyped]
    PytestBDDListener,
)
from allure_pytest_bdd.steps import get_step_uuid  # type: ignore[import-untyped]

from reports import categories, environment, summary, waiver_report

UPSTREAM = re.compile(r"^\s*Upstream:\s*(\S+)\s*$", re.MULTILINE)


@dataclass
class _Scenario:
    title: str
    feature: str


@dataclass
class _RunState:
    is_conformance: bool = False
    junit: LogXML | None = None
    scenarios: dict[str, _Scenario] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    records: dict[str, summary.Record] = field(default_factory=dict)
    totals: summary.Summary | None = None


_STATE = pytest.StashKey[_RunState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("talos-conformance")
    group.addoption(
        "--summary-dir",
        default=None,
        help="where a conformance run writes summary.json, summary.md and (unless --junitxml "
        "is given) junit.xml (default: beside --alluredir, else reports/ in the project root)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = _RunState()


def _summary_dir(config: pytest.Config) -> Path:
    """The summary's directory: explicit, else beside the Allure results, else ``reports/``.

    Beside the results because a run that chose where its results go (a test, a
    CI job) must not overwrite the checkout's last summary; ``make conformance``
    writes its results to ``reports/allure-results``, so its summary lands in
    ``reports/`` either way.
    """
    chosen = config.getoption("--summary-dir")
    if chosen:
        path = Path(str(chosen))
        return path if path.is_absolute() else Path(config.rootpath) / path
    alluredir = config.getoption("allure_report_dir", default=None)
    if alluredir:
        return Path(str(alluredir)).absolute().parent
    return Path(config.rootpath) / "reports"


def upstream_link(*descriptions: str) -> str:
    """The first ``Upstream: <url>`` line among *descriptions* (scenario first), or ``""``."""
    for text in descriptions:
        found = UPSTREAM.search(text or "")
        if found:
            return found.group(1)
    return ""


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[_STATE]
    steps = Path(config.rootpath) / "steps"
    state.is_conformance = any(Path(item.path).is_relative_to(steps) for item in session.items)
    if state.is_conformance and not config.option.xmlpath and not hasattr(config, "workerinput"):
        state.junit = LogXML(
            str(_summary_dir(config) / "junit.xml"),
            config.option.junitprefix,
            config.getini("junit_suite_name"),
            config.getini("junit_logging"),
            config.getini("junit_duration_report"),
            config.getini("junit_family"),
            config.getini("junit_log_passing_tests"),
        )
        config.pluginmanager.register(state.junit)
        # Registered after sessionstart, so LogXML's own start hook never ran.
        state.junit.pytest_sessionstart()


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    """Add the marks allure-pytest-bdd turns into labels (it reads them right after this)."""
    item = request.node
    title = str(scenario.name)
    request.config.stash[_STATE].scenarios[item.nodeid] = _Scenario(title, str(feature.name))
    item.add_marker(pytest.mark.allure_label(title, label_type="story"))
    link = upstream_link(str(scenario.description or ""), str(feature.description or ""))
    if link:
        controls = [m.args[0] for m in item.iter_markers("control") if m.args]
        name = f"{', '.join(controls)} upstream doc" if controls else "upstream doc"
        item.add_marker(pytest.mark.allure_link(link, name=name, link_type="link"))


def step_parameters_to_keep(
    step_func_args: Mapping[str, object], fixture_names: Collection[str]
) -> set[str]:
    """The step arguments that were parsed from the step text (not fixtures).

    A name that is both a fixture and a parsed argument is dropped too: in doubt
    a value stays out of the report.
    """
    return {n for n in step_func_args if n not in fixture_names and n not in _BDD_BLOCKS}


_BDD_BLOCKS = ("datatable", "docstring")  # attached by allure-pytest-bdd as files instead


@pytest.hookimpl(trylast=True)
def pytest_bdd_before_step_call(
    request: pytest.FixtureRequest, step: Any, step_func_args: dict[str, object]
) -> None:
    """Remove fixture values from the step's Allure parameters (after allure recorded them)."""
    listeners = [
        p for p in request.config.pluginmanager.get_plugins() if isinstance(p, PytestBDDListener)
    ]
    keep = step_parameters_to_keep(step_func_args, set(request.fixturenames))
    for listener in listeners:
        with listener.lifecycle.update_step(uuid=get_step_uuid(step)) as step_result:
            if step_result is not None:
                step_result.parameters = [p for p in step_result.parameters if p.name in keep]


def _call_outcome(report: pytest.TestReport, call: pytest.CallInfo[None]) -> str:
    if report.passed:
        return "passed"
    if report.skipped or hasattr(report, "wasxfail"):
        return "skipped"
    excinfo = call.excinfo
    if (
        report.when == "call"
        and excinfo
        and excinfo.errisinstance((AssertionError, pytest.fail.Exception))
    ):
        return "failed"
    return "broken"


def _labels(item: pytest.Item, label_type: str) -> list[str]:
    return [
        str(v)
        for m in item.iter_markers("allure_label")
        if m.kwargs.get("label_type") == label_type
        for v in m.args
    ]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _record(item: pytest.Item, state: _RunState, outcome: str, remediated: bool) -> summary.Record:
    scenario = state.scenarios.get(item.nodeid)
    doc = str(getattr(getattr(item, "obj", None), "__doc__", "") or "")
    title = scenario.title if scenario else doc.partition(": ")[2] or item.name
    area = _labels(item, "epic")
    severity = _labels(item, "severity")
    if outcome == "passed" and remediated:
        outcome = "remediated"
    # Waived (fixtures.waive): an xfail carrying the waiver as a user property.
    if outcome == "skipped" and any(name == "waiver" for name, _ in item.user_properties):
        outcome = "waived"
    return summary.Record(
        nodeid=item.nodeid,
        outcome=outcome,
        controls=tuple(str(m.args[0]) for m in item.iter_markers("control") if m.args),
        area=area[0] if area else "",
        title=title,
        severity=severity[0] if severity else "",
        reason=state.reasons.pop(item.nodeid, "") if outcome == "skipped" else "",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash[_STATE]
    outcome = _call_outcome(report, call)
    previous = state.outcomes.get(item.nodeid)
    # A teardown error spoils a pass, never an earlier failure or skip.
    if previous is None or (previous == "passed" and outcome != "passed"):
        state.outcomes[item.nodeid] = outcome
        if outcome == "skipped":
            state.reasons[item.nodeid] = _skip_reason(report)
    if report.when == "teardown":
        remediated = any(
            name == "remediated" and str(value).lower() == "true"
            for name, value in item.user_properties
        )
        final = state.outcomes.pop(item.nodeid, outcome)
        state.records[item.nodeid] = _record(item, state, final, remediated)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[_STATE]
    alluredir = config.getoption("allure_report_dir", default=None)
    if not alluredir and not state.is_conformance:
        return
    directory = str(config.getoption("--cluster", default="cluster"))
    path = Path(directory)
    facts = environment.run_facts(
        path if path.is_absolute() else Path(config.rootpath) / path,
        directory,
        live=bool(config.getoption("--live", default=False)),
    )
    if alluredir:
        results = Path(str(alluredir)).absolute()
        results.mkdir(parents=True, exist_ok=True)
        (results / "environment.properties").write_text(
            environment.render_properties(facts.properties()), encoding="utf-8"
        )
        (results / "executor.json").write_text(
            environment.executor_json(os.environ), encoding="utf-8"
        )
        (results / "categories.json").write_text(categories.categories_json(), encoding="utf-8")
    if state.is_conformance:
        run = facts.properties()
        totals = summary.summarize(state.records.values())
        state.totals = totals
        if totals.unverified and session.exitstatus == pytest.ExitCode.OK:
            # Unverified is never a pass: its own status, beside pytest's 0-5.
            session.exitstatus = summary.EXIT_NOT_VERIFIED
        notes = waiver_report.notes(config, state.records.values())
        target = _summary_dir(config)
        target.mkdir(parents=True, exist_ok=True)
        (target / "summary.json").write_text(summary.to_json(totals, run, notes), encoding="utf-8")
        (target / "summary.md").write_text(
            summary.to_markdown(totals, run, notes), encoding="utf-8"
        )


def records(config: pytest.Config) -> list[summary.Record]:
    """The run's scenario records so far (complete once the session finishes)."""
    state = config.stash.get(_STATE, None)
    return list(state.records.values()) if state is not None else []


def is_conformance(config: pytest.Config) -> bool:
    state = config.stash.get(_STATE, None)
    return state is not None and state.is_conformance


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The run's headline, and each control that was not verified with its reason."""
    totals = config.stash[_STATE].totals
    if totals is None:
        return
    unverified = totals.unverified
    terminalreporter.section(f"Conformance: {totals.headline()}", sep="=", red=bool(unverified))
    for control in unverified:
        terminalreporter.line(f"{control.control}: {'; '.join(control.reasons) or 'skipped'}")
    if unverified:
        terminalreporter.line(
            f"exit status {summary.EXIT_NOT_VERIFIED} when nothing failed: "
            "a control that could not be observed is never a pass"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and state.junit is not None:
        config.pluginmanager.unregister(state.junit)
        state.junit = None
