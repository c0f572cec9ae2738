"""Steps for features/backups.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then

from checks import backups
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("backups.feature")


@then("the newest etcd backup was taken less than 26 hours ago")
def then_newest_etcd_backup_is_recent(snapshot: Snapshot, verify: Verify) -> None:
    verify(backups.newest_backup_is_recent, snapshot)


@then("the newest etcd backup is an age file and the backup directory holds no plaintext snapshot")
def then_newest_etcd_backup_is_encrypted(snapshot: Snapshot, verify: Verify) -> None:
    verify(backups.newest_backup_is_encrypted, snapshot)


@then("no etcd backup is older than the declared retention")
def then_no_etcd_backup_beyond_retention(snapshot: Snapshot, verify: Verify) -> None:
    verify(backups.backups_within_retention, snapshot)


@then("the newest etcd backup decrypts to an etcd snapshot with a plausible number of keys")
def then_newest_etcd_backup_restores(snapshot: Snapshot, verify: Verify) -> None:
    verify(backups.newest_backup_restores, snapshot)
