"""Interrupted remediation, end to end: a killed ``--remediate`` is continued by the next one.

The ENC-01 plan for a node formatted without LUKS2, and the ETCD-02 plan for a
node that moved to an address the definition does not declare (the
readdress procedure of :mod:`provisioning.operations.readdress`), are each one rebuild
of four steps -- remove its etcd member, reset STATE and EPHEMERAL, apply its
config in maintenance mode, wait for it to (re)join etcd -- each journaled in
the cluster before it starts.  For every step, a real ``pytest --remediate``
process (and everything it started) is SIGKILLed while the journal says that
step is in progress; the cluster is then mid-rebuild (member gone, node in
maintenance mode or rebooting) and the Lease is still held by the dead run.
Once that Lease has expired (made stale here, as an hour passing would), the
next ``--remediate`` must report the interrupted action, continue the same
plan and end with a conformant cluster: ENC-01 passing on a fresh
observation, every control-plane node a voting etcd member, no journal and
no Lease left.

A SIGTERM during the rebuild instead lets the action finish, then the run
releases its Lease and exits.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checks import disk_encryption, etcd
from checks.findings import Finding
from checks.snapshot import Snapshot
from provisioning.drivers import errors
from provisioning.drivers.kube import KubeDriver
from remediation import journal
from remediation.lease import LEASES, NAME, NAMESPACE, _micro_time
from tests.suite import harness
from tests.suite.harness import ClusterWith, RunningCluster

pytestmark = pytest.mark.slow

ALLOW = ("--remediate", "--allow-destructive")
REBUILD_STEPS = 4  # remove member, reset, apply-config, wait for the member
WAIT = 600.0


@dataclass(frozen=True)
class Interrupted:
    control: str
    drift: tuple[str, str]
    steps: str
    checks: tuple[Callable[[Snapshot], Sequence[Finding]], ...]


PLANS = {
    "ENC-01": Interrupted(
        "ENC-01",
        ("disk_encryption.strip_luks", "node03"),
        "steps/test_disk_encryption.py",
        tuple(
            functools.partial(disk_encryption.volume_is_luks2_with_node_key, volume=volume)
            for volume in ("STATE", "EPHEMERAL")
        ),
    ),
    "ETCD-02": Interrupted(
        "ETCD-02",
        ("etcd.readdress_node", "node04"),
        "steps/test_etcd.py",
        (etcd.peer_urls_match_node_addresses,),
    ),
}


def _journal(kube: KubeDriver) -> journal.Entry | None:
    try:
        return journal.read(kube)
    except errors.DriverError:
        return None  # the API may be moving with the VIP for a moment


def _lease(kube: KubeDriver) -> dict[str, Any] | None:
    try:
        return kube.get(LEASES, NAME, NAMESPACE)
    except errors.NotFound:
        return None


def _start(running: RunningCluster, steps: str, scratch: Path) -> subprocess.Popen[bytes]:
    command = harness.suite_command(running.layout, steps, *ALLOW, scratch=scratch)
    with open(scratch / "output.txt", "wb") as out:
        return subprocess.Popen(
            command,
            cwd=harness.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group, signalled as a terminal or systemd would
        )


def _until(
    process: subprocess.Popen[bytes], ready: Callable[[], Any], what: str, scratch: Path
) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = ready()
        if found:
            return found
        if process.poll() is not None:
            output = (scratch / "output.txt").read_text(errors="replace")
            pytest.fail(f"the run ended ({process.returncode}) before {what}:\n{output}")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"no {what} within {WAIT:.0f}s")


def _expire(kube: KubeDriver) -> None:
    """The dead holder's Lease, renewed last an hour ago: what waiting out its duration gives."""
    current = kube.get(LEASES, NAME, NAMESPACE)
    current["spec"]["renewTime"] = _micro_time(time.time() - 3600)
    current["spec"]["acquireTime"] = current["spec"]["renewTime"]
    kube.replace(LEASES, NAME, current, NAMESPACE)


def _assert_conformant(running: RunningCluster, kube: KubeDriver, plan: Interrupted) -> None:
    snapshot = running.snapshot()
    for check in plan.checks:
        assert list(check(snapshot)) == [], check
    assert etcd.one_member_per_control_plane_node(snapshot) == []
    assert _journal(kube) is None
    assert _lease(kube) is None


@pytest.mark.parametrize("step", range(REBUILD_STEPS), ids=lambda s: f"step{s + 1}")
@pytest.mark.parametrize("control", list(PLANS))
def test_a_run_killed_at_any_rebuild_step_is_continued_by_the_next(
    cluster_with: ClusterWith, control: str, step: int
) -> None:
    plan = PLANS[control]
    with cluster_with(plan.drift) as running:
        kube = KubeDriver(running.target)
        try:
            scratch = running.layout.base / "killed"
            process = _start(running, plan.steps, scratch)

            def at_step() -> journal.Entry | None:
                entry = _journal(kube)
                return (
                    entry
                    if entry is not None and entry.step is not None and (entry.step >= step)
                    else None
                )

            seen = _until(process, at_step, f"step {step + 1} in the journal", scratch)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            assert seen.step == step, f"the run was already at step {seen.step + 1}"
            assert seen.control == control
            lease = _lease(kube)
            assert lease is not None, "a killed run cannot have released its Lease"
            assert lease["spec"]["holderIdentity"] == seen.holder
            left = _journal(kube)
            assert left is not None
            assert left.step is not None
            assert left.step >= step

            _expire(kube)
            resumed = running.run_suite(plan.steps, *ALLOW)
            assert resumed.failed == [], resumed.output
            assert resumed.outcomes[control] == "passed", resumed.output
            assert f"found an interrupted remediation: {control}: action 1 of 1" in resumed.output
            assert f"the interrupted {control} plan is complete" in resumed.output
            _assert_conformant(running, kube, plan)
        finally:
            kube.close()


def test_sigterm_during_a_rebuild_finishes_it_and_releases_the_lease(
    cluster_with: ClusterWith,
) -> None:
    plan = PLANS["ENC-01"]
    with cluster_with(plan.drift) as running:
        kube = KubeDriver(running.target)
        try:
            scratch = running.layout.base / "terminated"
            process = _start(running, plan.steps, scratch)

            def resetting() -> journal.Entry | None:
                entry = _journal(kube)
                return entry if entry is not None and entry.step == 1 else None

            _until(process, resetting, "the reset step in the journal", scratch)
            os.killpg(process.pid, signal.SIGTERM)
            returncode = process.wait(timeout=WAIT)
            output = (scratch / "output.txt").read_text(errors="replace")
            assert returncode == 128 + signal.SIGTERM, output
            assert "SIGTERM: stopping once the current action ends" in output
            assert "Lease released" in output
            # The one action ran to its end: nothing is left to continue, nothing is held.
            _assert_conformant(running, kube, plan)
        finally:
            kube.close()
