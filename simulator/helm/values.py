"""Helm values: reading ``-f`` files, parsing ``--set``, merging like Helm.

What belongs here: the value plumbing every chart shares.  Helm merges user
values files in command-line order (later wins, maps merged deeply), applies
``--set`` on top, then coalesces the result over the chart's defaults, where a
user ``null`` deletes a default key.  Renderers receive the coalesced tree.

Why it matters: the suite's values files only set what differs from the chart
defaults, so a wrong merge silently changes what is checked.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from provisioning.definition.problems import DefinitionError, Problem

Values = dict[str, Any]

_INT = re.compile(r"^[-+]?[0-9]+$")


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """*override* deep-merged onto *base* (maps merge, anything else replaces)."""
    out: Values = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def coalesce(defaults: Mapping[str, Any], user: Mapping[str, Any]) -> Values:
    """User values over chart defaults; a user ``null`` removes the default key.

    Helm's ``chartutil.CoalesceValues`` treats an explicit null as "delete",
    which is how operators unset a chart default.
    """
    out: Values = copy.deepcopy(dict(defaults))
    for key, value in user.items():
        current = out.get(key)
        if value is None:
            out.pop(key, None)
        elif isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = coalesce(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_file(path: Path) -> Values:
    """One values file as a mapping; problems name the file.

    :raises DefinitionError: unreadable file, bad YAML, or a top level that is
        not a mapping (Helm: "error converting YAML to JSON").
    """
    display = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DefinitionError(
            [Problem(display, "", f"cannot read values file: {reason}")]
        ) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DefinitionError([Problem(display, "", str(problem), line)]) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise DefinitionError(
            [Problem(display, "", "values file must hold a mapping at the top level")]
        )
    return loaded


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current = ""
    escaped = False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == sep:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _typed(raw: str) -> Any:
    # Helm's strvals typing for --set: true/false/null and int64 become typed,
    # everything else (floats included) stays a string.
    if raw == "true":
        return True
    if raw == "false":
        return False
    if raw == "null":
        return None
    if _INT.match(raw) and not (len(raw.lstrip("+-")) > 1 and raw.lstrip("+-").startswith("0")):
        return int(raw)
    return raw


def parse_set(expressions: Sequence[str]) -> Values:
    """``--set a.b=c,d=1`` expressions as a values tree (dotted keys only).

    List indexes (``a[0]=x``) and ``--set-file`` are not supported.

    :raises DefinitionError: an expression without ``=`` or with an empty key,
        named as Helm names it (``key "x" has no value``).
    """
    out: Values = {}
    for expression in expressions:
        for item in _split_unescaped(expression, ","):
            key, sep, raw = item.partition("=")
            if not sep:
                raise DefinitionError(
                    [Problem("--set", item, f'key "{_unescape(item)}" has no value')]
                )
            path = [_unescape(part) for part in _split_unescaped(key, ".")]
            if not all(path) or "[" in key:
                raise DefinitionError(
                    [Problem("--set", key, "only dotted keys are supported (no list indexes)")]
                )
            node = out
            for part in path[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
            node[path[-1]] = _typed(_unescape(raw))
    return out


def user_values(files: Sequence[Path], sets: Sequence[str]) -> Values:
    """What the user supplied: the files in order, then ``--set`` on top."""
    out: Values = {}
    for path in files:
        out = merge(out, load_file(path))
    return merge(out, parse_set(sets))
