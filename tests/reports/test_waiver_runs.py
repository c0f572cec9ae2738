"""Waivers, the severity gate, SARIF and metrics on real runs of the config-hygiene feature.

The definition controls (HYG-01..04) need no cluster, so an edited copy of
``cluster/`` is the cheap way to get a failing control: a committed private
key fails HYG-02 (blocker) at ``patches/cilium-cni.yaml:<line>``; a legacy
hostname beside node03's HostnameConfig fails HYG-01 (critical) and HYG-04
(normal).  Each run is read back from what it leaves on disk: exit status,
terminal output, ``summary.json``/``.md``, JUnit, Allure results, the SARIF
file (checked against the OASIS schema) and the metrics file (parsed by
prometheus_client).
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reports import categories
from tests.reports.inner_pytest import run_pytest

pytestmark = pytest.mark.slow  # seven runs of the suite in child processes

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
PUBLISHED = "https://git.example/org/talos-conformance/blob/0123abc/"
LEAK = "# -----BEGIN EC PRIVATE KEY-----\n# MHcCAQEEIB\n"
SECRET_WAIVER = """\
waivers:
  - control: HYG-02
    scope: ["{scope}"]
    owner: team-platform
    reason: key rotated, history rewrite pending
    expires: {expires}
    ticket: https://tickets.example/OPS-1
  - control: HYG-03
    owner: team-images
    reason: schematic bump scheduled
    expires: 2099-01-01
  - control: ZZ-99
    owner: team-gone
    reason: a control that was renamed
    expires: 2099-01-01
