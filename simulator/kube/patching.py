"""The three PATCH dialects of the Kubernetes API, applied to plain JSON objects.

What belongs here: JSON merge patch (RFC 7386), JSON patch (RFC 6902, via the
``jsonpatch`` library) and a strategic merge patch good enough for what
kubectl and the python client send, plus the mapping from ``Content-Type`` to
dialect.  Pure functions over dicts, so each dialect is property-testable
without a server.

Strategic merge (apimachinery ``pkg/util/strategicpatch``), as implemented:

* maps merge recursively, ``null`` deletes a key;
* lists whose field has a merge key merge item by item: ``containers``,
  ``initContainers``, ``ephemeralContainers``, ``volumes``, ``env``,
  ``imagePullSecrets`` by ``name``; ``ports`` by ``containerPort`` (or
  ``port`` for Service ports); ``volumeMounts`` by ``mountPath``;
  ``volumeDevices`` by ``devicePath``; ``conditions`` and node ``addresses``
  by ``type``; ``taints`` by ``key``; ``hostAliases`` by ``ip``;
  ``ownerReferences`` by ``uid``; ``metadata.finalizers`` merges as a set;
* every other list (``tolerations``, ``args``, ``command`` ...) is replaced;
* directives: ``$patch: replace|delete`` on maps and list items,
  ``$retainKeys``, ``$setElementOrder/<field>`` (reorders) and
  ``$deleteFromPrimitiveList/<field>``.

Deviations: merge keys are chosen by field name, not by the Go type that
holds the field; ``$patch: merge`` is accepted and ignored; lists of lists
are replaced rather than rejected.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import jsonpatch

from simulator.kube import errors

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# The dialects listed in a 415 text.  Upstream also lists apply-patch+yaml (server-side
# apply), which this server does not implement, so it is left out to keep the text honest.
CUSTOM_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH)
BUILTIN_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "addresses": "type",
    "taints": "key",
    "hostAliases": "ip",
    "ownerReferences": "uid",
}
_SET_LISTS = {"finalizers"}
_DIRECTIVE = "$patch"
_RETAIN = "$retainKeys"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 through ``jsonpatch``; failures answer as kube-apiserver does (400 or 422)."""
    if not isinstance(operations, list):
        raise errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.InvalidJsonPatch, TypeError) as exc:
        raise errors.bad_request(str(exc)) from exc
    try:
        return patch.apply(copy.deepcopy(target))
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        KeyError,
        IndexError,
    ) as exc:
        # patch.go: an apply failure is a generic 422 whose text does not echo the patch.
        raise errors.ApiError(
            422, "Invalid", "the server rejected our request due to an error in our request", {}
        ) from exc


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return _MERGE_KEYS.get(field)


def _find(items: list[Any], key: str, value: Any) -> int:
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get(key) == value:
            return index
    return -1


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    current = list(original) if isinstance(original, list) else []
    if field in _SET_LISTS:
        return current + [v for v in patch if v not in current]
    key = _merge_key(field, patch + current)
    if key is None or not all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
            return [i for i in patch if not (isinstance(i, dict) and _DIRECTIVE in i)]
        return copy.deepcopy(patch)
    if any(i.get(_DIRECTIVE) == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if _DIRECTIVE not in i]
    for item in patch:
        index = _find(current, key, item.get(key))
        if item.get(_DIRECTIVE) == "delete":
            if index >= 0:
                del current[index]
        elif index >= 0:
            current[index] = strategic_merge_patch(current[index], item)
        else:
            current.append(strategic_merge_patch({}, item))
    return current


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def identity(item: Any) -> Any:
        return item.get(key) if key is not None and isinstance(item, dict) else item

    wanted = [identity(o) if isinstance(o, dict) else o for o in order]
    ranked = [i for w in wanted for i in items if identity(i) == w]
    return ranked + [i for i in items if i not in ranked]


def strategic_merge_patch(original: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to *original* (see the module docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    base: dict[str, Any] = copy.deepcopy(original) if isinstance(original, dict) else {}
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != _DIRECTIVE}
    if directive not in (None, "merge", "delete"):
        raise errors.bad_request(f"Unknown patch type: {directive}")
    orders: dict[str, list[Any]] = {}
    for field, value in patch.items():
        if field in (_DIRECTIVE, _RETAIN):
            continue
        if field.startswith(_ORDER):
            orders[field[len(_ORDER) :]] = value if isinstance(value, list) else []
        elif field.startswith(_DELETE_PRIMITIVE):
            name = field[len(_DELETE_PRIMITIVE) :]
            if isinstance(base.get(name), list) and isinstance(value, list):
                base[name] = [v for v in base[name] if v not in value]
        elif value is None:
            base.pop(field, None)
        elif isinstance(value, dict):
            if value.get(_DIRECTIVE) == "delete":
                base.pop(field, None)
            else:
                base[field] = strategic_merge_patch(base.get(field), value)
        elif isinstance(value, list):
            base[field] = _merge_list(field, base.get(field), value)
        else:
            base[field] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(base.get(field), list):
            base[field] = _reorder(base[field], order, _merge_key(field, base[field]))
    retain = patch.get(_RETAIN)
    if isinstance(retain, list):
        base = {k: v for k, v in base.items() if k in retain}
    return base


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from exc


def apply_patch(
    target: Mapping[str, Any], body: bytes, content_type: str, *, is_custom: bool
) -> dict[str, Any]:
    """Apply *body* of type *content_type* to *target*; 415 for a dialect the type refuses.

    Server-side apply (``apply-patch+yaml``) is not implemented and answers 415 listing the
    dialects that are (a deviation: kube-apiserver supports it).
    """
    media = content_type.split(";", 1)[0].strip().lower()
    accepted = CUSTOM_PATCH_TYPES if is_custom else BUILTIN_PATCH_TYPES
    if media not in accepted:
        raise errors.unsupported_media_type(accepted)
    patch = _decode(body)
    if media == JSON_PATCH:
        result = json_patch(dict(target), patch)
    elif media == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise errors.bad_request("json: cannot unmarshal into object: patch must be an object")
        result = merge_patch(dict(target), patch)
    else:
        if not isinstance(patch, dict):
            raise errors.bad_request("invalid JSON document")
        result = strategic_merge_patch(dict(target), patch)
    if not isinstance(result, dict):
        raise errors.bad_request("the patch did not produce an object")
    return result
