"""Backup drifts (BAK-01..03): backups stopped, a plaintext copy or an expired backup left behind.

They work on the backup directory the definition names (``backup.directory``),
the same files the backup controls read; names carry the timestamp that
freshness and retention go by (:mod:`provisioning.backup_files`).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provisioning import backup_files
from simulator.drifts import DriftContext, DriftError, drift

STALE_AFTER = timedelta(hours=26)  # daily at 02:00 plus slack (k8s-stack facts §7.4)


def _dated(ctx: DriftContext, drift_name: str) -> tuple[Path, list[tuple[datetime, Path]]]:
    directory = ctx.cluster.backup.directory
    try:
        listing = backup_files.list_backups(directory)
    except backup_files.BackupError as exc:
        raise DriftError(str(exc)) from None
    if not listing.dated:
        raise DriftError(f"drift {drift_name} needs backups, but {directory} holds none")
    return directory, list(listing.dated)


def _set_time(path: Path, when: datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


@drift(
    "backups.stop",
    controls=("BAK-01",),
    description="backups stopped: backups of the last 26 h are gone, the newest is older",
)
def stop(ctx: DriftContext, node: str | None) -> str:
    directory, dated = _dated(ctx, "backups.stop")
    now = datetime.now(UTC)
    cutoff = now - STALE_AFTER
    fresh = [(when, path) for when, path in dated if when > cutoff]
    if len(fresh) == len(dated):
        # Every backup is recent: keep the oldest as the "last one before the job stopped".
        _, keep = fresh.pop(0)
        last = cutoff - timedelta(hours=1)
        moved = directory / backup_files.backup_name(last)
        keep.replace(moved)
        _set_time(moved, last)
    for _, path in fresh:
        path.unlink()
    newest = backup_files.list_backups(directory).newest
    assert newest is not None
    return f"{len(fresh)} recent backups removed; the newest is now {newest.name}"


@drift(
    "backups.age",
    controls=("BAK-03",),
    description="a backup older than the retention period is left in the backup directory",
)
def age(ctx: DriftContext, node: str | None) -> str:
    directory, dated = _dated(ctx, "backups.age")
    retention = ctx.cluster.backup.retention_days
    when = datetime.now(UTC) - timedelta(days=retention + 2)
    target = directory / backup_files.backup_name(when)
    # A real encrypted snapshot, so only its age is wrong.
    shutil.copyfile(dated[0][1], target)
    target.chmod(0o600)
    _set_time(target, when)
    return f"{target.name} ({retention + 2} days old, retention {retention} days) left behind"


@drift(
    "backups.leave_plaintext",
    controls=("BAK-02",),
    description="a decrypted copy of the newest backup (etcd-<ts>.snapshot) is left beside it "
    "in the backup directory",
)
def leave_plaintext(ctx: DriftContext, node: str | None) -> str:
    directory, dated = _dated(ctx, "backups.leave_plaintext")
    _, newest = dated[-1]
    plaintext = directory / newest.name.removesuffix(".age")
    # Stand-in bytes: what matters to the control is a plaintext snapshot's name beside the
    # backups, never its content (the simulator holds no identity to decrypt with).
    plaintext.write_bytes(b"etcd snapshot stand-in\n")
    return f"{plaintext.name} written beside {newest.name}"
