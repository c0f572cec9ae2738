"""Backup controls (BAK-01..04): fresh, encrypted, pruned and restorable etcd snapshots.

The backups are ``etcd-<UTC timestamp>.snapshot.age`` files in the declared
``backup.directory`` (:mod:`provisioning.operations.backup_files` owns the naming).  Every
age judgement goes by the timestamp in the *name*, like the pruning job: a
copy or a sync rewrites mtimes, and a control that trusted them would call a
month-old backup fresh.  Ages are measured from the moment the snapshot was
taken, so every control of a run judges the same instant.

- BAK-01: the newest dated backup is younger than 26 h (a daily 02:00 job,
  plus two hours of slack for a slow run); a name dated in the future is a
  finding and does not count as that backup.
- BAK-02: a dated backup exists, and every file in the directory starts with
  the age header (``age-encryption.org/v1``), whatever its name: a plaintext
  snapshot taken by hand as ``before-upgrade`` is as plaintext as
  ``etcd.db``, and the collector already reads every file's first bytes.  The
  backup job writes nothing else there (its working files live in a
  ``.backup-*`` directory it removes), so anything without the header is a
  finding.
- BAK-03: nothing is older than ``backup.retentionDays``, except the newest
  backup, which the prune never deletes (its age is BAK-01's business); a
  backup-named file without a timestamp is a finding, because no prune will
  ever remove it.
- BAK-04: with an identity configured, the newest backup decrypted to an
  etcd snapshot holding a plausible number of keys.  ``etcdutl``'s key count
  includes bbolt's own buckets (an empty etcd reports 6), so a snapshot of a
  cluster must hold at least those six plus one key per declared node (each
  registered node is at least its Node object) -- a deliberately low floor
  that still tells an emptied or foreign snapshot from a cluster's.  Without an identity the
  control is unobservable: the identity stays off the host by design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import Finding, Unobservable
from checks.snapshot import BackupFile, Backups, Snapshot
from provisioning.operations import backup_files

DOC = "https://docs.siderolabs.com/talos/v1.12/build-and-extend-talos/cluster-operations-and-maintenance/disaster-recovery"
AGE_DOC = "https://age-encryption.org/v1"

MAX_AGE = timedelta(hours=26)
EMPTY_ETCD_KEYS = 6
# A name dated later than this past the observation is no backup taken yet: a clock gone
# wrong on the backup host, or a file named by hand.  Minutes of slack cover a host clock
# a little ahead of the one that took the snapshot.
FUTURE_SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class BackupDatedInFuture(Finding):
    """A backup whose name is dated after the observation: it cannot vouch for freshness
    and no prune removes it before its date; *path* is the file."""

    path: str = ""


def _backups(snapshot: Snapshot) -> Backups:
    snapshot.require(snapshot_module.BACKUPS)
    if snapshot.backups is None:
        raise Unobservable("the backup directory was not read in this run")
    return snapshot.backups


def _dated(backups: Backups) -> list[tuple[datetime, BackupFile]]:
    """Backups whose name carries a timestamp, oldest first."""
    dated = []
    for file in backups.files:
        when = backup_files.parse_backup_name(file.name)
        if when is not None:
            dated.append((when, file))
    return sorted(dated, key=lambda pair: (pair[0], pair[1].name))


def _age_text(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"


def _where(backups: Backups, name: str = "") -> str:
    return f"{backups.directory.rstrip('/')}/{name}" if name else backups.directory


def _future(snapshot: Snapshot, dated: list[tuple[datetime, BackupFile]]) -> list[BackupFile]:
    return [file for when, file in dated if when > snapshot.taken_at + FUTURE_SLACK]


@judged.judges(backup_files=judged.backup_files)
def newest_backup_is_recent(snapshot: Snapshot) -> list[Finding]:
    """BAK-01: the newest dated backup taken so far is younger than :data:`MAX_AGE`.

    A name dated in the future (more than :data:`FUTURE_SLACK` after the
    observation) is no evidence of a backup taken: it is reported itself and
    the freshness is judged without it, so a file named ahead of time cannot
    hide that the daily job stopped.
    """
    backups = _backups(snapshot)
    everything = _dated(backups)
    ahead = _future(snapshot, everything)
    dated = [(when, file) for when, file in everything if file not in ahead]
    expected = f"a backup younger than {_age_text(MAX_AGE)}"
    findings: list[Finding] = [
        BackupDatedInFuture(
            _where(backups, file.name),
            f"a name dated no later than the observation ({snapshot.taken_at:%Y-%m-%dT%H:%MZ})",
            "dated in the future: not a backup taken yet",
            DOC,
            path=_where(backups, file.name),
        )
        for file in ahead
    ]
    if not dated:
        findings.append(
            Finding(_where(backups), expected, "no etcd-<timestamp>.snapshot.age file", DOC)
        )
        return findings
    when, newest = dated[-1]
    age = snapshot.taken_at - when
    if age > MAX_AGE:
        findings.append(
            Finding(
                _where(backups, newest.name),
                expected,
                f"the newest backup is {_age_text(age)} old",
                DOC,
            )
        )
    return findings


@judged.judges(backup_files=judged.backup_files)
def newest_backup_is_encrypted(snapshot: Snapshot) -> list[Finding]:
    """BAK-02: a dated backup exists and every file in the directory is an age file.

    Judged by content, never by name: https://age-encryption.org/v1 files begin
    with the version line, an etcd snapshot (a bbolt file) or anything else
    does not.
    """
    backups = _backups(snapshot)
    findings: list[Finding] = []
    if not _dated(backups):
        findings.append(Finding(_where(backups), "an age-encrypted backup", "no dated backup", DOC))
    for file in backups.files:
        if file.age_header:
            continue
        if file.name.startswith(backup_files.PREFIX) and file.name.endswith(backup_files.SUFFIX):
            observed = "no age header: plaintext or corrupt"
        else:
            observed = f"a file without the age header ({file.size} bytes): not encrypted"
        findings.append(
            Finding(
                _where(backups, file.name),
                "an age file (header age-encryption.org/v1)",
                observed,
                AGE_DOC,
            )
        )
    return findings


@judged.judges(backup_files=judged.backup_files)
def backups_within_retention(snapshot: Snapshot) -> list[Finding]:
    """BAK-03: no backup is older than the declared retention (the newest excepted)."""
    backups = _backups(snapshot)
    retention = snapshot.definition.backup.retention_days
    cutoff = snapshot.taken_at - timedelta(days=retention)
    dated = _dated(backups)
    expected = f"no backup older than {retention} days (backup.retentionDays)"
    findings = [
        Finding(
            _where(backups, file.name),
            expected,
            f"{_age_text(snapshot.taken_at - when)} old",
            DOC,
        )
        for when, file in dated[:-1]
        if when < cutoff
    ]
    findings.extend(
        Finding(
            _where(backups, file.name),
            f"a name etcd-<{backup_files.TIMESTAMP_FORMAT}>.snapshot.age",
            "no timestamp in the name: retention never removes it",
            DOC,
        )
        for file in backups.files
        if file.name.startswith(backup_files.PREFIX)
        and file.name.endswith(backup_files.SUFFIX)
        and backup_files.parse_backup_name(file.name) is None
    )
    return findings


def minimum_keys(node_count: int) -> int:
    """The fewest keys a snapshot of a cluster with *node_count* nodes can plausibly hold."""
    return EMPTY_ETCD_KEYS + node_count


@judged.judges(backups=judged.one)
def newest_backup_restores(snapshot: Snapshot) -> list[Finding]:
    """BAK-04: the newest backup decrypts to an etcd snapshot with a plausible key count."""
    backups = _backups(snapshot)
    definition = snapshot.definition
    target = _where(backups, _newest_name(backups))
    if backups.restore_error is not None:
        return [Finding(target, "decrypts to a readable etcd snapshot", backups.restore_error, DOC)]
    if backups.restore_keys is None:
        if definition.backup.identity_file is None:
            raise Unobservable("no age identity configured (backup.identityFile)")
        raise Unobservable("the restore check was not run in this collection")
    floor = minimum_keys(len(definition.nodes))
    if backups.restore_keys < floor:
        return [
            Finding(
                target,
                f"an etcd snapshot with at least {floor} keys "
                f"({EMPTY_ETCD_KEYS} of an empty etcd plus one per declared node)",
                f"{backups.restore_keys} keys",
                DOC,
            )
        ]
    return []


def _newest_name(backups: Backups) -> str:
    dated: Sequence[tuple[datetime, BackupFile]] = _dated(backups)
    return dated[-1][1].name if dated else ""
