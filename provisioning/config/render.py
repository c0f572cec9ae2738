"""Rendering: the exact machine config each node receives.

``talosctl apply-config --file controlplane.yaml --config-patch @a --config-patch
@b`` applies the patches, in order, to a base that already holds the cluster's
secrets.  :func:`render_node` does the same with the definition's files: base
document(s), then the machine secrets (generated once, kept encrypted outside
git), then the node's patch stack from ``cluster.yaml``, applied by Talos's
own patcher (:mod:`provisioning.config.patches`).  The result is then checked
twice: by Talos's validator as ``talosctl validate --mode metal --strict``
(:mod:`provisioning.config.validation`) and against the inventory it was meant to
implement (:mod:`provisioning.config.consistency`), so a patch that contradicts
``cluster.yaml`` is caught before any node sees it.  A whole cluster goes
through one helper process (:func:`compose_many`).

Without secrets (the default for ``render`` and for CI) every secret field
holds a placeholder: the layout is identical, nothing sensitive is read.
Strings hold ``<redacted>``; certificates and keys, which Talos decodes as
base64 and refuses otherwise, hold :data:`REDACTED_BYTES` (``<redacted>``
base64-encoded), so Talos's code -- and a simulated node -- can load the result.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.config import consistency, patches, secrets, validation
from provisioning.config.machineconfig import MachineConfig, is_v1alpha1
from provisioning.definition import inventory, yamlfiles
from provisioning.definition.problems import DefinitionError, Problem, Severity, raise_if_errors

REDACTED = secrets.REDACTED
REDACTED_BYTES = secrets.REDACTED_BYTES
_BYTES_SUFFIXES = (".crt", ".key")


@dataclass(frozen=True)
class RenderedNode:
    """One node's final config and what validation had to say about it."""

    node: inventory.Node
    config: MachineConfig
    warnings: tuple[Problem, ...]
    has_secrets: bool

    def to_yaml(self) -> str:
        return self.config.to_yaml()


def _placeholder(path: str) -> str:
    return REDACTED_BYTES if path.endswith(_BYTES_SUFFIXES) else REDACTED


def _set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cursor = doc
    for part in parts[:-1]:
        child = cursor.get(part)
        if not isinstance(child, dict):
            child = {}
            cursor[part] = child
        cursor = child
    cursor[parts[-1]] = value


