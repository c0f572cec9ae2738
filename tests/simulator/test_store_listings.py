"""EtcdKV answers a range of an unchanged prefix from its last listing, and never stale.

Why: the machine API stamps ``/talos-sim/`` on every call and the server
ranges it after every call, and LISTs of idle kinds repeat; a range whose
prefix did not change now costs one small request (issue #8).  What must
hold is that no change -- put, delete, a delete and a put that keep the
count -- is ever missed: every listing is compared with a fresh client's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simulator.store.etcd import EtcdKV, EtcdServer


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdKV]:
    with (
        EtcdServer(tmp_path_factory.mktemp("listings") / "etcd") as server,
        EtcdKV(server.client_url, tls=server.client_tls) as kv,
    ):
        yield kv


def _listing(kv: EtcdKV, prefix: str) -> list[tuple[str, bytes, int]]:
    entries, _ = kv.range(prefix)
    return [(e.key, e.value, e.mod_revision) for e in entries]


def _same_as_fresh(kv: EtcdKV, prefix: str) -> list[tuple[str, bytes, int]]:
    with EtcdKV(kv.url, tls=kv.tls) as fresh:
        expected = _listing(fresh, prefix)
    assert _listing(kv, prefix) == expected
    return expected


def test_every_change_is_seen(etcd: EtcdKV) -> None:
    prefix = "/listings/"
    assert _same_as_fresh(etcd, prefix) == []
    for i in range(5):
        etcd.put(f"{prefix}{i}", b"a")
    assert len(_same_as_fresh(etcd, prefix)) == 5
    etcd.put(f"{prefix}2", b"b")
    assert _same_as_fresh(etcd, prefix)[2][1] == b"b"
    etcd.delete(f"{prefix}4")
    etcd.put(f"{prefix}9", b"c")  # the same count as before
    assert [key for key, _, _ in _same_as_fresh(etcd, prefix)][-1] == f"{prefix}9"
    etcd.put(f"{prefix}x", b"d")
    etcd.delete(f"{prefix}x")  # back to exactly the previous keys and revisions
    assert len(_same_as_fresh(etcd, prefix)) == 5
    etcd.put("/listings-other", b"e")  # outside the prefix
    assert len(_same_as_fresh(etcd, prefix)) == 5
    for key, _, _ in _listing(etcd, prefix):
        etcd.delete(key)
    assert _same_as_fresh(etcd, prefix) == []


def test_an_unchanged_prefix_costs_one_request_and_a_fresh_revision(
    etcd: EtcdKV, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = "/unchanged/"
    for i in range(20):
        etcd.put(f"{prefix}{i:02d}", b"v")
    first, _ = etcd.range(prefix)
    etcd.put("/elsewhere", b"moves the store revision only")
    calls: list[str] = []
    real = EtcdKV._call

    def counting(self: EtcdKV, path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        calls.append(path)
        return real(self, path, body, **kw)

    monkeypatch.setattr(EtcdKV, "_call", counting)
    again, revision = etcd.range(prefix)
    assert calls == ["/v3/kv/range"]
    assert again == first
    assert revision == etcd.revision()
    assert again is not first  # callers may filter their list freely


def test_another_clients_write_is_seen(etcd: EtcdKV) -> None:
    prefix = "/restart/"
    etcd.put(f"{prefix}a", b"1")
    with EtcdKV(etcd.url, tls=etcd.tls) as other:
        assert _listing(other, prefix) == _listing(etcd, prefix)
        other.put(f"{prefix}a", b"2")  # written by another client
    assert _listing(etcd, prefix)[0][1] == b"2"
