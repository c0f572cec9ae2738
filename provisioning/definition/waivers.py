"""Waivers: accepted, dated exceptions to controls (``cluster/waivers.yaml``).

A nightly suite meets known exceptions (a node waiting for a disk, a
namespace migrating to default-deny).  A waiver names the control, the nodes
or objects it covers (``scope``; none means every finding of the control),
who owns the exception, why, and the date it ends: there is no waiver without
an expiry, so an exception cannot outlive the reason it was granted for (Chef
InSpec's waivers work the same way:
https://docs.chef.io/inspec/waivers/).

What belongs here is the file model: loading with ``file:line: field:
message`` problems (never a traceback), matching a waiver against a finding's
target, and the lint ``python -m provisioning validate`` prints as warnings
(an unknown control, a scope naming no node of the inventory).  Applying
waivers to a run's findings is :mod:`fixtures.waive`'s job.

Matching a target: a finding names its node or object as text --
``node03 (k8s-node03) volume STATE``, ``node node03``, ``Namespace team-a``,
``Deployment kube-system/cilium-operator``, ``patches/node03.yaml:4``.
:func:`target_names` reads the names out of those shapes (inventory name and
Kubernetes name of a node; ``Kind/ref`` and ``ref`` of an object; always the
whole text); a scope entry is a shell-style pattern (``fnmatch``, case
sensitive) that covers a finding when it matches one of its names.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem, Severity, raise_if_errors

FILE_NAME = "waivers.yaml"
CONTROL_ID = re.compile(r"^[A-Z]{2,5}-\d{2}$")
_FIELDS = ("control", "scope", "owner", "reason", "expires", "ticket")
_REQUIRED = ("control", "owner", "reason", "expires")
_NODE_LABEL = re.compile(r"^(?P<name>[\w.-]+) \((?P<other>[\w.-]+)\)(?: .*)?$")
_NODE_PREFIX = re.compile(r"^node (?P<name>[\w.-]+)(?: .*)?$")
_OBJECT = re.compile(r"^(?P<kind>[A-Z][A-Za-z]+) (?P<ref>[^\s()]+)(?: .*)?$")
_FEATURE_TAG = re.compile(r"@([A-Z]{2,5}-\d{2})\b")


@dataclass(frozen=True)
class Waiver:
    """One accepted exception, with where it was written (for messages)."""

    control: str
    owner: str
    reason: str
    expires: datetime.date
    scope: tuple[str, ...] = ()
    ticket: str = ""
    file: str = ""
    line: int | None = None

    @property
    def where(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def is_expired(self, today: datetime.date) -> bool:
        """Valid through its ``expires`` day; expired from the day after."""
        return today > self.expires

    def covers(self, control: str, target: str) -> bool:
        """Whether this waiver covers a finding of *control* about *target*."""
        if control != self.control:
            return False
        if not self.scope:
            return True
        names = target_names(target)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.scope for name in names)

    def describe(self) -> str:
        """``HYG-03 waived until 2027-01-31 by team-storage: reason (ticket OPS-1)``."""
        ticket = f" (ticket {self.ticket})" if self.ticket else ""
        return (
            f"{self.control} waived until {self.expires.isoformat()} by {self.owner}: "
            f"{self.reason}{ticket}"
        )

    def describe_expired(self) -> str:
        ticket = f" (ticket {self.ticket})" if self.ticket else ""
        return (
            f"{self.where}: waiver for {self.control} expired on {self.expires.isoformat()}: "
            f"owner {self.owner}, reason: {self.reason}{ticket}"
        )


def node_names(target: str) -> tuple[str, ...]:
    """The node names a finding's target starts with, if it names a node.

    ``node03 (k8s-node03) volume STATE`` -> ``node03``, ``k8s-node03``;
    ``node node03`` -> ``node03``; anything else -> nothing.
    """
    text = target.strip()
    labelled = _NODE_LABEL.match(text)
    if labelled is not None:
        return (labelled.group("name"), labelled.group("other").strip())
    prefixed = _NODE_PREFIX.match(text)
    return (prefixed.group("name"),) if prefixed is not None else ()


def target_names(target: str) -> tuple[str, ...]:
    """The names a finding's target can be matched by (the whole text first).

    Besides the text itself: a node's inventory and Kubernetes names
    (:func:`node_names`); for an object named ``<Kind> <ref> ...``
    (``Namespace team-a``, ``Deployment kube-system/cilium-operator``) both
    ``<Kind>/<ref>`` and ``<ref>``.
    """
    text = target.strip()
    names = [text, *node_names(text)]
    if not names[1:]:
        obj = _OBJECT.match(text)
        if obj is not None:
            names += [f"{obj.group('kind')}/{obj.group('ref')}", obj.group("ref")]
    return tuple(dict.fromkeys(names))


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _entry(
    value: Any, index: int, display: str, lines: yamlfiles.LineMap, problems: list[Problem]
) -> Waiver | None:
    path: yamlfiles.PathKey = ("waivers", index)

    def problem(field: str, message: str) -> None:
        at = (*path, field) if field else path
        problems.append(Problem(display, yamlfiles.field_path(at), message, lines.line(at)))

    if not isinstance(value, dict):
        problem("", "expected a mapping with control, owner, reason, expires")
        return None
    before = len(problems)
    for key in value:
        if key not in _FIELDS:
            problem(str(key), f"unknown field; expected one of {', '.join(_FIELDS)}")
    for key in _REQUIRED:
        if value.get(key) in (None, ""):
            problem(key, "required")
    control = value.get("control")
    if control not in (None, "") and not (isinstance(control, str) and CONTROL_ID.match(control)):
        problem("control", f"{control!r} is not a control id such as HYG-03")
    for key in ("owner", "reason", "ticket"):
        if value.get(key) not in (None, "") and not isinstance(value.get(key), str | int):
            problem(key, "expected text")
    expires = _date(value.get("expires"))
    if value.get("expires") not in (None, "") and expires is None:
        problem("expires", f"{value.get('expires')!r} is not a date (YYYY-MM-DD)")
    scope = value.get("scope")
    if isinstance(scope, str):
        scope = [scope]
    if scope is None:
        scope = []
    if not isinstance(scope, list) or not all(isinstance(s, str) and s.strip() for s in scope):
        problem("scope", "expected a list of node names or object patterns")
        scope = []
    if len(problems) > before or expires is None:
        return None
    return Waiver(
        control=str(control),
        owner=str(value["owner"]),
        reason=str(value["reason"]),
        expires=expires,
        scope=tuple(s.strip() for s in scope),
        ticket=str(value.get("ticket") or ""),
        file=display,
        line=lines.line(path),
    )


def parse_waivers(text: str, display: str) -> tuple[Waiver, ...]:
    """Waivers from the text of a waivers file; :class:`DefinitionError` lists every problem."""
    documents = [d for d in yamlfiles.parse_documents(text, display) if d.value is not None]
    if not documents:
        return ()
    if len(documents) > 1:
        raise DefinitionError([Problem(display, "", "holds several YAML documents; expected one")])
    document = documents[0]
    top = document.value
    if not isinstance(top, dict) or set(top) - {"waivers"}:
        raise DefinitionError(
            [Problem(display, "", "expected one mapping with a `waivers` list", 1)]
        )
    entries = top.get("waivers")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        line = document.lines.line(("waivers",))
        raise DefinitionError([Problem(display, "waivers", "expected a list", line)])
    problems: list[Problem] = []
    waivers = [_entry(v, i, display, document.lines, problems) for i, v in enumerate(entries)]
    raise_if_errors(problems)
    return tuple(w for w in waivers if w is not None)


def load_waivers(path: Path, display: str | None = None) -> tuple[Waiver, ...]:
    """The waivers of the file at *path*; :class:`DefinitionError` for a bad or missing file."""
    name = display if display is not None else str(path)
    return parse_waivers(yamlfiles.read_text(path, name), name)


def known_controls(features: Path) -> set[str]:
    """Every control id tagged in the ``*.feature`` files under *features*."""
    found: set[str] = set()
    for feature in sorted(features.glob("*.feature")):
        found.update(_FEATURE_TAG.findall(feature.read_text(encoding="utf-8")))
    return found


def lint(
    waivers: Sequence[Waiver],
    controls: Iterable[str],
    node_names: Iterable[str],
    today: datetime.date,
) -> list[Problem]:
    """Warnings about waivers that cannot do what they say (stale, unknown, expired).

    A scope entry that looks like a node name (no ``/``, no ``:``) and matches
    no inventory name or hostname can match nothing; object patterns can only
    be judged against a run's findings, which the run summary does.
    """
    known = set(controls)
    nodes = set(node_names)
    problems: list[Problem] = []
    for waiver in waivers:

        def warn(field: str, message: str, waiver: Waiver = waiver) -> None:
            problems.append(
                Problem(waiver.file, field, message, waiver.line, severity=Severity.WARNING)
            )

        if waiver.control not in known:
            warn("control", f"{waiver.control} is not a control of the suite; the waiver is stale")
        for pattern in waiver.scope:
            if "/" in pattern or ":" in pattern:
                continue
            if not any(fnmatch.fnmatchcase(n, pattern) for n in nodes):
                warn("scope", f"{pattern!r} matches no node of the inventory")
        if waiver.is_expired(today):
            warn(
                "expires",
                f"expired on {waiver.expires.isoformat()} (owner {waiver.owner}): "
                "a run that meets this control fails",
            )
    return problems
