"""Changing a control-plane node's IP, the article's way (lesson 3), offered as a plan.

Why a procedure at all: an etcd member is known to its peers by its peer URL
``https://<ip>:2380``.  Talos's AdvertisedPeerController rewrites a member's
own peer URL after an IP change only while etcd has quorum (facts/talos.md
§7.2); when it cannot, or when the operator moves a node deliberately, the
safe path is the one the article took: remove the member, reset the node's
STATE and EPHEMERAL volumes so it comes back in maintenance mode with no
etcd data, and re-apply its config (now carrying the new address) so it
joins as a new member with the right peer URL.

The operator first edits the definition (the node's ``ip`` in cluster.yaml and
its node patch's address); this module then plans the move from ``--from``
(where the node answers today) to the definition's address.  Every step
probes whether it is already true, so the plan is resumable and a finished
move reports nothing to change.  Removing the member and resetting the node
destroy that node's etcd data and EPHEMERAL contents, so applying needs
``--allow-destructive``; without it only the plan is printed.

Lesson 7 lives here too: :func:`graceful_reset` decides ``--graceful``.  A
graceful reset leaves etcd first, which a single-member cluster cannot do
("etcd cannot be left if there is only a single member"), and which a node
already removed from etcd must not try; both get ``--graceful=false``.
"""

from __future__ import annotations

import argparse
import ipaddress
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, cast

from provisioning import plan_context
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from provisioning.drivers.talosctl import EtcdMemberRow
from provisioning.plan import Step, run_plan
from provisioning.plan_context import (
    HelmOps,
    KubeOps,
    PlanError,
    SecretSource,
    StepContext,
    StepSpec,
    TalosOps,
    Timeouts,
    wait_for,
    who,
)
from provisioning.plan_nodes import send_config

WIPED_LABELS = ("STATE", "EPHEMERAL")


class ReaddressOps(TalosOps, Protocol):
    """The talosctl calls the procedure needs beyond provisioning's."""

    def etcd_remove_member(self, node: str, member_id: str) -> None: ...

    def reset(
        self,
        node: str,
        *,
        graceful: bool = True,
        reboot: bool = False,
        labels: Sequence[str] = (),
    ) -> None: ...


def peer_url(ip: str) -> str:
    return f"https://{ip}:2380"


def graceful_reset(members: Sequence[EtcdMemberRow], hostname: str) -> bool:
    """Whether ``reset`` may be graceful: the node is a member and not the only one (lesson 7)."""
    is_member = any(m.hostname == hostname for m in members)
    return is_member and len(members) > 1


class Readdress:
    """The probes the steps share: where the node answers and what etcd says of it."""

    def __init__(self, ctx: StepContext, talos: ReaddressOps, node: inventory.Node, old: str):
        self.ctx, self.talos, self.node = ctx, talos, node
        self.old, self.new = old, str(node.ip)
        others = [n for n in ctx.cluster.control_plane_nodes if n.name != node.name]
        if not others:
            raise PlanError(
                f"node {node.name}: no other control-plane node to ask about etcd; "
                "a single-node cluster is rebuilt, not re-addressed"
            )
        self.others = others

    def members(self) -> tuple[inventory.Node, list[EtcdMemberRow]]:
        """etcd's member list as the first other control-plane node that answers sees it."""
        reasons: list[str] = []
        for other in self.others:
            try:
                return other, self.talos.etcd_members(str(other.ip))
            except errors.ToolMissing:
                raise
            except errors.DriverError as exc:
                reasons.append(f"{who(other)}: {str(exc).splitlines()[0]}")
        raise PlanError("no other control-plane node answers etcd members: " + "; ".join(reasons))

    def member(self) -> EtcdMemberRow | None:
        _, members = self.members()
        return next((m for m in members if m.hostname == self.node.hostname), None)

    def is_moved(self) -> bool:
        """The procedure's goal: the node is a voting member at its new peer URL."""
        member = self.member()
        return (
            member is not None
            and not member.is_learner
            and tuple(member.peer_urls) == (peer_url(self.new),)
        )

    def answers(self, address: str, *, insecure: bool) -> bool:
        try:
            self.talos.get("machinestatus", [address], insecure=insecure)
        except errors.ToolMissing:
            raise
        except errors.DriverError:
            return False
        return True

    def maintenance_address(self) -> str | None:
        for address in dict.fromkeys((self.old, self.new)):
            if self.answers(address, insecure=True):
                return address
        return None

    def configured_address(self) -> str | None:
        for address in dict.fromkeys((self.old, self.new)):
            if self.answers(address, insecure=False):
                return address
        return None

    def refuse_unless_allowed(self, what: str) -> None:
        if not self.ctx.allow_destructive:
            raise PlanError(
                f"{what} on node {self.node.name} destroys its etcd data and EPHEMERAL volume; "
                "run again with --allow-destructive to apply the plan"
            )