def with_placeholders(v1alpha1: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the base document with every secret field set to a placeholder.

    ``<redacted>`` for strings, :data:`REDACTED_BYTES` for certificates and
    keys (what Talos can decode).
    """
    doc = copy.deepcopy(dict(v1alpha1))
    # Public halves (CA certificates, cluster id) too: without real secrets
    # there is nothing true to show there, and the layout stays identical.
    for path in (*secrets.SECRET_PATHS, *secrets.PUBLIC_PATHS):
        _set_path(doc, path, _placeholder(path))
    return doc


def load_base(
    cluster: inventory.Cluster, machine_secrets: secrets.MachineSecrets | None
) -> MachineConfig:
    """The base config with the secrets merged in, as `gen config --with-secrets` writes it."""
    text = yamlfiles.read_text(cluster.base.path, cluster.base.display, within=cluster.root)
    base = MachineConfig.parse(text, cluster.base.display)
    unloadable = validation.load_problems(text, cluster.base.display)
    if unloadable:
        raise DefinitionError(unloadable)
    documents: list[dict[str, Any]] = []
    for doc in base.documents:
        if is_v1alpha1(doc):
            doc = (
                secrets.apply_secrets(doc, machine_secrets)
                if machine_secrets is not None
                else with_placeholders(doc)
            )
        documents.append(doc)
    return MachineConfig.from_documents(documents, cluster.base.display)


def _stack(node: inventory.Node, loaded: Mapping[str, patches.Patch]) -> list[patches.Patch]:
    return [loaded[ref.display] for ref in node.patches]


def load_patches(
    cluster: inventory.Cluster,
    nodes: Iterable[inventory.Node],
    loaded: Mapping[str, patches.Patch] | None = None,
) -> dict[str, patches.Patch]:
    """Every patch file *nodes* name, read and classified once (one helper process).

    :raises DefinitionError: every file that is missing, outside the
        definition, or not a patch.
    """
    found: dict[str, patches.Patch] = dict(loaded or {})
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for node in nodes:
        for ref in node.patches:
            if ref.display in found or ref.display in texts:
                continue
            try:
                texts[ref.display] = yamlfiles.read_text(ref.path, ref.display, within=cluster.root)
            except DefinitionError as exc:
                problems.extend(p for p in exc.problems if p not in problems)
    try:
        parsed = patches.parse_patches([(text, source) for source, text in texts.items()])
        found.update((patch.source, patch) for patch in parsed)
    except DefinitionError as exc:
        problems.extend(exc.problems)
    if problems:
        raise DefinitionError(problems)
    return found


def compose_many(
    cluster: inventory.Cluster,
    nodes: Sequence[inventory.Node],
    machine_secrets: secrets.MachineSecrets | None = None,
    *,
    base: MachineConfig | None = None,
    loaded: Mapping[str, patches.Patch] | None = None,
) -> list[tuple[MachineConfig, list[Problem]] | DefinitionError]:
    """Each node's patched config and its problems, all through one helper process each step.

    A node whose stack cannot be applied at all comes back as the
    :class:`DefinitionError` saying why; a config that applies but is invalid
    comes back with its problems, so controls can still look at it.

    :raises DefinitionError: a patch file is missing or is not a patch.
    """
    start = base if base is not None else load_base(cluster, machine_secrets)
    table = load_patches(cluster, nodes, loaded)
    applied = patches.apply_stacks(
        [(start, _stack(node, table)) for node in nodes], cluster.base.display
    )
    configs = [(i, c) for i, c in enumerate(applied) if isinstance(c, MachineConfig)]
    verdicts = validation.validate_texts(
        [(config.to_yaml(), f"{nodes[i].name} (rendered config)") for i, config in configs],
        mode="metal",
        strict=True,
    )
    results: list[tuple[MachineConfig, list[Problem]] | DefinitionError] = []
    by_index = dict(zip((i for i, _ in configs), verdicts, strict=True))
    for i, (node, outcome) in enumerate(zip(nodes, applied, strict=True)):
        if isinstance(outcome, DefinitionError):
            results.append(outcome)
            continue
        found = by_index[i] + consistency.check_node(cluster, node, outcome)
        results.append((outcome, found))
    return results


def compose(
    cluster: inventory.Cluster,
    node: inventory.Node,
    machine_secrets: secrets.MachineSecrets | None = None,
    *,
    base: MachineConfig | None = None,
    loaded: Mapping[str, patches.Patch] | None = None,
) -> tuple[MachineConfig, list[Problem]]:
    """Apply *node*'s patch stack and judge the result, without raising on its problems.

    Only a stack that cannot be applied at all (a missing file, a malformed
    patch, a patch Talos refuses to apply) raises :class:`DefinitionError`.
    """
    outcome = compose_many(cluster, [node], machine_secrets, base=base, loaded=loaded)[0]
    if isinstance(outcome, DefinitionError):
        raise outcome
    return outcome


def render_node(
    cluster: inventory.Cluster,
    node: inventory.Node,
    machine_secrets: secrets.MachineSecrets | None = None,
    *,
    base: MachineConfig | None = None,
    loaded: Mapping[str, patches.Patch] | None = None,
) -> RenderedNode:
    """Render *node*; raises DefinitionError listing every problem found."""
    outcome = compose(cluster, node, machine_secrets, base=base, loaded=loaded)
    return _rendered(node, outcome, machine_secrets)


def _rendered(
    node: inventory.Node,
    outcome: tuple[MachineConfig, list[Problem]],
    machine_secrets: secrets.MachineSecrets | None,
) -> RenderedNode:
    config, found = outcome
    raise_if_errors(found)
    return RenderedNode(
        node=node,
        config=config,
        warnings=tuple(p for p in found if p.severity is Severity.WARNING),
        has_secrets=machine_secrets is not None,
    )


def render_cluster(
    cluster: inventory.Cluster,
    machine_secrets: secrets.MachineSecrets | None = None,
    nodes: Iterable[inventory.Node] | None = None,
) -> dict[str, RenderedNode]:
    """Render every node (or *nodes*), collecting all nodes' problems before raising."""
    chosen = list(nodes if nodes is not None else cluster.nodes)
    base = load_base(cluster, machine_secrets)
    outcomes = compose_many(cluster, chosen, machine_secrets, base=base)
    problems: list[Problem] = []
    rendered: dict[str, RenderedNode] = {}
    for node, outcome in zip(chosen, outcomes, strict=True):
        try:
            if isinstance(outcome, DefinitionError):
                raise outcome
            rendered[node.name] = _rendered(node, outcome, machine_secrets)
        except DefinitionError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise DefinitionError(problems)
    return rendered


def warnings_of(rendered: Mapping[str, RenderedNode]) -> list[Problem]:
    """Each distinct warning once, naming every node it applies to.

    Six nodes sharing a feature patch would otherwise print the same
    deprecation six times and bury anything node-specific.
    """
    nodes_by_warning: dict[tuple[str, str], list[str]] = {}
    for name, result in rendered.items():
        for warning in result.warnings:
            nodes_by_warning.setdefault((warning.field, warning.message), []).append(name)
    return [
        Problem(f"rendered config of {', '.join(names)}", field, message, severity=Severity.WARNING)
        for (field, message), names in nodes_by_warning.items()
    ]


def redacted_documents(config: MachineConfig) -> Sequence[dict[str, Any]]:
    """The documents with secret values replaced, safe to print or attach."""
    return secrets.redact(config.documents)
