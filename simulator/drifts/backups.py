"""Backup drifts (BAK-01..04): backups stopped, a plaintext copy or an expired backup left
behind, a newest backup that does not restore.

They work on the backup directory the definition names (``backup.directory``),
the same files the backup controls read; names carry the timestamp that
freshness and retention go by (:mod:`provisioning.operations.backup_files`).  The BAK-04
drifts write what a broken backup job would: a real etcd snapshot of the
simulated cluster (``ctx.kv.snapshot``, what ``talosctl etcd snapshot``
streams) encrypted through :func:`provisioning.operations.backup.create_backup`, but to
a throwaway recipient, or an error message encrypted to the right one; or
they cut the newest file short.  No identity is ever written: the throwaway
key's private half only lives in memory, and the configured identity is only
read (by :mod:`provisioning.config.agestore`) when ``backup.ageRecipient`` is
``auto``, to derive its public recipient.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyrage import x25519

from provisioning.definition.problems import DefinitionError
from provisioning.operations import backup, backup_files
from simulator.drifts import DriftContext, DriftError, drift
from simulator.store.etcd import DatastoreError

STALE_AFTER = timedelta(hours=26)  # daily at 02:00 plus slack (k8s-stack facts §7.4)
# The age header and one X25519 stanza take about 200 bytes: a cut past this lands in the
# payload, so the header still reads as age (BAK-02 passes) and only decryption fails.
TRUNCATE_FLOOR = 512
SNAPSHOT_ERROR_OUTPUT = (
    b"error: rpc error: code = Unavailable desc = connection error: "
    b'desc = "transport: Error while dialing: dial tcp: connect: connection refused"\n'
)


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


@drift(
    "backups.snapshot_by_hand",
    controls=("BAK-02",),
    description="an operator took a snapshot by hand into the backup directory under a name "
    "of their own (talosctl etcd snapshot <dir>/before-upgrade): a plaintext etcd snapshot",
)
def snapshot_by_hand(ctx: DriftContext, node: str | None) -> str:
    directory, _ = _dated(ctx, "backups.snapshot_by_hand")
    target = directory / "before-upgrade"
    try:
        ctx.kv.snapshot(target)  # what `talosctl etcd snapshot` streams: the cluster's etcd
    except (NotImplementedError, DatastoreError) as exc:
        raise DriftError(f"cannot snapshot the simulated etcd: {exc}") from None
    target.chmod(0o600)
    return f"{target.name} ({target.stat().st_size} bytes, plaintext etcd snapshot) written"


# -- BAK-04: the newest backup does not restore ---------------------------------------------


def _next_name_time(dated: list[tuple[datetime, Path]]) -> datetime:
    """Now, or a second past the newest backup: the drifted backup must be the newest."""
    now = datetime.now(UTC).replace(microsecond=0)
    return max(now, dated[-1][0] + timedelta(seconds=1))


def _configured_recipient(ctx: DriftContext, drift_name: str) -> str:
    """The recipient the backup job encrypts to, resolved as the job resolves it."""
    cluster = ctx.cluster
    identity_file = cluster.secrets.identity_file
    mints = cluster.backup.age_recipient == "auto" and cluster.secrets.recipient == "auto"
    if mints and not identity_file.is_file():
        # Resolving would create an identity: a drift never mints keys of the cluster.
        raise DriftError(
            f"drift {drift_name} needs the secrets identity {identity_file} "
            "(backup.ageRecipient: auto), which does not exist"
        )
    try:
        return backup.backup_recipient(cluster, str(ctx.cluster_dir))
    except DefinitionError as exc:
        raise DriftError(f"drift {drift_name}: {exc}") from None


def _take_etcd_snapshot(ctx: DriftContext, drift_name: str) -> backup.TakeSnapshot:
    """The cluster's etcd snapshotted as ``talosctl etcd snapshot`` would (the same store)."""

    def take(path: Path) -> None:
        try:
            ctx.kv.snapshot(path)
        except (NotImplementedError, DatastoreError) as exc:
            raise DriftError(f"cannot snapshot the simulated etcd: {exc}") from None

    return take


def _new_backup(
    ctx: DriftContext, drift_name: str, recipient: str, take: backup.TakeSnapshot
) -> Path:
    directory, dated = _dated(ctx, drift_name)
    try:
        return backup.create_backup(directory, recipient, take, now=_next_name_time(dated))
    except backup_files.BackupError as exc:
        raise DriftError(f"drift {drift_name}: {exc}") from None


