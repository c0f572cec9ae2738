"""BAK-01..04 over hand-built listings of the backup directory.

File names come from :func:`provisioning.operations.backup_files.backup_name`, so the
controls and the backup job agree on the naming by construction; times are
relative to the snapshot's ``taken_at``, never to the wall clock.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checks import backups
from checks import snapshot as snap
from checks.findings import Unobservable
from checks.snapshot import BackupFile, Backups, Snapshot
from provisioning.definition import inventory
from provisioning.operations import backup_files

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DIRECTORY = "/srv/backups/K8S-CLUSTER"


def backup(age: timedelta, *, header: bool = True, name: str | None = None) -> BackupFile:
    when = NOW - age
    return BackupFile(
        name=name or backup_files.backup_name(when),
        size=1_081_921,
        modified=when,
        age_header=header,
    )


def daily(days: int = 30) -> tuple[BackupFile, ...]:
    """One backup a day at 02:00, the newest ten hours before the snapshot."""
    return tuple(backup(timedelta(hours=10) + timedelta(days=d)) for d in range(days))


def snapshot_of(cluster: inventory.Cluster, listing: Backups | None, **kw: Any) -> Snapshot:
    return Snapshot(definition=cluster, target="test", taken_at=NOW, backups=listing, **kw)


def listing(*files: BackupFile, keys: int | None = 1234, error: str | None = None) -> Backups:
    return Backups(directory=DIRECTORY, files=files, restore_keys=keys, restore_error=error)


ALL = (
    backups.newest_backup_is_recent,
    backups.newest_backup_is_encrypted,
    backups.backups_within_retention,
    backups.newest_backup_restores,
)


def test_clean_directory_holds_every_control(cluster: inventory.Cluster) -> None:
    clean = snapshot_of(cluster, listing(*daily()))
    for check in ALL:
        assert check(clean) == [], check.__name__


def test_stopped_backups_name_the_newest_and_its_age(cluster: inventory.Cluster) -> None:
    stale = [backup(timedelta(hours=27) + timedelta(days=d)) for d in range(5)]
    [finding] = backups.newest_backup_is_recent(snapshot_of(cluster, listing(*stale)))
    assert finding.target == f"{DIRECTORY}/{stale[0].name}"
    assert finding.observed == "the newest backup is 27.0 h old"
    assert finding.expected == "a backup younger than 26.0 h"
    # A fresh file whose name carries no timestamp does not count as a backup.
    odd = backup(timedelta(hours=1), name="etcd-latest.snapshot.age")
    assert backups.newest_backup_is_recent(snapshot_of(cluster, listing(odd, *stale)))


def test_a_backup_dated_in_the_future_cannot_hide_a_stopped_job(
    cluster: inventory.Cluster,
) -> None:
    stale = [backup(timedelta(hours=30) + timedelta(days=d)) for d in range(3)]
    ahead = backup(-timedelta(days=3))
    found = backups.newest_backup_is_recent(snapshot_of(cluster, listing(ahead, *stale)))
    assert [(f.target, f.observed) for f in found] == [
        (f"{DIRECTORY}/{ahead.name}", "dated in the future: not a backup taken yet"),
        (f"{DIRECTORY}/{stale[0].name}", "the newest backup is 30.0 h old"),
    ]
    assert isinstance(found[0], backups.BackupDatedInFuture)
    assert found[0].path == f"{DIRECTORY}/{ahead.name}"
    # Minutes ahead are a clock's slack, not a finding.
    slightly = backup(-timedelta(minutes=5))
    assert backups.newest_backup_is_recent(snapshot_of(cluster, listing(slightly))) == []


def test_mtime_is_not_the_age(cluster: inventory.Cluster) -> None:
    old = backup(timedelta(days=3))
    copied = dataclasses.replace(old, modified=NOW)  # a sync rewrote the mtime
    assert backups.newest_backup_is_recent(snapshot_of(cluster, listing(copied)))


def test_empty_directory(cluster: inventory.Cluster) -> None:
    empty = snapshot_of(cluster, listing(keys=None))
    [recent] = backups.newest_backup_is_recent(empty)
    assert recent.target == DIRECTORY
    assert "no etcd-<timestamp>.snapshot.age file" in recent.observed
    assert backups.newest_backup_is_encrypted(empty)[0].observed == "no dated backup"
    assert backups.backups_within_retention(empty) == []


def test_plaintext_beside_and_unencrypted_newest(cluster: inventory.Cluster) -> None:
    files = list(daily(3))
    files[0] = dataclasses.replace(files[0], age_header=False)
    stamp = files[1].name.removesuffix(".age")
    files += [
        BackupFile(stamp, 5_000_000, NOW, False),  # a decrypted copy left behind
        BackupFile("etcd.db", 5_000_000, NOW, False),
        BackupFile("snapshot.part", 10, NOW, False),
    ]
    found = backups.newest_backup_is_encrypted(snapshot_of(cluster, listing(*files)))
    by_target = {f.target.removeprefix(DIRECTORY + "/"): f.observed for f in found}
    assert by_target[files[0].name] == "no age header: plaintext or corrupt"
    assert set(by_target) == {files[0].name, stamp, "etcd.db", "snapshot.part"}
    assert by_target["etcd.db"] == "a file without the age header (5000000 bytes): not encrypted"
    assert {f.expected for f in found} == {"an age file (header age-encryption.org/v1)"}


@pytest.mark.parametrize(
    "name", ["before-upgrade", "README", "etcd-manual.snapshot.age.bak", "cluster.tar.age"]
)
def test_any_file_without_the_age_header_is_plaintext_whatever_its_name(
    cluster: inventory.Cluster, name: str
) -> None:
    # `talosctl etcd snapshot /srv/backups/before-upgrade`: a name no pattern foresees.
    odd = BackupFile(name, 5_000_000, NOW, False)
    [finding] = backups.newest_backup_is_encrypted(snapshot_of(cluster, listing(*daily(3), odd)))
    assert finding.target == f"{DIRECTORY}/{name}"
    assert finding.expected == "an age file (header age-encryption.org/v1)"
    assert finding.observed == "a file without the age header (5000000 bytes): not encrypted"


def test_an_age_file_passes_whatever_its_name(cluster: inventory.Cluster) -> None:
    # An extra age file (a copy kept by hand) is encrypted: BAK-02 has nothing to say.
    extra = BackupFile("before-upgrade.age", 5_000_000, NOW, True)
    assert backups.newest_backup_is_encrypted(snapshot_of(cluster, listing(*daily(3), extra))) == []


def test_retention_spares_the_newest_and_flags_undated(cluster: inventory.Cluster) -> None:
    retention = cluster.backup.retention_days
    expired = backup(timedelta(days=retention + 2))
    exactly = backup(timedelta(days=retention))  # the prune keeps a backup exactly that old
    undated = backup(timedelta(days=1), name="etcd-manual.snapshot.age")
    found = backups.backups_within_retention(
        snapshot_of(cluster, listing(*daily(5), expired, exactly, undated))
    )
    by_target = {f.target.removeprefix(DIRECTORY + "/"): f.observed for f in found}
    assert by_target == {
        expired.name: f"{retention + 2}.0 days old",
        "etcd-manual.snapshot.age": "no timestamp in the name: retention never removes it",
    }
    assert f"{retention} days" in found[0].expected
    # When every backup is expired, the newest is kept (and BAK-01 reports its age).
    only_old = listing(backup(timedelta(days=90)), backup(timedelta(days=80)))
    [finding] = backups.backups_within_retention(snapshot_of(cluster, only_old))
    assert finding.observed == "90.0 days old"


def test_restore_outcomes(cluster: inventory.Cluster) -> None:
    files = daily(2)
    newest = f"{DIRECTORY}/{files[0].name}"
    failed = snapshot_of(cluster, listing(*files, keys=None, error="cannot be decrypted"))
    [finding] = backups.newest_backup_restores(failed)
    assert (finding.target, finding.observed) == (newest, "cannot be decrypted")
    floor = backups.minimum_keys(len(cluster.nodes))
    assert floor == 6 + len(cluster.nodes)
    few = snapshot_of(cluster, listing(*files, keys=floor - 1))
    [finding] = backups.newest_backup_restores(few)
    assert finding.observed == f"{floor - 1} keys"
    assert backups.newest_backup_restores(snapshot_of(cluster, listing(*files, keys=floor))) == []


def test_restore_without_identity_is_unobservable(cluster: inventory.Cluster) -> None:
    no_identity = dataclasses.replace(
        cluster, backup=dataclasses.replace(cluster.backup, identity_file=None)
    )
    unrun = snapshot_of(no_identity, listing(*daily(2), keys=None))
    with pytest.raises(Unobservable, match=r"no age identity configured \(backup.identityFile\)"):
        backups.newest_backup_restores(unrun)
    with pytest.raises(Unobservable, match="restore check was not run"):
        backups.newest_backup_restores(snapshot_of(cluster, listing(*daily(2), keys=None)))


@pytest.mark.parametrize("check", ALL)
def test_unread_directory_is_unobservable(cluster: inventory.Cluster, check: Any) -> None:
    gone = snapshot_of(cluster, None, missing={snap.BACKUPS: f"{DIRECTORY}: permission denied"})
    with pytest.raises(Unobservable, match="permission denied"):
        check(gone)
    with pytest.raises(Unobservable, match="not read"):
        check(snapshot_of(cluster, None))
