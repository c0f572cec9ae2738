"""Config patches, applied by Talos's own patcher as ``talosctl --config-patch @file`` does.

The operator's definition is a base ``controlplane.yaml`` plus patch files
stacked in order; the config a node receives must be exactly what Talos
itself produces from them, so the patches are classified and applied by
``pkg/machinery/config/configpatcher`` (``LoadPatch`` / ``Apply``) through
:mod:`provisioning.config.machinery`.  A text that loads as a machine config
is a strategic merge patch, otherwise an RFC 6902 one (JSON or YAML list);
consecutive RFC 6902 patches act as one, as ``LoadPatches`` arranges.

What this module keeps is the project's side: which file a patch came from
(every error names it), the definition folder a patch path may not leave,
and a batch form (:func:`apply_stacks`) so one helper process renders every
node.  A patch's text is never part of its ``repr``: patches can carry
secrets.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.config import machinery
from provisioning.config.machineconfig import MachineConfig
from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem

__all__ = [
    "Patch",
    "PatchKind",
    "apply_patch",
    "apply_patches",
    "apply_stacks",
    "load_patch",
    "parse_patch",
    "parse_patches",
]


class PatchKind(enum.Enum):
    """The two patch formats Talos detects."""

    STRATEGIC = "strategic"
    JSON6902 = "json6902"


@dataclass(frozen=True)
class Patch:
    """One patch file as Talos classified it; *text* is what Talos applies."""

    source: str
    kind: PatchKind
    text: str = field(repr=False)


def _talos_problem(source: str, message: str) -> Problem:
    """Talos's message about *source* as one problem, at the line Talos names."""
    text, line = machinery.located(message)
    return Problem(source, "", text, line)


def parse_patches(items: Sequence[tuple[str, str]]) -> list[Patch]:
    """Classify ``(text, source)`` pairs with one helper process, refusing each bad one.

    :raises DefinitionError: every patch that is neither kind, in Talos's words.
    """
    answers = machinery.call_many([{"op": "load", "patches": [text]} for text, _ in items])
    problems: list[Problem] = []
    loaded: list[Patch] = []
    for (text, source), answer in zip(items, answers, strict=True):
        if "error" in answer:
            problems.append(_talos_problem(source, str(answer["error"])))
        else:
            loaded.append(Patch(source, PatchKind(answer["kinds"][0]), text))
    if problems:
        raise DefinitionError(problems)
    return loaded


def parse_patch(text: str, source: str) -> Patch:
    """Classify one patch text the way Talos's ``LoadPatch`` does."""
    return parse_patches([(text, source)])[0]


def load_patch(path: Path, source: str, *, within: Path | None = None) -> Patch:
    """Read and classify the patch file at *path*; *source* names it in errors.

    With *within* (the definition folder), a path leading out of it is refused.
    """
    return parse_patch(yamlfiles.read_text(path, source, within=within), source)


def apply_stacks(
    stacks: Sequence[tuple[MachineConfig, Sequence[Patch]]], display: str = "base config"
) -> list[MachineConfig | DefinitionError]:
    """Each ``(config, patches)`` applied in order by one helper process.

    A stack Talos cannot apply yields a :class:`DefinitionError` naming the
    patch that failed (or *display*, when it is the config that does not
    load); the other stacks are unaffected.
    """
    requests = [
        {"op": "patch", "config": config.to_yaml(), "patches": [p.text for p in stack]}
        for config, stack in stacks
    ]
    results: list[MachineConfig | DefinitionError] = []
    for (_, stack), answer in zip(stacks, machinery.call_many(requests), strict=True):
        if "config" in answer:
            results.append(MachineConfig.parse(str(answer["config"]), display))
            continue
        index = int(answer.get("patch", -1))
        source = stack[index].source if 0 <= index < len(stack) else display
        results.append(DefinitionError([_talos_problem(source, str(answer.get("error", "")))]))
    return results


def apply_patches(
    config: MachineConfig, patches: Sequence[Patch], display: str = "base config"
) -> MachineConfig:
    """*config* with every patch applied in order (Talos's ``configpatcher.Apply``)."""
    result = apply_stacks([(config, patches)], display)[0]
    if isinstance(result, DefinitionError):
        raise result
    return result


def apply_patch(config: MachineConfig, patch: Patch) -> MachineConfig:
    """*config* with *patch* applied; *config* itself is unchanged."""
    return apply_patches(config, [patch])
