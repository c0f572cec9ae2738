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

The engine is split by what each part holds: :mod:`provisioning.config.patch_merge`
(strategic merge of values), :mod:`provisioning.config.patch_strategic` (a strategic
patch's ``$patch: delete`` steps and merges, in Talos's order) and
:mod:`provisioning.config.patch_json6902` (RFC 6902 operations).  This module
classifies and loads patch files and applies a stack of them; the names
callers use from the other three are re-exported here.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.config.machineconfig import MachineConfig
from provisioning.config.patch_json6902 import MULTIDOC_JSON6902, apply_json
from provisioning.config.patch_merge import MergeError, strategic_merge
from provisioning.config.patch_strategic import apply_strategic, plan
from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem

__all__ = [
    "MULTIDOC_JSON6902",
    "MergeError",
    "Patch",
    "PatchKind",
    "apply_patch",
    "apply_patches",
    "load_patch",
    "parse_patch",
    "strategic_merge",
]


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


def _operations(value: Any) -> tuple[dict[str, Any], ...] | None:
    """*value* as a list of operations (JSON null = none), or None if it is not one."""
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(op, dict) or op is None for op in value):
        return tuple(copy.deepcopy(op) if op is not None else {} for op in value)
    return None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a repeated key as the YAML loader does."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r}")
        found[key] = value
    return found


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
        plan(strategic, lines)
        return strategic
    except DefinitionError as exc:
        strategic_error = exc
    except RecursionError:
        problem = Problem(source, "", "recursive YAML aliases are not supported")
        raise DefinitionError([problem]) from None
    try:
        operations = _operations(json.loads(text, object_pairs_hook=_unique_keys))
        json_reason = "a JSON patch is a list of operation objects"
    except ValueError as exc:
        operations = None
        json_reason = f"not JSON: {getattr(exc, 'msg', exc)}"
    except RecursionError:  # JSON's own nesting limit; the YAML error says it better
        raise strategic_error from None
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


def load_patch(path: Path, source: str, *, within: Path | None = None) -> Patch:
    """Read and classify the patch file at *path*; *source* names it in errors.

    With *within* (the definition folder), a path leading out of it is refused.
    """
    return parse_patch(yamlfiles.read_text(path, source, within=within), source)


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
            config = apply_json(config, patches[index:end])
            index = end
        else:
            config = apply_strategic(config, patches[index])
            index += 1
    return config
