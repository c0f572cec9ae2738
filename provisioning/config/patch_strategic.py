"""A strategic patch's plan -- ``$patch: delete`` steps and merges in Talos's order -- applied.

What belongs here: turning one strategic patch file into Talos's ordered
steps (:func:`plan`) and applying them to a config (:func:`apply_strategic`),
with the ``$patch: delete`` rules.  Kept apart from :mod:`provisioning.config.patches`
(which classifies and loads patch files) and :mod:`provisioning.config.patch_merge`
(which merges two values) because this is where documents are matched,
deleted and ordered.

**``$patch: delete``**: on a map key removes it; on a list item removes the
first item whose first non-``$patch`` key has the same value; on a whole
typed document removes it.  Deletes of one patch run before its merges, the
v1alpha1 document's first (``container.Documents()`` order).  Deviations,
because plain YAML has no schema: deleting a key that is absent from an
existing mapping is a no-op (Talos: no-op for struct fields, ``lookup
failed`` for map keys); a missing parent is ``lookup failed`` as in Talos;
deleting a document the config does not have is skipped (Talos v1.12.5
appends the selector itself; later Talos skips it).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioning.config.machineconfig import (
    PATCH_DIRECTIVE,
    V1ALPHA1_KEY,
    DocKey,
    MachineConfig,
    doc_key,
    is_v1alpha1,
    scalar_text,
)
from provisioning.config.patch_merge import ITEM, MergeError, shape, strategic_merge
from provisioning.definition.problems import DefinitionError, Problem

if TYPE_CHECKING:
    # Only annotated here; provisioning.config.patches imports this module, so this would cycle.
    from provisioning.config.patches import Patch


@dataclass(frozen=True)
class _Delete:
    key: DocKey
    path: tuple[str, ...]  # Talos's selector path; list items end in "[i]"
    item_key: str | None = None
    item_value: str | None = None


@dataclass(frozen=True)
class _Merge:
    key: DocKey
    doc: dict[str, Any]


class _PlanError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _dotted(path: Sequence[str]) -> str:
    return ".".join(path)


def _strip(value: Any, path: list[str], in_list: bool, found: list[tuple[list[str], Any]]) -> Any:
    """*value* without its ``$patch: delete`` parts (None = remove it); records them in *found*."""
    if isinstance(value, dict):
        if PATCH_DIRECTIVE in value:
            if value[PATCH_DIRECTIVE] != "delete":
                raise _PlanError(_dotted(path), "only '$patch: delete' is supported")
            if not in_list and any(part.startswith("[") for part in path):
                raise _PlanError(_dotted(path), f"cannot delete an inner key in '{_dotted(path)}'")
            found.append((path, value if in_list else None))
            return None
        kept: dict[Any, Any] = {}
        for key, item in value.items():
            stripped = _strip(item, [*path, str(key)], False, found)
            if stripped is not None or item is None:
                kept[key] = stripped
        return None if value and not kept else kept
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            stripped = _strip(item, [*path, f"[{len(items)}]"], True, found)
            if stripped is not None or item is None:
                items.append(stripped)
        return None if value and not items else items
    return value


def _item_selector(path: list[str], item: dict[str, Any]) -> tuple[str, str]:
    if any(part.startswith("[") for part in path[:-1]):
        raise _PlanError(_dotted(path), "searching for complex paths in slices is not supported")
    for key, value in item.items():
        if key == PATCH_DIRECTIVE:
            continue
        if isinstance(value, (dict, list)):
            raise _PlanError(
                _dotted(path),
                f"the list item to delete is selected by '{key}', which must be a scalar",
            )
        return str(key), scalar_text(value)
    raise _PlanError(_dotted(path), f"no key:val found in sequence node for path {_dotted(path)}")


def _delete_key(doc: dict[str, Any]) -> DocKey:
    if is_v1alpha1(doc) or (not doc.get("apiVersion") and not doc.get("kind")):
        return V1ALPHA1_KEY
    if not doc.get("apiVersion") or not doc.get("kind"):
        raise _PlanError("", "kind and apiVersion must be both set for a '$patch: delete'")
    return doc_key(doc)


def _plan_document(doc: Any) -> tuple[list[_Delete], _Merge | None]:
    if not isinstance(doc, dict):
        raise _PlanError("", f"expected a YAML document (a mapping), not a {shape(doc)}")
    if PATCH_DIRECTIVE in doc:
        if doc[PATCH_DIRECTIVE] != "delete":
            raise _PlanError("", "only '$patch: delete' is supported")
        if is_v1alpha1(doc):
            raise _PlanError("v1alpha1", "can't delete the root of the legacy document")
        for field_name in ("apiVersion", "kind"):
            if not doc.get(field_name):
                message = f"missing {field_name} in document for which $patch: delete is used"
                raise _PlanError("", message)
        return [_Delete(doc_key(doc), ())], None
    found: list[tuple[list[str], Any]] = []
    rest = _strip(doc, [], False, found)
    deletes: list[_Delete] = []
    for path, item in found:
        key = _delete_key(doc)
        if item is None:
            deletes.append(_Delete(key, tuple(path)))
        else:
            deletes.append(_Delete(key, tuple(path), *_item_selector(path, item)))
    # decoder.isEmptyDoc: only version/kind/name left means "nothing to merge"
    if rest is None or all(
        k in ("version", "kind", "name") and not isinstance(v, (dict, list))
        for k, v in rest.items()
    ):
        return deletes, None
    if not is_v1alpha1(rest):
        for field_name in ("kind", "apiVersion"):
            if not rest.get(field_name):
                raise _PlanError("", f"missing {field_name}")
        if isinstance(rest.get("name"), (dict, list)):
            raise _PlanError("name", "name must be a scalar")
    return deletes, _Merge(doc_key(rest), rest)


def _label(key: DocKey) -> str:
    """Talos's ``apiVersion/kind/name`` for messages; v1alpha1 is ``/v1alpha1/``."""
    api, kind, name = ("", "v1alpha1", "") if key == V1ALPHA1_KEY else key
    return f"{api}/{kind}/{name}"