@drift(
    "backups.foreign_recipient",
    controls=("BAK-04",),
    description="the backup job encrypts to a rotated age recipient: tonight's backup "
    "(now the newest) is a real etcd snapshot the configured identity cannot decrypt",
)
def foreign_recipient(ctx: DriftContext, node: str | None) -> str:
    # A throwaway key pair: only its public half is used; the identity is never written
    # anywhere, so no one can decrypt this backup -- as with a key rotated and then lost.
    recipient = str(x25519.Identity.generate().to_public())
    take = _take_etcd_snapshot(ctx, "backups.foreign_recipient")
    made = _new_backup(ctx, "backups.foreign_recipient", recipient, take)
    return f"{made.name}: an etcd snapshot encrypted to a recipient the identity does not hold"


@drift(
    "backups.truncate_newest",
    controls=("BAK-04",),
    description="the newest backup was cut short (a copy or sync interrupted): its age header "
    "is intact but the ciphertext ends half-way",
)
def truncate_newest(ctx: DriftContext, node: str | None) -> str:
    _, dated = _dated(ctx, "backups.truncate_newest")
    newest = dated[-1][1]
    size = newest.stat().st_size
    if size <= TRUNCATE_FLOOR:
        raise DriftError(f"drift backups.truncate_newest: {newest} is only {size} bytes")
    # Past the age header and its recipient stanza, inside the encrypted payload.
    keep = max(TRUNCATE_FLOOR, size // 2)
    with newest.open("r+b") as handle:
        handle.truncate(keep)
    return f"{newest.name} truncated from {size} to {keep} bytes"


@drift(
    "backups.not_a_snapshot",
    controls=("BAK-04",),
    description="the backup job encrypted the snapshot step's error output instead of a "
    "snapshot: the newest backup decrypts with the configured identity, but not to an etcd "
    "snapshot",
)
def not_a_snapshot(ctx: DriftContext, node: str | None) -> str:
    recipient = _configured_recipient(ctx, "backups.not_a_snapshot")

    def take(path: Path) -> None:
        # What a `talosctl etcd snapshot /dev/stdout 2>&1 | age ...` script captures when
        # the node refuses: the error text, streamed into the "snapshot".
        path.write_bytes(SNAPSHOT_ERROR_OUTPUT)

    made = _new_backup(ctx, "backups.not_a_snapshot", recipient, take)
    return f"{made.name}: an age file whose plaintext is an error message, not a snapshot"


# -- what a person or a broken job drops into the directory ------------------------------

FUTURE_BY = timedelta(days=3)


@drift(
    "backups.future_dated",
    controls=("BAK-01",),
    description="a backup named three days ahead (a backup host whose clock ran ahead, or a "
    "copy renamed by hand) lies in the backup directory: by its name it is the newest",
)
def future_dated(ctx: DriftContext, node: str | None) -> str:
    directory, dated = _dated(ctx, "backups.future_dated")
    when = datetime.now(UTC).replace(microsecond=0) + FUTURE_BY
    target = directory / backup_files.backup_name(when)
    shutil.copyfile(dated[-1][1], target)  # a real age file: only its date is wrong
    target.chmod(0o600)
    return f"{target.name} (dated {FUTURE_BY.days} days ahead) copied from {dated[-1][1].name}"


@drift(
    "backups.unencrypted_backup",
    controls=("BAK-02",),
    description="the backup job skipped encryption: tonight's etcd-<ts>.snapshot.age (now the "
    "newest) holds the plaintext etcd snapshot, named like every encrypted one",
)
def unencrypted_backup(ctx: DriftContext, node: str | None) -> str:
    directory, dated = _dated(ctx, "backups.unencrypted_backup")
    target = directory / backup_files.backup_name(_next_name_time(dated))
    try:
        ctx.kv.snapshot(target)  # what `talosctl etcd snapshot` streams, never encrypted
    except (NotImplementedError, DatastoreError) as exc:
        raise DriftError(f"cannot snapshot the simulated etcd: {exc}") from None
    target.chmod(0o600)
    return f"{target.name}: a plaintext etcd snapshot under a backup's name"
