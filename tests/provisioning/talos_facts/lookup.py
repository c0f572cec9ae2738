"""Reading the fact files: cases, and values at document paths in a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
MISSING = object()


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((HERE / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    return data


def document(docs: list[dict[str, Any]], ident: str) -> Any:
    """The document *ident* names: ``v1alpha1``, ``Kind`` or ``Kind/name``."""
    kind, _, name = ident.partition("/")
    for doc in docs:
        if kind == "v1alpha1" and "kind" not in doc:
            return doc
        if doc.get("kind") == kind and str(doc.get("name", "")) == name:
            return doc
    return MISSING


def at(docs: list[dict[str, Any]], path: str) -> Any:
    """The value at *path* (document, then keys and list indexes split by ``.``), or MISSING."""
    head, *rest = path.split(".")
    current = document(docs, head)
    for part in rest:
        if isinstance(current, list) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else MISSING
        elif isinstance(current, dict):
            current = current.get(part, MISSING)
        else:
            return MISSING
    return current
