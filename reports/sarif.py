"""``--sarif PATH``: the run's findings as SARIF 2.1.0, for code-scanning tools.

SARIF (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html)
is what GitHub code scanning and most security dashboards ingest.  The
mapping:

* one ``reportingDescriptor`` (rule) per control that ran: ``id`` = control
  id, ``shortDescription`` = scenario title, ``help`` = where the feature
  file specifies it (the specification an operator signs) and the upstream
  doc, the severity in ``properties`` and as ``defaultConfiguration.level``
  (blocker/critical -> ``error``, normal -> ``warning``, minor/trivial ->
  ``note``); ``properties.feature`` is the feature file relative to the
  project root;
* ``helpUri`` only with a *help base* (``--sarif-base-uri``, e.g. the
  repository's ``https://github.com/ORG/REPO/blob/COMMIT/``): the base plus
  the feature's relative path.  SARIF 2.1.0 (3.49.12) wants an absolute URI
  there, and a ``file://`` URI of the machine that ran the suite opens
  nowhere else -- a code-scanning page viewed in a browser least of all -- so
  without a base there is no ``helpUri``;
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
import urllib.parse
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


def help_base(uri: str) -> str:
    """*uri* as a base for help URIs (ending in ``/``); :class:`ValueError` if not absolute."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.scheme or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"{uri!r} is not an absolute URI of a directory, such as "
            "https://github.com/ORG/REPO/blob/COMMIT/"
        )
    return uri if uri.endswith("/") else uri + "/"


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


def _rule(rule: Rule, root: Path, base: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"severity": rule.severity, "area": rule.area, "tags": [rule.area]}
    descriptor: dict[str, Any] = {
        "id": rule.control,
        "name": rule.control,
        "shortDescription": {"text": rule.title or rule.control},
        "defaultConfiguration": {"level": rule.level},
        "properties": properties,
    }
    if rule.feature is not None:
        where = rule.feature.absolute()
        inside = where.is_relative_to(root)
        shown = where.relative_to(root).as_posix() if inside else str(where)
        if inside:
            properties["feature"] = shown
            if base is not None:
                descriptor["helpUri"] = base + urllib.parse.quote(shown)
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
    base_uri: str | None = None,
) -> dict[str, Any]:
    """The SARIF log: one run, one rule per control, one result per finding.

    :param findings: per scenario, its observed findings (any order; results
        are sorted by control, then target).
    :param definition: the cluster definition directory (definition locations).
    :param base_uri: where the project root is published (:func:`help_base`);
        rules get a ``helpUri`` only with it.
    :raises ValueError: *base_uri* is not an absolute URI.
    """
    root = root.absolute()
    base = help_base(base_uri) if base_uri is not None else None
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
                        "rules": [_rule(rule, root, base) for rule in rules],
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
