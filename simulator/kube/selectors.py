"""Label and field selectors: parsing the query strings and matching objects.

What belongs here: the grammar of ``labelSelector`` and ``fieldSelector``
and nothing about which fields a type allows (that is registry data, checked
by the object store).  Pure and separately testable because selector
semantics are where a simulator most easily lies: ``!=`` and ``notin``
also match objects that lack the key, ``key`` alone means "exists",
``!key`` means "does not exist" (apimachinery ``pkg/labels/selector.go``).

Label grammar: requirements joined by ``,`` (AND); each is ``k``, ``!k``,
``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k>n`` or
``k<n``.  Field grammar (``pkg/fields/selector.go``): ``f=v``, ``f==v``,
``f!=v`` joined by ``,``; ``\\``, ``\\,`` and ``\\=`` escape in values.

Deviation: label keys and values are not checked against the
qualified-name/label-value syntax; a malformed selector is reported with a
shorter message than upstream's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector string does not parse; the message is fit for a 400 Status."""


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``op`` is one of ``exists !exists = != in notin > <``."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.op == ">" else number < bound


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        found = labels or {}
        return all(r.matches(found) for r in self.requirements)


_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|<|>|[^\s,()=!<>]+)")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        out.append(match.group(1))
        position = match.end()
    return out


_OPERATORS = {"==", "!=", "=", "!", "(", ")", ",", "<", ">"}


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query value.

    :raises SelectorError: with a message naming what was found and expected.
    """
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    index = 0

    def peek() -> str | None:
        return tokens[index] if index < len(tokens) else None

    def take(what: str) -> str:
        nonlocal index
        token = peek()
        if token is None:
            raise SelectorError(f"unable to parse requirement: found '', expected: {what}")
        index += 1
        return token

    def identifier(what: str) -> str:
        token = take(what)
        if token in _OPERATORS:
            raise SelectorError(f"unable to parse requirement: found '{token}', expected: {what}")
        return token

    while index < len(tokens):
        if peek() == "!":
            index += 1
            requirements.append(Requirement(identifier("identifier"), "!exists"))
        else:
            key = identifier("identifier")
            op = peek()
            if op is None or op == ",":
                requirements.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                index += 1
                nxt = peek()
                value = "" if nxt is None or nxt == "," else identifier("identifier")
                requirements.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            elif op in ("in", "notin"):
                index += 1
                if take("'('") != "(":
                    raise SelectorError("unable to parse requirement: expected: '('")
                values: list[str] = []
                while True:
                    token = take("identifier or ')'")
                    if token == ")":
                        break
                    if token == ",":
                        continue
                    if token in _OPERATORS:
                        raise SelectorError(
                            f"unable to parse requirement: found '{token}', expected: identifier"
                        )
                    values.append(token)
                requirements.append(Requirement(key, op, tuple(values)))
            elif op in ("<", ">"):
                index += 1
                bound = identifier("integer")
                if not re.fullmatch(r"-?\d+", bound):
                    raise SelectorError(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must "
                        f"be an integer: {bound}"
                    )
                requirements.append(Requirement(key, op, (bound,)))
            else:
                raise SelectorError(
                    f"unable to parse requirement: found '{op}', expected: "
                    "'=', '!=', '==', 'in', notin'"
                )
        nxt = peek()
        if nxt is not None:
            if nxt != ",":
                raise SelectorError(f"found '{nxt}', expected: ',' or 'end of string'")
            index += 1
    return LabelSelector(tuple(requirements))


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str  # "=" or "!="
    value: str


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def fields(self) -> tuple[str, ...]:
        return tuple(r.field for r in self.requirements)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for req in self.requirements:
            equal = field_value(obj, req.field) == req.value
            if equal != (req.op == "="):
                return False
        return True


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current = ""
    escaped = False
    for char in text:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append(current)
            current = ""
        else:
            current += char
    if escaped:
        current += "\\"
    parts.append(current)
    return parts


def _unescape(value: str) -> str:
    out = ""
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            out += char
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out += char
    if escaped:
        raise SelectorError("invalid field selector: unterminated escape sequence")
    return out


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a ``fieldSelector`` query value (which fields are allowed is checked elsewhere)."""
    requirements: list[FieldRequirement] = []
    if not text.strip():
        return FieldSelector()
    for part in _split_unescaped(text, ","):
        for op in ("!=", "==", "="):
            index = part.find(op)
            if index > 0:
                field = part[:index].strip()
                value = _unescape(part[index + len(op) :])
                requirements.append(FieldRequirement(field, "!=" if op == "!=" else "=", value))
                break
        else:
            raise SelectorError(f"invalid selector: '{part}'; can't understand '{part}'")
    return FieldSelector(tuple(requirements))


# Selector names that are not plain dotted paths into the object.
_FIELD_ALIASES = {"source": "source.component"}


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string a field selector compares: JSON scalars as text, missing as ``""``."""
    current: Any = obj
    for part in _FIELD_ALIASES.get(path, path).split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return "false" if path == "spec.hostNetwork" or path == "spec.unschedulable" else ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)
