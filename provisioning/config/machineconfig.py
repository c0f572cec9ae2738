"""The Talos machine config as a container of YAML documents.

A v1.12 machine config is a multi-document YAML file: one legacy
``v1alpha1`` document (top-level ``version``/``machine``/``cluster``, no
``apiVersion``/``kind``) and any number of typed documents identified by
``apiVersion``, ``kind`` and, for named kinds, ``name``.  This module holds
that container and the container rules Talos enforces when it loads one
(``pkg/machinery/config/configloader/internal/decoder/decoder.go`` and
``pkg/machinery/config/container/container.go``, tag v1.12.5):

* the v1alpha1 document comes first, the others keep their order;
* a second v1alpha1 document is ``duplicate v1alpha1.Config``; two typed
  documents with the same identity are ``duplicate document Kind/name``;
* a typed document without ``kind`` is ``missing kind``, without
  ``apiVersion`` ``missing apiVersion`` (Talos's wording from v1.12.6 on;
  v1.12.5 said ``"Kind" "": not registered`` for the latter);
* null documents (``---`` with nothing after it) are skipped, a document
  that is not a mapping is refused, and a file without any document is
  ``config not found``.

It does *not* know the schema of each kind (unknown keys, enum values):
that is :mod:`provisioning.config.validation`, run on the rendered result.  Patches
live in :mod:`provisioning.config.patches`; this module is what they act on.

A :class:`MachineConfig` is effectively immutable: documents are deep-copied
on the way in and on the way out, so a caller cannot change a config that
another node's render shares.  Its ``repr`` names documents, never their
contents, because the v1alpha1 document carries the cluster's keys and
tokens.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem

DocKey = tuple[str, str, str]
"""``(apiVersion, kind, name)``; the v1alpha1 document is ``("v1alpha1", "v1alpha1", "")``."""

V1ALPHA1_KEY: DocKey = ("v1alpha1", "v1alpha1", "")

# Talos's decoder takes a document without apiVersion/kind for the legacy
# v1alpha1 one when it has any of these keys (the "deprecated" manifest keys
# plus ``version``, which is what every generated config starts with).
_V1ALPHA1_KEYS = frozenset({"version", "machine", "cluster", "debug", "persist"})

PATCH_DIRECTIVE = "$patch"


def scalar_text(value: Any) -> str:
    """A scalar as its YAML text, the way Talos compares names and selectors."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _present(doc: Mapping[str, Any], key: str) -> bool:
    value = doc.get(key)
    return value is not None and value != ""


def is_v1alpha1(doc: Mapping[str, Any]) -> bool:
    """Whether *doc* is the legacy v1alpha1 document (no ``apiVersion``/``kind``)."""
    if _present(doc, "apiVersion") or _present(doc, "kind"):
        return False
    return any(key in doc for key in _V1ALPHA1_KEYS)


def doc_key(doc: Mapping[str, Any]) -> DocKey:
    """The identity Talos matches documents by when merging and de-duplicating."""
    if is_v1alpha1(doc):
        return V1ALPHA1_KEY
    name = doc.get("name")
    return (
        scalar_text(doc.get("apiVersion")),
        scalar_text(doc.get("kind")),
        scalar_text(name) if not isinstance(name, (dict, list)) else "",
    )


def doc_id(doc: Mapping[str, Any]) -> str:
    """The document's name in Talos's messages: ``v1alpha1``, ``Kind`` or ``Kind/name``."""
    _, kind, name = doc_key(doc)
    return f"{kind}/{name}" if name else kind


def _find_directive(value: Any) -> bool:
    if isinstance(value, dict):
        return PATCH_DIRECTIVE in value or any(_find_directive(v) for v in value.values())
    if isinstance(value, list):
        return any(_find_directive(v) for v in value)
    return False


def _check(values: list[Any], display: str, lines: list[int | None]) -> tuple[dict[str, Any], ...]:
    """Talos's container rules over raw document values; all problems at once."""
    problems: list[Problem] = []
    v1alpha1: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    seen: set[DocKey] = set()
    for index, (value, line) in enumerate(zip(values, lines, strict=True)):
        where = f"documents[{index}]"
        if value is None:
            continue
        if not isinstance(value, dict):
            found = "a list" if isinstance(value, list) else "a scalar"
            problems.append(
                Problem(display, where, f"expected a YAML document (a mapping), not {found}", line)
            )
            continue
        if _find_directive(value):
            problems.append(
                Problem(
                    display,
                    doc_id(value) or where,
                    f"'{PATCH_DIRECTIVE}' directives belong in patches, not in a machine config",
                    line,
                )
            )
        if is_v1alpha1(value):
            if v1alpha1:
                problems.append(Problem(display, "v1alpha1", "duplicate v1alpha1.Config", line))
            v1alpha1.append(value)
            continue
        problems.extend(_identity_problems(value, display, where, line))
        key = doc_key(value)
        if key in seen and key[1]:
            problems.append(
                Problem(display, doc_id(value), f"duplicate document {doc_id(value)}", line)
            )
        seen.add(key)
        others.append(value)
    if not problems and not v1alpha1 and not others:
        problems.append(Problem(display, "", "config not found"))
    if problems:
        raise DefinitionError(problems)
    return tuple(copy.deepcopy([*v1alpha1, *others]))


