"""Longhorn drifts under ``--remediate``: a rolled-back release is upgraded, node faults are manual.

Why here and not in :mod:`tests.suite.test_remediate_drifts`: the drifts are
this area's (LH-02, LH-03, LH-07) and run on their own copies, so the groups
there keep their timing.  The rollback goes through the shared end-to-end
path (plan, refused without ``--allow-disruptive``, fixed by ``helm upgrade``
to the declared chart -- the manager DaemonSet's pods roll back to the
declared image -- then quiet).  LH-02 and LH-03 are tagged
``@remediation:manual``: an unmounted data disk or a disabled Longhorn Node
needs an operator's judgement (was the disk removed on purpose? is the node
being drained?), so even with every allowance the run fails with a
``[manual]`` plan naming each node and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import longhorn
from checks import snapshot as snap
from provisioning.drivers.kube import KubeDriver
from tests.suite.test_remediate_drifts import Group, remediate_end_to_end

pytestmark = pytest.mark.slow

ROLLBACK = Group(
    drifts=(("longhorn.release_rolled_back", None),),
    areas=("longhorn",),
    actions={"LH-07": ["[disruptive] helm release longhorn", "helm upgrade --install longhorn"]},
    allowances=("--allow-disruptive",),
)


def test_rolled_back_release_is_planned_refused_upgraded_and_quiet(cluster_with: Any) -> None:
    with cluster_with(*ROLLBACK.drifts) as running:
        remediate_end_to_end(running, ROLLBACK)


def test_data_path_and_scheduling_drifts_fail_with_a_manual_plan_naming_each_node(
    cluster_with: Any,
) -> None:
    with cluster_with(
        ("longhorn.drop_data_disk", "node04"),
        ("longhorn.node_scheduling_disabled", "node05"),
    ) as running:
        run = running.run_suite(
            "steps/test_longhorn.py", "--remediate", "--allow-disruptive", "--allow-destructive"
        )
        with KubeDriver(running.target) as kube:
            node05 = kube.get(snap.LONGHORN_NODES.path, "k8s-node05", "longhorn-system")
        after = running.snapshot()

    assert run.failed == ["LH-02", "LH-03"], run.output
    expected = {"LH-02": ["node04 (k8s-node04)"], "LH-03": ["node04 (k8s-node04)", "node05"]}
    for control, nodes in expected.items():
        message = run.messages[control]
        assert f"remediation plan for {control}" in message, message
        assert "[manual] no automatic remediation for this control" in message, message
        assert "(no automatic remediation: fix it by hand)" in message, message
        for node in nodes:
            assert node in message, (node, message)
    assert run.remediated == frozenset()
    # Nothing was changed: the Longhorn Node is still disabled, the path still unmounted.
    assert node05["spec"]["allowScheduling"] is False
    assert [f.target for f in longhorn.longhorn_path_mounted(after)] == ["node04 (k8s-node04)"]
