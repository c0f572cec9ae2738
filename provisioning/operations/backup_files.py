"""The backup directory: file names, private files, and retention.

Kept apart from :mod:`provisioning.operations.backup` (which takes, encrypts and checks
snapshots) because these rules are pure file-system bookkeeping that the
pruning tests exercise without any etcd or age.

A backup is ``etcd-<UTC %Y%m%dT%H%M%SZ>.snapshot.age``.  Retention goes by the
timestamp in that *name*, not by mtime: copying, restoring or syncing a
directory rewrites mtimes, and a prune that trusted them could delete every
backup at once.  A file that matches ``etcd-*.snapshot.age`` but whose
timestamp does not parse is left alone and reported -- an operator put it
there, and guessing its age is not this tool's call.  The newest backup is
never deleted, so a host whose clock jumped ahead, or a job that failed for
longer than the retention, still leaves one restorable snapshot.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

PREFIX = "etcd-"
SUFFIX = ".snapshot.age"
PATTERN = f"{PREFIX}*{SUFFIX}"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A backup step failed; the message names the file or setting concerned."""

    def __init__(self, where: Path | str, message: str) -> None:
        self.where = str(where)
        self.message = message
        super().__init__(f"{where}: {message}")


def backup_name(when: datetime) -> str:
    """The file name of a backup taken at *when* (converted to UTC)."""
    if when.tzinfo is None:
        raise ValueError("backup times must be timezone-aware")
    return f"{PREFIX}{when.astimezone(UTC).strftime(TIMESTAMP_FORMAT)}{SUFFIX}"


def parse_backup_name(name: str) -> datetime | None:
    """The UTC time in a backup's file name, or None if the name carries none."""
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    stamp = name[len(PREFIX) : -len(SUFFIX)]
    try:
        parsed = datetime.strptime(stamp, TIMESTAMP_FORMAT)
    except ValueError:
        return None
    # strptime accepts some sloppy forms (single-digit fields); only our own format counts.
    if parsed.strftime(TIMESTAMP_FORMAT) != stamp:
        return None
    return parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Listing:
    """The backups in a directory: dated ones oldest first, and the rest."""

    dated: tuple[tuple[datetime, Path], ...]
    unparsable: tuple[Path, ...]

    @property
    def newest(self) -> Path | None:
        return self.dated[-1][1] if self.dated else None


def list_backups(directory: Path) -> Listing:
    """Every ``etcd-*.snapshot.age`` file in *directory*, split by whether its name is dated."""
    try:
        candidates = sorted(p for p in directory.glob(PATTERN) if p.is_file())
    except OSError as exc:
        raise BackupError(directory, f"cannot list backups: {exc.strerror}") from None
    dated: list[tuple[datetime, Path]] = []
    unparsable: list[Path] = []
    for path in candidates:
        when = parse_backup_name(path.name)
        if when is None:
            unparsable.append(path)
        else:
            dated.append((when, path))
    dated.sort()
    return Listing(tuple(dated), tuple(unparsable))


@dataclass
class PruneResult:
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    unparsable: list[Path] = field(default_factory=list)


def prune(directory: Path, retention_days: int, now: datetime) -> PruneResult:
    """Delete backups whose name is more than *retention_days* older than *now*.

    A backup exactly *retention_days* old is kept (the cron job runs at a fixed
    time, so "30 days" must still include the run of 30 days ago).
    """
    if retention_days < 1:
        raise BackupError("backup.retentionDays", "must be at least 1")
    cutoff = now.astimezone(UTC) - timedelta(days=retention_days)
    listing = list_backups(directory)
    result = PruneResult(unparsable=list(listing.unparsable))
    newest = listing.newest
    for when, path in listing.dated:
        if when < cutoff and path != newest:
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # a concurrent prune got there first
            except OSError as exc:
                raise BackupError(path, f"cannot delete expired backup: {exc.strerror}") from None
            result.removed.append(path)
        else:
            result.kept.append(path)
    return result


def private_directory(directory: Path, setting: str) -> None:
    """Create *directory* (mode 0700) if missing; refuse a path that is not a directory."""
    try:
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise BackupError(directory, f"cannot create {setting}: {exc.strerror}") from None


LEFTOVER_PREFIX = ".backup-"


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on *directory* itself (no lock file to leave behind).

    Two backups (or a backup and a restore check) in one directory must not
    run at once: each sweeps the other's working directory as a leftover.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise BackupError(directory, f"cannot open: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = "another backup or restore check is using this directory; try again later"
            raise BackupError(directory, message) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def sweep_leftovers(directory: Path) -> list[Path]:
    """Remove ``.backup-*`` working directories an interrupted run left in *directory*.

    A SIGKILL, power loss or OOM kill skips every ``finally``, so the plaintext
    ``etcd.snapshot`` of a killed backup (or the decrypted copy of a killed
    restore check) would otherwise stay beside the encrypted backups for good.
    Only entries named like our working directories are touched; a symlink is
    unlinked, never followed.

    :returns: what was removed, for the caller to report.
    """
    removed: list[Path] = []
    try:
        entries = sorted(directory.glob(f"{LEFTOVER_PREFIX}*"))
    except OSError as exc:
        raise BackupError(directory, f"cannot list: {exc.strerror}") from None
    for entry in entries:
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            message = f"cannot remove a leftover from an interrupted backup: {exc.strerror}"
            raise BackupError(entry, message) from None
        removed.append(entry)
    return removed


@contextmanager
def scratch_directory(parent: Path, report: Callable[[str], None] | None = None) -> Iterator[Path]:
    """A private (0700) directory inside *parent*, removed with everything in it on exit.

    Plaintext snapshots live only here.  A directory rather than a single file,
    because ``talosctl etcd snapshot`` writes ``<path>.part`` and renames it,
    so a failed run can leave a file under a name we did not choose.  It sits
    in the backup directory so the final rename stays on one filesystem; the
    ``finally`` cannot run after a SIGKILL, so every start first sweeps the
    working directories of earlier runs (:func:`sweep_leftovers`) while
    holding a lock on *parent*, and *report* names each one removed.
    """
    with _exclusive(parent):
        for leftover in sweep_leftovers(parent):
            if report is not None:
                report(f"removed {leftover}: plaintext left by an interrupted backup")
        try:
            path = Path(tempfile.mkdtemp(prefix=LEFTOVER_PREFIX, dir=parent))  # 0700
        except OSError as exc:
            message = f"cannot create a private working directory: {exc.strerror}"
            raise BackupError(parent, message) from None
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def private_file(path: Path) -> int:
    """Create *path* exclusively with mode 0600 and return its descriptor."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BackupError(path, f"cannot create: {exc.strerror}") from None


def publish(temporary: Path, final: Path) -> None:
    """Hard-link a finished file into place without ever replacing an existing backup."""
    try:
        os.chmod(temporary, 0o600)
        os.link(temporary, final)
    except FileExistsError:
        raise BackupError(final, "already exists; another backup ran in the same second") from None
    except OSError as exc:
        raise BackupError(final, f"cannot write: {exc.strerror}") from None
    try:
        fd = os.open(final.parent, os.O_RDONLY)
    except OSError:
        return  # the file is in place; only the directory fsync is lost
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
