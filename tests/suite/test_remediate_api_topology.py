"""API-endpoint and topology drifts through ``--remediate``: fixed when a fix exists, else manual.

Why here and not in test_remediate_drifts: the groups there are shared by
several areas; these are the API-endpoint and topology drifts' own, run with
the same :func:`~tests.suite.test_remediate_drifts.remediate_end_to_end`
(plan -> refused without its allowance -> fixed -> quiet):

* KubePrism disabled on a node (API-04, and CIL-03: that node's Cilium agent
  reaches the API through it) is fixed safely by re-applying that node's
  rendered config, which heals the agent in passing;
* a node left on an older Talos (TOP-03) is fixed by ``talosctl upgrade`` to
  the declared installer, which is disruptive (the node reboots);
* the VIP answered by two nodes (API-02) and a node with less memory than
  declared (TOP-04) have no automatic fix: the run fails with a manual plan
  naming what is wrong, even with every allowance given.

Each group needs its own copy: a safe fix would be applied by the run that
refuses a disruptive one, and the manual drifts must stay unfixed.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import snapshot as model
from tests.suite.test_remediate_drifts import Group, remediate_end_to_end

pytestmark = pytest.mark.slow

KUBEPRISM = Group(
    drifts=(("api_endpoint.disable_kubeprism", "node05"),),
    # api_endpoint first: its safe config re-apply brings KubePrism back, the crash-looping
    # agent's next restart succeeds, and CIL-03 passes before its own (disruptive) plan --
    # deleting the not-Ready agent pod -- is ever needed.
    areas=("api_endpoint", "cilium"),
    actions={
        "API-04": ["[safe] node05 (k8s-node05)", "apply-config --nodes <node05> --mode no-reboot"],
        "CIL-03": ["[disruptive] Pod kube-system/cilium-", "on node05 (k8s-node05)"],
    },
    fixed_in_passing=frozenset({"CIL-03"}),
)

OLD_TALOS = Group(
    drifts=(("topology.old_talos", "node04"),),
    areas=("topology",),
    actions={
        "TOP-03": ["[disruptive] node04 (k8s-node04)", "talosctl upgrade --nodes <node04> --image"]
    },
    allowances=("--allow-disruptive",),
)


@pytest.mark.parametrize("group", [KUBEPRISM, OLD_TALOS], ids=["kubeprism", "old-talos"])
def test_api_and_topology_drifts_are_planned_refused_fixed_and_quiet(
    cluster_with: Any, group: Group
) -> None:
    with cluster_with(*group.drifts) as running:
        remediate_end_to_end(running, group)


def test_split_vip_and_missing_memory_fail_with_manual_plans(cluster_with: Any) -> None:
    drifts = (("api_endpoint.vip_static_address", "node03"), ("topology.failed_dimm", "node06"))
    with cluster_with(*drifts) as running:
        run = running.run_suite(
            "steps/test_topology.py",
            "steps/test_api_endpoint.py",
            "--remediate",
            "--allow-disruptive",
            "--allow-destructive",
        )
        after = running.snapshot()
    assert run.failed == ["API-02", "TOP-04"], run.output
    for control, names in (
        ("API-02", ("VIP 10.10.20.10", "node01 (k8s-node01)", "node03 (k8s-node03)")),
        ("TOP-04", ("node06 (k8s-node06)", "8.00 GiB")),
    ):
        message = run.messages[control]
        assert "[manual]" in message, message
        assert "no automatic remediation" in message, message
        for name in names:
            assert name in message, (name, message)
    assert run.remediated == frozenset()
    # Nothing was changed: both nodes still answer for the VIP, node06 still lacks memory.
    addresses = after.resources(model.ADDRESS_STATUS)
    for node in ("node01", "node03"):
        assert any(str(r["spec"]["address"]).startswith("10.10.20.10/") for r in addresses[node]), (
            node
        )
    (node06,) = [o for o in after.objects(model.NODES) if o["metadata"]["name"] == "k8s-node06"]
    assert node06["status"]["capacity"]["memory"] == "8388608Ki"
