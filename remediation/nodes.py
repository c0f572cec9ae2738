"""Controls fixed by acting on whole nodes: upgrades (disruptive) and rebuilds (destructive).

Why these are not safe: a ``talosctl upgrade`` reboots the node into a new
installer image (missing extensions, wrong Talos version); re-encrypting
STATE/EPHEMERAL or re-creating a stale etcd member means wiping those volumes
and rejoining etcd -- the article's member procedure
(:class:`~remediation.actions.RebuildNode`).  Each action names one node and
carries ``node=`` so :mod:`remediation.execute` waits for that node and etcd
to be healthy before the next one: never two control-plane nodes down at once.

The address a node is rebuilt from is where it answers today: for ENC-01 the
Kubernetes Node's InternalIP when the API knows it (after an IP change the
inventory's address may be stale), else the inventory IP its volumes were
read from; for ETCD-02 the address the check observed it at
(:class:`~checks.etcd.MemberPeerUrlStale`), and a node observed at none is
never rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence

from checks import disk_encryption, etcd, longhorn, running_config, topology
from checks import snapshot as model
from checks.findings import Finding, NodeUnread, Unobservable
from checks.snapshot import Snapshot, named
from checks.topology import bare_version
from provisioning.definition import inventory, schematic
from remediation.actions import Action, ApplyConfig, Plan, RebuildNode, Risk, UpgradeNode
from remediation.registry import planner
from remediation.targets import nodes_in, reapply_configs


def installer(cluster: inventory.Cluster) -> str:
    """The schematic's installer, tagged ``v<X.Y.Z>`` as Image Factory tags it."""
    factory = cluster.image_factory
    return schematic.installer_image(
        factory.installer_repository, factory.schematic, "v" + bare_version(cluster.versions.talos)
    )


