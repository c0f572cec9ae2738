"""What ``etcdutl snapshot status -w json`` reports, read in one place.

The backup restore check and the simulator's snapshot tooling both run
etcdutl on a snapshot file; they differ in how they locate the binary and
report failures, but not in what its answer means, so the answer's type and
its parsing live here.  etcdutl 3.5 prints ``{"hash", "revision",
"totalKey", "totalSize"}``; ``totalKey`` counts bbolt's own bookkeeping keys
as well as etcd's (an empty etcd reports 6).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class SnapshotStatus:
    """What ``etcdutl snapshot status -w json`` says about a snapshot."""

    hash: int
    revision: int
    total_keys: int
    total_size: int

    def __str__(self) -> str:
        return (
            f"hash {self.hash:08x}, revision {self.revision}, "
            f"total keys {self.total_keys}, total size {self.total_size}"
        )


def parse_status(output: str | bytes) -> SnapshotStatus:
    """Parse etcdutl's JSON answer; :class:`ValueError` when it is not that shape."""
    try:
        data = json.loads(output)
        return SnapshotStatus(
            hash=int(data["hash"]),
            revision=int(data["revision"]),
            total_keys=int(data["totalKey"]),
            total_size=int(data["totalSize"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unexpected etcdutl output: {exc}") from None
