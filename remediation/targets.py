"""Which nodes and objects a control's findings are about, and the actions most planners share.

A planner must act on exactly the nodes the check judged wrong -- not
re-derive them with a second copy of the check's logic, and never from a
finding's words: a typed :class:`~checks.findings.NodeFinding` carries its
node; a :class:`~checks.findings.NodeUnread` (not known to be wrong) is
never a target, and neither is an untyped finding, whatever its text names.
"""

from __future__ import annotations

from collections.abc import Sequence

from checks.findings import Finding, NodeFinding, NodeUnread
from provisioning.definition import inventory
from remediation.actions import Action, ApplyConfig, Risk


def nodes_in(
    findings: Sequence[Finding],
    cluster: inventory.Cluster,
    kinds: type[NodeFinding] | tuple[type[NodeFinding], ...] = NodeFinding,
) -> list[inventory.Node]:
    """Inventory nodes of the typed node findings (of *kinds*), in inventory order."""
    named = {f.node for f in findings if isinstance(f, kinds) and not isinstance(f, NodeUnread)}
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
