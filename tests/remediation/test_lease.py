"""The remediation Lease against a fake API with resourceVersion semantics.

The simulator-backed run (two processes contending) is in tests/suite/.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from fixtures.remediate import LEASE_PATIENCE, patience_seconds
from provisioning.drivers import errors
from remediation.lease import NAME, NAMESPACE, LeaseHeld, RemediationLease


def _status(cls: type[errors.ApiStatusError], code: int, reason: str) -> errors.ApiStatusError:
    return cls("leases", code=code, reason=reason, request="fake")


class FakeApi:
    """One Lease object; create/replace/delete with AlreadyExists/Conflict like the API."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0

    def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        if self.lease is None:
            raise _status(errors.NotFound, 404, "NotFound")
        return copy.deepcopy(self.lease)

    def create(
        self,
        kind: Any,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        if self.lease is not None:
            raise _status(errors.AlreadyExists, 409, "AlreadyExists")
        self.version += 1
        self.lease = copy.deepcopy(dict(body))
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    def replace(
        self, kind: Any, name: str, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        if self.lease is None:
            raise _status(errors.NotFound, 404, "NotFound")
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise _status(errors.Conflict, 409, "Conflict")
        self.version += 1
        self.lease = copy.deepcopy(dict(body))
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    def delete(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        if self.lease is None:
            raise _status(errors.NotFound, 404, "NotFound")
        self.lease = None
        return {}


def holder_of(api: FakeApi) -> str | None:
    return None if api.lease is None else str(api.lease["spec"]["holderIdentity"])


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def lease(api: FakeApi, clock: Clock, who: str, patience: float = 0.0) -> RemediationLease:
    return RemediationLease(
        api, who, duration=60, patience=patience, poll=5, clock=clock, sleep=clock.sleep
    )


def test_a_second_run_is_refused_naming_the_holder_then_gets_it_after_release() -> None:
    api, clock = FakeApi(), Clock()
    first = lease(api, clock, "run-a")
    first.acquire()
    with pytest.raises(LeaseHeld, match=f"holds Lease {NAMESPACE}/{NAME}: holder 'run-a'"):
        lease(api, clock, "run-b").acquire()
    first.release()
    assert holder_of(api) is None
    second = lease(api, clock, "run-b")
    second.acquire()
    assert holder_of(api) == "run-b"
    assert not second.waited


def test_a_waiting_run_takes_over_a_stale_lease_once_it_expires() -> None:
    api, clock = FakeApi(), Clock()
    lease(api, clock, "crashed").acquire()  # never renewed, never released
    waiting = lease(api, clock, "run-b", patience=120)
    waiting.acquire()
    assert waiting.waited  # what it observed before waiting may be stale now
    assert clock.now >= 1_800_000_060
    assert api.lease is not None
    assert (holder_of(api), api.lease["spec"]["leaseTransitions"]) == ("run-b", 1)


def test_renewal_keeps_a_live_holder_ahead_and_a_lost_lease_is_noticed() -> None:
    api, clock = FakeApi(), Clock()
    holder = lease(api, clock, "run-a")
    holder.acquire()
    clock.now += 50
    holder.renew()
    clock.now += 50  # 100 s after acquiring, 50 s after renewing: still valid
    with pytest.raises(LeaseHeld):
        lease(api, clock, "run-b").acquire()
    clock.now += 61
    lease(api, clock, "run-b").acquire()
    with pytest.raises(LeaseHeld, match="no longer held by run-a"):
        holder.renew()
    holder.release()  # not ours any more: left alone
    assert holder_of(api) == "run-b"


def test_the_context_manager_releases_on_error() -> None:
    api, clock = FakeApi(), Clock()
    with pytest.raises(RuntimeError), lease(api, clock, "run-a"):
        raise RuntimeError("remediation failed")
    assert api.lease is None


def test_lease_patience_is_a_number_of_seconds_or_a_clear_usage_error() -> None:
    assert LEASE_PATIENCE == 60
    assert patience_seconds("2.5") == 2.5
    assert patience_seconds("0") == 0
    for bad in ("soon", "-1", "nan", "inf", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected a number of seconds >= 0"):
            patience_seconds(bad)


def test_a_bad_lease_patience_on_the_command_line_is_a_usage_error() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--lease-patience=-5", "--co", "-q"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "argument --lease-patience: '-5': expected a number of seconds >= 0" in done.stderr
