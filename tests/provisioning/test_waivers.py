"""The waivers file: loading with located problems, matching targets, expiry, validate's lint."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.definition import waivers
from provisioning.definition.problems import DefinitionError, Severity
from tests import readme_examples

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.date(2026, 12, 7)

GOOD = """\
waivers:
  - control: LH-02
    scope: [node05]
    owner: team-storage
    reason: node05 waits for its data disk
    expires: 2027-01-31
    ticket: OPS-1234
  - control: NP-02
    scope: "Namespace/team-*"
    owner: team-apps
    reason: migrating to default-deny
    expires: "2026-12-07"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        waivers.parse_waivers(text, "w.yaml")
    return [str(p) for p in caught.value.problems]


def test_good_file_loads_every_field_with_its_line() -> None:
    first, second = waivers.parse_waivers(GOOD, "w.yaml")
    assert first == waivers.Waiver(
        control="LH-02",
        owner="team-storage",
        reason="node05 waits for its data disk",
        expires=datetime.date(2027, 1, 31),
        scope=("node05",),
        ticket="OPS-1234",
        file="w.yaml",
        line=2,
    )
    assert second.scope == ("Namespace/team-*",)
    assert second.expires == datetime.date(2026, 12, 7)
    assert second.where == "w.yaml:8"


def test_the_shipped_example_is_an_empty_valid_file() -> None:
    assert waivers.load_waivers(ROOT / "cluster" / "waivers.yaml") == ()


@pytest.mark.parametrize("text", ["", "# only comments\n", "waivers:\n", "waivers: []\n"])
def test_empty_files_hold_no_waivers(text: str) -> None:
    assert waivers.parse_waivers(text, "w.yaml") == ()


def test_every_problem_names_file_line_and_field() -> None:
    text = """\
waivers:
  - control: HYG-3
    owner: me
    reason: because
    expires: soon
    colour: red
  - control: HYG-01
    owner: me
"""
    assert problems_of(text) == [
        "w.yaml:6: waivers[0].colour: unknown field; expected one of control, scope, owner, "
        "reason, expires, ticket",
        "w.yaml:2: waivers[0].control: 'HYG-3' is not a control id such as HYG-03",
        "w.yaml:5: waivers[0].expires: 'soon' is not a date (YYYY-MM-DD)",
        "w.yaml:7: waivers[1].reason: required",
        "w.yaml:7: waivers[1].expires: required",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("waivers: {control: HYG-01}\n", "w.yaml:1: waivers: expected a list"),
        ("- control: HYG-01\n", "w.yaml:1: expected one mapping with a `waivers` list"),
        ("waivers: [\n", "w.yaml:2: not valid YAML"),
        ("waivers:\n  - just text\n", "w.yaml:2: waivers[0]: expected a mapping"),
        (
            "waivers:\n  - {control: HYG-01, owner: a, reason: b, expires: 2027-01-01, scope: 3}\n",
            "w.yaml:2: waivers[0].scope: expected a list of node names or object patterns",
        ),
    ],
)
def test_wrong_shapes_are_located(text: str, expected: str) -> None:
    (problem, *_) = problems_of(text)
    assert problem.startswith(expected)


def test_a_missing_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"nope\.yaml: file not found"):
        waivers.load_waivers(tmp_path / "nope.yaml", "nope.yaml")


@pytest.mark.parametrize(
    ("target", "names"),
    [
        ("node03 (k8s-node03)", ("node03 (k8s-node03)", "node03", "k8s-node03")),
        (
            "node03 (k8s-node03) volume STATE",
            ("node03 (k8s-node03) volume STATE", "node03", "k8s-node03"),
        ),
        ("node node05", ("node node05", "node05")),
        ("Namespace team-a", ("Namespace team-a", "Namespace/team-a", "team-a")),
        (
            "Deployment kube-system/cilium-operator",
            (
                "Deployment kube-system/cilium-operator",
                "Deployment/kube-system/cilium-operator",
                "kube-system/cilium-operator",
            ),
        ),
        ("patches/cilium-cni.yaml:13", ("patches/cilium-cni.yaml:13",)),
        (
            "kubeconfig client certificate (CN=admin)",
            ("kubeconfig client certificate (CN=admin)",),
        ),
    ],
)
def test_target_names_read_nodes_and_objects(target: str, names: tuple[str, ...]) -> None:
    assert waivers.target_names(target) == names


def waiver(*scope: str, control: str = "LH-02", expires: str = "2027-01-31") -> waivers.Waiver:
    return waivers.Waiver(control, "o", "r", datetime.date.fromisoformat(expires), scope)


