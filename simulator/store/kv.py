"""The key-value seam between simulator models and their datastore.

The simulator keeps everything -- Kubernetes objects under
``/registry/<resource>/<namespace>/<name>`` and its own Talos-side state --
in one etcd, like a real control plane.  Models talk to it only through
:class:`KV`, whose semantics are etcd's: every write bumps one global
revision, each key remembers the revision of its last change
(``mod_revision``, which the API server exposes as ``resourceVersion``), and
writes can be made conditional on it.  :class:`MemoryKV` implements the same
contract in-process for fast model tests; the contract tests run against both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Entry:
    """One stored key as etcd reports it."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class RevisionConflict(Exception):
    """A conditional write found the key at another revision (or absent/present)."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(f"{key}: expected mod_revision {expected}, found {actual}")


class KV(Protocol):
    """What the models need from a datastore.

    ``expect_mod_revision`` makes a write conditional: ``0`` means "the key
    must not exist", a positive number means "the key must be at exactly that
    revision"; a mismatch raises :class:`RevisionConflict`.
    """

    def get(self, key: str) -> Entry | None: ...

    def range(self, prefix: str) -> tuple[list[Entry], int]:
        """Entries whose key starts with *prefix*, sorted by key, and the store revision."""
        ...

    def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        """Store *value*; return the new store revision (the key's mod_revision)."""
        ...

    def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        """Delete *key*; return the new store revision, 0 if the key did not exist."""
        ...

    def revision(self) -> int: ...

    def stamp(self, prefix: str) -> tuple[int, int]:
        """(number of keys, newest ``mod_revision``) under *prefix*; moves whenever it changes.

        Any put under the prefix raises the newest revision above every
        revision the prefix held before, and a run of deletes alone lowers the
        count, so an unchanged stamp means an unchanged prefix: callers keep a
        decoded copy and re-read only when the stamp moves.
        """
        ...

    def snapshot(self, path: Path) -> None:
        """Write a snapshot of the whole store to *path* (etcd's format for etcd)."""
        ...


class MemoryKV:
    """An in-process :class:`KV` with etcd's revision semantics (no persistence)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Entry] = {}
        self._revision = 1  # etcd starts a fresh store at revision 1

    def get(self, key: str) -> Entry | None:
        with self._lock:
            return self._data.get(key)

    def range(self, prefix: str) -> tuple[list[Entry], int]:
        with self._lock:
            entries = [e for k, e in self._data.items() if k.startswith(prefix)]
            return sorted(entries, key=lambda e: e.key), self._revision

    def _check(self, key: str, expect: int | None) -> Entry | None:
        current = self._data.get(key)
        if expect is not None:
            actual = current.mod_revision if current else 0
            if actual != expect:
                raise RevisionConflict(key, expect, actual)
        return current

    def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        with self._lock:
            current = self._check(key, expect_mod_revision)
            self._revision += 1
            created = current.create_revision if current else self._revision
            self._data[key] = Entry(key, bytes(value), created, self._revision)
            return self._revision

    def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        with self._lock:
            current = self._check(key, expect_mod_revision)
            if current is None:
                return 0
            self._revision += 1
            del self._data[key]
            return self._revision

    def revision(self) -> int:
        with self._lock:
            return self._revision

    def stamp(self, prefix: str) -> tuple[int, int]:
        with self._lock:
            revisions = [e.mod_revision for k, e in self._data.items() if k.startswith(prefix)]
        return len(revisions), max(revisions, default=0)

    def snapshot(self, path: Path) -> None:
        raise NotImplementedError("MemoryKV keeps no snapshot format; use the etcd store")
