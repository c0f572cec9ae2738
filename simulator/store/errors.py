"""Errors of the etcd-backed store, shared by its process half and its client half.

What belongs here: the exception base every store failure derives from, and
the "not answering" case callers retry on.  They sit in their own module
because both :mod:`simulator.store.process` (start failures) and
:mod:`simulator.store.etcd` (request failures) derive from them, and neither
half should import the other.  Messages never hold stored values: values may
be secrets.
"""

from __future__ import annotations


class DatastoreError(Exception):
    """etcd refused a request, or could not be started or read."""


class DatastoreUnavailable(DatastoreError):
    """etcd did not answer at its URL (down, restarting, or leaderless)."""
