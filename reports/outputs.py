"""The outputs teams plug into: ``--fail-on``, ``--sarif``, ``--metrics`` and the waiver lines.

A pytest plugin (loaded from the root conftest) beside :mod:`reports.plugin`:
that one writes Allure, the summary and JUnit; this one, at the end of a
conformance run,

* writes SARIF (:mod:`reports.sarif`) and Prometheus metrics
  (:mod:`reports.metrics`) when asked;
* sets the exit status by ``--fail-on`` and expired waivers
  (:mod:`reports.gate`);
* adds a terminal section: waived controls with their waivers, expired and
  stale waivers, and failures the threshold let through.

Where scenarios are written (feature file and line, for SARIF) is recorded
here as each scenario starts; findings and waivers come from the run log that
``verify`` fills (:mod:`reports.results`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reports import gate, metrics, plugin, results, sarif, summary, waiver_report

VERSION = "0.1.0"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("talos-conformance")
    group.addoption(
        "--fail-on",
        default=gate.DEFAULT_FAIL_ON,
        choices=gate.SEVERITIES,
        metavar="SEVERITY",
        help="lowest severity whose failures fail the run: blocker, critical, normal (default), "
        "minor or trivial; failures below it are reported but exit 0",
    )
    group.addoption(
        "--sarif", default=None, metavar="PATH", help="write the findings as SARIF 2.1.0 to PATH"
    )
    group.addoption(
        "--sarif-base-uri",
        default=None,
        metavar="URL",
        help="where the checkout is published (e.g. https://github.com/ORG/REPO/blob/COMMIT/): "
        "each SARIF rule's helpUri is this plus its feature file; without it, no helpUri",
    )
    group.addoption(
        "--metrics",
        default=None,
        metavar="PATH",
        help="write Prometheus metrics to PATH (atomically; for node_exporter's textfile "
        "collector, name it *.prom)",
    )


def pytest_configure(config: pytest.Config) -> None:
    base = config.getoption("--sarif-base-uri")
    if base is not None:
        try:
            sarif.help_base(str(base))
        except ValueError as exc:
            raise pytest.UsageError(f"--sarif-base-uri: {exc}") from None
    results.run_log(config).started = time.time()


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    description = f"{scenario.description or ''}\n{feature.description or ''}"
    results.run_log(request.config).scenarios[request.node.nodeid] = results.Scenario(
        feature=str(feature.filename),
        line=int(getattr(scenario, "line_number", 0) or 0),
        title=str(scenario.name),
        upstream=plugin.upstream_link(description),
    )


def _path(config: pytest.Config, option: str) -> Path | None:
    chosen = config.getoption(option)
    if not chosen:
        return None
    path = Path(str(chosen)).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def _definition(config: pytest.Config) -> Path:
    path = Path(str(config.getoption("--cluster", default="cluster")))
    return path if path.is_absolute() else Path(config.rootpath) / path


def _rules(config: pytest.Config, records: Sequence[summary.Record]) -> list[sarif.Rule]:
    log = results.run_log(config)
    rules: dict[str, sarif.Rule] = {}
    for record in records:
        where = log.scenarios.get(record.nodeid)
        for control in record.controls:
            rules.setdefault(
                control,
                sarif.Rule(
                    control=control,
                    title=record.title,
                    severity=record.severity,
                    area=record.area,
                    feature=Path(where.feature) if where else None,
                    line=where.line if where else 0,
                    upstream=where.upstream if where else "",
                ),
            )
    return [rules[c] for c in sorted(rules)]


def _findings_per_control(config: pytest.Config) -> dict[str, metrics.ControlFindings]:
    counts: dict[str, metrics.ControlFindings] = {}
    for listed in results.run_log(config).findings.values():
        for observed in listed:
            now = counts.get(observed.control, metrics.ControlFindings())
            if observed.waiver is None:
                counts[observed.control] = metrics.ControlFindings(now.open + 1, now.waived)
            else:
                counts[observed.control] = metrics.ControlFindings(now.open, now.waived + 1)
    return counts


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not plugin.is_conformance(config):
        return
    records = plugin.records(config)
    expired = waiver_report.expired(config, records)
    status = gate.exit_status(
        int(session.exitstatus), records, str(config.getoption("--fail-on")), expired
    )
    session.exitstatus = status
    log = results.run_log(config)
    sarif_path = _path(config, "--sarif")
    if sarif_path is not None:
        document = sarif.build(
            _rules(config, records),
            log.findings,
            root=Path(config.rootpath),
            definition=_definition(config),
            version=VERSION,
            successful=status in (gate.OK, gate.TESTS_FAILED),
            base_uri=config.getoption("--sarif-base-uri"),
        )
        sarif_path.parent.mkdir(parents=True, exist_ok=True)
        sarif_path.write_text(sarif.to_json(document), encoding="utf-8")
    metrics_path = _path(config, "--metrics")
    if metrics_path is not None:
        finished = time.time()
        text = metrics.render(
            summary.summarize(records),
            _findings_per_control(config),
            finished=finished,
            duration=finished - log.started,
            expired_waivers=len(expired),
        )
        metrics.write_atomically(metrics_path, text)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not plugin.is_conformance(config):
        return
    records = plugin.records(config)
    waived = [r for r in records if r.outcome == "waived"]
    notes = waiver_report.notes(config, records)
    let_through = gate.below_threshold(records, str(config.getoption("--fail-on")))
    if not (waived or notes or let_through):
        return
    write = terminalreporter.write_line
    terminalreporter.section("talos-conformance")
    if waived:
        write(f"WAIVED: {len(waived)}")
        log = results.run_log(config)
        used = {
            o.waiver
            for record in waived
            for o in log.findings.get(record.nodeid, ())
            if o.waiver is not None
        }
        for waiver in sorted(used, key=lambda w: (w.control, w.expires, w.where)):
            write(f"  {waiver.describe()} [{waiver.where}]")
    for note in notes:
        write(note, red=note.startswith("EXPIRED"), yellow=note.startswith("warning"))
    if let_through:
        threshold = config.getoption("--fail-on")
        write(f"below --fail-on {threshold} (reported, not failing the run):")
        for record in let_through:
            write(f"  {', '.join(record.controls) or record.nodeid} ({record.severity})")
