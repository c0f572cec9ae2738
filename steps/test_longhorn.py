"""Steps for features/longhorn.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then, when

from checks import longhorn, longhorn_version, longhorn_volumes
from checks.longhorn_volumes import VolumeProbe
from checks.snapshot import Snapshot
from fixtures.probe_longhorn import VolumeProbeRun
from fixtures.verify import Verify

scenarios("longhorn.feature")


@then("every node that can host Longhorn volumes runs the declared system extensions")
def then_storage_extensions_running(snapshot: Snapshot, verify: Verify) -> None:
    verify(longhorn.storage_extensions_running, snapshot)


@then(
    "the Longhorn data path is a ready volume bind-mounted into the kubelet on every storage node"
)
def then_longhorn_path_mounted(snapshot: Snapshot, verify: Verify) -> None:
    verify(longhorn.longhorn_path_mounted, snapshot)


@then("every storage node is a schedulable Longhorn node with a schedulable disk at the data path")
def then_storage_nodes_schedulable(snapshot: Snapshot, verify: Verify) -> None:
    verify(longhorn.storage_nodes_schedulable, snapshot)


@then(
    "the default replica setting, the Longhorn storage class and every volume ask for "
    "the declared replica count"
)
def then_replica_count_declared(snapshot: Snapshot, verify: Verify) -> None:
    verify(longhorn_volumes.replica_count_declared, snapshot)


@then("the Longhorn storage class is the only default storage class")
def then_longhorn_sole_default_class(snapshot: Snapshot, verify: Verify) -> None:
    verify(longhorn_volumes.longhorn_sole_default_class, snapshot)


@when(
    "a labelled test claim is created on the default storage class and deleted again",
    target_fixture="volume_probe",
)
def when_test_claim_created(longhorn_volume_probe: VolumeProbeRun) -> VolumeProbe:
    return longhorn_volume_probe()


@then(
    "every Longhorn volume and the test claim's volume have the declared number of healthy "
    "replicas on distinct nodes"
)
def then_volumes_fully_replicated(
    snapshot: Snapshot,
    volume_probe: VolumeProbe,
    longhorn_volume_probe: VolumeProbeRun,
    verify: Verify,
) -> None:
    verify(
        longhorn_volumes.volumes_fully_replicated,
        snapshot,
        probe=volume_probe,
        rerun={"probe": longhorn_volume_probe},
    )


@then("the Longhorn manager runs the declared Longhorn version")
def then_longhorn_version_declared(snapshot: Snapshot, verify: Verify) -> None:
    verify(longhorn_version.longhorn_version_declared, snapshot)
