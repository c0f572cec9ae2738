"""Every control-plane node's machine config, and its API server section, walked in one place.

Why a module of its own: several controls judge what each control-plane
node's applied machine config asks for -- API-01 the VIP; AUD-01 the audit
policy and PSA-01/02 the admission configuration, both from
``cluster.apiServer`` of the v1alpha1 document, which Talos turns into
kube-apiserver's flags and files.  They must walk the same nodes and treat a
node whose config was not read the same way: no config read at all makes the
control unobservable with one reason; otherwise a finding on one node stands
whatever the others say, but a pass needs every control plane.  Walking the
nodes here keeps those rules identical across the controls; each control then
only says what it looks for.  Nothing here judges a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.findings import Finding, Unobservable, unread_phrases
from checks.findings import verdict as shared_verdict
from checks.snapshot import MACHINE_CONFIG, Snapshot, dotted
from provisioning.definition import inventory


def node_label(node: inventory.Node) -> str:
    """How a finding names a node: inventory name and hostname, ``node01 (k8s-node01)``."""
    return f"{node.name} ({node.hostname})"


def v1alpha1(docs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The v1alpha1 document of a machine config (the one without a ``kind``); ``{}`` if none."""
    for doc in docs:
        if isinstance(doc, Mapping) and (
            doc.get("version") == "v1alpha1" or ("kind" not in doc and "cluster" in doc)
        ):
            return doc
    return {}


@dataclass(frozen=True)
class NodeConfig:
    """One control-plane node's applied machine config, as YAML documents (secrets redacted)."""

    node: inventory.Node
    documents: Sequence[Mapping[str, Any]]


def control_plane_configs(snapshot: Snapshot) -> tuple[list[NodeConfig], dict[str, str]]:
    """The machine config of every control-plane node whose config was read, in inventory order.

    Also returns :func:`node_label` -> reason for the nodes whose config was
    not read, in inventory order; hand both to :func:`verdict` once the
    configs are judged.

    :raises Unobservable: no machine config was read at all (one reason for the whole control).
    """
    found: list[NodeConfig] = []
    unread: dict[str, str] = {}
    snapshot.resources(MACHINE_CONFIG)
    for node in snapshot.definition.control_plane_nodes:
        try:
            found.append(NodeConfig(node, snapshot.machine_config(node.name)))
        except Unobservable as exc:
            unread[node_label(node)] = exc.reason
    return found, unread


@dataclass(frozen=True)
class ApiServerConfig:
    """One control-plane node's ``cluster.apiServer`` section, as its machine config holds it."""

    node: inventory.Node
    section: Mapping[str, Any]  # {} when the config has no (or no mapping) cluster.apiServer


def api_server_configs(snapshot: Snapshot) -> tuple[list[ApiServerConfig], dict[str, str]]:
    """:func:`control_plane_configs` narrowed to the ``cluster.apiServer`` section of each."""
    configs, unread = control_plane_configs(snapshot)
    found: list[ApiServerConfig] = []
    for config in configs:
        section = dotted(v1alpha1(config.documents), "cluster.apiServer", {})
        found.append(ApiServerConfig(config.node, section if isinstance(section, Mapping) else {}))
    return found, unread


def verdict(findings: list[Finding], unread: Mapping[str, str]) -> list[Finding]:
    """:func:`checks.findings.verdict` over nodes whose machine config went unread."""
    return shared_verdict(findings, unread_phrases(unread), source="machine config not read from ")