def readdress_steps(
    ctx: StepContext, talos: ReaddressOps, node: inventory.Node, old: str
) -> list[StepSpec]:
    """The four steps of lesson 3 for *node*, now at *old*, moving to its definition IP."""
    move = Readdress(ctx, talos, node, old)
    labels = ",".join(WIPED_LABELS)

    def remove_member() -> None:
        move.refuse_unless_allowed("removing the etcd member")
        asked, members = move.members()
        member = next((m for m in members if m.hostname == node.hostname), None)
        if member is None:
            return
        if len(members) < 3:
            raise PlanError(
                f"etcd has {len(members)} member(s): removing {node.hostname} would leave no "
                "quorum to re-add it; restore from a snapshot instead"
            )
        talos.etcd_remove_member(str(asked.ip), member.id)
        ctx.log(f"removed etcd member {member.id} ({node.hostname}) via {who(asked)}")

    def reset_node() -> None:
        move.refuse_unless_allowed(f"resetting {labels}")
        address = move.configured_address()
        if address is None:
            raise PlanError(f"node {node.name} answers neither at {old} nor at {node.ip}")
        _, members = move.members()
        graceful = graceful_reset(members, node.hostname)  # False: it was just removed
        talos.reset(address, graceful=graceful, reboot=True, labels=WIPED_LABELS)
        wait_for(
            ctx,
            ctx.timeouts.configured,
            lambda: [] if move.maintenance_address() else [who(node)],
            f"{node.name} to come back in maintenance mode after the reset",
            progress="reset",
        )

    def apply_new_config() -> None:
        address = move.maintenance_address()
        if address is None:
            raise PlanError(f"node {node.name} is not in maintenance mode at {old} or {node.ip}")
        send_config(ctx, node, address)
        wait_for(
            ctx,
            ctx.timeouts.configured,
            lambda: [] if move.answers(str(node.ip), insecure=False) else [who(node)],
            f"{node.name} to come up configured at {node.ip}",
            progress="apply config",
        )

    def wait_member() -> None:
        wait_for(
            ctx,
            ctx.timeouts.etcd,
            lambda: [] if move.is_moved() else [f"{node.hostname} at {peer_url(str(node.ip))}"],
            "the node to rejoin etcd at its new address",
            progress="wait etcd",
        )

    def member_gone_or_moved() -> bool:
        member = move.member()
        return member is None or tuple(member.peer_urls) == (peer_url(str(node.ip)),)

    def reset_done() -> bool:
        if move.is_moved() or move.maintenance_address() is not None:
            return True
        return move.member() is None and move.answers(str(node.ip), insecure=False)

    return [
        StepSpec(
            f"remove etcd member {node.name}",
            f"etcd forgets {node.hostname} and its peer URL {peer_url(old)}",
            member_gone_or_moved,
            remove_member,
        ),
        StepSpec(
            f"reset {node.name} {labels}",
            f"wipe {labels} with --graceful=false --reboot: back to maintenance mode",
            reset_done,
            reset_node,
        ),
        StepSpec(
            f"apply-config {node.name} at {node.ip}",
            "send the definition's config (with the new address) in maintenance mode",
            lambda: move.is_moved() or move.answers(str(node.ip), insecure=False),
            apply_new_config,
        ),
        StepSpec(
            f"wait etcd member {node.name}",
            f"{node.hostname} is a voting member at {peer_url(str(node.ip))}",
            move.is_moved,
            wait_member,
        ),
    ]


# -- command line ----------------------------------------------------------------------


class _NoHelm:
    """The procedure never touches Helm releases; any call is a bug."""

    def __getattr__(self, name: str) -> object:
        raise PlanError(f"the IP-change procedure does not use helm ({name})")


def _no_kube() -> KubeOps:
    raise PlanError("the IP-change procedure does not use the Kubernetes API")