def plan(patch: Patch, lines: Sequence[int | None] = ()) -> list[_Delete | _Merge]:
    """Talos's order: v1alpha1 deletes, v1alpha1 merge, then each document's deletes and merge."""
    first: list[_Delete | _Merge] = []
    middle: list[_Delete | _Merge] = []
    rest: list[_Delete | _Merge] = []
    merged: set[DocKey] = set()
    for index, doc in enumerate(patch.documents):
        line = lines[index] if index < len(lines) else None
        try:
            deletes, merge = _plan_document(doc)
        except _PlanError as exc:
            raise DefinitionError([Problem(patch.source, exc.field, exc.message, line)]) from None
        for delete in deletes:
            (first if delete.key == V1ALPHA1_KEY else rest).append(delete)
        if merge is not None:
            if merge.key in merged:
                message = f"duplicate document {_label(merge.key)} is not allowed"
                raise DefinitionError([Problem(patch.source, "", message, line)])
            merged.add(merge.key)
            (middle if merge.key == V1ALPHA1_KEY else rest).append(merge)
    steps = [*first, *middle, *rest]
    if not steps:
        raise DefinitionError([Problem(patch.source, "", "config not found")])
    return steps


# ---------------------------------------------------------------------------
# Applying strategic patches
# ---------------------------------------------------------------------------


def _where(key: DocKey, path: Sequence[str]) -> str:
    shown = [part for part in path if part != ITEM]
    if key == V1ALPHA1_KEY:
        return _dotted(shown)
    label = f"{key[1]}/{key[2]}" if key[2] else key[1]
    return _dotted([label, *shown[1:]])


def _root(key: DocKey) -> tuple[str, ...]:
    return () if key == V1ALPHA1_KEY else (key[1],)


def _apply_delete(doc: dict[str, Any], delete: _Delete) -> None:
    """Remove what *delete* selects from *doc* in place; raises _PlanError as Talos would."""
    api, kind, name = ("", "v1alpha1", "") if delete.key == V1ALPHA1_KEY else delete.key
    shown = _dotted(delete.path)
    failed = f"failed to delete path '{shown}': lookup failed"
    if name:
        message = f"named patch delete: document {api}/{kind}: {failed}"
    else:
        message = f"patch delete: path '{shown}' in document '{api}/{kind}': {failed}"
    where = _where(delete.key, (*_root(delete.key), *delete.path))
    # A list item's path ends in "[i]": the list itself is the parent.
    cursor: Any = doc
    for part in delete.path[:-1]:
        if not isinstance(cursor, dict) or part not in cursor:
            raise _PlanError(where, message)
        cursor = cursor[part]
    if delete.item_key is None:
        if not isinstance(cursor, dict):
            raise _PlanError(where, message)
        cursor.pop(delete.path[-1], None)
        return
    for index, item in enumerate(cursor if isinstance(cursor, list) else []):
        if (
            isinstance(item, dict)
            and delete.item_key in item
            and not isinstance(item[delete.item_key], (dict, list))
            and scalar_text(item[delete.item_key]) == delete.item_value
        ):
            del cursor[index]
            return
    raise _PlanError(where, message)


def apply_strategic(config: MachineConfig, patch: Patch) -> MachineConfig:
    steps = plan(patch)
    docs = list(config.documents)
    for step in steps:
        position = next((i for i, d in enumerate(docs) if doc_key(d) == step.key), None)
        root = _root(step.key)
        try:
            if isinstance(step, _Merge):
                if position is None:
                    docs.append(copy.deepcopy(step.doc))
                else:
                    docs[position] = strategic_merge(docs[position], step.doc, root)
            elif position is not None:
                if not step.path:
                    del docs[position]
                else:
                    _apply_delete(docs[position], step)
        except MergeError as exc:
            problem = Problem(patch.source, _where(step.key, exc.path), exc.message)
            raise DefinitionError([problem]) from None
        except _PlanError as exc:
            raise DefinitionError([Problem(patch.source, exc.field, exc.message)]) from None
    return MachineConfig.from_documents(docs, patch.source)
