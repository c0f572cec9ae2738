"""The real config-hygiene feature run as an operator runs it, read back from its report files.

Two runs per module (a clean copy of ``cluster/`` and one with a committed
private key) feed every assertion: Allure labels, links and test-case ids,
attachments, the run files (environment, executor, categories), the compliance
summary and the JUnit XML -- and that the leaked key's body appears in none of
them.  A run of the project's own tests must write none of these files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reports.inner_pytest import run_pytest

ROOT = Path(__file__).resolve().parents[2]
FEATURE = "features/config_hygiene.feature"
TITLES = {
    "HYG-01": "Every node's rendered config is accepted by Talos",
    "HYG-02": "The committed definition holds no secrets",
    "HYG-03": "Every node installs from the declared schematic",
    "HYG-04": "Each node's hostname is set in one place only",
}
SEVERITIES = {"HYG-01": "critical", "HYG-02": "blocker", "HYG-03": "normal", "HYG-04": "normal"}
UPSTREAM = (
    "https://docs.siderolabs.com/talos/v1.12/configure-your-talos-cluster/"
    "system-configuration/patching"
)
LEAKED_BODY = "MHcCAQEEIBsecretkeybodyQ2xvdWRMZWFr"


@dataclass(frozen=True)
class Run:
    code: int
    output: str
    results: Path
    summary: Path
    cluster: Path

    def result_files(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.results.glob("*-result.json"))]

    def by_control(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for data in self.result_files():
            for label in data["labels"]:
                if label["name"] == "tag" and label["value"] in TITLES:
                    found[label["value"]] = data
        return found


def run_conformance(base: Path, *extra: str, env: dict[str, str] | None = None) -> Run:
    results, summary = base / "allure-results", base / "summary"
    proc = run_pytest(
        ROOT,
        "steps/test_config_hygiene.py",
        "--cluster",
        str(base / "cluster"),
        "--alluredir",
        str(results),
        "--summary-dir",
        str(summary),
        # The definition controls only: the cluster ones would depend on whether the
        # checkout's .sim holds a provisioned cluster (skipped without one, run with one).
        "-m",
        "not HYG-05 and not HYG-06 and not HYG-07",
        *extra,
        env=env,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, results, summary, base / "cluster")


def copy_definition(base: Path) -> Path:
    target = base / "cluster"
    shutil.copytree(ROOT / "cluster", target, ignore=shutil.ignore_patterns(".secrets"))
    return target


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("clean")
    copy_definition(base)
    return run_conformance(base)


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("leak")
    patch = copy_definition(base) / "patches" / "cilium-cni.yaml"
    patch.write_text(
        patch.read_text()
        + f"# -----BEGIN EC PRIVATE KEY-----\n# {LEAKED_BODY}\n# -----END EC PRIVATE KEY-----\n"
    )
    return run_conformance(base)


def labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def test_clean_run_passes_and_labels_every_scenario(clean_run: Run) -> None:
    assert clean_run.code == 0, clean_run.output
    results = clean_run.by_control()
    assert set(results) == set(TITLES), clean_run.output
    for control, result in results.items():
        assert result["status"] == "passed"
        assert labels(result, "epic") == ["config_hygiene"]
        assert labels(result, "feature") == ["The cluster definition is safe to apply"]
        assert labels(result, "story") == [TITLES[control]]
        assert labels(result, "severity") == [SEVERITIES[control]]
        assert control in labels(result, "tag")


def test_each_scenario_links_the_upstream_doc_of_its_control(clean_run: Run) -> None:
    for control, result in clean_run.by_control().items():
        assert {"type": "link", "url": UPSTREAM, "name": f"{control} upstream doc"} in result[
            "links"
        ]


def test_test_case_id_is_md5_of_feature_path_and_title(clean_run: Run) -> None:
    # allure-pytest-bdd 2.16: md5(f"{feature.rel_filename}:{scenario.name}"); the path is
    # relative to the features dir's parent, so it does not depend on where the suite lives.
    for control, result in clean_run.by_control().items():
        full_name = f"{FEATURE}:{TITLES[control]}"
        assert result["fullName"] == full_name
        assert result["testCaseId"] == hashlib.md5(full_name.encode()).hexdigest()


def test_test_case_id_is_stable_across_runs_and_definitions(clean_run: Run, leak_run: Run) -> None:
    clean = {c: r["testCaseId"] for c, r in clean_run.by_control().items()}
    leak = {c: r["testCaseId"] for c, r in leak_run.by_control().items()}
    assert clean == leak
    assert len(set(clean.values())) == len(TITLES)


def test_evidence_is_attached_to_the_then_step(clean_run: Run) -> None:
    for result in clean_run.by_control().values():
        then = [s for s in result["steps"] if s["name"].startswith("Then ")]
        assert len(then) == 1
        [attachment] = then[0]["attachments"]
        assert attachment["name"].endswith(" evidence")
        assert (clean_run.results / attachment["source"]).is_file()


def test_environment_properties_describe_the_definition(clean_run: Run) -> None:
    text = (clean_run.results / "environment.properties").read_text()
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["cluster"] == "K8S-CLUSTER"
    assert props["target"] == "simulated"
    assert props["talos.version"] == "v1.12.5"
    assert props["kubernetes.version"] == "1.35.2"
    assert props["cilium.version"] == "1.19.1"
    assert props["longhorn.version"] == "1.8.1"
    assert props["nodes"] == "6"
    assert props["suite.version"] == "0.1.0"
    # The copy is not a git checkout.
    assert props["definition.revision"] == "unknown"


def test_executor_and_categories_are_written(clean_run: Run) -> None:
    executor = json.loads((clean_run.results / "executor.json").read_text())
    assert executor["name"]
    names = [c["name"] for c in json.loads((clean_run.results / "categories.json").read_text())]
    assert names == [
        "Drift from the definition",
        "Target unreachable or unobservable",
        "Suite errors",
        "Waived",
    ]


def test_clean_summary_counts_every_control_passed(clean_run: Run) -> None:
    data = json.loads((clean_run.summary / "summary.json").read_text())
    assert data["totals"]["passed"] == 4
    assert data["totals"]["result"] == "passed"
    assert data["areas"]["config_hygiene"]["passed"] == 4
    for control, title in TITLES.items():
        assert data["controls"][control]["title"] == title
        assert data["controls"][control]["passed"] == 1
        assert data["controls"][control]["result"] == "passed"


def test_leak_fails_only_the_secrets_control(leak_run: Run) -> None:
    assert leak_run.code == 1, leak_run.output
    status = {c: r["status"] for c, r in leak_run.by_control().items()}
    assert status == {
        "HYG-01": "passed",
        "HYG-02": "failed",
        "HYG-03": "passed",
        "HYG-04": "passed",
    }
    message = leak_run.by_control()["HYG-02"]["statusDetails"]["message"]
    assert message.startswith("AssertionError: ")
    assert "patches/cilium-cni.yaml" in message


def test_leaked_key_body_is_in_no_report_file(leak_run: Run) -> None:
    assert LEAKED_BODY in (leak_run.cluster / "patches" / "cilium-cni.yaml").read_text()
    written = [*leak_run.results.iterdir(), *leak_run.summary.iterdir()]
    assert any(p.name.endswith("-attachment.txt") for p in written)
    assert any(p.name == "junit.xml" for p in written)
    for path in written:
        assert LEAKED_BODY not in path.read_text(errors="replace"), path.name
    assert LEAKED_BODY not in leak_run.output


def test_leak_summary_counts_three_passed_one_failed(leak_run: Run) -> None:
    data = json.loads((leak_run.summary / "summary.json").read_text())
    assert data["totals"] == {
        "passed": 3,
        "failed": 1,
        "broken": 0,
        "skipped": 0,
        "remediated": 0,
        "waived": 0,
        "result": "failed",
    }
    assert data["areas"]["config_hygiene"]["failed"] == 1
    assert data["controls"]["HYG-02"]["failed"] == 1
    assert data["controls"]["HYG-02"]["result"] == "failed"
    assert data["controls"]["HYG-02"]["severity"] == "blocker"
    for control in ("HYG-01", "HYG-03", "HYG-04"):
        assert data["controls"][control]["passed"] == 1


def test_leak_summary_markdown_has_a_row_per_control(leak_run: Run) -> None:
    text = (leak_run.summary / "summary.md").read_text()
    assert text.startswith("## Conformance: FAILED\n")
    assert "| config_hygiene | failed | 3 | 1 | 0 | 0 | 0 |" in text
    assert (
        "| HYG-02 | config_hygiene | The committed definition holds no secrets | blocker | "
        "failed | 0 | 1 | 0 | 0 | 0 |"
    ) in text
    rows = [line for line in text.splitlines() if line.startswith("| HYG-")]
    assert len(rows) == 4


def test_junit_xml_is_written_beside_the_summary(leak_run: Run) -> None:
    suite = ET.parse(leak_run.summary / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("4", "1")


def test_explicit_junitxml_replaces_the_default(tmp_path: Path) -> None:
    copy_definition(tmp_path)
    run = run_conformance(tmp_path, "--junitxml", str(tmp_path / "mine.xml"))
    assert run.code == 0, run.output
    assert (tmp_path / "mine.xml").is_file()
    assert not (run.summary / "junit.xml").exists()
    assert (run.summary / "summary.json").is_file()


def test_summary_defaults_to_beside_the_allure_results(tmp_path: Path) -> None:
    copy_definition(tmp_path)
    proc = run_pytest(
        ROOT,
        "steps/test_config_hygiene.py",
        "--cluster",
        str(tmp_path / "cluster"),
        "--alluredir",
        str(tmp_path / "out" / "allure-results"),
        "-m",
        "not HYG-05 and not HYG-06 and not HYG-07",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["allure-results", "junit.xml", "summary.json", "summary.md"]


def test_project_test_run_writes_no_report_files(tmp_path: Path) -> None:
    proc = run_pytest(
        ROOT, "tests/provisioning/test_yamlfiles.py", "--summary-dir", str(tmp_path / "summary")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "summary").exists()


ALLURE = ROOT / "reports" / "node_modules" / ".bin" / "allure"


def generate_html(results: Path, workdir: Path) -> Path:
    """The pinned Allure 3 CLI with the project's config, output and history moved to *workdir*."""
    config = json.loads((ROOT / "reports" / "allurerc.json").read_text())
    config |= {"output": "./html", "historyPath": "./history/history.jsonl"}
    (workdir / "allurerc.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [str(ALLURE), "generate", "--config", "allurerc.json", str(results)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return workdir / "html"


@pytest.mark.skipif(
    not ALLURE.exists(),
    reason="the pinned Allure 3 CLI is not installed: `make report` installs it (npm ci)",
)
def test_allure3_report_sorts_drift_shows_environment_and_keeps_history(
    leak_run: Run, tmp_path: Path
) -> None:
    generate_html(leak_run.results, tmp_path)
    html = generate_html(leak_run.results, tmp_path)
    assert (html / "index.html").is_file()
    categories = json.loads((html / "widgets" / "categories.json").read_text())
    named = {n["name"]: n for n in categories["nodes"].values() if n["type"] == "category"}
    assert set(named) == {"Drift from the definition"}
    assert named["Drift from the definition"]["statistic"] == {"total": 1, "failed": 1}
    shown = json.loads((html / "widgets" / "allure_environment.json").read_text())
    assert {"name": "cluster", "values": ["K8S-CLUSTER"]} in shown
    history = (tmp_path / "history" / "history.jsonl").read_text().splitlines()
    assert len(history) == 2
    for path in html.rglob("*"):
        if path.is_file():
            assert LEAKED_BODY not in path.read_text(errors="replace"), path
