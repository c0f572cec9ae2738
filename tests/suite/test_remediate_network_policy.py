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