def current_address(snapshot: Snapshot, node: inventory.Node) -> str:
    try:
        found = named(snapshot.objects(model.NODES), node.hostname)
    except Unobservable:  # the API is unreadable: the inventory is all we have
        found = {}
    for address in (found.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return str(node.ip)


def _upgrades(control: str, nodes: Sequence[inventory.Node], image: str, why: str) -> Plan:
    return Plan(
        control,
        tuple(
            Action(
                control,
                f"{node.name} ({node.hostname})",
                f"upgrade to the schematic's installer ({why}; the node reboots)",
                UpgradeNode(node.name, image),
                Risk.DISRUPTIVE,
                node=node.name,
            )
            for node in nodes
        ),
    )


@planner("LH-01", risk=Risk.DISRUPTIVE)
def install_extensions(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    cluster = snapshot.definition
    missing = nodes_in(findings, cluster, longhorn.ExtensionMissing)
    return _upgrades("LH-01", missing, installer(cluster), "extensions")


@planner("TOP-03", risk=Risk.DISRUPTIVE)
def talos_version(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    cluster = snapshot.definition
    declared = bare_version(cluster.versions.talos)
    drifted = {f.node for f in findings if isinstance(f, topology.TalosVersionDrift)}
    wrong = [n for n in cluster.nodes if n.name in drifted]
    plan = _upgrades("TOP-03", wrong, installer(cluster), f"Talos v{declared}")
    # A kubelet runs the image its node's config names (machine.kubelet.image): the rendered
    # config names the declared one, so re-applying it (no reboot) brings that kubelet back.
    kubelets = {f.node for f in findings if isinstance(f, topology.KubeletVersionDrift)}
    reapply = reapply_configs(
        "TOP-03",
        [n for n in cluster.nodes if n.name in kubelets],
        f"its machine.kubelet.image is Kubernetes v{bare_version(cluster.versions.kubernetes)}",
    )
    apiserver = [f for f in findings if isinstance(f, topology.ApiServerVersionDrift)]
    manual = (
        (f"Kubernetes version: talosctl upgrade-k8s --to {cluster.versions.kubernetes}",)
        if apiserver
        else ()
    )
    return Plan("TOP-03", reapply + plan.actions, manual)


def _rebuilds(control: str, nodes: Sequence[tuple[inventory.Node, str]], why: str) -> Plan:
    """One rebuild per (node, address it answers at now)."""
    actions = tuple(
        Action(
            control,
            f"{node.name} ({node.hostname})",
            f"{why}: remove its etcd member, wipe STATE and EPHEMERAL, re-apply its config",
            RebuildNode(node.name, address),
            Risk.DESTRUCTIVE,
            node=node.name,
        )
        for node, address in nodes
    )
    return Plan(control, actions)


@planner("ENC-01", risk=Risk.DESTRUCTIVE)
def reencrypt(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    # Only a volume observed plain is wiped: a node that did not answer is not known to be.
    cluster = snapshot.definition
    plain = {f.node for f in findings if isinstance(f, disk_encryption.VolumeNotLuks2)}
    # A config that declares other keying is fixed by the definition's config (safe); a
    # rebuild re-applies it anyway, so a node with a wrong volume needs only the rebuild.
    configured = {
        f.node for f in findings if isinstance(f, disk_encryption.EncryptionConfigDrift)
    } - plain
    unread = {f.node for f in findings if isinstance(f, NodeUnread)} - plain - configured
    reapply = reapply_configs(
        "ENC-01",
        [n for n in cluster.nodes if n.name in configured],
        "it declares STATE and EPHEMERAL LUKS2 with the nodeID key in slot 0",
    )
    plan = _rebuilds(
        "ENC-01",
        [(n, current_address(snapshot, n)) for n in cluster.nodes if n.name in plain],
        "format STATE and EPHEMERAL as LUKS2",
    )
    manual = tuple(
        f"{node.name} ({node.hostname}): its volume status or config was not read; make it "
        "answer (see the other failing controls), then run again"
        for node in cluster.nodes
        if node.name in unread
    )
    return Plan("ENC-01", reapply + plan.actions, manual)


@planner("ETCD-02", risk=Risk.DESTRUCTIVE)
def rejoin_member(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    cluster = snapshot.definition
    members = len(cluster.control_plane_nodes)
    # Only a member the check typed stale, at an address its node was observed to answer at:
    # a node observed nowhere is NodeUnread and never rebuilt.
    answers_at = {
        f.node: f.answers_at
        for f in findings
        if isinstance(f, etcd.MemberPeerUrlStale) and f.answers_at
    }
    stale = [(n, answers_at[n.name]) for n in cluster.nodes if n.name in answers_at]
    if members - len(stale) < members // 2 + 1:
        # Removing a member needs a quorum of the others; without one, only a restore helps.
        return Plan(
            "ETCD-02",
            manual=(
                f"{len(stale)} of {members} etcd members are stale: quorum is lost, so no member "
                "can be removed; recover etcd from a snapshot (talosctl bootstrap "
                "--recover-from) on one node, then rejoin the others",
            ),
        )
    return _rebuilds("ETCD-02", stale, "rejoin etcd at the node's current address")


@planner("HYG-07", risk=Risk.DISRUPTIVE)
def rendered_config(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    """Re-apply each differing node's rendered config, one node at a time.

    ``no-reboot`` (safe) when every difference is one Talos applies live
    (CanApplyImmediate, carried by the finding): Talos itself refuses the
    apply if that judgement were wrong.  Otherwise ``reboot`` (disruptive):
    the node reboots into the rendered config, and the next node waits for
    it and etcd to be healthy again.
    """
    cluster = snapshot.definition
    actions = []
    for finding in findings:
        if not isinstance(finding, running_config.RunningConfigDiffers):
            continue
        node = cluster.node(finding.node)
        reboot = finding.needs_reboot
        how = "Talos applies it with a reboot" if reboot else "Talos applies it without a reboot"
        actions.append(
            Action(
                "HYG-07",
                f"{node.name} ({node.hostname})",
                f"re-apply the rendered config ({how}; differs at {len(finding.paths)} path(s))",
                ApplyConfig(node.name, mode="reboot" if reboot else "no-reboot"),
                Risk.DISRUPTIVE if reboot else Risk.SAFE,
                node=node.name,
            )
        )
    return Plan("HYG-07", tuple(actions))
