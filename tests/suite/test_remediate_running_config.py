"""HYG-07 remediation and ``python -m provisioning diff`` on the simulator: five drifts, one copy.

One copy of the provisioned cluster takes every HYG-07 drift on its own node
(a ``talosctl patch machineconfig`` that needs a reboot, another installer,
a dropped patch, an extra kernel argument, an extra sysctl).  ``provisioning
diff`` must show each node's path with Talos's own dry-run verdict and exit
1, the untouched node01 must show no difference (a freshly provisioned node
runs what its definition renders), HYG-07 must fail naming every drifted
node, ``--remediate`` alone must plan the re-applies and refuse them (node02's
needs a reboot), and ``--remediate --allow-disruptive`` must bring them all
back, after which the diff exits 0.  (Every control passing after ``--provision`` --
HYG-07 included -- is ``tests/suite/test_provision.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.suite.harness import ROOT, RunningCluster

pytestmark = pytest.mark.slow

DRIFTS = (
    ("config_hygiene.patch_machineconfig", "node02"),
    ("config_hygiene.other_installer", "node03"),
    ("config_hygiene.drop_node_patch", "node04"),
    ("config_hygiene.extra_kernel_arg", "node05"),
    ("config_hygiene.extra_sysctl", "node06"),
)
# node -> (the path provisioning diff names, what Talos says applying would do)
EXPECTED = {
    "node02": ("machine.env.HTTPS_PROXY", "added", "reboot"),
    "node03": ("machine.install.image", "changed", "no reboot"),
    "node04": ("cluster.allowSchedulingOnControlPlanes", "removed", "no reboot"),
    "node05": ("machine.install.extraKernelArgs[0]", "added", "no reboot"),
    "node06": ('machine.sysctls["vm.max_map_count"]', "added", "no reboot"),
}
# Talos refuses extraKernelArgs beside the UKI command line: the drift turns it off too.
ALSO = {"node05": {("machine.install.grubUseUKICmdline", "changed")}}


def provisioning_diff(running: RunningCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning",
            "diff",
            "--cluster",
            str(running.layout.cluster_dir),
            "--sim-state",
            str(running.layout.state),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_config_drifts_show_in_the_diff_fail_hyg07_and_are_remediated(cluster_with: Any) -> None:
    with cluster_with(*DRIFTS) as running:
        untouched = provisioning_diff(running, "--node", "node01")
        drifted = provisioning_diff(running, "--json")
        failed = running.run_suite("steps/test_config_hygiene.py")
        refused = running.run_suite("steps/test_config_hygiene.py", "--remediate")
        still = provisioning_diff(running)
        fixed = running.run_suite(
            "steps/test_config_hygiene.py", "--remediate", "--allow-disruptive"
        )
        after = provisioning_diff(running)

    assert untouched.returncode == 0, untouched.stdout + untouched.stderr
    assert untouched.stdout.startswith("node01 (10.10.20.16): runs the rendered config\n")

    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    report = {n["node"]: n for n in json.loads(drifted.stdout)["nodes"]}
    assert report["node01"]["changes"] == []
    assert report["node01"]["differs"] is False
    for node, (path, change, apply) in EXPECTED.items():
        found = {(c["document"], c["path"], c["change"]) for c in report[node]["changes"]}
        also = {("v1alpha1", p, c) for p, c in ALSO.get(node, set())}
        assert found == {("v1alpha1", path, change)} | also, report[node]
        assert report[node]["apply"] == apply, report[node]
        assert report[node]["applyDetails"].endswith("(skipped in dry-run).")

    assert failed.failed == ["HYG-07"], failed.output
    message = failed.messages["HYG-07"]
    for node, (path, _, _) in EXPECTED.items():
        ip = running.cluster.node(node).ip
        assert f"{node} ({ip}): expected the config rendered from the definition" in message
        assert path.split("[")[0] in message, (path, message)
    assert "node01 (" not in message

    # The plan re-applies node by node: safe without a reboot, node02's with one, which
    # this run does not allow, so nothing is changed.
    plan = refused.messages["HYG-07"]
    assert "[disruptive] node02 (k8s-node02)" in plan, plan
    assert "apply-config --nodes <node02> --mode reboot" in plan, plan
    for node in ("node03", "node04", "node05", "node06"):
        assert f"[safe] {node} (k8s-{node})" in plan, plan
        assert f"apply-config --nodes <{node}> --mode no-reboot" in plan, plan
    assert "need --allow-disruptive" in plan, plan
    assert refused.remediated == frozenset()
    assert still.returncode == 1
    assert still.stdout.endswith("5 of 6 node(s) differ from the rendered config\n")

    assert fixed.outcomes.get("HYG-07") == "passed", fixed.output
    assert "HYG-07" in fixed.remediated, fixed.output
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.endswith("0 of 6 node(s) differ from the rendered config\n")
