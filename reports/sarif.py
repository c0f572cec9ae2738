"""``--sarif PATH``: the run's findings as SARIF 2.1.0, for code-scanning tools.

SARIF (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html)
is what GitHub code scanning and most security dashboards ingest.  The
mapping:

* one ``reportingDescriptor`` (rule) per control that ran: ``id`` = control
  id, ``shortDescription`` = scenario title, ``helpUri`` = the feature file
  (the specification an operator signs; the upstream doc goes in ``help``),
  the severity in ``properties`` and as ``defaultConfiguration.level``
  (blocker/critical -> ``error``, normal -> ``warning``, minor/trivial ->
  ``note``);
* one ``result`` per finding of the run's final observation, message
  ``<target>: expected <x>; observed <y>``;
* locations: a finding of a definition control (:mod:`checks.definition`)
  points into the definition -- ``file:line`` targets at that file and line,
  node targets at the node's entry in ``cluster.yaml`` -- as a physical
  location relative to ``%SRCROOT%`` (the project root) when the definition
  lives inside it; every other finding has a logical location: the node or
  the object it names;
* a waived finding carries an ``external`` suppression, status ``accepted``,
  with the waiver's owner, reason, expiry and ticket as justification.

Pure: the plugin gathers :class:`Rule` and :class:`reports.results.Observed`
values and writes what :func:`build` returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.definition import waivers as waivers_file
from reports.results import Observed

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
TOOL = "talos-conformance"
DEFINITION_MODULE = "checks.definition"
_LEVELS = {
    "blocker": "error",
    "critical": "error",
    "normal": "warning",
    "minor": "note",
    "trivial": "note",
}
_FILE_LINE = re.compile(r"^(?P<path>[^\s:][^:]*):(?P<line>\d+)$")


@dataclass(frozen=True)
class Rule:
    """What SARIF says about one control."""

    control: str
    title: str
    severity: str
    area: str
    feature: Path | None = None
    line: int = 0
    upstream: str = ""

    @property
    def level(self) -> str:
        return _LEVELS.get(self.severity, "warning")


def _artifact(path: Path, root: Path) -> dict[str, str]:
    resolved = path.absolute()
    if resolved.is_relative_to(root):
        return {"uri": resolved.relative_to(root).as_posix(), "uriBaseId": "%SRCROOT%"}
    return {"uri": resolved.as_uri()}


def _node_line(cluster_yaml: str, names: Sequence[str]) -> int:
    """The line of ``name: <node>`` (or ``hostname:``) in ``cluster.yaml``, else 1."""
    for number, text in enumerate(cluster_yaml.splitlines(), start=1):
        for name in names:
            if re.match(rf"^\s*-?\s*(?:name|hostname):\s*['\"]?{re.escape(name)}['\"]?\s*$", text):
                return number
    return 1


def _definition_location(target: str, definition: Path, root: Path) -> dict[str, Any]:
    match = _FILE_LINE.match(target.strip())
    if match is not None and (definition / match.group("path")).is_file():
        path, line = definition / match.group("path"), int(match.group("line"))
    else:
        path = definition / "cluster.yaml"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        line = _node_line(text, waivers_file.node_names(target))
    return {
        "physicalLocation": {
            "artifactLocation": _artifact(path, root),
            "region": {"startLine": max(line, 1)},
        }
    }


def _logical_location(target: str) -> dict[str, Any]:
    nodes = waivers_file.node_names(target)
    return {
        "logicalLocations": [
            {
                "name": nodes[0] if nodes else target,
                "fullyQualifiedName": target,
                "kind": "node" if nodes else "resource",
            }
        ]
    }


def _rule(rule: Rule, root: Path) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "id": rule.control,
        "name": rule.control,
        "shortDescription": {"text": rule.title or rule.control},
        "defaultConfiguration": {"level": rule.level},
        "properties": {"severity": rule.severity, "area": rule.area, "tags": [rule.area]},
    }
    if rule.feature is not None:
        descriptor["helpUri"] = rule.feature.absolute().as_uri()
        where = rule.feature.absolute()
        shown = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
        text = f"Specified in {shown}" + (f" line {rule.line}" if rule.line else "")
        if rule.upstream:
            text += f"; upstream: {rule.upstream}"
        descriptor["help"] = {"text": text}
    return descriptor


def _result(observed: Observed, index: int, rule: Rule, definition: Path, root: Path) -> Any:
    finding = observed.finding
    text = f"{finding.target}: expected {finding.expected}; observed {finding.observed}"
    if finding.doc:
        text += f" (see {finding.doc})"
    result: dict[str, Any] = {
        "ruleId": rule.control,
        "ruleIndex": index,
        "level": rule.level,
        "message": {"text": text},
    }
    if observed.module == DEFINITION_MODULE:
        result["locations"] = [_definition_location(finding.target, definition, root)]
    else:
        result["locations"] = [_logical_location(finding.target)]
    if observed.waiver is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": observed.waiver.describe(),
            }
        ]
    return result


def build(
    rules: Sequence[Rule],
    findings: Mapping[str, Sequence[Observed]],
    *,
    root: Path,
    definition: Path,
    version: str,
    successful: bool,
) -> dict[str, Any]:
    """The SARIF log: one run, one rule per control, one result per finding.

    :param findings: per scenario, its observed findings (any order; results
        are sorted by control, then target).
    :param definition: the cluster definition directory (definition locations).
    """
    root = root.absolute()
    index = {rule.control: i for i, rule in enumerate(rules)}
    observed = sorted(
        (o for listed in findings.values() for o in listed if o.control in index),
        key=lambda o: (o.control, o.finding.target, o.finding.observed),
    )
    return {
        "$schema": SCHEMA_URI,
        "version": VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "version": version,
                        "rules": [_rule(rule, root) for rule in rules],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "invocations": [{"executionSuccessful": successful}],
                "results": [
                    _result(o, index[o.control], rules[index[o.control]], definition, root)
                    for o in observed
                ],
            }
        ],
    }


def to_json(log: Mapping[str, Any]) -> str:
    return json.dumps(log, indent=2) + "\n"
