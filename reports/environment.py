"""What a conformance run ran against: Allure's ``environment.properties`` and ``executor.json``.

Both files describe the *run*, not a test, so they are written once at session
end into the results directory.  The values come from the cluster definition
(the same :func:`provisioning.definition.inventory.load_cluster` the suite verifies
against) and from the process environment, never from the cluster itself: a
report must still say what was intended when the target did not answer.

Only names and versions go in; the definition's secrets directory, keys and
tokens never do (the environment file is shown verbatim on the report's front
page).  A definition that does not load still yields a file, with the reason in
place of the versions, because that run's report is the one an operator needs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError

UNKNOWN = "unknown"
DISTRIBUTION = "talos-conformance"


@dataclass(frozen=True)
class RunFacts:
    """The run's identity as shown in the report's Environment widget."""

    cluster: str
    target: str
    talos: str
    kubernetes: str
    cilium: str
    longhorn: str
    nodes: str
    suite_version: str
    definition_revision: str

    def properties(self) -> dict[str, str]:
        """Ordered keys as Allure shows them (it keeps file order)."""
        return {
            "cluster": self.cluster,
            "target": self.target,
            "talos.version": self.talos,
            "kubernetes.version": self.kubernetes,
            "cilium.version": self.cilium,
            "longhorn.version": self.longhorn,
            "nodes": self.nodes,
            "suite.version": self.suite_version,
            "definition.revision": self.definition_revision,
        }


def suite_version() -> str:
    """The installed suite's version (from package metadata, so it matches pyproject)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def definition_revision(directory: Path) -> str:
    """``git rev-parse HEAD`` in *directory*, or ``unknown`` when it is not a checkout."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    revision = proc.stdout.strip()
    return revision if proc.returncode == 0 and revision else UNKNOWN


def run_facts(directory: Path, display: str, *, live: bool) -> RunFacts:
    """Facts for the definition in *directory* (``display`` is how the operator named it)."""
    target = "live" if live else "simulated"
    revision = definition_revision(directory) if directory.is_dir() else UNKNOWN
    try:
        cluster = inventory.load_cluster(directory, display=display)
    except DefinitionError:
        # The run itself reports the problems; here only "which run was this" matters.
        missing = f"{UNKNOWN} (the definition {display} does not load)"
        return RunFacts(
            cluster=missing,
            target=target,
            talos=UNKNOWN,
            kubernetes=UNKNOWN,
            cilium=UNKNOWN,
            longhorn=UNKNOWN,
            nodes=UNKNOWN,
            suite_version=suite_version(),
            definition_revision=revision,
        )
    versions = cluster.versions
    return RunFacts(
        cluster=cluster.name,
        target=target,
        talos=versions.talos,
        kubernetes=versions.kubernetes,
        cilium=versions.cilium,
        longhorn=versions.longhorn,
        nodes=str(len(cluster.nodes)),
        suite_version=suite_version(),
        definition_revision=revision,
    )


def _escape(text: str, *, key: bool) -> str:
    """Java ``.properties`` escaping, which is what both Allure readers implement.

    Anything not printable (line and form feeds, tabs, Unicode separators)
    becomes ``\\uXXXX`` so one value can never start a second line; in a key,
    the separators and comment markers are escaped too.
    """
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif key and char in " =:#!":
            out.append("\\" + char)
        elif char == " " and index == 0:
            out.append("\\ ")  # a reader skips leading blanks of a value
        elif not char.isprintable() or (char.isspace() and char != " "):
            units = char.encode("utf-16-be")
            out.extend(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2))
        else:
            out.append(char)
    return "".join(out)


def render_properties(values: Mapping[str, str]) -> str:
    """*values* as a ``.properties`` file, one ``key=value`` line each, in order."""
    return "".join(f"{_escape(k, key=True)}={_escape(v, key=False)}\n" for k, v in values.items())


def executor(env: Mapping[str, str]) -> dict[str, str | int]:
    """Allure ``executor.json`` from CI variables (GitHub Actions, GitLab CI, Jenkins).

    Without a known CI the run is "local": an operator's laptop before a change.
    """
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env.get("GITHUB_REPOSITORY", "")
        run_id = env.get("GITHUB_RUN_ID", "")
        found = {
            "name": "GitHub Actions",
            "type": "github",
            "buildName": f"{env.get('GITHUB_WORKFLOW', 'workflow')} "
            f"#{env.get('GITHUB_RUN_NUMBER', '')}",
            "buildOrder": env.get("GITHUB_RUN_NUMBER", ""),
            "buildUrl": f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else "",
        }
    elif env.get("GITLAB_CI") == "true":
        found = {
            "name": "GitLab CI",
            "type": "gitlab",
            "buildName": f"{env.get('CI_JOB_NAME', 'job')} #{env.get('CI_PIPELINE_ID', '')}",
            "buildOrder": env.get("CI_PIPELINE_IID", ""),
            "buildUrl": env.get("CI_JOB_URL", env.get("CI_PIPELINE_URL", "")),
        }
    elif env.get("JENKINS_URL"):
        found = {
            "name": "Jenkins",
            "type": "jenkins",
            "buildName": env.get("BUILD_TAG", env.get("JOB_NAME", "")),
            "buildOrder": env.get("BUILD_NUMBER", ""),
            "buildUrl": env.get("BUILD_URL", ""),
        }
    else:
        found = {"name": "local", "type": "local"}
    result: dict[str, str | int] = {k: v for k, v in found.items() if v}
    order = found.get("buildOrder", "")
    # Allure orders builds by this number (its trend charts); a non-number is dropped.
    if order.isdigit():
        result["buildOrder"] = int(order)
    else:
        result.pop("buildOrder", None)
    return result


def executor_json(env: Mapping[str, str]) -> str:
    return json.dumps(executor(env), indent=2, sort_keys=True) + "\n"
