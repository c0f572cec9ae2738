"""Remediation end to end for the BAK-04 and HYG-05 drifts (issue #6).

Why these two behave differently: a renamed node is fixed by sending it its
rendered config again (HYG-05 is ``@remediation:safe``) and deleting the Node
the kubelet registered under the stray name, which would otherwise stay
behind NotReady, its Cilium agent not Ready (CIL-03 judges every Node).  The
declared Node, its Cilium agent and its Longhorn node come back with the
kubelet's old name -- TOP-01, LH-03 and CIL-03 pass once that fix settled,
without their own (CIL-03's fix is disruptive and this run does not allow it,
so passing shows the HYG-05 fix alone repaired it).  A newest backup that
does not restore is ``@remediation:manual``: the bad file says the backup job
encrypts to the wrong key or writes the wrong thing, which a person must
find; ``--remediate`` with every allowance fails with a manual plan naming
the file and changes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from provisioning.operations import backup_files
from tests.suite.harness import cilium_operator_on
from tests.suite.test_remediate_drifts import Group, remediate_end_to_end

pytestmark = pytest.mark.slow

MANUAL = "[manual] no automatic remediation for this control"

RENAMED = Group(
    drifts=(("config_hygiene.rename_node", "node04"),),
    # config_hygiene first: its fix is what TOP-01, LH-03 and CIL-03 are judged again after.
    areas=("config_hygiene", "topology", "longhorn", "cilium"),
    actions={
        "HYG-05": [
            "node04 (10.10.20.19): expected hostname k8s-node04; observed k8s-node04-renamed",
            "[safe] node04 (k8s-node04)",
            "apply-config --nodes <node04> --mode no-reboot",
            "[safe] Node k8s-node04-renamed",
            "delete nodes k8s-node04-renamed",
        ],
        # The renamed config is no longer the rendered one; HYG-05's re-apply (run first,
        # the feature's order) restores it, so HYG-07 passes by that fix.
        "HYG-07": [
            "node04 (10.10.20.19): expected the config rendered from the definition",
            "HostnameConfig: hostname",
            "[safe] node04 (k8s-node04)",
            "apply-config --nodes <node04> --mode no-reboot",
        ],
        "TOP-01": ["node04 (k8s-node04): expected Ready=True; observed Ready=Unknown", MANUAL],
        "LH-03": ["node04 (k8s-node04)", MANUAL],
        # Its own plan (disruptive) is not allowed here: CIL-03 passes by HYG-05's fix alone.
        "CIL-03": ["node04 (k8s-node04): expected a Ready Cilium agent pod", "[disruptive]"],
    },
    fixed_in_passing=frozenset({"HYG-07", "TOP-01", "LH-03", "CIL-03"}),
)


def test_renamed_node_is_planned_fixed_and_quiet(cluster_with: Any) -> None:
    with cluster_with(*RENAMED.drifts) as running:
        group = RENAMED
        if cilium_operator_on(running.snapshot(), "k8s-node04"):
            # A Cilium operator replica on the cut-off node: CIL-05 fails too, its own plan
            # (disruptive) is not allowed here, and HYG-05's fix brings the replica back.
            group = dataclasses.replace(
                RENAMED,
                actions={
                    **RENAMED.actions,
                    "CIL-05": ["Deployment kube-system/cilium-operator", "[disruptive]"],
                },
                fixed_in_passing=RENAMED.fixed_in_passing | {"CIL-05"},
            )
        remediate_end_to_end(running, group)


def test_unrestorable_backup_fails_with_a_manual_plan_naming_it(cluster_with: Any) -> None:
    with cluster_with("backups.foreign_recipient") as running:
        directory = running.cluster.backup.directory
        before = sorted(p.name for p in directory.iterdir())
        run = running.run_suite(
            "steps/test_backups.py", "--remediate", "--allow-disruptive", "--allow-destructive"
        )
        after = sorted(p.name for p in directory.iterdir())
        newest = backup_files.list_backups(directory).newest
    assert newest is not None
    assert run.failed == ["BAK-04"], run.output
    message = run.messages["BAK-04"]
    assert f"{directory}/{newest.name}: expected decrypts to a readable etcd snapshot" in message
    assert "remediation plan for BAK-04" in message, message
    assert MANUAL in message, message
    assert "(no automatic remediation: fix it by hand)" in message, message
    assert run.remediated == frozenset()
    assert after == before  # nothing taken, pruned or removed
