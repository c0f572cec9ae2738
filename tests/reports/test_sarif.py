"""SARIF output: valid against the OASIS SARIF 2.1.0 schema, one rule per control, located results.

The schema (``data/sarif-schema-2.1.0.json``) is the OASIS TC's published
file, copied from the oasis-tcs/sarif-spec repository
(``sarif-2.1/schema/sarif-schema-2.1.0.json`` at commit e0583813964e),
unchanged.  jsonschema does not check ``"format": "uri"`` without an
optional package, so :func:`assert_valid` checks the ``helpUri`` values
(SARIF 2.1.0 3.49.12: an absolute URI) itself.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from checks.findings import Finding
from provisioning.definition.waivers import Waiver
from reports import sarif
from reports.results import Observed

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
WAIVER = Waiver(
    "LH-02", "team-storage", "waits for a disk", datetime.date(2099, 1, 31), ("node05",)
)


def assert_valid(document: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    for run in document["runs"]:
        for rule in run["tool"]["driver"].get("rules", []):
            if "helpUri" in rule:
                parts = urllib.parse.urlsplit(rule["helpUri"])
                absolute = bool(parts.scheme and parts.netloc)
                assert absolute, f"{rule['id']}: helpUri {rule['helpUri']} is not absolute"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "longhorn.feature").write_text("Feature: x\n")
    definition = tmp_path / "cluster"
    (definition / "patches").mkdir(parents=True)
    (definition / "patches" / "cilium-cni.yaml").write_text("a: 1\n" * 20)
    (definition / "cluster.yaml").write_text(
        "nodes:\n  - name: node01\n    hostname: k8s-node01\n  - name: node03\n"
    )
    return tmp_path


def rule(control: str, severity: str, project: Path) -> sarif.Rule:
    return sarif.Rule(
        control,
        f"{control} title",
        severity,
        "area",
        feature=project / "features" / "longhorn.feature",
        line=7,
        upstream="https://example.test/doc",
    )


def build(project: Path, base_uri: str | None = None) -> dict[str, Any]:
    rules = [rule("HYG-02", "blocker", project), rule("LH-02", "normal", project)]
    findings = {
        "steps/test_config_hygiene.py::a": [
            Observed(
                "HYG-02",
                "no_secrets_committed",
                "checks.definition",
                Finding("patches/cilium-cni.yaml:13", "no secret material", "a PEM private key"),
            ),
            Observed(
                "HYG-02",
                "no_secrets_committed",
                "checks.definition",
                Finding("node node03", "a valid machine config", "bad"),
            ),
        ],
        "steps/test_longhorn.py::b": [
            Observed(
                "LH-02",
                "data_path_mounted",
                "checks.longhorn",
                Finding("node05 (k8s-node05)", "mounted", "absent", "https://doc"),
                WAIVER,
            ),
            Observed(
                "LH-02",
                "data_path_mounted",
                "checks.longhorn",
                Finding("Namespace/longhorn-system", "present", "absent"),
            ),
        ],
    }
    return sarif.build(
        rules,
        findings,
        root=project,
        definition=project / "cluster",
        version="0.1.0",
        successful=True,
        base_uri=base_uri,
    )


def test_the_log_is_valid_sarif_2_1_0(project: Path) -> None:
    assert_valid(build(project))


def test_the_schema_rejects_a_broken_log(project: Path) -> None:
    document = build(project)
    del document["runs"][0]["tool"]
    with pytest.raises(AssertionError, match="'tool' is a required property"):
        assert_valid(document)


def test_one_rule_per_control_with_severity_and_feature(project: Path) -> None:
    (run,) = build(project)["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["HYG-02", "LH-02"]
    assert rules[0]["defaultConfiguration"] == {"level": "error"}
    assert rules[1]["defaultConfiguration"] == {"level": "warning"}
    assert rules[0]["properties"]["severity"] == "blocker"
    assert rules[0]["properties"]["feature"] == "features/longhorn.feature"
    assert rules[0]["help"]["text"] == (
        "Specified in features/longhorn.feature line 7; upstream: https://example.test/doc"
    )


def test_without_a_base_uri_no_rule_points_at_this_machine(project: Path) -> None:
    """A ``file://`` help URI opens only where the suite ran: no base, no helpUri."""
    (run,) = build(project)["runs"]
    assert [r for r in run["tool"]["driver"]["rules"] if "helpUri" in r] == []
    assert str(project) not in json.dumps(run["tool"]["driver"]["rules"])


@pytest.mark.parametrize(
    "base",
    [
        "https://git.example/org/talos-conformance/blob/0123abc/",
        "https://git.example/org/talos-conformance/blob/0123abc",
    ],
)
def test_a_base_uri_makes_each_help_uri_the_published_feature(project: Path, base: str) -> None:
    document = build(project, base_uri=base)
    assert_valid(document)
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert [r["helpUri"] for r in rules] == [
        "https://git.example/org/talos-conformance/blob/0123abc/features/longhorn.feature"
    ] * 2


@pytest.mark.parametrize(
    "base", ["features/", "/srv/checkout/", "https://git.example/repo?ref=main", "repo"]
)
def test_a_base_uri_that_is_not_absolute_is_refused(project: Path, base: str) -> None:
    with pytest.raises(ValueError, match="is not an absolute URI"):
        build(project, base_uri=base)


def test_definition_findings_point_at_file_and_line(project: Path) -> None:
    (run,) = build(project)["runs"]
    by_target = {r["message"]["text"].split(":")[0]: r for r in run["results"]}
    secret = by_target["patches/cilium-cni.yaml"]["locations"][0]["physicalLocation"]
    assert secret == {
        "artifactLocation": {"uri": "cluster/patches/cilium-cni.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 13},
    }
    node = by_target["node node03"]["locations"][0]["physicalLocation"]
    assert node["artifactLocation"]["uri"] == "cluster/cluster.yaml"
    assert node["region"] == {"startLine": 4}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"


def test_cluster_findings_have_logical_locations(project: Path) -> None:
    (run,) = build(project)["runs"]
    lh = [r for r in run["results"] if r["ruleId"] == "LH-02"]
    assert [r["locations"][0]["logicalLocations"][0] for r in lh] == [
        {
            "name": "Namespace/longhorn-system",
            "fullyQualifiedName": "Namespace/longhorn-system",
            "kind": "resource",
        },
        {"name": "node05", "fullyQualifiedName": "node05 (k8s-node05)", "kind": "node"},
    ]
    assert lh[1]["message"]["text"] == (
        "node05 (k8s-node05): expected mounted; observed absent (see https://doc)"
    )
    assert all(r["ruleIndex"] == 1 for r in lh)


def test_waived_results_carry_an_accepted_suppression(project: Path) -> None:
    (run,) = build(project)["runs"]
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == 1
    assert suppressed[0]["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "LH-02 waived until 2099-01-31 by team-storage: waits for a disk",
        }
    ]


def test_a_definition_outside_the_project_gets_absolute_uris(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    other = tmp_path / "elsewhere"
    (other / "patches").mkdir(parents=True)
    (other / "patches" / "x.yaml").write_text("a: 1\n")
    document = sarif.build(
        [sarif.Rule("HYG-02", "t", "blocker", "a")],
        {
            "n": [
                Observed("HYG-02", "c", "checks.definition", Finding("patches/x.yaml:1", "e", "o"))
            ]
        },
        root=project,
        definition=other,
        version="0.1.0",
        successful=False,
    )
    assert_valid(document)
    (result,) = document["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": (other / "patches" / "x.yaml").as_uri()}
