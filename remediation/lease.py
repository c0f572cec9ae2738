"""One remediating run per cluster: a ``coordination.k8s.io`` Lease held for the run.

Why a Lease: two runs fixing the same cluster would interleave node reboots
and undo each other's patches; the cluster itself is the only place every
run (nightly timer, an operator's laptop, the in-cluster CronJob) can see.
The protocol is client-go's leader election reduced to what a run needs:
create the Lease, or take it over only when its holder stopped renewing
(``renewTime + leaseDurationSeconds`` in the past), with the object's
``resourceVersion`` as the guard so two contenders cannot both win; renew
while working; delete it at the end.  A run that finds a live holder waits up
to its patience and then refuses, naming the holder.

Renewing while working needs no thread: :meth:`RemediationLease.hold` is
called before every change (renew now, or stop if the Lease was lost) and
:meth:`RemediationLease.keep_alive` from every wait between them (renew once
a third of the duration has passed, as client-go's retry period does).  A
loss noticed during a wait is remembered, not raised -- aborting a node half
way through a rolling step is worse than finishing it -- so the run stops
before its next change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from provisioning.drivers import errors

LEASES: tuple[str, str, str] = ("coordination.k8s.io", "v1", "leases")
NAMESPACE = "kube-system"
NAME = "talos-conformance-remediation"


class LeaseOps(Protocol):
    def get(
        self, kind: tuple[str, str, str], name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    def create(
        self,
        kind: tuple[str, str, str],
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...

    def replace(
        self,
        kind: tuple[str, str, str],
        name: str,
        body: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]: ...

    def delete(
        self, kind: tuple[str, str, str], name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...


class LeaseHeld(Exception):
    """Another run holds the lease and kept renewing it for as long as this one waited."""


class LeaseLost(LeaseHeld):
    """This run held the lease, but another run took it (or it expired unrenewed) meanwhile."""


def _micro_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


class RemediationLease:
    """The run's claim on the cluster; use as a context manager around remediation."""

    def __init__(
        self,
        kube: LeaseOps,
        identity: str,
        *,
        duration: int = 300,
        patience: float = 0.0,
        poll: float = 2.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube, self.identity, self.duration = kube, identity, duration
        self.patience, self.poll, self.clock, self.sleep = patience, poll, clock, sleep
        self.held = False
        self.waited = False  # the last acquire found another live holder first
        self.renewed = 0.0  # clock() of the last successful create/replace by this run
        self.lost: str | None = None  # why the lease is no longer ours, once noticed

    def _body(self, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        now = _micro_time(self.clock())
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        }
        metadata: dict[str, Any] = {"name": NAME, "namespace": NAMESPACE}
        if previous is not None:
            old = previous.get("spec") or {}
            if old.get("holderIdentity") == self.identity:
                spec["acquireTime"] = old.get("acquireTime", now)
                spec["leaseTransitions"] = old.get("leaseTransitions", 0)
            else:
                spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
            metadata["resourceVersion"] = (previous.get("metadata") or {}).get("resourceVersion")
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    def _expires(self, lease: Mapping[str, Any]) -> float:
        spec = lease.get("spec") or {}
        renewed = _parse_time(spec.get("renewTime")) or _parse_time(spec.get("acquireTime"))
        if renewed is None:
            return 0.0  # a lease nobody renews is stale
        return renewed + float(spec.get("leaseDurationSeconds") or 0)

    def _try(self) -> Mapping[str, Any] | None:
        """One attempt; None when taken, else the lease that blocks us."""
        # Each renewal is dated from before its request: the stored renewTime is stamped
        # then, and it is what a contender counts the Lease's expiry from.
        started = self.clock()
        try:
            self.kube.create(LEASES, self._body(None), NAMESPACE)
            self.renewed = started
            return None
        except errors.AlreadyExists:
            pass
        current = self.kube.get(LEASES, NAME, NAMESPACE)
        holder = (current.get("spec") or {}).get("holderIdentity")
        if holder not in (self.identity, None, "") and self._expires(current) > self.clock():
            return current
        try:
            self.kube.replace(LEASES, NAME, self._body(current), NAMESPACE)
        except (errors.Conflict, errors.NotFound):
            return current  # somebody else moved first; look again next round
        self.renewed = started
        return None

    def acquire(self) -> None:
        deadline = self.clock() + self.patience
        self.waited = False
        while True:
            blocking = self._try()
            if blocking is None:
                self.held, self.lost = True, None
                return
            self.waited = True
            if self.clock() >= deadline:
                spec = blocking.get("spec") or {}
                raise LeaseHeld(
                    f"another remediating run holds Lease {NAMESPACE}/{NAME}: holder "
                    f"{spec.get('holderIdentity')!r}, renewed {spec.get('renewTime')}, valid "
                    f"for {spec.get('leaseDurationSeconds')}s; nothing was changed by this run"
                )
            self.sleep(self.poll)

    def renew(self) -> None:
        """Push renewTime forward; :class:`LeaseLost` if the lease was taken from us."""
        for _ in range(2):
            started = self.clock()
            try:
                current = self.kube.get(LEASES, NAME, NAMESPACE)
            except errors.NotFound:
                current = {}
            spec = current.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                self.held = False
                holder = spec.get("holderIdentity")
                self.lost = (
                    f"Lease {NAMESPACE}/{NAME} is no longer held by {self.identity}: "
                    + (f"another run ({holder!r}) took it" if holder else "it was deleted")
                    + " while this run was working"
                )
                raise LeaseLost(self.lost)
            try:
                self.kube.replace(LEASES, NAME, self._body(current), NAMESPACE)
            except errors.Conflict:
                continue  # written meanwhile (a contender?): look at it again
            self.renewed = started
            return
        raise errors.Conflict(
            "the Lease changed between reading and renewing it, twice",
            code=409,
            reason="Conflict",
            request=f"renew Lease {NAMESPACE}/{NAME}",
        )

    def hold(self) -> None:
        """Before a change: renew now; :class:`LeaseLost` when this run may no longer act.

        That is when another run took the Lease (now or during an earlier
        wait), or when it could not be renewed and has expired by this run's
        own clock -- a contender may have taken it over then.  A failed
        renewal is tolerated while at least half the Lease's duration is left
        (the API may be busy while a node restarts), so the action about to
        start has that much time before anyone else may act; the next call
        tries again.
        """
        if self.lost is not None:
            raise LeaseLost(self.lost)
        try:
            self.renew()
        except LeaseLost:
            raise
        except errors.DriverError as exc:
            if self.clock() >= self.renewed + self.duration / 2:
                self.held = False
                self.lost = (
                    f"Lease {NAMESPACE}/{NAME} could not be renewed ({exc}) and has less "
                    f"than half of its {self.duration}s left; another run may take it "
                    "before the next action would end"
                )
                raise LeaseLost(self.lost) from exc

    def keep_alive(self) -> None:
        """From a wait: renew once a third of the duration has passed; never raises.

        A loss is remembered in :attr:`lost` for :meth:`hold` to report
        before the next change.
        """
        if not self.held or self.lost is not None:
            return
        if self.clock() < self.renewed + self.duration / 3:
            return
        try:
            self.renew()
        except LeaseLost:
            pass
        except errors.DriverError:
            pass  # tried again at the next wait; hold() judges the expiry

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            current = self.kube.get(LEASES, NAME, NAMESPACE)
            if (current.get("spec") or {}).get("holderIdentity") == self.identity:
                self.kube.delete(LEASES, NAME, NAMESPACE)
        except errors.NotFound:
            pass

    def __enter__(self) -> RemediationLease:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
