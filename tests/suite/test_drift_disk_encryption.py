"""Disk-encryption drift end to end: a node formatted without LUKS2 fails ENC-01, naming it.

``disk_encryption.strip_luks`` reformats node03's STATE and EPHEMERAL plain in
a copy of the provisioned simulated cluster; the suite's disk-encryption and
seccomp steps run once against it (one collection): ENC-01 fails with one
finding per volume, naming node03, and SEC-01 (not drifted) passes.  The
clean cluster, observed through the same collector, passes ENC-01 for both
volumes.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import disk_encryption
from checks.snapshot import Snapshot

pytestmark = pytest.mark.slow

VOLUMES = disk_encryption.SYSTEM_VOLUMES


def test_clean_cluster_has_luks2_system_volumes(clean_snapshot: Snapshot) -> None:
    for volume in VOLUMES:
        assert disk_encryption.volume_is_luks2_with_node_key(clean_snapshot, volume) == []


def test_stripped_node_fails_enc01_naming_node_and_volumes(cluster_with: Any) -> None:
    with cluster_with(("disk_encryption.strip_luks", "node03")) as running:
        run = running.run_suite("steps/test_disk_encryption.py", "steps/test_seccomp.py")

    assert run.returncode == 1, run.output
    assert run.outcomes == {"ENC-01": "failed", "SEC-01": "passed", "SEC-02": "passed"}, run.output
    # Both outline rows fail, each with the one finding for node03's volume.
    assert run.output.count("volume_is_luks2_with_node_key: 1 finding(s)") >= len(VOLUMES)
    for volume in VOLUMES:
        assert (
            f"node03 (k8s-node03) volume {volume}: expected luks2, keys [nodeID], unlocked by "
            "slot 0, phase ready; observed no encryption provider (plain volume)"
        ) in run.output
