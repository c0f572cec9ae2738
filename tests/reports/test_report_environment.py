"""Allure run files: environment.properties escaping, executor.json from CI variables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from reports import environment

ROOT = Path(__file__).resolve().parents[2]


def _pairs(text: str) -> str:
    """Join UTF-16 surrogate pairs that arrived as two ``\\u`` escapes."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


def parse_properties(text: str) -> dict[str, str]:
    """A reader of the escapes Java's Properties.load understands (the ones we write)."""
    escapes = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}
    values: dict[str, str] = {}
    for line in text.split("\n")[:-1]:
        key, current, i, in_key = "", "", 0, True
        while i < len(line):
            char = line[i]
            if char == "\\" and line[i + 1] == "u":
                current += chr(int(line[i + 2 : i + 6], 16))
                i += 6
                continue
            if char == "\\":
                i += 1
                current += escapes.get(line[i], line[i])
            elif char == "=" and in_key:
                key, current, in_key = current, "", False
            else:
                current += char
            i += 1
        values[_pairs(key)] = _pairs(current)
    return values


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=5))
def test_properties_round_trip_one_line_each(values: dict[str, str]) -> None:
    text = environment.render_properties(values)
    assert text.count("\n") == len(values)
    assert all(c == "\n" or (c.isprintable() and (c == " " or not c.isspace())) for c in text)
    assert parse_properties(text) == values


def test_properties_escape_what_would_start_a_comment_or_a_line() -> None:
    text = environment.render_properties({"#k": "a\nb=c", "x": " lead"})
    assert text == "\\#k=a\\u000ab=c\nx=\\ lead\n"


def test_local_run_has_a_local_executor() -> None:
    assert environment.executor({}) == {"name": "local", "type": "local"}


def test_github_actions_executor_links_the_run() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "ops/k8s-cluster",
        "GITHUB_RUN_ID": "991",
        "GITHUB_RUN_NUMBER": "42",
        "GITHUB_WORKFLOW": "nightly",
    }
    assert environment.executor(env) == {
        "name": "GitHub Actions",
        "type": "github",
        "buildName": "nightly #42",
        "buildOrder": 42,
        "buildUrl": "https://github.example/ops/k8s-cluster/actions/runs/991",
    }


def test_jenkins_executor_drops_a_non_numeric_build_order() -> None:
    env = {"JENKINS_URL": "http://127.0.0.1:8080/", "BUILD_NUMBER": "x", "BUILD_URL": "u"}
    found = environment.executor(env)
    assert found["type"] == "jenkins"
    assert "buildOrder" not in found
    assert found["buildUrl"] == "u"


def test_revision_of_a_git_checkout_and_of_a_plain_directory(tmp_path: Path) -> None:
    assert environment.definition_revision(tmp_path) == "unknown"
    if shutil.which("git") is None:
        return
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    if head:
        assert environment.definition_revision(ROOT / "cluster") == head


def test_facts_of_a_definition_that_does_not_load_say_so(tmp_path: Path) -> None:
    facts = environment.run_facts(tmp_path, "broken-def", live=True)
    assert facts.target == "live"
    assert "broken-def does not load" in facts.cluster
    assert facts.talos == "unknown"


def test_facts_of_the_shipped_definition() -> None:
    facts = environment.run_facts(ROOT / "cluster", "cluster", live=False).properties()
    assert facts["cluster"] == "K8S-CLUSTER"
    assert facts["nodes"] == "6"
    assert facts["target"] == "simulated"