def test_scope_covers_nodes_by_either_name_and_objects_by_pattern() -> None:
    assert waiver("node05").covers("LH-02", "node05 (k8s-node05)")
    assert waiver("k8s-node05").covers("LH-02", "node05 (k8s-node05)")
    assert not waiver("node05").covers("LH-02", "node04 (k8s-node04)")
    assert not waiver("node05").covers("LH-03", "node05 (k8s-node05)")
    assert waiver("node05").covers("LH-02", "node05 (k8s-node05) volume STATE")
    assert waiver("Namespace/team-*").covers("LH-02", "Namespace team-a")
    assert waiver("team-a").covers("LH-02", "Namespace team-a")
    assert not waiver("Namespace/team-*").covers("LH-02", "Namespace default")
    assert waiver().covers("LH-02", "anything at all")


def test_a_waiver_is_valid_through_its_expiry_day() -> None:
    assert not waiver(expires="2026-12-07").is_expired(TODAY)
    assert waiver(expires="2026-12-06").is_expired(TODAY)


def test_lint_warns_about_unknown_controls_unmatched_nodes_and_expiry() -> None:
    found = waivers.lint(
        [
            waiver("node09", "Namespace/x", control="ZZ-99"),
            waiver("node0*", expires="2026-01-01"),
        ],
        {"LH-02"},
        ["node01", "k8s-node01"],
        TODAY,
    )
    assert all(p.severity is Severity.WARNING for p in found)
    messages = [p.message for p in found]
    assert messages[0] == "ZZ-99 is not a control of the suite; the waiver is stale"
    assert messages[1] == "'node09' matches no node of the inventory"
    assert messages[2].startswith("expired on 2026-01-01 (owner o)")
    assert len(found) == 3


def test_known_controls_are_the_feature_tags() -> None:
    known = waivers.known_controls(ROOT / "features")
    assert {"HYG-01", "HYG-04", "LH-02", "ENC-01"} <= known
    assert all(waivers.CONTROL_ID.match(c) for c in known)


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioning", "validate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    target = tmp_path / "cluster"
    shutil.copytree(ROOT / "cluster", target, ignore=shutil.ignore_patterns(".secrets"))
    return target


def test_validate_warns_about_stale_waivers_in_the_definition(definition: Path) -> None:
    (definition / "waivers.yaml").write_text(
        "waivers:\n"
        "  - {control: ZZ-99, owner: a, reason: b, expires: 2099-01-01}\n"
        "  - {control: LH-02, scope: [node42], owner: a, reason: b, expires: 2099-01-01}\n"
    )
    proc = validate("--cluster", str(definition))
    assert proc.returncode == 0, proc.stderr
    shown = f"{definition}/waivers.yaml"
    assert f"{shown}:2: warning: control: ZZ-99 is not a control of the suite" in proc.stderr
    assert f"{shown}:3: warning: scope: 'node42' matches no node of the inventory" in proc.stderr
    assert f"{shown}: 2 waiver(s)" in proc.stdout


def test_validate_rejects_a_bad_waivers_file_outside_the_repo(
    definition: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "elsewhere.yaml"
    bad.write_text("waivers:\n  - {control: LH-02, owner: a, reason: b}\n")
    proc = validate("--cluster", str(definition), "--waivers", str(bad))
    assert proc.returncode == 1
    assert f"{bad}:2: waivers[0].expires: required" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_readme_example_waiver_is_valid_for_at_least_a_year() -> None:
    """The README promises its example waives ENC-01 (exit 0): it must not lapse unnoticed.

    Against the calendar on purpose: this fails a year before the example
    would stop doing what the README says.
    """
    (example,) = waivers.parse_waivers(readme_examples.waiver_example(), "README.md")
    assert example.control == "ENC-01"
    today = datetime.datetime.now(datetime.UTC).date()
    assert example.expires > today + datetime.timedelta(days=365), (
        f"README.md's example waiver expires {example.expires}; give it a date more than a "
        f"year after {today}"
    )


def test_the_readme_expires_its_example_with_a_past_date() -> None:
    """The README's ``sed`` turns the example's date into a past one (exit 1: expired)."""
    old, new, target = readme_examples.expiry_edit()
    example = readme_examples.waiver_example()
    assert f"expires: {old}\n" in example
    (lapsed,) = waivers.parse_waivers(example.replace(old, new), "README.md")
    today = datetime.datetime.now(datetime.UTC).date()
    assert lapsed.is_expired(today)
    assert target == "/tmp/waivers.yaml"


def test_the_commented_example_in_the_shipped_file_parses_and_is_not_expired() -> None:
    text = (ROOT / "cluster" / "waivers.yaml").read_text()
    start = text.index("# waivers:\n")
    block = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in text[start:].splitlines(keepends=True)
        if line.startswith("#")
    )
    (example,) = waivers.parse_waivers(block, "cluster/waivers.yaml")
    today = datetime.datetime.now(datetime.UTC).date()
    assert example.expires > today + datetime.timedelta(days=365)
