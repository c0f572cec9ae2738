"""Executing actions against a cluster through the drivers (the concrete :class:`Operations`).

Why it reuses the provisioning steps: a remediation is provisioning applied
to one drifted piece -- a Helm release, a node's config, the first backup,
the kubeconfig -- so the same step code (and the same behaviour on real
Talos) does the work; only the re-apply of a *configured* node's config
differs from provisioning's maintenance-mode apply, and the node rebuild is
the IP-change procedure of :mod:`provisioning.operations.readdress` aimed at the node's
current address.  Waiting for health after a disruptive action asks the
same two questions the operator would: is the Kubernetes node Ready, and does
etcd list every control-plane node as a voting member.  Every wait of those
steps sleeps through :meth:`ClusterOperations.pause`, which also calls the
:attr:`~ClusterOperations.heartbeat` hook (the run's Lease keep-alive): a
long rolling step keeps the run's claim on the cluster without a thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from provisioning.config.secrets import SecretStore
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from provisioning.drivers.helm import HelmDriver
from provisioning.drivers.kube import KubeDriver
from provisioning.drivers.talosctl import TalosDriver
from provisioning.operations.backup_files import prune
from provisioning.operations.readdress import Readdress, readdress_steps
from provisioning.plan import Step, run_plan
from provisioning.plan_addons import backup, helm_release
from provisioning.plan_cluster import kubeconfig
from provisioning.plan_context import PlanError, StepContext, StepSpec, Timeouts, wait_for
from provisioning.plan_nodes import send_config
from remediation.actions import (
    Action,
    ApplyConfig,
    CreateObject,
    DeleteObject,
    HelmUpgrade,
    PatchObject,
    PruneBackups,
    RebuildNode,
    RegenerateKubeconfig,
    TakeBackup,
    UpgradeNode,
)


class ClusterOperations:
    """Drivers for one target, plus the definition they act for."""

    def __init__(
        self,
        cluster: inventory.Cluster,
        target: Target,
        kube: Callable[[], KubeDriver],
        *,
        scratch: Path,
        log: Callable[[str], None],
        timeouts: Timeouts | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cluster, self.target, self.log = cluster, target, log
        self._sleep = sleep
        # Called at every pause of a wait (the Lease's keep-alive); must not raise.
        self.heartbeat: Callable[[], None] | None = None
        # Told the index of each step of a multi-step action before it runs (the journal).
        self.progress: Callable[[int], None] | None = None
        # Set to continue an interrupted multi-step action: its step in progress when the
        # earlier run died.  Steps before it are done; that one is probed afresh.
        self.resume_step: int | None = None
        self._new_kube = kube
        self._kube: KubeDriver | None = None
        self.talos = TalosDriver(target)
        self.ctx = StepContext(
            cluster=cluster,
            target=target,
            talos=self.talos,
            helm=HelmDriver(target, repository_config=scratch / "repositories.yaml"),
            kube=lambda: self.kube,
            secrets=SecretStore(
                cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
            ),
            allow_destructive=True,  # execute() already refused what the run did not allow
            log=log,
            timeouts=timeouts or Timeouts(),
            sleep=self.pause,
            clock=time.monotonic,
        )

    def pause(self, seconds: float) -> None:
        """One poll interval of a wait, with the heartbeat after it."""
        self._sleep(seconds)
        if self.heartbeat is not None:
            self.heartbeat()

    @property
    def kube(self) -> KubeDriver:
        """The Kubernetes driver, built from the kubeconfig as it is now."""
        if self._kube is None:
            self._kube = self._new_kube()
        return self._kube

    def _forget_kube(self) -> None:
        """A regenerated kubeconfig carries a new client certificate: reconnect with it."""
        if self._kube is not None:
            self._kube.close()
        self._kube = None
        self.ctx._kube = None

    def close(self) -> None:
        if self._kube is not None:
            self._kube.close()
            self._kube = None

    def run(self, action: Action) -> None:
        change = action.change
        if isinstance(change, PatchObject):
            self.kube.patch(
                change.kind, change.name, change.patch, change.patch_type, change.namespace
            )
        elif isinstance(change, CreateObject):
            self.kube.create(change.kind, change.body, change.namespace)
        elif isinstance(change, DeleteObject):
            with contextlib.suppress(errors.NotFound):  # already gone: the goal holds
                self.kube.delete(change.kind, change.name, change.namespace)
        elif isinstance(change, ApplyConfig):
            node = self.cluster.node(change.node)
            send_config(self.ctx, node, str(node.ip), insecure=False, mode=change.mode)
        elif isinstance(change, HelmUpgrade):
            release = self.cluster.helm[change.release]
            helm_release(self.ctx, change.release, release).apply()
        elif isinstance(change, UpgradeNode):
            node = self.cluster.node(change.node)
            self.talos.upgrade(str(node.ip), change.image, wait=True)
        elif isinstance(change, RebuildNode):
            self._rebuild(change)
        elif isinstance(change, TakeBackup):
            backup(self.ctx).apply()
        elif isinstance(change, PruneBackups):
            settings = self.cluster.backup
            prune(settings.directory, settings.retention_days, datetime.now(UTC))
        elif isinstance(change, RegenerateKubeconfig):
            kubeconfig(self.ctx).apply()
            self._forget_kube()
        else:  # pragma: no cover - the Change union is closed
            raise PlanError(f"no operation for {type(change).__name__}")

    def _rebuild(self, change: RebuildNode) -> None:
        """The member procedure, each step journaled; resumable at :attr:`resume_step`.

        In place (ENC-01) the procedure's goal -- a voting member at the
        node's address -- already holds at the start, so removing the member
        and the reset always run.  Continuing an interrupted run, the steps
        before the one in progress are done; for that one the node is first
        given time to answer (it may be rebooting), then probed: a node
        already in maintenance mode was reset, one answering configured at
        its address was not (or was already re-configured).
        """
        node = self.cluster.node(change.node)
        steps = readdress_steps(self.ctx, self.talos, node, change.address)
        in_place = change.address == str(node.ip)
        resume, self.resume_step = self.resume_step, None
        move = Readdress(self.ctx, self.talos, node, change.address)

        def settled_in_maintenance() -> bool:
            def answering() -> list[str]:
                up = move.maintenance_address() or move.configured_address()
                return [] if up else [f"{node.name} to answer"]

            wait_for(self.ctx, self.ctx.timeouts.configured, answering, f"{node.name} to answer")
            return move.maintenance_address() is not None

        def probe(index: int, step: StepSpec) -> Callable[[], bool]:
            if resume is not None and index < resume:
                return _always
            if in_place and index == 0:
                return _never
            if in_place and index == 1:
                return settled_in_maintenance if resume == 1 else _never
            if resume is not None and index == resume:
                return lambda: settled_in_maintenance() is False and step.is_done()
            return step.is_done

        def begun(index: int, is_done: Callable[[], bool]) -> Callable[[], bool]:
            # A step begins with its probe: journaled then, so a run killed while a step
            # is checked or applied is continued from that step.
            def probe_journaled() -> bool:
                if self.progress is not None:
                    self.progress(index)
                return is_done()

            return probe_journaled

        plan = [
            Step(s.name, s.summary, begun(i, probe(i, s)), s.apply) for i, s in enumerate(steps)
        ]
        run_plan(plan, mode="apply", log=self.log)

    def wait_healthy(self, node: str) -> None:
        wanted = self.cluster.node(node)
        control_planes = {n.hostname for n in self.cluster.control_plane_nodes}

        def missing() -> list[str]:
            problems: list[str] = []
            try:
                found = self.kube.get(("", "v1", "nodes"), wanted.hostname)
                conditions = (found.get("status") or {}).get("conditions") or []
                ready = any(
                    c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
                )
                if not ready:
                    problems.append(f"node {wanted.hostname} not Ready")
            except errors.DriverError as exc:
                problems.append(f"node {wanted.hostname}: {exc}")
            try:
                asker = next(n for n in self.cluster.control_plane_nodes if n.name != node)
                members = self.talos.etcd_members(str(asker.ip))
                voting = {m.hostname for m in members if not m.is_learner}
                if not control_planes <= voting:
                    problems.append(f"etcd voting members {sorted(voting)}")
            except (StopIteration, errors.DriverError) as exc:
                problems.append(f"etcd: {exc}")
            return problems

        wait_for(self.ctx, self.ctx.timeouts.nodes, missing, f"{node} and etcd to be healthy")


def _never() -> bool:
    return False


def _always() -> bool:
    return True
