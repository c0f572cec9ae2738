"""NP-01 end to end: a ``default-deny`` that exists but no longer denies is replaced, not created.

The drift empties the policy's ``ingress`` list (Cilium ignores an empty list,
so ingress is open) and keeps its name.  A create of the declared policy
would only get 409 AlreadyExists; the plan replaces the spec (a JSON patch),
the run records NP-01 as remediated, and the cluster reads clean afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import network_policy

pytestmark = pytest.mark.slow

STEPS = "steps/test_network_policy.py"
DRIFT = ("network_policy.empty_default_deny_ingress", None)


def test_an_emptied_default_deny_is_replaced(cluster_with: Any) -> None:
    with cluster_with(DRIFT) as running:
        (finding,) = network_policy.default_deny_in_every_namespace(running.snapshot())
        assert isinstance(finding, network_policy.NamespaceNotDenied)
        assert finding.namespace == "default"
        plan = running.run_suite(STEPS, "--remediate=plan")
        assert plan.outcomes == {"NP-01": "failed"}, plan.output
        assert "replace the spec of default-deny" in plan.messages["NP-01"]
        assert "patch (json) ciliumnetworkpolicies default/default-deny" in plan.messages["NP-01"]
        fixed = running.run_suite(STEPS, "--remediate")
        assert fixed.remediated == frozenset({"NP-01"}), fixed.output
        assert fixed.returncode == 0, fixed.output
        assert network_policy.default_deny_in_every_namespace(running.snapshot()) == []


def test_a_clusterwide_allow_all_fails_np01_everywhere_with_a_manual_plan(
    cluster_with: Any,
) -> None:
    # No namespace policy can close a clusterwide allow: the plan names the command.
    with cluster_with(("network_policy.clusterwide_allow_all", None)) as running:
        found = network_policy.default_deny_in_every_namespace(running.snapshot())
        run = running.run_suite(STEPS, "--remediate")
    assert found, "the clusterwide allow opened no namespace"
    for finding in found:
        assert isinstance(finding, network_policy.NamespaceNotDenied)
        assert finding.opened_by == ("allow-all",)
        assert finding.observed == (
            "ingress open to the entity `all` by CiliumClusterwideNetworkPolicy allow-all; "
            "egress open to the entity `all` by CiliumClusterwideNetworkPolicy allow-all"
        )
    assert run.outcomes == {"NP-01": "failed"}, run.output
    message = run.messages["NP-01"]
    assert "[manual] CiliumClusterwideNetworkPolicy allow-all allows the entity all" in message
    assert "kubectl delete ciliumclusterwidenetworkpolicies allow-all" in message
    assert run.remediated == frozenset()
