"""The simulated kube-apiserver's HTTPS front: TLS, HTTP/1.1, authentication, faults.

What belongs here: :class:`KubeApiServer`, a threaded HTTPS server on
127.0.0.1 that authenticates each connection's client certificate and hands
requests to :class:`~simulator.kube.handlers.ApiHandlers`; and the fault
switch drifts use to make the API slow or unavailable.

Why pyOpenSSL rather than :mod:`ssl`: kube-apiserver answers a bad client
certificate (expired, foreign CA) with an HTTP 401 ``Status``, which kubectl
shows as ``error: You must be logged in to the server (Unauthorized)``.  That
needs a TLS layer that requests a client certificate but accepts any, and
leaves the verdict to the HTTP layer; :mod:`ssl` can only fail the handshake.
pyOpenSSL connections have no ``makefile``, hence the small reader/writer
adapters under :class:`http.server.BaseHTTPRequestHandler`.

TLS details: the server sends no acceptable-CA list in its certificate
request, so clients (Go's included) always present their certificate.
Health endpoints (``/healthz``, ``/livez``, ``/readyz``) answer without a
certificate; every other path needs a valid one (Talos runs kube-apiserver
without general anonymous access), and a presented-but-invalid certificate
gets 401 everywhere.

Deviations: HTTP/1.1 only (no ALPN ``h2``); request bodies need
``Content-Length`` (no chunked uploads); no request timeouts -- idle
keep-alive connections are closed by :meth:`KubeApiServer.stop`.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import logging
import socket
import socketserver
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from simulator.kube import authn, errors
from simulator.kube.errors import ApiError
from simulator.kube.handlers import (
    ApiHandlers,
    NodeProxy,
    Request,
    Response,
    error_response,
    is_public,
)
from simulator.kube.hooks import UserInfo
from simulator.kube.objects import ObjectStore
from simulator.pki import ServingTLS

log = logging.getLogger(__name__)

_MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's request size limit


@dataclass
class Faults:
    """What drifts switch on: a delay before every answer, or 503 for everything."""

    delay_seconds: float = 0.0
    unavailable: bool = False


class _TLSReader(io.RawIOBase):
    """``recv`` on a pyOpenSSL connection as a raw stream (EOF on close or TLS error)."""

    def __init__(self, conn: SSL.Connection) -> None:
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._conn.recv(len(buffer))
        except (SSL.ZeroReturnError, SSL.SysCallError, SSL.Error, OSError):
            return 0
        buffer[: len(data)] = data
        return len(data)


class _TLSWriter(io.RawIOBase):
    def __init__(self, conn: SSL.Connection) -> None:
        self._conn = conn

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        payload = bytes(data)
        self._conn.sendall(payload)
        return len(payload)


def _context(tls: ServingTLS) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate(x509.load_pem_x509_certificate(tls.cert_pem))
    key = serialization.load_pem_private_key(tls.key_pem, password=None)
    context.use_privatekey(key)  # type: ignore[arg-type]  # any key type cryptography loads
    context.check_privatekey()
    # Ask for a certificate, accept any: the HTTP layer answers 401 as kube-apiserver does.
    context.set_verify(SSL.VERIFY_PEER, lambda *_: True)
    # Needed once client certificates are requested and a client tries to resume a session.
    context.set_session_id(b"talos-conformance-kube")
    return context


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: KubeApiServer, address: tuple[str, int]) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        owner = self.server.owner
        raw: socket.socket = self.request
        owner._track(raw, True)
        self.user: UserInfo | None = None
        self.auth_error: ApiError | None = None
        self.tls = SSL.Connection(owner._ssl, raw)
        self.tls.set_accept_state()
        self.rfile = io.BufferedReader(_TLSReader(self.tls))
        self.wfile = io.BufferedWriter(_TLSWriter(self.tls))
        try:
            self.tls.do_handshake()
        except (SSL.Error, OSError):
            self.close_connection = True
            self.handshake_failed = True
            return
        self.handshake_failed = False
        peer = self.tls.get_peer_certificate(as_cryptography=True)
        try:
            self.user = authn.authenticate(peer, owner._ca)
        except ApiError as exc:
            self.auth_error = exc

    def handle(self) -> None:
        if not self.handshake_failed:
            super().handle()

    def finish(self) -> None:
        try:
            if not self.handshake_failed:
                self.wfile.flush()
                self.tls.shutdown()
        except (SSL.Error, OSError):
            pass
        self.server.owner._track(self.request, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kube-api %s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(
                errors.ApiError(
                    413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728", {}
                )
            )
            return
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        faults = owner.faults
        if faults.delay_seconds > 0:
            time.sleep(faults.delay_seconds)
        if faults.unavailable:
            self._send(
                errors.service_unavailable("the server is currently unable to handle the request")
            )
            return
        public = is_public(split.path)
        if self.auth_error is not None or (self.user is None and not public):
            self._send(self.auth_error or errors.unauthorized())
            return
        request = Request(
            method=self.command,
            path=split.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            user=self.user or UserInfo("system:anonymous", ("system:unauthenticated",)),
        )
        try:
            response = owner.handlers.handle(request)
        except Exception:  # a bug must answer 500, not kill the connection
            log.exception("kube-api handler failed for %s %s", self.command, split.path)
            response = error_response(errors.internal_error("unexpected server error"))
        self._write(response)

    def _send(self, error: ApiError) -> None:
        self._write(error_response(error))

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class KubeApiServer:
    """HTTPS Kubernetes API on *host* (127.0.0.1; port 0 picks a free port)."""

    def __init__(
        self,
        store: ObjectStore,
        tls: ServingTLS,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        node_proxy: NodeProxy | None = None,
    ) -> None:
        self.store = store
        self.faults = Faults()
        self._ssl = _context(tls)
        self._ca = x509.load_pem_x509_certificate(tls.client_ca_pem)
        self._host = host
        self._port = port
        self._node_proxy = node_proxy
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.handlers = ApiHandlers(store, node_proxy=node_proxy)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the API server is not started")
        host, port = self._server.server_address[:2]
        return f"https://{host!s}:{port}"

    def start(self) -> None:
        if self._server is not None:
            return
        server = _HTTPServer(self, (self._host, self._port))
        self._server = server
        host, port = server.server_address[:2]
        self.handlers.server_address = f"{host!s}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, name="kube-api", kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def set_fault(self, mode: str | None, delay_seconds: float = 0.0) -> None:
        """Set the fault mode: ``None`` (healthy), ``"slow"`` or ``"unavailable"``.

        ``"slow"`` waits *delay_seconds* before answering each request; ``"unavailable"``
        answers every request, health endpoints included, with a 503 ServiceUnavailable Status.
        """
        if mode not in (None, "slow", "unavailable"):
            raise ValueError(f"unknown fault mode {mode!r}: use None, 'slow' or 'unavailable'")
        self.faults = Faults(
            delay_seconds=delay_seconds if mode == "slow" else 0.0,
            unavailable=mode == "unavailable",
        )

    def _track(self, conn: socket.socket, is_open: bool) -> None:
        with self._lock:
            if is_open:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def __enter__(self) -> KubeApiServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
