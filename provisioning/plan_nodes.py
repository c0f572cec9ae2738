"""Steps that bring each node from maintenance mode to configured: node state, preflight, config.

What belongs here: asking a node whether it is in maintenance or configured,
the preflight check for old disk signatures, and sending each node its
rendered machine config.  Split out of :mod:`provisioning.plan_steps`
because these steps talk to one node at a time, before any cluster exists;
the cluster-wide steps are in :mod:`provisioning.plan_cluster`.

Behaviour encoded here (facts/talos.md §4, §7.4):

* a node in maintenance answers ``get machinestatus --insecure``; a
  configured node refuses ``--insecure`` and answers with the talosconfig;
* the config is sent the way the article does it: the base with secrets
  (a private 0600 temp file, removed afterwards) plus ``--config-patch @f``
  per patch of the node's stack, ``--insecure`` because the node is in
  maintenance;
* old disk signatures are read from ``get discoveredvolumes`` (a whole-disk
  entry with a ``name`` is a filesystem/LVM/Ceph signature) and wiped only
  with ``--allow-destructive``; a target that does not serve that type is
  reported as "not checked" there.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioning.config import render
from provisioning.definition import inventory
from provisioning.drivers import errors
from provisioning.plan_context import PlanError, StepContext, StepSpec, by_node, wait_for, who

# -- node state ------------------------------------------------------------------------


def _probe(ctx: StepContext, ips: Sequence[str], *, insecure: bool) -> errors.DriverError | None:
    """None when every node in *ips* answers ``get machinestatus`` this way, else the error."""
    try:
        ctx.talos.get("machinestatus", ips, insecure=insecure)
    except errors.ToolMissing:
        raise
    except errors.DriverError as exc:
        return exc
    return None


def node_state(ctx: StepContext, node: inventory.Node) -> str:
    """``maintenance`` or ``configured``; :class:`PlanError` if the node answers neither way.

    A configured node never returns to maintenance during a run, so that
    answer is remembered; a maintenance answer is asked again each time.
    """
    if ctx.configured.get(node.name):
        return "configured"
    ip = str(node.ip)
    insecure_error = _probe(ctx, [ip], insecure=True)
    if insecure_error is None:
        return "maintenance"
    secure_error = _probe(ctx, [ip], insecure=False)
    if secure_error is not None:
        raise PlanError(
            f"node {who(node)} does not answer: not in maintenance "
            f"({_last_line(insecure_error)}) and not configured ({_last_line(secure_error)})"
        )
    ctx.configured[node.name] = True
    return "configured"


def node_states(ctx: StepContext) -> dict[str, str]:
    """Every node's state; one talosctl call per state when all nodes agree."""
    ips = [str(n.ip) for n in ctx.cluster.nodes]
    if _probe(ctx, ips, insecure=True) is None:
        return {n.name: "maintenance" for n in ctx.cluster.nodes}
    if _probe(ctx, ips, insecure=False) is None:
        ctx.configured.update({n.name: True for n in ctx.cluster.nodes})
        return {n.name: "configured" for n in ctx.cluster.nodes}
    return {n.name: node_state(ctx, n) for n in ctx.cluster.nodes}


def _last_line(exc: errors.DriverError) -> str:
    text = exc.stderr.strip() or str(exc)
    return text.splitlines()[-1]


# -- preflight -------------------------------------------------------------------------

Signature = tuple[inventory.Node, str, str, bool]  # node, device, signature, insecure


def device_of(node: inventory.Node, disks: list[dict[str, Any]]) -> str:
    """Kernel name (``sdb``) of *node*'s storage disk, matched by its by-id symlink."""
    for disk in disks:
        spec = disk.get("spec") or {}
        if node.storage_disk in (spec.get("symlinks") or []) or spec.get("dev_path") == (
            node.storage_disk
        ):
            return str((disk.get("metadata") or {}).get("id", ""))
    raise PlanError(
        f"node {who(node)}: storage disk {node.storage_disk} (cluster.yaml nodes[].storageDisk) "
        "is not among the node's disks"
    )


