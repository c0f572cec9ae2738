"""Config patches, applied the way ``talosctl --config-patch @file`` applies them.

The operator's definition is a base ``controlplane.yaml`` plus patch files
stacked in order; the config a node receives must be exactly what Talos
itself would produce from them, so this module re-implements Talos v1.12.5's
patch engine on plain YAML values (read from ``pkg/machinery/config/
configpatcher/{load,strategic,json6902,apply}.go``, ``merge/merge.go``,
``configloader/internal/decoder/{delete,selector}.go`` and the ``Merge``
methods of ``types/v1alpha1``/``types/runtime/extensions``).

**Classification** (:func:`parse_patch`, ``load.go`` order): a text that
loads as a machine config (``$patch: delete`` allowed) is a strategic merge
patch; otherwise a JSON array of operations, otherwise a YAML list of
operations, is an RFC 6902 patch.  An empty file loads as no config, but as
an empty YAML list, so it is a JSON patch -- and therefore refused by every
multi-document config, as in Talos (#12457, #13029).

**Strategic merge** (:func:`strategic_merge`): documents are matched by
``(apiVersion, kind, name)``, unmatched ones are appended; maps merge key by
key; lists append, except the keyed and replaced lists in ``_KEYED`` and
``_REPLACED`` (patching.mdx and the ``merge:"replace"`` tags).  Talos merges
typed Go structs and skips zero values of non-pointer fields; untyped YAML
cannot tell those apart, so the rule here is: **an explicit scalar in the
patch always overrides** (``false``, ``0`` and ``""`` included -- most Talos
fields are pointers, for which that is Talos's rule too), while ``null``,
``{}`` and ``[]`` in a patch are ignored, as nil pointers and empty
maps/lists are.  A mapping meeting a scalar or list is an error
(Talos: ``merge type mismatch``).  Order of keys: the base's, new keys after
(Talos re-encodes in struct order, which we cannot know).

**``$patch: delete``**: on a map key removes it; on a list item removes the
first item whose first non-``$patch`` key has the same value; on a whole
typed document removes it.  Deletes of one patch run before its merges, the
v1alpha1 document's first (``container.Documents()`` order).  Deviations,
because plain YAML has no schema: deleting a key that is absent from an
existing mapping is a no-op (Talos: no-op for struct fields, ``lookup
failed`` for map keys); a missing parent is ``lookup failed`` as in Talos;
deleting a document the config does not have is skipped (Talos v1.12.5
appends the selector itself; later Talos skips it).

**JSON6902** (``json6902.go``): only on single-document configs; consecutive
JSON patches act as one; the result's keys are sorted, as Talos's
JSON-to-YAML round trip sorts them.  Messages never quote config values,
since a ``test`` failure or missing member would otherwise echo secrets.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch

from provisioning import yamlfiles
from provisioning.machineconfig import (
    PATCH_DIRECTIVE,
    V1ALPHA1_KEY,
    DocKey,
    MachineConfig,
    doc_key,
    is_v1alpha1,
    scalar_text,
)
from provisioning.problems import DefinitionError, Problem

MULTIDOC_JSON6902 = "JSON6902 patches are not supported for multi-document machine configuration"
_JSON_PREFIX = "failure applying rfc6902 patches to talos machine config"
_ITEM = "[]"  # path marker for "inside an item of this list"


class PatchKind(enum.Enum):
    """The two patch formats Talos detects."""

    STRATEGIC = "strategic"
    JSON6902 = "json6902"


@dataclass(frozen=True)
class Patch:
    """One patch file: strategic documents (``$patch`` kept) or RFC 6902 operations."""

    source: str
    kind: PatchKind
    documents: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    operations: tuple[dict[str, Any], ...] = field(default=(), repr=False)


class MergeError(ValueError):
    """Two values cannot be merged; *path* says where (list items as ``[]``)."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


# ---------------------------------------------------------------------------
# Strategic merge of values
# ---------------------------------------------------------------------------


