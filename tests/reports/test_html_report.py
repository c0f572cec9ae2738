"""The Allure 3 HTML report renders in a real browser and shows the run's counts.

A generated report is JavaScript that fetches its data at load time, so the
only proof that ``make report`` produces something an operator can read is to
open it in a browser: a small pytest-bdd suite with known outcomes (2 passed,
1 failed, 1 skipped) runs into an Allure results directory, the pinned
Allure 3 CLI (``reports/node_modules/.bin/allure``, ``make report-tools``)
builds the HTML with the project's ``reports/allurerc.json`` (only the output
and history paths moved into tmp), and headless Chromium (``make browser``)
loads it over HTTP from 127.0.0.1 -- the report's ``fetch()`` calls are
blocked on ``file://`` -- and dumps the rendered DOM, where the summary's
counters and the tree's status icons must match the outcomes.

The report page also asks for an analytics script from the internet; the
browser resolves no host but 127.0.0.1, so nothing leaves the machine.

Two builds share one history file, as ``make report`` runs do: the first
shows every test as new, the second, built with the first's history, counts
none as new -- the history really is carried between builds.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.reports.inner_pytest import run_pytest

ROOT = Path(__file__).resolve().parents[2]
ALLURE = ROOT / "reports" / "node_modules" / ".bin" / "allure"
RENDER_DEADLINE = 180.0
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)

FEATURE = """\
Feature: Known outcomes
  Scenario: First control passes
    Then it passes

  Scenario: Second control passes
    Then it passes

  Scenario: Third control drifted
    Then it fails

  Scenario: Fourth control is unobservable
    Then it is skipped
"""

STEPS = """\
import pytest
from pytest_bdd import scenarios, then

scenarios("outcomes.feature")


@then("it passes")
def passes() -> None:
    pass


@then("it fails")
def fails() -> None:
    assert "observed" == "expected", "drift"


@then("it is skipped")
def skipped() -> None:
    pytest.skip("not observable")
"""


def chromium() -> str:
    """The Chromium binary; skip only where it cannot be installed, fail where it merely isn't."""
    found = shutil.which("chromium")
    if found:
        return found
    installable = shutil.which("apt-get") is not None and os.geteuid() == 0
    if not installable:
        pytest.skip("chromium is not installed and cannot be installed here (needs root + apt-get)")
    pytest.fail("chromium is not installed: run `make browser` (make test does)")


def allure_cli() -> Path:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the Allure 3 CLI cannot run")
    if not ALLURE.is_file():
        pytest.fail(f"{ALLURE} is missing: run `make report-tools` (make test does)")
    return ALLURE


@dataclass
class RenderedReport:
    """What the rendered DOM shows: summary counters and the tree's leaves."""

    metadata: dict[str, str] = field(default_factory=dict)
    leaf_statuses: Counter[str] = field(default_factory=Counter)
    leaf_titles: list[str] = field(default_factory=list)


