"""Steps for features/disk_encryption.feature (area phrases only).

The volume is a parse type over the system volumes the control covers, so a
misspelt volume in the feature is "step not found", never a check of a
volume nobody meant.
"""

from __future__ import annotations

from pytest_bdd import parsers, scenarios, then

from checks import disk_encryption
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("disk_encryption.feature")


class SystemVolume:
    """A parse type (``parse.with_pattern``'s protocol): only the volumes ENC-01 covers."""

    pattern = "|".join(disk_encryption.SYSTEM_VOLUMES)

    def __call__(self, text: str) -> str:
        return text


VOLUME_TYPES = {"SystemVolume": SystemVolume()}


@then(
    parsers.parse(
        "{volume:SystemVolume} is a LUKS2 volume keyed by nodeID in slot 0 on every node",
        extra_types=VOLUME_TYPES,
    )
)
def then_volume_is_luks2_keyed_by_node_id(volume: str, snapshot: Snapshot, verify: Verify) -> None:
    verify(disk_encryption.volume_is_luks2_with_node_key, snapshot, volume=volume)