def _match_on(key: str, default: Any) -> Callable[[list[Any], Any], int | None]:
    def match(items: list[Any], new: Any) -> int | None:
        if not isinstance(new, dict):
            return None
        wanted = new.get(key, default)
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get(key, default) == wanted:
                return index
        return None

    return match


def _match_interface(items: list[Any], new: Any) -> int | None:
    """``NetworkDeviceList.Merge``: by ``interface`` if set, else by equal ``deviceSelector``."""
    if not isinstance(new, dict):
        return None
    for key in ("interface", "deviceSelector"):
        wanted = new.get(key)
        if wanted is None or wanted == "":
            continue
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get(key) == wanted:
                return index
        return None
    return None


# Paths: v1alpha1 keys from its root, other documents rooted at their kind.
_KEYED: dict[tuple[str, ...], Callable[[list[Any], Any], int | None]] = {
    ("machine", "network", "interfaces"): _match_interface,
    ("machine", "network", "interfaces", _ITEM, "vlans"): _match_on("vlanId", 0),
    ("cluster", "apiServer", "admissionControl"): _match_on("name", ""),
    ("ExtensionServiceConfig", "configFiles"): _match_on("mountPath", ""),
}
_REPLACED: frozenset[tuple[str, ...]] = frozenset(
    {
        ("cluster", "apiServer", "auditPolicy"),
        ("cluster", "network", "podSubnets"),
        ("cluster", "network", "serviceSubnets"),
        ("NetworkRuleConfig", "ingress"),
        ("NetworkRuleConfig", "portSelector", "ports"),
    }
)


def _is_nothing(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list)) and not value)


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "scalar"


