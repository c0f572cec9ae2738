"""Seccomp drift end to end: a kubelet without seccompDefault fails SEC-01, naming its node.

``seccomp.disable_default`` sets ``defaultRuntimeSeccompProfileEnabled:
false`` in node02's applied config; the suite's seccomp and disk-encryption
steps run once against the copy: the kubelet's running configuration
(configz) says ``seccompDefault: false`` for node02 only, so SEC-01 fails
with that one finding, and SEC-02 and ENC-01 (not drifted) pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import seccomp
from checks.snapshot import Snapshot

pytestmark = pytest.mark.slow


def test_clean_cluster_defaults_to_runtime_default(clean_snapshot: Snapshot) -> None:
    assert seccomp.seccomp_default_on_every_node(clean_snapshot) == []
    # The clean cluster's own pods outside the exempt namespaces (if any) are confined too.
    assert seccomp.no_unconfined_containers(clean_snapshot) == []


def test_disabled_default_fails_sec01_naming_the_node(cluster_with: Any) -> None:
    with cluster_with(("seccomp.disable_default", "node02")) as running:
        run = running.run_suite("steps/test_seccomp.py", "steps/test_disk_encryption.py")

    assert run.returncode == 1, run.output
    assert run.outcomes == {"SEC-01": "failed", "SEC-02": "passed", "ENC-01": "passed"}, run.output
    message = run.messages["SEC-01"]
    assert "seccomp_default_on_every_node: 1 finding(s)" in message
    assert (
        "node02 (k8s-node02) kubelet: expected seccompDefault: true; observed seccompDefault: false"
    ) in message
