"""``talosctl get -o jsonpath=...``: Kubernetes JSONPath over each resource's JSON map.

talosctl hands the template to client-go's ``util/jsonpath`` (missing keys
are errors, as ``AllowMissingKeys`` is not set) and prints every result on
its own line -- maps and lists as 4-space indented JSON, scalars as text,
literal text between ``{...}`` too
(https://github.com/siderolabs/talos/blob/v1.12.5/cmd/talosctl/cmd/talos/output/jsonpath.go,
https://kubernetes.io/docs/reference/kubectl/jsonpath/).

Supported: text and several ``{...}`` segments; ``$``, ``@``; ``.field``,
``['field']``, ``.*`` / ``[*]``, ``[n]`` (negative from the end),
``[start:end]``, ``[a,b]`` (names or indexes), ``..field`` (recursive
descent) and filters ``[?(@.path)]``, ``[?(@.path OP literal)]`` with
``== != < <= > >=``.  Not supported: ``range``/``end`` blocks and
functions; they are refused as a parse error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Step = Callable[[list[Any]], list[Any]]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_COMPARE = re.compile(r"^@((?:\.[\w-]+|\[[^\]]*\])*)\s*(==|!=|<=|>=|<|>)\s*(.+)$")


@dataclass(frozen=True)
class Segment:
    """Literal text (``steps`` None) or one ``{...}`` expression."""

    text: str
    steps: tuple[Step, ...] | None = None


class NotFoundError(ValueError):
    """A key the template names is absent (client-go's ``%s is not found``)."""


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(f"unrecognized filter value {text!r}")


def _field(name: str) -> Step:
    def step(values: list[Any]) -> list[Any]:
        found = [v[name] for v in values if isinstance(v, dict) and name in v]
        if not found and values:
            raise NotFoundError(f"{name} is not found")
        return found

    return step


def _children(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, dict):
            out.extend(value[k] for k in sorted(value))
        elif isinstance(value, list):
            out.extend(value)
    return out


def _recursive(name: str) -> Step:
    def walk(value: Any, out: list[Any]) -> None:
        if isinstance(value, dict):
            if name in value:
                out.append(value[name])
            for key in sorted(value):
                walk(value[key], out)
        elif isinstance(value, list):
            for item in value:
                walk(item, out)

    def step(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for value in values:
            walk(value, out)
        return out

    return step


def _index(text: str) -> Step:
    if ":" in text:
        start_text, _, end_text = text.partition(":")
        start = int(start_text) if start_text.strip() else None
        end = int(end_text) if end_text.strip() else None
        return lambda values: [item for v in values if isinstance(v, list) for item in v[start:end]]
    position = int(text)

    def step(values: list[Any]) -> list[Any]:
        out = []
        for value in values:
            if not isinstance(value, list):
                continue
            at = position + len(value) if position < 0 else position
            if not 0 <= at < len(value):
                raise ValueError(
                    f"array index out of bounds: index {position}, length {len(value)}"
                )
            out.append(value[at])
        return out

    return step


def _filter(text: str) -> Step:
    match = _COMPARE.match(text.strip())
    path, op, wanted = (
        (match.group(1), match.group(2), _literal(match.group(3)))
        if match
        else (
            text.strip().removeprefix("@"),
            "",
            None,
        )
    )
    steps = _steps(path) if path else ()
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }

    def keep(item: Any) -> bool:
        try:
            found = _run(steps, [item])
        except (NotFoundError, ValueError):
            return False
        if not op:
            return bool(found)
        try:
            return any(compare[op](value, wanted) for value in found)
        except TypeError:
            return False

    return lambda values: [item for item in _children(values) if keep(item)]


def _bracket(inner: str) -> Step:
    inner = inner.strip()
    if inner == "*":
        return _children
    if inner.startswith("?(") and inner.endswith(")"):
        return _filter(inner[2:-1])
    parts = [p.strip() for p in inner.split(",")]
    if len(parts) > 1:
        singles = [_bracket(p) for p in parts]
        return lambda values: [item for step in singles for item in step(values)]
    if inner[:1] in "'\"" and inner[-1:] == inner[:1]:
        return _field(inner[1:-1])
    try:
        return _index(inner)
    except ValueError:
        raise ValueError(f"invalid array index {inner!r}") from None


def _steps(expression: str) -> tuple[Step, ...]:
    text = expression.strip()
    if text[:1] in ("$", "@"):
        text = text[1:]
    steps: list[Step] = []
    i = 0
    while i < len(text):
        if text.startswith("..", i):
            match = re.match(r"[\w-]+", text[i + 2 :])
            if match is None:
                raise ValueError(f"unrecognized identifier after '..' in {expression!r}")
            steps.append(_recursive(match.group()))
            i += 2 + match.end()
        elif text[i] == ".":
            if text.startswith(".*", i):
                steps.append(_children)
                i += 2
                continue
            match = re.match(r"[\w-]+", text[i + 1 :])
            if match is None:
                if i + 1 == len(text):  # "{.}": the whole object
                    i += 1
                    continue
                raise ValueError(f"unrecognized character in {expression!r} at {i}")
            steps.append(_field(match.group()))
            i += 1 + match.end()
        elif text[i] == "[":
            depth, j = 0, i
            while j < len(text):
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            if depth:
                raise ValueError(f"unterminated array in {expression!r}")
            steps.append(_bracket(text[i + 1 : j]))
            i = j + 1
        elif text[i].isspace():
            i += 1
        else:
            word = re.match(r"\w+", text[i:])
            if word and word.group() in ("range", "end"):
                raise ValueError(f"{word.group()} blocks are not supported by the simulator")
            raise ValueError(f"unrecognized character in {expression!r} at {i}")
    return tuple(steps)


def _run(steps: Sequence[Step], values: list[Any]) -> list[Any]:
    for step in steps:
        values = step(values)
    return values


def parse(template: str) -> tuple[Segment, ...]:
    """The template's text and expression segments; :class:`ValueError` when it is malformed."""
    segments: list[Segment] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            segments.append(Segment(template[i:]))
            break
        if start > i:
            segments.append(Segment(template[i:start]))
        end = template.find("}", start)
        if end < 0:
            raise ValueError(f"unclosed action in {template!r}")
        segments.append(Segment(template[start : end + 1], _steps(template[start + 1 : end])))
        i = end + 1
    return tuple(segments)


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, indent=4, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return str(value)


def render(segments: Sequence[Segment], data: Any) -> str:
    """Every result of *segments* over *data*, one per line (talosctl's ``printResult``).

    :raises ValueError: a key is missing or an index out of bounds.
    """
    lines: list[str] = []
    for segment in segments:
        if segment.steps is None:
            lines.append(segment.text)
            continue
        lines.extend(_text(v) for v in _run(segment.steps, [data]))
    return "".join(line + "\n" for line in lines)
