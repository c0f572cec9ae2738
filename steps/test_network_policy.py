"""Steps for features/network_policy.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then

from checks import network_policy
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("network_policy.feature")


@then("every non-system namespace denies ingress and egress by default")
def then_every_non_system_namespace_denies_by_default(snapshot: Snapshot, verify: Verify) -> None:
    verify(network_policy.default_deny_in_every_namespace, snapshot)
