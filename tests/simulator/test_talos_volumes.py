"""Volumes follow from config and history: encryption, old signatures, wipes."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.talos import resources
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


# -- how a user disk's mount is reported (VolumeStatus vs MountStatus) ---------------------


def _specs(life: Lifecycle, kind: str) -> dict[str, dict[str, Any]]:
    """Resource ID -> spec of *kind* on node01."""
    site = life.site
    found = resources.resources(site, site.machines["node01"], resources.resolve_type(kind))
    return {r.id: r.spec for r in found}


def test_user_disk_under_var_is_mounted_inside_ephemeral() -> None:
    # Talos v1.12 (block/user_disk_config.go): the VolumeConfig, hence the
    # VolumeStatus, holds the path relative to EPHEMERAL; the MountStatus the full one.
    life = ts.running_cluster(1, storage=True)
    volume_id = f"{ts.STORAGE}-1"
    assert _specs(life, "volumestatuses")[volume_id]["mountSpec"] == {
        "targetPath": "lib/longhorn",
        "selinuxLabel": "system_u:object_r:ephemeral_t:s0",
        "parentId": "EPHEMERAL",
    }
    mount = _specs(life, "mountstatuses")[volume_id]
    assert (mount["target"], mount["source"], mount["filesystem"]) == (
        "/var/lib/longhorn",
        "/dev/sda1",
        "xfs",
    )
    assert mount["spec"]["parentID"] == "EPHEMERAL"
    assert _specs(life, "mountstatuses")["EPHEMERAL"]["target"] == "/var"
    assert _specs(life, "mounts")[volume_id]["target"] == "/var/lib/longhorn"


def test_user_disk_outside_var_keeps_its_absolute_path() -> None:
    life = Lifecycle(ts.site(1))
    text = ts.config(1, storage=True).replace("/var/lib/longhorn", "/mnt/data/")
    life.apply_config(ts.ip(1), text, insecure=True)
    volume_id = f"{ts.STORAGE}-1"
    spec = _specs(life, "volumestatuses")[volume_id]["mountSpec"]
    assert spec["targetPath"] == "/mnt/data/"
    assert "parentId" not in spec
    mount = _specs(life, "mountstatuses")[volume_id]
    assert (mount["target"], mount["spec"]["parentID"]) == ("/mnt/data", "")


def test_user_disk_under_var_is_not_mounted_while_ephemeral_is_not() -> None:
    life = ts.running_cluster(1, encrypt=False, storage=True)
    life.apply_config(ts.ip(1), ts.config(1, encrypt=True, storage=True), mode="staged")
    life.reboot(ts.ip(1))
    volumes = _specs(life, "volumestatuses")
    assert volumes["EPHEMERAL"]["phase"] == "failed"
    assert volumes[f"{ts.STORAGE}-1"]["phase"] == "ready"  # located, but nowhere to mount
    targets = [m["target"] for m in _specs(life, "mountstatuses").values()]
    assert "/var" not in targets
    assert "/var/lib/longhorn" not in targets
