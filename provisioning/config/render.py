"""Rendering: the exact machine config each node receives.

``talosctl apply-config --file controlplane.yaml --config-patch @a --config-patch
@b`` applies the patches, in order, to a base that already holds the cluster's
secrets.  :func:`render_node` does the same with the definition's files: base
document(s), then the machine secrets (generated once, kept encrypted outside
git), then the node's patch stack from ``cluster.yaml``.  The result is then
checked twice: like Talos would (:mod:`provisioning.config.validation`) and against
the inventory it was meant to implement (:mod:`provisioning.config.consistency`), so
a patch that contradicts ``cluster.yaml`` is caught before any node sees it.

Without secrets (the default for ``render`` and for CI) every secret field
holds ``<redacted>``: the layout is identical, nothing sensitive is read.
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


@dataclass(frozen=True)
class RenderedNode:
    """One node's final config and what validation had to say about it."""

    node: inventory.Node
    config: MachineConfig
    warnings: tuple[Problem, ...]
    has_secrets: bool

    def to_yaml(self) -> str:
        return self.config.to_yaml()


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
    """A copy of the base document with every secret field set to ``<redacted>``."""
    doc = copy.deepcopy(dict(v1alpha1))
    # Public halves (CA certificates, cluster id) too: without real secrets
    # there is nothing true to show there, and the layout stays identical.
    for path in (*secrets.SECRET_PATHS, *secrets.PUBLIC_PATHS):
        _set_path(doc, path, REDACTED)
    return doc


def load_base(
    cluster: inventory.Cluster, machine_secrets: secrets.MachineSecrets | None
) -> MachineConfig:
    """The base config with the secrets merged in, as `gen config --with-secrets` writes it."""
    text = yamlfiles.read_text(cluster.base.path, cluster.base.display, within=cluster.root)
    base = MachineConfig.parse(text, cluster.base.display)
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
    patch) raises :class:`DefinitionError`; a config that applies but is
    invalid comes back with its problems, so controls can still look at it.
    """
    start = base if base is not None else load_base(cluster, machine_secrets)
    stack = [
        loaded[ref.display]
        if loaded is not None and ref.display in loaded
        else patches.load_patch(ref.path, ref.display, within=cluster.root)
        for ref in node.patches
    ]
    config = patches.apply_patches(start, stack)
    display = f"{node.name} (rendered config)"
    found = validation.validate_config(config.documents, display, mode="metal")
    found += consistency.check_node(cluster, node, config)
    return config, found


def render_node(
    cluster: inventory.Cluster,
    node: inventory.Node,
    machine_secrets: secrets.MachineSecrets | None = None,
    *,
    base: MachineConfig | None = None,
    loaded: Mapping[str, patches.Patch] | None = None,
) -> RenderedNode:
    """Render *node*; raises DefinitionError listing every problem found."""
    config, found = compose(cluster, node, machine_secrets, base=base, loaded=loaded)
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
    base = load_base(cluster, machine_secrets)
    loaded: dict[str, patches.Patch] = {}
    problems: list[Problem] = []
    rendered: dict[str, RenderedNode] = {}
    for node in nodes if nodes is not None else cluster.nodes:
        try:
            for ref in node.patches:
                if ref.display not in loaded:
                    loaded[ref.display] = patches.load_patch(
                        ref.path, ref.display, within=cluster.root
                    )
            rendered[node.name] = render_node(
                cluster, node, machine_secrets, base=base, loaded=loaded
            )
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