def old_signatures(ctx: StepContext, states: Mapping[str, str]) -> list[Signature] | None:
    """Storage disks carrying an old signature; None when the target cannot say."""
    found: list[Signature] = []
    for insecure in (True, False):
        nodes = [
            n
            for n in ctx.cluster.storage_nodes
            if n.storage_disk and (states[n.name] == "maintenance") == insecure
        ]
        if not nodes:
            continue
        ips = [str(n.ip) for n in nodes]
        try:
            volumes = ctx.talos.get("discoveredvolumes", ips, insecure=insecure)
        except errors.ToolMissing:
            raise
        except errors.DriverError:
            return None  # the target does not serve DiscoveredVolumes: not checked
        disks = ctx.talos.get("disks", ips, insecure=insecure)
        for node in nodes:
            device = device_of(node, by_node(disks, str(node.ip), len(nodes) == 1))
            for volume in by_node(volumes, str(node.ip), len(nodes) == 1):
                if (volume.get("metadata") or {}).get("id") != device:
                    continue
                name = str((volume.get("spec") or {}).get("name") or "")
                if name:
                    found.append((node, device, name, insecure))
    return found


def preflight(ctx: StepContext) -> StepSpec:
    found: list[Signature] = []

    def is_done() -> bool:
        states = node_states(ctx)
        ctx.log("preflight: " + ", ".join(f"{k} {v}" for k, v in states.items()))
        signatures = old_signatures(ctx, states)
        if signatures is None:
            ctx.log("preflight: old disk signatures not checked (no discoveredvolumes here)")
            return True
        for node, device, name, _ in signatures:
            ctx.log(f"preflight: {who(node)} disk /dev/{device} carries an old {name} signature")
        found[:] = signatures
        return not signatures

    def apply() -> None:
        if not ctx.allow_destructive:
            listed = "; ".join(f"node {who(n)} disk /dev/{d} ({s})" for n, d, s, _ in found)
            raise PlanError(
                f"old disk signatures would block storage volumes: {listed}; "
                "wipe them with --allow-destructive (all data on those disks is lost)"
            )
        for node, device, _, insecure in found:
            ctx.talos.wipe_disk(str(node.ip), [device], insecure=insecure)
            ctx.log(f"preflight: wiped {who(node)} disk /dev/{device}")

    return StepSpec("preflight", "every node answers; old disk signatures", is_done, apply)


# -- machine config --------------------------------------------------------------------


def send_config(
    ctx: StepContext,
    node: inventory.Node,
    address: str,
    *,
    insecure: bool = True,
    mode: str = "auto",
) -> None:
    """Send *node*'s rendered config to the node at *address*.

    By default to a node in maintenance mode (``--insecure``) at its own IP;
    the IP-change procedure (:mod:`provisioning.operations.readdress`) sends the new
    config to the old address, and remediation re-applies a configured
    node's config through the talosconfig (``insecure=False``).
    """
    machine_secrets = ctx.secrets.load_or_create()
    # Render first: a definition error is reported before any node is touched.
    render.render_node(ctx.cluster, node, machine_secrets)
    base = render.load_base(ctx.cluster, machine_secrets)
    descriptor, name = tempfile.mkstemp(prefix="base-", suffix=".yaml")
    path = Path(name)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(base.to_yaml())
        ctx.talos.apply_config(
            address,
            path,
            patches=[ref.path for ref in node.patches],
            insecure=insecure,
            mode=mode,
        )
    finally:
        path.unlink(missing_ok=True)


def apply_config(ctx: StepContext, node: inventory.Node) -> StepSpec:
    def is_done() -> bool:
        return node_state(ctx, node) == "configured"

    def apply() -> None:
        send_config(ctx, node, str(node.ip))
        wait_for(
            ctx,
            ctx.timeouts.configured,
            lambda: [] if node_state(ctx, node) == "configured" else [who(node)],
            "the node to leave maintenance mode after apply-config",
            progress=f"apply-config {node.name}",
        )

    return StepSpec(
        f"apply-config {node.name}", f"send the rendered config to {node.ip}", is_done, apply
    )
