"""Which nodes and objects a control's findings are about, and the actions most planners share.

A planner must act on exactly the nodes the check judged wrong -- not
re-derive them with a second copy of the check's logic.  A typed
:class:`~checks.findings.NodeFinding` carries its node; a
:class:`~checks.findings.NodeUnread` (not known to be wrong) is never a
target.  Findings not yet typed by node are matched by the names in their
``target`` (``node03 (k8s-node03)``), as whole words; never by the
``observed`` or ``expected`` text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from checks.findings import Finding, NodeFinding, NodeUnread
from provisioning.definition import inventory
from remediation.actions import Action, ApplyConfig, Risk


def nodes_in(findings: Sequence[Finding], cluster: inventory.Cluster) -> list[inventory.Node]:
    """Inventory nodes named in the findings' targets, in inventory order."""
    named: set[str] = set()
    for finding in findings:
        if isinstance(finding, NodeUnread):
            continue
        if isinstance(finding, NodeFinding):
            named.add(finding.node)
            continue
        words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9.-]*", finding.target))
        for node in cluster.nodes:
            if node.name in words or node.hostname in words:
                named.add(node.name)
    return [node for node in cluster.nodes if node.name in named]


def reapply_configs(
    control: str,
    nodes: Sequence[inventory.Node],
    why: str,
) -> tuple[Action, ...]:
    """Send each node its rendered config again, without a reboot (safe)."""
    return tuple(
        Action(
            control,
            f"{node.name} ({node.hostname})",
            f"re-apply the rendered config ({why})",
            ApplyConfig(node.name),
            Risk.SAFE,
        )
        for node in nodes
    )


def or_control_planes(
    nodes: Sequence[inventory.Node], cluster: inventory.Cluster
) -> list[inventory.Node]:
    """The named nodes, or every control-plane node when the findings name none."""
    return list(nodes) or list(cluster.control_plane_nodes)
