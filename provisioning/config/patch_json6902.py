"""RFC 6902 (JSON patch) operations applied to a single-document machine config.

What belongs here: checking each operation and applying a run of JSON
patches the way Talos's ``configpatcher/json6902.go`` does.  Kept apart from
the strategic merge because it shares none of its rules: it works on one
document as plain JSON and reports problems by operation index.

**JSON6902** (``json6902.go``): only on single-document configs; consecutive
JSON patches act as one; the result's keys are sorted, as Talos's
JSON-to-YAML round trip sorts them.  Messages never quote config values,
since a ``test`` failure or missing member would otherwise echo secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jsonpatch

from provisioning.config.machineconfig import MachineConfig
from provisioning.definition.problems import DefinitionError, Problem

if TYPE_CHECKING:
    # Only annotated here; provisioning.config.patches imports this module, so this would cycle.
    from provisioning.config.patches import Patch

MULTIDOC_JSON6902 = "JSON6902 patches are not supported for multi-document machine configuration"
_JSON_PREFIX = "failure applying rfc6902 patches to talos machine config"


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


def apply_json(config: MachineConfig, group: Sequence[Patch]) -> MachineConfig:
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