def plan_readdress(
    cluster: inventory.Cluster,
    target: Target,
    node_name: str,
    old: str,
    *,
    talos: ReaddressOps,
    secrets: SecretSource,
    allow_destructive: bool,
    log: Callable[[str], None],
    timeouts: Timeouts | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Step]:
    """The procedure's steps for *node_name*; :class:`PlanError` for a bad node or address."""
    node = next((n for n in cluster.nodes if n.name == node_name), None)
    if node is None:
        names = ", ".join(n.name for n in cluster.nodes)
        raise PlanError(f"{cluster.file}: nodes: no node named {node_name!r} (have {names})")
    try:
        ipaddress.IPv4Address(old)
    except ValueError:
        raise PlanError(f"--from {old!r} is not an IPv4 address") from None
    if old == str(node.ip):
        raise PlanError(
            f"--from {old} is already {node.name}'s address in {cluster.file}; edit the "
            "definition (nodes[].ip and the node patch's address) to the new IP first"
        )
    helm = cast(HelmOps, _NoHelm())
    ctx = StepContext(
        cluster=cluster,
        target=target,
        talos=talos,
        helm=helm,
        kube=_no_kube,
        secrets=secrets,
        allow_destructive=allow_destructive,
        log=log,
        timeouts=timeouts or Timeouts(),
        sleep=sleep,
        clock=time.monotonic,
    )
    specs = readdress_steps(ctx, talos, node, old)
    return [Step(s.name, s.summary, s.is_done, s.apply) for s in specs]


def cmd_readdress(args: argparse.Namespace) -> int:
    # Imported here: the command line is the only user of the concrete driver and store.
    from provisioning.config.secrets import SecretStore
    from provisioning.drivers.talosctl import TalosDriver

    cluster = inventory.load_cluster(Path(args.cluster), display=args.cluster)
    talosconfig = Path(args.talosconfig).expanduser()
    if not talosconfig.is_file():
        print(f"--talosconfig {args.talosconfig}: no such file")  # noqa: T201
        return 2
    target = Target(
        name="readdress",
        kubeconfig=None,
        talosconfig=talosconfig,
        bin_dir=Path(args.bin_dir) if args.bin_dir else None,
    )
    store = SecretStore(
        cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
    )

    def log(line: str) -> None:
        print(f"readdress: {line}", flush=True)  # noqa: T201

    try:
        steps = plan_readdress(
            cluster,
            target,
            args.node,
            args.old,
            talos=TalosDriver(target),
            secrets=store,
            allow_destructive=args.allow_destructive,
            log=log,
            timeouts=Timeouts(configured=args.install_timeout, etcd=args.etcd_timeout),
        )
        run_plan(steps, mode="apply" if args.apply else "plan", log=log)
    except (PlanError, errors.DriverError) as exc:
        log(f"failed: {exc}")
        return 1
    return 0


def add_readdress_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "readdress",
        help="move a control-plane node to the IP the definition now gives it (lesson 3)",
        description=(
            "Plan (or with --apply run) the etcd member procedure for an IP change: remove "
            "the member, reset STATE+EPHEMERAL with --graceful=false, re-apply the config."
        ),
    )
    parser.add_argument("--cluster", default="cluster", help="definition directory")
    parser.add_argument("--node", required=True, help="inventory node name, e.g. node03")
    parser.add_argument(
        "--from", dest="old", required=True, help="the IP the node answers at today"
    )
    parser.add_argument("--talosconfig", required=True, help="talosconfig of the cluster")
    parser.add_argument("--bin-dir", help="directory holding talosctl (default: PATH)")
    parser.add_argument("--apply", action="store_true", help="run the plan, not only print it")
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help="allow removing the member and wiping the node's STATE and EPHEMERAL volumes",
    )
    parser.add_argument(
        "--install-timeout",
        type=plan_context.seconds,
        default=Timeouts().configured,
        metavar="SECONDS",
        help="how long the node may take to come back in maintenance mode after the reset, "
        f"and configured after apply-config (default {Timeouts().configured:g})",
    )
    parser.add_argument(
        "--etcd-timeout",
        type=plan_context.seconds,
        default=Timeouts().etcd,
        metavar="SECONDS",
        help="how long the node may take to rejoin etcd at its new address "
        f"(default {Timeouts().etcd:g})",
    )
    parser.set_defaults(func=cmd_readdress)
