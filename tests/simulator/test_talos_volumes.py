"""Volumes follow from config and history: encryption, old signatures, wipes."""

from __future__ import annotations

import pytest

from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle, ResetOptions
from tests.simulator import talos_site as ts


def test_encryption_comes_from_the_installed_config() -> None:
    life = ts.running_cluster(1)
    node = life.site.machines["node01"]
    for label in ("STATE", "EPHEMERAL"):
        assert node.volumes[label].encryption == "luks2"
        assert node.volumes[label].key_types == ["nodeID"]
        assert node.volumes[label].phase == "ready"


def test_plain_install_is_plain() -> None:
    life = ts.running_cluster(1, encrypt=False)
    assert life.site.machines["node01"].volumes["EPHEMERAL"].encryption == ""


def test_adding_encryption_to_a_formatted_volume_fails_until_wiped() -> None:
    life = ts.running_cluster(1, encrypt=False)
    life.apply_config(ts.ip(1), ts.config(1, encrypt=True), mode="staged")
    life.reboot(ts.ip(1))
    ephemeral = life.site.machines["node01"].volumes["EPHEMERAL"]
    assert ephemeral.phase == "failed"
    assert ephemeral.error == "block dev type mismatch: xfs != luks"
    life.reset(
        ts.ip(1),
        ResetOptions(graceful=False, reboot=True, system_labels_to_wipe=("EPHEMERAL",)),
    )
    ephemeral = life.site.machines["node01"].volumes["EPHEMERAL"]
    assert (ephemeral.phase, ephemeral.encryption, ephemeral.error) == ("ready", "luks2", "")
    assert life.site.machines["node01"].volumes["STATE"].phase == "failed"


def test_old_signature_blocks_user_disk_until_wiped() -> None:
    life = Lifecycle(ts.site(1, dirty_storage=True))
    life.apply_config(ts.ip(1), ts.config(1, storage=True), insecure=True)
    volume = life.site.machines["node01"].volumes[f"{ts.STORAGE}-1"]
    assert volume.phase == "waiting"
    assert volume.error == (
        "no disks matched for volume (1 matched selector): 0 have not enough space, "
        "1 have wrong format, 0 have other issues"
    )
    life.wipe_disk(ts.ip(1), ["sda"])
    assert volume.phase == "ready"
    assert volume.location == "/dev/sda1"
    assert volume.mount_point == "/var/lib/longhorn"


def test_wipe_disk_refusals() -> None:
    life = ts.running_cluster(1, storage=True)
    with pytest.raises(TalosError) as missing:
        life.wipe_disk(ts.ip(1), ["sdz"])
    assert (missing.value.code, missing.value.message) == (
        "NotFound",
        'blockdevice "sdz" not found',
    )
    with pytest.raises(TalosError) as busy:
        life.wipe_disk(ts.ip(1), ["nvme0n1p3"])
    assert busy.value.message == 'blockdevice "nvme0n1p3" is in use by volume "STATE"'


def test_wipe_disk_works_insecure_in_maintenance() -> None:
    life = Lifecycle(ts.site(1, dirty_storage=True))
    life.wipe_disk(ts.ip(1), ["sda"], insecure=True)
    assert life.site.machines["node01"].hardware.disks[1].signatures == []
