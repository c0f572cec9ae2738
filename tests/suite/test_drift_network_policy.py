"""Network-policy drift end to end: a deleted default deny is reported for its namespace.

The shipped manifests give namespace ``default`` a default-deny policy and a
DNS egress allow.  Deleting the default deny leaves egress in default deny
(the DNS allow selects every endpoint with an egress rule) but opens
ingress, and the control must say exactly that, naming the namespace.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import network_policy
from checks.snapshot import Snapshot

pytestmark = pytest.mark.slow


def test_clean_cluster_has_default_deny_everywhere(clean_snapshot: Snapshot) -> None:
    assert network_policy.default_deny_in_every_namespace(clean_snapshot) == []


def test_deleted_default_deny_fails_np01_naming_the_namespace(cluster_with: Any) -> None:
    with cluster_with(("network_policy.delete_default_deny", None)) as running:
        state = running.snapshot()
        found = network_policy.default_deny_in_every_namespace(state)
        run = running.run_suite("steps/test_network_policy.py")
    assert [(f.target, f.observed) for f in found] == [
        ("Namespace default", "ingress not default deny")
    ]
    assert run.returncode == 1, run.output
    assert run.outcomes == {"NP-01": "failed"}, run.output
    assert "Namespace default" in run.messages["NP-01"]
    assert "ingress not default deny" in run.messages["NP-01"]
