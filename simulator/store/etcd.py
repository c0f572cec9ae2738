"""A real etcd v3 on loopback: the client (:class:`EtcdKV`) of the process in :mod:`.process`.

The simulator keeps its state in a genuine etcd rather than an imitation so
that revisions, ``resourceVersion`` semantics and snapshot files are etcd's
own -- ``talosctl etcd snapshot`` has to hand out a file ``etcdutl`` reads.
The process half (:class:`EtcdServer`, :func:`find_binary` and the start
errors) lives in :mod:`simulator.store.process` and the shared errors in
:mod:`simulator.store.errors`; both are re-exported here because callers
import the server and the client together from this module.

The client speaks etcd's JSON gRPC gateway (``/v3/kv/...``) with
:mod:`http.client` instead of gRPC, because the suite carries no gRPC
dependency and the gateway is part of every etcd 3.x.  Its wire shapes, read
from etcd v3.5.1 (``server/embed/serve.go`` registers grpc-gateway v1 with
its default ``JSONPb{OrigName: true}``): field names are the proto names
(``mod_revision``), int64s are JSON strings, bytes are base64, and fields at
their zero value are left out (no ``kvs``, ``more``, ``count``,
``succeeded`` or ``value`` when empty/false/zero).

Both halves dial 127.0.0.1 only: the server is bound there, and the client
refuses any URL whose host is not a loopback address.  Both speak only
mutual TLS (:mod:`simulator.store.tls`): a local process without the client
certificate gets no key.  Values may hold secrets, so no error message here
ever contains one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import ipaddress
import json
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from simulator.store.errors import DatastoreError, DatastoreUnavailable
from simulator.store.kv import Entry, RevisionConflict
from simulator.store.process import EtcdBinaryMissing, EtcdServer, EtcdStartError, find_binary
from simulator.store.tls import EtcdClientTLS

__all__ = [
    "DatastoreError",
    "DatastoreUnavailable",
    "EtcdBinaryMissing",
    "EtcdClientTLS",
    "EtcdKV",
    "EtcdServer",
    "EtcdStartError",
    "find_binary",
    "prefix_end",
]

# gRPC status codes (google.golang.org/grpc/codes) that mean "try later", not "bad request".
_TRANSIENT_CODES = frozenset({4, 14})  # DeadlineExceeded, Unavailable
_COMPACTED_CODE = 11  # OutOfRange: "mvcc: required revision has been compacted"
_PAGE_SIZE = 1000
# Ranges re-read values they already hold only when more than this many changed.
_FETCH_ONE_BY_ONE = 64
_KEYS_PAGE_SIZE = 10_000  # keys without values are small: one page for thousands of pods
_CACHE_SIZE = 100_000
_LISTINGS_SIZE = 1_000  # prefixes whose last listing is kept (kinds x namespaces)
_SHA256_SIZE = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with *prefix* (etcd's ``range_end``).

    ``b"\\0"`` -- "to the end of the keyspace" -- when no such key exists
    (an empty prefix or one made only of ``0xff`` bytes).
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _entry(kv: dict[str, Any]) -> Entry:
    return Entry(
        key=base64.b64decode(kv["key"]).decode("utf-8", "surrogateescape"),
        value=base64.b64decode(kv.get("value", "")),
        create_revision=int(kv.get("create_revision", 0)),
        mod_revision=int(kv.get("mod_revision", 0)),
    )


class EtcdKV:
    """:class:`~simulator.store.kv.KV` over etcd's JSON gateway.

    One keep-alive connection per thread, so models may call it from any
    thread: the TLS handshake is paid once per thread, not per request.  A
    request that fails on a reused connection because the server closed it
    (etcd restarted) is sent once more on a fresh one.

    :raises ValueError: *client_url* is not ``https://<loopback IP>:<port>``.
    :raises DatastoreError: the client certificate files cannot be read.
    """

    def __init__(self, client_url: str, *, tls: EtcdClientTLS, timeout: float = 10.0) -> None:
        parts = urlsplit(client_url)
        host = parts.hostname or ""
        try:
            is_loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            is_loopback = False
        if parts.scheme != "https" or not is_loopback or parts.port is None:
            raise ValueError(
                f"etcd client URL {client_url!r}: expected https://<loopback IP>:<port>"
            )
        try:
            self._context = tls.context()
        except OSError as exc:  # ssl.SSLError included: files that are no certificate and key
            reason = exc.strerror or type(exc).__name__
            raise DatastoreError(
                f"etcd client certificate {tls.cert} (CA {tls.ca}) is unusable: {reason}"
            ) from None
        self.url = client_url.rstrip("/")
        self.tls = tls
        self._host = host
        self._port = parts.port
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []
        # base64 key -> (mod_revision as sent, entry): the last value seen, see _range_once
        self._cache: dict[str, tuple[str, Entry]] = {}
        # prefix -> (stamp, entries): the last listing of each prefix, see _range_once
        self._listings: dict[str, tuple[tuple[int, int], list[Entry]]] = {}

    # -- transport -----------------------------------------------------------------------------

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = self._new_connection()
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn, True

    def _new_connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self._host, self._port, timeout=self._timeout, context=self._context
        )

    def _drop_connection(self) -> None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()
            with self._lock, contextlib.suppress(ValueError):
                self._connections.remove(conn)

    def _unavailable(self, exc: BaseException) -> DatastoreUnavailable:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
        return DatastoreUnavailable(
            f"etcd at {self.url} is unreachable: {reason or type(exc).__name__}"
        )

    def _call(self, path: str, body: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode("ascii")
        headers = {"Content-Type": "application/json"}
        for _ in range(2):
            conn, fresh = self._connection()
            try:
                conn.request("POST", path, data, headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop_connection()
                if fresh:
                    raise self._unavailable(exc) from None
                continue
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                raise self._unavailable(exc) from None
            return self._decode(path, response.status, payload, key)
        raise AssertionError("unreachable: the second attempt always uses a fresh connection")

    def _decode(self, path: str, status: int, payload: bytes, key: str | None) -> dict[str, Any]:
        try:
            decoded = json.loads(payload)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise DatastoreError(f"etcd at {self.url}: {path} answered HTTP {status}, not JSON")
        if status == http.HTTPStatus.OK and "error" not in decoded:
            return decoded
        raise self._error(path, decoded, status, key)

    def _error(
        self, path: str, body: dict[str, Any], status: int, key: str | None
    ) -> DatastoreError:
        error = body.get("error")
        # Unary errors are {"error": text, "code": n, "message": text}; stream errors nest them.
        if isinstance(error, dict):
            body = error
        code = body.get("code", body.get("grpc_code"))
        message = body.get("message") or (error if isinstance(error, str) else "") or "no message"
        about = f" for key {key!r}" if key is not None else ""
        text = f"etcd at {self.url}: {path}{about} failed: {message} (gRPC code {code})"
        if code in _TRANSIENT_CODES or status == http.HTTPStatus.SERVICE_UNAVAILABLE:
            return DatastoreUnavailable(text)
        error_type = _CompactedError if code == _COMPACTED_CODE else DatastoreError
        return error_type(text)

    # -- KV ------------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        body = self._call("/v3/kv/range", {"key": _b64(_key_bytes(key))}, key=key)
        kvs = body.get("kvs", [])
        return _entry(kvs[0]) if kvs else None

    def range(self, prefix: str) -> tuple[list[Entry], int]:
        """Entries under *prefix*, read page by page at one pinned revision.

        Paging keeps each response well below etcd's message limits however
        many keys there are; pinning the revision makes the pages one
        consistent listing.  If that revision is compacted mid-listing, the
        listing starts over.
        """
        for _ in range(3):
            try:
                return self._range_once(prefix)
            except _CompactedError:
                continue
        return self._range_once(prefix)

    def _range_once(self, prefix: str) -> tuple[list[Entry], int]:
        """The stamp first: an unchanged prefix is answered from the last listing of it.

        An unchanged :meth:`stamp` means the same keys at the same
        ``mod_revision`` (see :meth:`KV.stamp <simulator.store.kv.KV.stamp>`),
        so the listing kept for that stamp is exactly what etcd would list
        now; only the store revision is new.  Repeated reads of an unchanged
        prefix -- the Talos machine API after every call, every LIST of an
        idle kind -- then cost one tiny request however many keys it holds.
        """
        count, newest, revision = self._stamp_request(prefix)
        with self._lock:
            kept = self._listings.get(prefix)
        if kept is not None and kept[0] == (count, newest):
            return list(kept[1]), revision
        entries = self._listing(prefix, revision) if count else []
        with self._lock:
            if len(self._listings) >= _LISTINGS_SIZE:
                self._listings.clear()  # crude bound; the next ranges refill it
            self._listings[prefix] = ((count, newest), entries)
        return list(entries), revision

    def _listing(self, prefix: str, revision: int) -> list[Entry]:
        """Keys and revisions first; values only for keys not already cached at that revision.

        A value is identified by its key and ``mod_revision``, so a cached
        entry with the same pair is exactly what etcd would send.  Repeated
        listings of a prefix where a few keys changed (every controller pass
        and every LIST reads every pod) then move only keys over the wire
        instead of every value.  The cache is keyed by the key and revision
        *as etcd encodes them* (base64, decimal string), so a hit decodes
        nothing.
        """
        listed, _ = self._pages(prefix, revision=revision, keys_only=True)
        pairs = [(str(kv["key"]), str(kv.get("mod_revision", "0"))) for kv in listed]
        with self._lock:
            hits = [self._cache.get(key) for key, _ in pairs]
        missing = [
            key for (key, mod), hit in zip(pairs, hits, strict=True) if hit is None or hit[0] != mod
        ]
        fetched: dict[str, tuple[str, Entry]] = {}
        if len(missing) > _FETCH_ONE_BY_ONE:
            kvs = self._pages(prefix, revision=revision)[0]
        else:
            kvs = []
            for key in missing:
                body = self._call("/v3/kv/range", {"key": key, "revision": revision}, key=prefix)
                kvs += body.get("kvs", [])
        for kv in kvs:
            fetched[str(kv["key"])] = (str(kv.get("mod_revision", "0")), _entry(kv))
        entries: list[Entry] = []
        for (key, mod), hit in zip(pairs, hits, strict=True):
            found = fetched.get(key) or hit
            if found is not None and found[0] == mod:
                entries.append(found[1])
        with self._lock:
            if len(self._cache) + len(fetched) > _CACHE_SIZE:
                self._cache.clear()  # crude bound; the next listings refill it
            self._cache.update(fetched)
        return entries

    def _pages(
        self, prefix: str, *, revision: int, keys_only: bool = False
    ) -> tuple[list[dict[str, Any]], int]:
        """Every key-value (etcd's JSON) under *prefix*, page by page at one revision."""
        start = _key_bytes(prefix) or b"\0"
        end = _b64(prefix_end(_key_bytes(prefix)))
        found: list[dict[str, Any]] = []
        limit = _KEYS_PAGE_SIZE if keys_only else _PAGE_SIZE
        while True:
            request: dict[str, Any] = {"key": _b64(start), "range_end": end, "limit": limit}
            if revision:
                request["revision"] = revision
            if keys_only:
                request["keys_only"] = True
            body = self._call("/v3/kv/range", request, key=prefix)
            revision = revision or int(body["header"]["revision"])
            kvs = body.get("kvs", [])
            found += kvs
            if not body.get("more") or not kvs:
                return found, revision
            start = base64.b64decode(kvs[-1]["key"]) + b"\0"

    def _conditional(self, key: str, expect: int, operation: dict[str, Any]) -> dict[str, Any]:
        """Run *operation* in a txn if *key* is at revision *expect* (0: absent).

        The failure branch reads the key, so the conflict can say what was found.
        """
        if expect < 0:
            raise ValueError(f"{key}: expect_mod_revision must be >= 0, got {expect}")
        encoded = _b64(_key_bytes(key))
        compare: dict[str, Any] = {"key": encoded, "result": "EQUAL"}
        if expect == 0:
            compare.update(target="VERSION", version=0)
        else:
            compare.update(target="MOD", mod_revision=expect)
        body = self._call(
            "/v3/kv/txn",
            {
                "compare": [compare],
                "success": [operation],
                "failure": [{"request_range": {"key": encoded, "keys_only": True}}],
            },
            key=key,
        )
        if body.get("succeeded"):
            return body
        kvs = body["responses"][0]["response_range"].get("kvs", [])
        actual = int(kvs[0].get("mod_revision", 0)) if kvs else 0
        raise RevisionConflict(key, expect, actual)

    def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        request = {"key": _b64(_key_bytes(key)), "value": _b64(bytes(value))}
        if expect_mod_revision is None:
            body = self._call("/v3/kv/put", request, key=key)
        else:
            body = self._conditional(key, expect_mod_revision, {"request_put": request})
        return int(body["header"]["revision"])

    def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        request = {"key": _b64(_key_bytes(key))}
        if expect_mod_revision is None:
            body = self._call("/v3/kv/deleterange", request, key=key)
            deleted = int(body.get("deleted", 0))
        else:
            body = self._conditional(key, expect_mod_revision, {"request_delete_range": request})
            deleted = int(body["responses"][0]["response_delete_range"].get("deleted", 0))
        # etcd does not bump the revision when nothing was deleted.
        return int(body["header"]["revision"]) if deleted else 0

    def stamp(self, prefix: str) -> tuple[int, int]:
        """(number of keys, newest ``mod_revision``) under *prefix*: changes whenever it does.

        Any put under the prefix raises the newest revision and any delete
        lowers the count, so callers can keep a decoded copy of the prefix
        and re-read it only when the stamp moves -- one tiny request instead
        of the whole range.
        """
        count, newest, _ = self._stamp_request(prefix)
        return count, newest

    def _stamp_request(self, prefix: str) -> tuple[int, int, int]:
        """:meth:`stamp` and the store revision it was read at, in one request."""
        request = {
            "key": _b64(_key_bytes(prefix) or b"\0"),
            "range_end": _b64(prefix_end(_key_bytes(prefix))),
            "limit": 1,
            "sort_order": "DESCEND",
            "sort_target": "MOD",
            "keys_only": True,
        }
        body = self._call("/v3/kv/range", request, key=prefix)
        kvs = body.get("kvs", [])
        newest = int(kvs[0].get("mod_revision", 0)) if kvs else 0
        return int(body.get("count", 0)), newest, int(body["header"]["revision"])

    def revision(self) -> int:
        body = self._call("/v3/kv/range", {"key": _b64(b"\0"), "limit": 1, "count_only": True})
        return int(body["header"]["revision"])

    def snapshot(self, path: Path) -> None:
        """Stream a snapshot from etcd into *path* (via ``<path>.part``, renamed when complete).

        The stream is bbolt's database followed by a SHA-256 trailer, exactly
        what ``etcdctl snapshot save`` writes; the trailer is verified before
        the file is published, so a partial file never appears at *path*.

        :raises DatastoreError: the stream failed or its checksum is wrong.
        """
        part = path.with_name(path.name + ".part")
        conn = self._new_connection()
        try:
            with part.open("wb") as out:
                self._stream_snapshot(conn, out)
            part.replace(path)
        except (OSError, http.client.HTTPException) as exc:
            part.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.filename is not None:
                raise DatastoreError(f"cannot write snapshot {part}: {exc.strerror}") from None
            raise self._unavailable(exc) from None
        except DatastoreError:
            part.unlink(missing_ok=True)
            raise
        finally:
            conn.close()

    def _stream_snapshot(self, conn: http.client.HTTPConnection, out: IO[bytes]) -> None:
        path = "/v3/maintenance/snapshot"
        conn.request("POST", path, b"{}", {"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != http.HTTPStatus.OK:
            self._decode(path, response.status, response.read(), None)
        digest = hashlib.sha256()
        held = b""  # the last bytes seen, which may turn out to be the trailer
        for line in response:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                raise DatastoreError(f"etcd at {self.url}: {path} streamed non-JSON") from None
            if "error" in message:
                raise self._error(path, message, response.status, None)
            blob = base64.b64decode(message.get("result", {}).get("blob", ""))
            out.write(blob)
            held += blob
            digest.update(held[:-_SHA256_SIZE])
            held = held[-_SHA256_SIZE:]
        if len(held) != _SHA256_SIZE or digest.digest() != held:
            raise DatastoreError(
                f"etcd at {self.url}: snapshot stream ended without a valid sha256"
            )

    def close(self) -> None:
        """Close every thread's connection (threads reconnect on their next call)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> EtcdKV:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _CompactedError(DatastoreError):
    """The revision a paged range was pinned to has been compacted away."""
