"""Typed, located reads from one YAML document of the cluster definition.

:class:`Reader` pulls values out of the untyped YAML with the converters of
:mod:`provisioning.definition.inventory_values` and records a
:class:`~provisioning.definition.problems.Problem` -- file, field path, line -- for every
value that is missing, mistyped or an unknown key.  Nothing here raises on bad
input: a getter returns ``None`` for a value it could not use and the caller
carries on, so one run reports every mistake.  It is its own module because the
section readers and the cross-field rules both write through it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TypeVar

from provisioning.definition import yamlfiles
from provisioning.definition.inventory_values import Bad, kind_of, shown, text
from provisioning.definition.problems import Problem, Severity
from provisioning.definition.yamlfiles import LineMap, PathKey

T = TypeVar("T")
Parent = Mapping[str, object] | None


class Reader:
    """Typed reads from one YAML document; wrong values become located problems.

    Getters take the parent mapping (``None`` when the parent itself was
    unusable, which is reported already), the parent's path and the key.
    """

    def __init__(self, file: str, lines: LineMap, root: Path) -> None:
        self.file = file
        self.lines = lines
        self.root = root
        self.problems: list[Problem] = []

    def error(self, at: PathKey, message: str, severity: Severity = Severity.ERROR) -> None:
        where = yamlfiles.field_path(at)
        self.problems.append(Problem(self.file, where, message, self.lines.line(at), severity))

    def warn(self, at: PathKey, message: str) -> None:
        self.error(at, message, Severity.WARNING)

    def convert(self, found: object, at: PathKey, convert: Callable[[object], T]) -> T | None:
        try:
            return convert(found)
        except Bad as exc:
            self.error(at, str(exc))
            return None

    def get(
        self, parent: Parent, path: PathKey, key: str, convert: Callable[[object], T], *,
        required: bool = True,
    ) -> T | None:  # fmt: skip
        """*key* of *parent* converted; absent/empty is an error only when *required*."""
        if parent is None:
            return None
        found = parent.get(key)
        if found is None:
            if required:
                missing = "is required" if key not in parent else "is empty; a value is required"
                self.error((*path, key), missing)
            return None
        return self.convert(found, (*path, key), convert)

    def each(
        self, found: object, at: PathKey, convert: Callable[[object], T]
    ) -> tuple[T, ...] | None:
        """Every item of the list *found*, or ``None`` if the list or any item is wrong."""
        if found is None:
            return None
        if not isinstance(found, list):
            self.error(at, f"must be a list, not {kind_of(found)}")
            return None
        items = [self.convert(item, (*at, i), convert) for i, item in enumerate(found)]
        return tuple(i for i in items if i is not None) if None not in items else None

    def items(
        self, parent: Parent, path: PathKey, key: str, convert: Callable[[object], T]
    ) -> tuple[T, ...] | None:
        return self.each(self.get(parent, path, key, lambda v: v), (*path, key), convert)

    def sequence(self, parent: Parent, path: PathKey, key: str) -> list[object] | None:
        """*key* as a list of raw items (``None`` items kept for the caller to name)."""
        found = self.get(parent, path, key, lambda v: v)
        if found is not None and not isinstance(found, list):
            self.error((*path, key), f"must be a list, not {kind_of(found)}")
            return None
        return found

    def mapping(self, found: object, at: PathKey, known: Collection[str] | None) -> Parent:
        """*found* as a mapping, reporting keys outside *known* (typos) when given.

        Keys starting with ``x-`` are free, for YAML anchors an operator shares.
        """
        if found is None:
            return None
        if not isinstance(found, Mapping):
            self.error(at, f"must be a mapping, not {kind_of(found)}")
            return None
        checked: dict[str, object] = {}
        for key, item in found.items():
            name = str(key)
            if known is None or name in known or name.startswith("x-"):
                checked[name] = item
                continue
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.error((*at, name), f"unknown field {shown(name)}{hint}")
        return checked

    def section(self, parent: Parent, path: PathKey, key: str, known: Collection[str]) -> Parent:
        return self.mapping(self.get(parent, path, key, lambda v: v), (*path, key), known)

    def path(
        self, parent: Parent, path: PathKey, key: str, *, required: bool = True
    ) -> Path | None:
        written = self.get(parent, path, key, text, required=required)
        return self.resolve(written, (*path, key))

    def resolve(self, written: str | None, at: PathKey) -> Path | None:
        """A path as written in the file: ``~`` expanded, relative to the cluster directory."""
        if written is None:
            return None
        if "\0" in written:
            self.error(at, "must not contain a NUL character")
            return None
        try:
            expanded = Path(written).expanduser()
        except RuntimeError:
            self.error(at, f"cannot expand {shown(written)}: unknown home directory")
            return None
        return Path(os.path.normpath(self.root / expanded))