"""


@dataclass(frozen=True)
class Run:
    code: int
    output: str
    base: Path

    @property
    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.base / "summary" / "summary.json").read_text())
        return data

    def result(self, control: str) -> dict[str, Any]:
        for path in (self.base / "allure-results").glob("*-result.json"):
            data: dict[str, Any] = json.loads(path.read_text())
            if {"name": "tag", "value": control} in data["labels"]:
                return data
        raise AssertionError(f"no Allure result for {control}")


def leaked_definition(base: Path) -> Path:
    cluster = base / "cluster"
    shutil.copytree(ROOT / "cluster", cluster, ignore=shutil.ignore_patterns(".secrets"))
    patch = cluster / "patches" / "cilium-cni.yaml"
    patch.write_text(patch.read_text() + LEAK)
    return cluster


def hostname_drift(base: Path) -> Path:
    cluster = base / "cluster"
    shutil.copytree(ROOT / "cluster", cluster, ignore=shutil.ignore_patterns(".secrets"))
    (cluster / "patches" / "legacy-hostname.yaml").write_text(
        "machine:\n    network:\n        hostname: k8s-node03\n"
    )
    inventory = cluster / "cluster.yaml"
    stack = "patches: [patches/k8s-node03.yaml,"
    text = inventory.read_text()
    assert stack in text
    inventory.write_text(
        text.replace(stack, "patches: [patches/k8s-node03.yaml, patches/legacy-hostname.yaml,")
    )
    return cluster


def run(base: Path, *extra: str) -> Run:
    proc = run_pytest(
        ROOT,
        "steps/test_config_hygiene.py",
        "--cluster",
        str(base / "cluster"),
        "--alluredir",
        str(base / "allure-results"),
        "--summary-dir",
        str(base / "summary"),
        "-m",
        "not HYG-05 and not HYG-06 and not HYG-07",
        "-rA",
        *extra,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, base)


def secret_waivers(base: Path, *, scope: str, expires: str) -> Path:
    # Outside the definition and the checkout: a team may keep waivers anywhere.
    path = base / "elsewhere" / "waivers.yaml"
    path.parent.mkdir()
    path.write_text(SECRET_WAIVER.format(scope=scope, expires=expires))
    return path


@pytest.fixture(scope="module")
def waived(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("waived")
    leaked_definition(base)
    waivers = secret_waivers(base, scope="patches/cilium-cni.yaml:*", expires="2099-12-31")
    return run(
        base,
        "--waivers",
        str(waivers),
        "--sarif",
        str(base / "out" / "conformance.sarif"),
        "--sarif-base-uri",
        PUBLISHED,
        "--metrics",
        str(base / "textfile" / "talos_conformance.prom"),
    )


# --- a waiver covering every finding ------------------------------------------------------


def test_a_covered_failure_is_waived_and_the_run_passes(waived: Run) -> None:
    assert waived.code == 0, waived.output
    assert "WAIVED: 1" in waived.output
    assert (
        "HYG-02 waived until 2099-12-31 by team-platform: key rotated, history rewrite pending"
        in waived.output
    )
    assert "1 xfailed" in waived.output


def test_the_summary_counts_the_control_as_waived_and_flags_the_stale_waiver(
    waived: Run,
) -> None:
    summary = waived.summary
    assert summary["controls"]["HYG-02"]["result"] == "waived"
    assert summary["controls"]["HYG-03"]["result"] == "passed"
    assert summary["totals"]["waived"] == 1
    stale, unknown = summary["waivers"]
    assert "waivers.yaml:8: waiver for HYG-03 matched no finding (owner team-images)" in stale
    assert "waivers.yaml:12: waiver for unknown control ZZ-99 (owner team-gone)" in unknown
    markdown = (waived.base / "summary" / "summary.md").read_text()
    assert "| HYG-02 | config_hygiene |" in markdown
    assert "| waived |" in markdown
    assert "matched no finding" in markdown


def test_junit_shows_the_waiver(waived: Run) -> None:
    tree = ET.parse(waived.base / "summary" / "junit.xml")
    (case,) = [c for c in tree.iter("testcase") if "no_secrets" in c.get("name", "")]
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("type") == "pytest.xfail"
    assert skipped.get("message", "").startswith("waived: 1 finding(s) covered: HYG-02 waived")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert "team-platform" in (props.get("waiver") or "")


def test_allure_puts_the_waived_result_in_the_waived_category(waived: Run) -> None:
    result = waived.result("HYG-02")
    assert result["status"] == "skipped"
    message = result["statusDetails"]["message"]
    assert categories.categorize("skipped", message) == "Waived"
    (parameter,) = [p for p in result["parameters"] if p["name"] == "waiver HYG-02"]
    assert "team-platform" in parameter["value"]
    assert {
        "type": "link",
        "url": "https://tickets.example/OPS-1",
        "name": "HYG-02 waiver ticket",
    } in result["links"]
    categories_file = json.loads((waived.base / "allure-results" / "categories.json").read_text())
    assert "Waived" in [c["name"] for c in categories_file]


def test_the_sarif_file_is_valid_and_suppresses_the_waived_finding(waived: Run) -> None:
    document = json.loads((waived.base / "out" / "conformance.sarif").read_text())
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(document)
    (sarif_run,) = document["runs"]
    assert [r["id"] for r in sarif_run["tool"]["driver"]["rules"]] == [
        "HYG-01",
        "HYG-02",
        "HYG-03",
        "HYG-04",
    ]
    help_uris = {r["id"]: r.get("helpUri") for r in sarif_run["tool"]["driver"]["rules"]}
    assert help_uris["HYG-02"] == f"{PUBLISHED}features/config_hygiene.feature"
    (result,) = sarif_run["results"]
    assert result["ruleId"] == "HYG-02"
    assert "expected no secret material; observed a PEM private key" in result["message"]["text"]
    location = result["locations"][0]["physicalLocation"]
    patch = waived.base / "cluster" / "patches" / "cilium-cni.yaml"
    assert location["artifactLocation"]["uri"] == patch.as_uri()
    line = patch.read_text().splitlines().index(LEAK.splitlines()[0]) + 1
    assert location["region"]["startLine"] == line
    (suppression,) = result["suppressions"]
    assert suppression["status"] == "accepted"
    assert "key rotated" in suppression["justification"]


def test_the_metrics_parse_and_show_the_waived_control(waived: Run) -> None:
    directory = waived.base / "textfile"
    assert [p.name for p in directory.iterdir()] == ["talos_conformance.prom"]
    families = {
        f.name: f.samples
        for f in text_string_to_metric_families((directory / "talos_conformance.prom").read_text())
    }
    status = {s.labels["control"]: s for s in families["talos_conformance_control_status"]}
    assert status["HYG-02"].labels["outcome"] == "waived"
    assert status["HYG-02"].labels["severity"] == "blocker"
    assert status["HYG-02"].value == 0
    assert status["HYG-01"].value == 1
    waived_findings = {
        s.labels["control"]: s.value for s in families["talos_conformance_control_waived_findings"]
    }
    assert waived_findings["HYG-02"] == 1
    (duration,) = families["talos_conformance_run_duration_seconds"]
    assert duration.value > 0


# --- the same waiver expired, out of scope, or switched off -------------------------------


def test_an_expired_waiver_fails_the_run_naming_owner_reason_and_expiry(tmp_path: Path) -> None:
    leaked_definition(tmp_path)
    waivers = secret_waivers(tmp_path, scope="patches/cilium-cni.yaml:*", expires="2020-01-31")
    result = run(tmp_path, "--waivers", str(waivers))
    assert result.code == 1, result.output
    assert "expired on 2020-01-31: owner team-platform, reason: key rotated" in result.output
    assert result.summary["controls"]["HYG-02"]["result"] == "failed"
    assert any(n.startswith("EXPIRED ") for n in result.summary["waivers"])


def test_findings_outside_the_scope_still_fail(tmp_path: Path) -> None:
    leaked_definition(tmp_path)
    waivers = secret_waivers(tmp_path, scope="patches/other.yaml:*", expires="2099-12-31")
    result = run(tmp_path, "--waivers", str(waivers))
    assert result.code == 1, result.output
    assert result.summary["controls"]["HYG-02"]["result"] == "failed"
    assert "waiver for HYG-02 matched no finding" in result.output


def test_no_waivers_shows_the_truth(tmp_path: Path) -> None:
    leaked_definition(tmp_path)
    waivers = secret_waivers(tmp_path, scope="patches/cilium-cni.yaml:*", expires="2099-12-31")
    result = run(tmp_path, "--waivers", str(waivers), "--no-waivers")
    assert result.code == 1, result.output
    assert result.summary["controls"]["HYG-02"]["result"] == "failed"
    assert "WAIVED" not in result.output


def test_a_bad_waivers_file_is_a_located_usage_error(tmp_path: Path) -> None:
    leaked_definition(tmp_path)
    (tmp_path / "cluster" / "waivers.yaml").write_text(
        "waivers:\n  - control: HYG-02\n    owner: me\n    reason: why\n    expires: someday\n"
    )
    result = run(tmp_path)
    assert result.code == 4, result.output
    assert f"{tmp_path}/cluster/waivers.yaml:5: waivers[0].expires: 'someday' is not a date" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_a_relative_sarif_base_uri_is_a_usage_error(tmp_path: Path) -> None:
    leaked_definition(tmp_path)
    result = run(tmp_path, "--sarif", str(tmp_path / "c.sarif"), "--sarif-base-uri", "features")
    assert result.code == 4, result.output
    assert "--sarif-base-uri: 'features' is not an absolute URI" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "c.sarif").exists()


# --- the severity gate, with a waiver in the definition's own waivers.yaml ----------------


@pytest.fixture
def drift_waiving_hyg01(tmp_path: Path) -> Path:
    cluster = hostname_drift(tmp_path)
    (cluster / "waivers.yaml").write_text(
        "waivers:\n"
        "  - control: HYG-01\n"
        "    scope: [node03]\n"
        "    owner: team-nodes\n"
        "    reason: node03 moves to HostnameConfig only\n"
        "    expires: 2099-06-30\n"
    )
    return tmp_path


def test_a_normal_failure_fails_the_run_by_default(drift_waiving_hyg01: Path) -> None:
    result = run(drift_waiving_hyg01)
    assert result.code == 1, result.output
    controls = result.summary["controls"]
    assert controls["HYG-01"]["result"] == "waived"
    assert controls["HYG-04"]["result"] == "failed"


def test_fail_on_critical_reports_a_normal_failure_without_failing(
    drift_waiving_hyg01: Path,
) -> None:
    result = run(drift_waiving_hyg01, "--fail-on", "critical")
    assert result.code == 0, result.output
    assert result.summary["controls"]["HYG-04"]["result"] == "failed"
    assert "below --fail-on critical (reported, not failing the run):" in result.output
    assert "HYG-04 (normal)" in result.output
    assert "FAILED steps/test_config_hygiene.py" in result.output