def _identity_problems(
    doc: Mapping[str, Any], display: str, where: str, line: int | None
) -> list[Problem]:
    problems: list[Problem] = []
    # Talos's decoder stops at the first of these, kind before apiVersion.
    for key in ("kind", "apiVersion"):
        value = doc.get(key)
        if not _present(doc, key):
            problems.append(Problem(display, where, f"missing {key}", line))
            break
        if not isinstance(value, str):
            problems.append(Problem(display, where, f"{key} must be a string", line))
    if isinstance(doc.get("name"), (dict, list)):
        problems.append(Problem(display, f"{where}.name", "name must be a scalar", line))
    return problems


@dataclass(frozen=True)
class MachineConfig:
    """A whole machine config: v1alpha1 document first, then the others in order.

    Build one with :meth:`parse` or :meth:`from_documents`; both check the
    container rules and copy what they are given.
    """

    _documents: tuple[dict[str, Any], ...] = field(repr=False)

    @property
    def documents(self) -> tuple[dict[str, Any], ...]:
        """A deep copy of every document, v1alpha1 first."""
        return copy.deepcopy(self._documents)

    @classmethod
    def parse(cls, text: str, display: str) -> MachineConfig:
        """Parse a (multi-document) machine config; *display* names it in errors."""
        parsed = yamlfiles.parse_documents(text, display)
        try:
            return cls(
                _check(
                    [doc.value for doc in parsed],
                    display,
                    [doc.lines.line(()) for doc in parsed],
                )
            )
        except RecursionError:
            raise DefinitionError(
                [Problem(display, "", "recursive YAML aliases are not supported")]
            ) from None

    @classmethod
    def from_documents(cls, docs: Iterable[Mapping[str, Any]], display: str) -> MachineConfig:
        """A config from document values (copied), checked like :meth:`parse`."""
        values: list[Any] = [dict(doc) if isinstance(doc, Mapping) else doc for doc in docs]
        try:
            return cls(_check(values, display, [None] * len(values)))
        except RecursionError:
            raise DefinitionError(
                [Problem(display, "", "recursive values are not supported")]
            ) from None

    def __repr__(self) -> str:
        return f"MachineConfig({', '.join(doc_id(doc) for doc in self._documents)})"

    def keys(self) -> tuple[DocKey, ...]:
        """The identity of every document, in order."""
        return tuple(doc_key(doc) for doc in self._documents)

    def v1alpha1(self) -> dict[str, Any] | None:
        """A copy of the v1alpha1 document, or None when the config has none."""
        first = self._documents[0] if self._documents else None
        return copy.deepcopy(first) if first is not None and is_v1alpha1(first) else None

    def find(self, kind: str, name: str | None = None) -> dict[str, Any] | None:
        """A copy of the first document of *kind* (and *name*, when given)."""
        for doc in self._documents:
            _, doc_kind, doc_name = doc_key(doc)
            if doc_kind == kind and (name is None or doc_name == name):
                return copy.deepcopy(doc)
        return None

    def get(self, path: str, default: Any = None) -> Any:
        """A copy of the value at dotted *path* in the v1alpha1 document.

        ``cluster.network.cni.name``; a numeric part indexes a list
        (``machine.network.interfaces.0.interface``).  Keys that themselves
        contain dots (node labels) cannot be reached this way; read
        :meth:`v1alpha1` instead.
        """
        cursor: Any = self._documents[0] if self._documents else None
        if cursor is None or not is_v1alpha1(cursor):
            return default
        for part in path.split("."):
            if isinstance(cursor, dict) and part in cursor:
                cursor = cursor[part]
            elif isinstance(cursor, list) and part.isdigit() and int(part) < len(cursor):
                cursor = cursor[int(part)]
            else:
                return default
        return copy.deepcopy(cursor)

    def to_yaml(self) -> str:
        """The config as Talos writes it: 4-space indents, ``---`` between documents."""
        return yamlfiles.dump_documents(list(self._documents))
