"""One remediating run per cluster, end to end: the Lease on the simulator's real API.

Why on the simulator and not with fakes (tests/remediation/test_lease.py has
those): the guarantee is about two separate ``pytest --remediate`` processes
meeting in the cluster's ``coordination.k8s.io`` Lease, with the API server's
``resourceVersion`` checks deciding who wins.  One copy of the cluster with a
missing default-deny policy (NP-01, a safe fix) serves three situations: a
live Lease held by somebody else (the run waits its patience, then refuses,
naming the holder, and changes nothing), a stale one (taken over, the fix
applied, the Lease deleted at the end), and two runs started together (one
fixes; the other waits and finds nothing left to do, or refuses -- never both
apply).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from checks import network_policy
from provisioning.drivers import errors
from provisioning.drivers.kube import KubeDriver
from remediation.lease import LEASES, NAME, NAMESPACE, _micro_time
from tests.suite import harness

pytestmark = pytest.mark.slow

STEPS = "steps/test_network_policy.py"
DRIFT = ("network_policy.delete_default_deny", None)
HELD = "another remediating run holds Lease"


def _lease(holder: str, renewed: float) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 300,
            "acquireTime": _micro_time(renewed),
            "renewTime": _micro_time(renewed),
        },
    }


def _lease_gone(kube: KubeDriver) -> bool:
    try:
        kube.get(LEASES, NAME, NAMESPACE)
    except errors.NotFound:
        return True
    return False


def test_one_remediating_run_at_a_time(cluster_with: Any) -> None:
    with cluster_with(DRIFT) as running:
        kube = KubeDriver(running.target)
        try:
            # A live Lease of another run: this run waits one second, refuses, changes nothing.
            kube.create(LEASES, _lease("operator@laptop", time.time()), NAMESPACE)
            refused = running.run_suite(STEPS, "--remediate", "--lease-patience=1")
            assert refused.outcomes == {"NP-01": "failed"}, refused.output
            assert HELD in refused.messages["NP-01"], refused.messages["NP-01"]
            assert "operator@laptop" in refused.messages["NP-01"]
            assert network_policy.default_deny_in_every_namespace(running.snapshot())
            assert kube.get(LEASES, NAME, NAMESPACE)["spec"]["holderIdentity"] == (
                "operator@laptop"
            )

            # The holder stopped renewing an hour ago: the Lease is stale and taken over.
            current = kube.get(LEASES, NAME, NAMESPACE)
            stale = _lease("operator@laptop", time.time() - 3600)
            stale["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            kube.replace(LEASES, NAME, stale, NAMESPACE)
            taken = running.run_suite(STEPS, "--remediate")
            assert taken.outcomes == {"NP-01": "passed"}, taken.output
            assert taken.remediated == {"NP-01"}
            assert network_policy.default_deny_in_every_namespace(running.snapshot()) == []
            assert _lease_gone(kube)

            # Two runs at once on the drift again: exactly one applies the fix.
            harness.apply_drifts(running.layout, [DRIFT])
            assert network_policy.default_deny_in_every_namespace(running.snapshot())
            with ThreadPoolExecutor(2) as pool:
                runs = list(
                    pool.map(
                        lambda n: harness.run_suite(
                            running.layout,
                            STEPS,
                            "--remediate",
                            "--lease-patience=120",
                            scratch=running.layout.base / f"concurrent-{n}",
                        ),
                        (1, 2),
                    )
                )
            assert network_policy.default_deny_in_every_namespace(running.snapshot()) == []
            assert _lease_gone(kube)
        finally:
            kube.close()

    fixed = [run for run in runs if run.remediated == {"NP-01"}]
    assert len(fixed) == 1, [run.output for run in runs]
    (other,) = [run for run in runs if run is not fixed[0]]
    # The other run waited and found nothing left to do, or refused: never applied.
    assert other.remediated == frozenset(), other.output
    if other.outcomes["NP-01"] == "failed":
        assert HELD in other.messages["NP-01"], other.output
    else:
        assert other.outcomes == {"NP-01": "passed"}, other.output