def strategic_merge(base: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """*patch* merged into *base*, as a new value; neither input is changed.

    *path* is where *base* sits (``("cluster", "network", "podSubnets")``;
    documents other than v1alpha1 start at their kind) and selects the
    keyed/replaced list rules.

    :raises MergeError: a mapping, list and scalar meet at the same place.
    """
    if _is_nothing(patch):
        return copy.deepcopy(base)
    if base is None or path in _REPLACED:
        return copy.deepcopy(patch)
    if _shape(base) != _shape(patch):
        raise MergeError(
            path,
            f"merge type mismatch: the config has a {_shape(base)} here, "
            f"the patch a {_shape(patch)}",
        )
    if isinstance(base, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if not _is_nothing(value):
                merged[key] = strategic_merge(merged.get(key), value, (*path, str(key)))
        return merged
    if isinstance(base, list):
        match = _KEYED.get(path)
        items = copy.deepcopy(base)
        for new in patch:
            index = match(items, new) if match is not None else None
            if index is None:
                items.append(copy.deepcopy(new))
            else:
                items[index] = strategic_merge(items[index], new, (*path, _ITEM))
        return items
    return copy.deepcopy(patch)


# ---------------------------------------------------------------------------
# Strategic patch plan: deletes and merges, in Talos's order
# ---------------------------------------------------------------------------


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
        raise _PlanError("", f"expected a YAML document (a mapping), not a {_shape(doc)}")
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


def _plan(patch: Patch, lines: Sequence[int | None] = ()) -> list[_Delete | _Merge]:
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
    shown = [part for part in path if part != _ITEM]
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


def _apply_strategic(config: MachineConfig, patch: Patch) -> MachineConfig:
    steps = _plan(patch)
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


# ---------------------------------------------------------------------------
# JSON6902
# ---------------------------------------------------------------------------

_NEEDS = {"add": "value", "replace": "value", "test": "value", "move": "from", "copy": "from"}


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def _check_operation(op: Any) -> str | None:
    """Why *op* is not a usable RFC 6902 operation, or None."""
    if not isinstance(op, dict):
        return "an operation must be a mapping"
    name = op.get("op")
    if name not in ("add", "remove", "replace", "move", "copy", "test"):
        return "'op' must be one of add, remove, replace, move, copy, test"
    pointers = ["path"] + (["from"] if _NEEDS.get(name) == "from" else [])
    for key in pointers:
        pointer = op.get(key)
        if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
            return f"'{key}' must be a JSON pointer such as /machine/install/disk"
    if _NEEDS.get(name) == "value" and "value" not in op:
        return f"'{name}' needs a 'value'"
    return None


def _apply_json(config: MachineConfig, group: Sequence[Patch]) -> MachineConfig:
    first = group[0].source
    docs = config.documents
    if len(docs) != 1:
        raise DefinitionError([Problem(first, "", MULTIDOC_JSON6902)])
    value: Any = docs[0]
    for patch in group:
        for index, op in enumerate(patch.operations):
            where = f"[{index}]"
            reason = _check_operation(op)
            if reason is None:
                where = f"[{index}] {op['op']} {op['path']}"
                try:
                    value = jsonpatch.apply_patch(value, [op], in_place=False)
                except jsonpatch.JsonPatchTestFailed:
                    reason = "'test' failed: the config holds another value there"
                except (
                    jsonpatch.JsonPatchException,
                    jsonpatch.JsonPointerException,
                    LookupError,
                    TypeError,
                    ValueError,
                ):
                    reason = "the path does not exist in the config or cannot take this operation"
            if reason is not None:
                problem = Problem(patch.source, where, f"{_JSON_PREFIX}: {reason}")
                raise DefinitionError([problem])
    return MachineConfig.from_documents([_sorted_keys(value)], first)


# ---------------------------------------------------------------------------
# Loading and classification
# ---------------------------------------------------------------------------


def _operations(value: Any) -> tuple[dict[str, Any], ...] | None:
    """*value* as a list of operations (JSON null = none), or None if it is not one."""
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(op, dict) or op is None for op in value):
        return tuple(copy.deepcopy(op) if op is not None else {} for op in value)
    return None


def parse_patch(text: str, source: str) -> Patch:
    """Classify and parse one patch the way Talos's ``LoadPatch`` does.

    :raises DefinitionError: the text is neither kind of patch; the error is
        the strategic one unless the text starts with ``[``.
    """
    parsed: list[yamlfiles.Document] | None = None
    try:
        parsed = yamlfiles.parse_documents(text, source)
        documents = tuple(d.value for d in parsed if d.value is not None)
        lines = [d.lines.line(()) for d in parsed if d.value is not None]
        strategic = Patch(source, PatchKind.STRATEGIC, documents=copy.deepcopy(documents))
        _plan(strategic, lines)
        return strategic
    except DefinitionError as exc:
        strategic_error = exc
    except RecursionError:
        problem = Problem(source, "", "recursive YAML aliases are not supported")
        raise DefinitionError([problem]) from None
    try:
        operations = _operations(json.loads(text))
        json_reason = "a JSON patch is a list of operation objects"
    except ValueError as exc:
        operations = None
        json_reason = f"not JSON: {getattr(exc, 'msg', exc)}"
    if operations is None and parsed is not None:
        values = [d.value for d in parsed]
        if all(v is None for v in values):
            operations = ()
        elif len(values) == 1:
            operations = _operations(values[0])
    if operations is not None:
        return Patch(source, PatchKind.JSON6902, operations=operations)
    if text.lstrip().startswith("["):
        raise DefinitionError([Problem(source, "", f"not a JSON patch: {json_reason}")])
    raise strategic_error


def load_patch(path: Path, source: str) -> Patch:
    """Read and classify the patch file at *path*; *source* names it in errors."""
    return parse_patch(yamlfiles.read_text(path, source), source)


def apply_patch(config: MachineConfig, patch: Patch) -> MachineConfig:
    """*config* with *patch* applied; *config* itself is unchanged."""
    return apply_patches(config, [patch])


def apply_patches(config: MachineConfig, patches: Sequence[Patch]) -> MachineConfig:
    """Every patch in order; consecutive JSON patches act as one, as in Talos."""
    index = 0
    while index < len(patches):
        if patches[index].kind is PatchKind.JSON6902:
            end = index
            while end < len(patches) and patches[end].kind is PatchKind.JSON6902:
                end += 1
            config = _apply_json(config, patches[index:end])
            index = end
        else:
            config = _apply_strategic(config, patches[index])
            index += 1
    return config
