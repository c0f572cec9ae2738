"""Cluster-wide steps: bootstrap, etcd and node waits, kubeconfig, storage disks.

What belongs here: the steps that run once every node is configured and act
on the cluster as a whole.  Split out of :mod:`provisioning.plan_steps`
because they share the "first control-plane node" and etcd-membership view
that the per-node steps (:mod:`provisioning.plan_nodes`) never need.

Behaviour encoded here (facts/talos.md §4, §7.4):

* ``talosctl kubeconfig --force`` always rewrites the file (lesson 6);
* disks with old signatures that preflight could not see (no
  DiscoveredVolumes on the target) are caught after apply-config from the
  user volume that waits with Talos's ``… have wrong format`` message.
"""

from __future__ import annotations

from provisioning.definition import inventory
from provisioning.drivers import errors
from provisioning.drivers.talosctl import EtcdMemberRow
from provisioning.plan_context import (
    NODES,
    PlanError,
    StepContext,
    StepSpec,
    by_node,
    wait_for,
    who,
)
from provisioning.plan_nodes import device_of

# -- bootstrap, etcd, kubeconfig, nodes ------------------------------------------------


def _first_cp(ctx: StepContext) -> inventory.Node:
    nodes = ctx.cluster.control_plane_nodes
    if not nodes:
        raise PlanError(f"{ctx.cluster.file}: nodes: no node has the controlplane role")
    return nodes[0]


def _members(ctx: StepContext) -> list[EtcdMemberRow]:
    try:
        return ctx.talos.etcd_members(str(_first_cp(ctx).ip))
    except errors.ToolMissing:
        raise
    except errors.DriverError:
        return []  # etcd not running yet


def bootstrap(ctx: StepContext) -> StepSpec:
    node = _first_cp(ctx)
    return StepSpec(
        f"bootstrap {node.name}",
        "start etcd on the first control-plane node",
        lambda: bool(_members(ctx)),
        lambda: ctx.talos.bootstrap(str(node.ip)),
    )


def wait_etcd(ctx: StepContext) -> StepSpec:
    """etcd healthy: judged by the etcd control's check when a judge is given.

    Without one (``readdress``'s own plan, unit tests) the wait is for one
    voting member per control-plane node, the part of that check a plan can
    see on its own.
    """
    expected = {n.hostname: n for n in ctx.cluster.control_plane_nodes}
    readiness = ctx.readiness

    def missing() -> list[str]:
        if readiness is not None and "etcd" in readiness.stages():
            return readiness.not_ready("etcd")
        have = {m.hostname for m in _members(ctx) if not m.is_learner}
        return [who(n) for h, n in expected.items() if h not in have]

    return StepSpec(
        "wait etcd",
        f"etcd has {len(expected)} voting members",
        lambda: not missing(),
        lambda: wait_for(
            ctx, ctx.timeouts.etcd, missing, "etcd to be healthy", progress="wait etcd"
        ),
    )


def kubeconfig(ctx: StepContext) -> StepSpec:
    path = ctx.target.kubeconfig
    node = _first_cp(ctx)

    def is_done() -> bool:
        if path is None or not path.is_file():
            return False
        try:
            ctx.api().list(NODES)
        except errors.DriverError:
            ctx._kube = None
            return False
        return True

    def apply() -> None:
        if path is None:
            raise PlanError(f"target {ctx.target.name} names no kubeconfig file to write")
        ctx._kube = None
        ctx.talos.kubeconfig(path, str(node.ip), force=True)

    return StepSpec("kubeconfig", f"talosctl kubeconfig --force into {path}", is_done, apply)


def wait_nodes(ctx: StepContext) -> StepSpec:
    def missing() -> list[str]:
        names = {str(n["metadata"]["name"]) for n in ctx.api().list(NODES)}
        return [f"{n.hostname} ({n.ip})" for n in ctx.cluster.nodes if n.hostname not in names]

    return StepSpec(
        "wait kubernetes nodes",
        f"{len(ctx.cluster.nodes)} Kubernetes nodes registered",
        lambda: not missing(),
        lambda: wait_for(
            ctx, ctx.timeouts.nodes, missing, "Kubernetes nodes", progress="wait kubernetes nodes"
        ),
    )


def wait_nodes_ready(ctx: StepContext) -> StepSpec:
    """``wait nodes ready``: every node Ready as TOP-01 judges it (the judge's ``nodes`` stage).

    A node turns Ready only once a CNI runs on it, so :func:`steps_for
    <provisioning.plan_steps.steps_for>` puts this after the CNI release's
    wait, or right after registration when the definition installs no CNI
    release (Talos's own flannel, or a CNI from elsewhere).
    """
    readiness = ctx.readiness
    assert readiness is not None  # steps_for adds this step only with a judge

    def missing() -> list[str]:
        return readiness.not_ready("nodes")

    return StepSpec(
        "wait nodes ready",
        f"{len(ctx.cluster.nodes)} Kubernetes nodes Ready as the controls define it",
        lambda: not missing(),
        lambda: wait_for(
            ctx, ctx.timeouts.nodes, missing, "every node to be Ready", progress="wait nodes ready"
        ),
    )


def blocked_storage(ctx: StepContext) -> list[inventory.Node]:
    """Storage nodes whose user volume waits on a disk of the "wrong format" (old signature).

    The after-the-fact view of the preflight check, for targets that do not
    serve DiscoveredVolumes: Talos reports ``no disks matched for volume ...
    1 have wrong format`` on the waiting volume (volumes/locate.go).
    """
    nodes = [n for n in ctx.cluster.storage_nodes if n.storage_disk]
    if not nodes:
        return []
    volumes = ctx.talos.get("volumestatus", [str(n.ip) for n in nodes])
    blocked: list[inventory.Node] = []
    for node in nodes:
        for volume in by_node(volumes, str(node.ip), len(nodes) == 1):
            spec = volume.get("spec") or {}
            message = str(spec.get("errorMessage") or "")
            if spec.get("phase") == "waiting" and "wrong format" in message:
                blocked.append(node)
                break
    return blocked


def storage_disks(ctx: StepContext) -> StepSpec:
    def apply() -> None:
        blocked = blocked_storage(ctx)
        if not ctx.allow_destructive:
            listed = "; ".join(f"node {who(n)} disk {n.storage_disk}" for n in blocked)
            raise PlanError(
                f"storage volumes wait on disks with old signatures: {listed}; "
                "wipe them with --allow-destructive (all data on those disks is lost)"
            )
        ips = [str(n.ip) for n in blocked]
        disks = ctx.talos.get("disks", ips)
        for node in blocked:
            device = device_of(node, by_node(disks, str(node.ip), len(blocked) == 1))
            ctx.talos.wipe_disk(str(node.ip), [device])
            ctx.log(f"storage: wiped {who(node)} disk /dev/{device}")
        wait_for(
            ctx,
            ctx.timeouts.configured,
            lambda: [who(n) for n in blocked_storage(ctx)],
            "storage volumes after the wipe",
            progress="storage disks",
        )

    return StepSpec(
        "storage disks",
        "no storage volume waits on a disk with an old signature",
        lambda: not blocked_storage(ctx),
        apply,
    )