class _ReportParser(HTMLParser):
    """Collects the text of elements marked with the report's ``data-testid`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.report = RenderedReport()
        self._open: list[tuple[str, int, list[str]]] = []  # testid, depth, text
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID_TAGS:
            return
        self._depth += 1
        testid = dict(attrs).get("data-testid") or ""
        if testid.startswith("tree-leaf-status-"):
            self.report.leaf_statuses[testid.removeprefix("tree-leaf-status-")] += 1
        if testid.startswith("metadata-item-") or testid == "tree-leaf-title":
            self._open.append((testid, self._depth, []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        if self._open and self._open[-1][1] == self._depth:
            testid, _, text = self._open.pop()
            words = " ".join(" ".join(text).split())
            if testid == "tree-leaf-title":
                self.report.leaf_titles.append(words)
            else:
                self.report.metadata[testid.removeprefix("metadata-item-")] = words
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        for _, _, text in self._open:
            text.append(data)


def parse_rendered(dom: str) -> RenderedReport:
    parser = _ReportParser()
    parser.feed(dom)
    parser.close()
    return parser.report


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Allure results of a run with known outcomes: 2 passed, 1 failed, 1 skipped."""
    suite = tmp_path_factory.mktemp("suite")
    (suite / "outcomes.feature").write_text(FEATURE)
    (suite / "test_outcomes.py").write_text(STEPS)
    out = suite / "allure-results"
    done = run_pytest(suite, "test_outcomes.py", "--alluredir", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 2 passed, 1 skipped" in done.stdout, done.stdout
    return out


def generate(results: Path, output: Path, history: Path) -> Path:
    """``allure generate`` as ``make report`` runs it, with output and history moved."""
    config: dict[str, Any] = json.loads((ROOT / "reports" / "allurerc.json").read_text())
    config["output"] = str(output)
    config["historyPath"] = str(history)
    rc = output.parent / f"{output.name}.allurerc.json"
    rc.write_text(json.dumps(config))
    done = subprocess.run(
        [str(allure_cli()), "generate", "--config", str(rc), str(results)],
        cwd=output.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (output / "index.html").is_file(), done.stdout + done.stderr
    return output


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(directory)`` -> the URL of *directory* over HTTP on 127.0.0.1."""
    servers: list[ThreadingHTTPServer] = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/index.html"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def render(url: str, profile: Path) -> RenderedReport:
    """Load *url* in headless Chromium until the summary has rendered (or the deadline)."""
    browser = chromium()
    deadline = time.monotonic() + RENDER_DEADLINE
    budget = 10_000
    while True:
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                # Only 127.0.0.1 resolves: the report's analytics script cannot load.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=RENDER_DEADLINE,
            check=False,
        )
        rendered = parse_rendered(done.stdout)
        if "total" in rendered.metadata:
            return rendered
        if time.monotonic() > deadline:
            pytest.fail(
                f"the report at {url} did not render its summary within {RENDER_DEADLINE:g}s "
                f"(chromium exit {done.returncode}):\n{done.stderr[-2000:]}"
            )
        budget *= 2


@pytest.mark.slow
def test_report_renders_the_run_counts_in_headless_chromium(
    results: Path, tmp_path: Path, serve: Any
) -> None:
    history = tmp_path / "history.jsonl"
    first = generate(results, tmp_path / "first", history)
    report = render(serve(first), tmp_path / "profile")
    assert report.metadata["total"] == "Total 4"
    assert report.metadata["passed"] == "Passed 2"
    assert report.metadata["failed"] == "Failed 1"
    assert report.metadata["skipped"] == "Skipped 1"
    assert "broken" not in report.metadata
    assert report.metadata["new"] == "New tests 4"
    assert report.leaf_statuses == Counter(passed=2, failed=1, skipped=1)
    assert sorted(report.leaf_titles) == [
        "First control passes",
        "Fourth control is unobservable",
        "Second control passes",
        "Third control drifted",
    ]

    # The next build reads the first's history: the same tests are no longer new.
    second = generate(results, tmp_path / "second", history)
    assert len(history.read_text().splitlines()) == 2
    stats = json.loads((second / "summary.json").read_text())["stats"]
    assert stats["total"] == 4
    assert "new" not in stats, stats


def test_parser_reads_counters_and_leaves() -> None:
    dom = (
        '<div data-testid="metadata-item-failed"><div>Failed</div><div><br><span>3</span></div>'
        '</div><div data-testid="tree-leaf"><span data-testid="tree-leaf-status-failed"></span>'
        '<svg><path d="M0"/></svg><div data-testid="tree-leaf-title">A &amp; B</div></div>'
    )
    report = parse_rendered(dom)
    assert report.metadata == {"failed": "Failed 3"}
    assert report.leaf_statuses == Counter(failed=1)
    assert report.leaf_titles == ["A & B"]
