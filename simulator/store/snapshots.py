"""Reading etcd snapshot files: the checksum trailer and ``etcdutl snapshot status``.

Kept apart from :mod:`simulator.store.etcd` because these functions need no
running etcd -- only a file -- and are what ``talosctl etcd snapshot`` and the
backup checks report from.  ``etcdutl snapshot status -w json`` is the
authority (``etcdutl/snapshot/v3_snapshot.go`` at v3.5.1): it runs bbolt's
integrity check, then reports a CRC-32C ``hash`` over every bucket, the
highest main ``revision`` in the ``key`` bucket, ``totalKey`` -- the number
of entries in *all* buckets, so every stored revision of every key plus
etcd's own bookkeeping, not the live key count -- and ``totalSize`` in bytes.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from provisioning.operations.etcd_snapshot import SnapshotStatus, parse_status
from simulator.store.etcd import DatastoreError, find_binary

_SHA256_SIZE = 32
_BBOLT_MAGIC = 0xED0CDAED


class SnapshotError(DatastoreError):
    """A snapshot file is missing, unreadable or not an etcd snapshot."""


def has_valid_checksum(path: Path) -> bool:
    """Whether *path* ends in the SHA-256 trailer etcd appends to streamed snapshots.

    A raw copy of a member's ``db`` file has no trailer (restoring it needs
    ``--skip-hash-check``); etcd's bbolt files are whole pages, so a trailer
    shows as a length of ``32 mod 512`` (``hasChecksum`` in etcdutl).
    """
    data = path.read_bytes()
    if len(data) % 512 != _SHA256_SIZE:
        return False
    body = data[:-_SHA256_SIZE]
    is_bbolt = len(body) >= 24 and int.from_bytes(body[16:20], "little") == _BBOLT_MAGIC
    return is_bbolt and hashlib.sha256(body).digest() == data[-_SHA256_SIZE:]


def snapshot_status(
    path: Path, *, bin_dir: Path | None = None, timeout: float = 60.0
) -> SnapshotStatus:
    """Run ``etcdutl snapshot status -w json`` on *path*.

    :raises EtcdBinaryMissing: etcdutl is not installed.
    :raises SnapshotError: the file is missing or etcdutl rejects it (its
        message is quoted).
    """
    if not path.is_file():
        raise SnapshotError(f"{path}: no such snapshot file")
    etcdutl = find_binary("etcdutl", bin_dir=bin_dir)
    try:
        done = subprocess.run(
            [str(etcdutl), "snapshot", "status", str(path), "-w", "json"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SnapshotError(f"{path}: etcdutl snapshot status took over {timeout:g} s") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise SnapshotError(f"{path}: not a readable etcd snapshot: {reason}")
    try:
        return parse_status(done.stdout)
    except ValueError:
        raise SnapshotError(f"{path}: unexpected etcdutl output: {done.stdout[:200]!r}") from None
