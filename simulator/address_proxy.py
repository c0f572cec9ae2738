"""The cluster's declared addresses, reached on loopback: an HTTP CONNECT proxy.

Why a proxy: the simulated cluster's VIP and node addresses (``10.10.20.x``)
are data -- nothing on this machine may dial them -- yet a real client must
reach the API server at ``cluster.controlPlane.endpoint`` exactly as the
definition names it, and verify a certificate issued for that address.  A
kubeconfig's ``clusters[].cluster.proxy-url`` is honoured by every real
client (kubectl and client-go, the Python ``kubernetes`` client, helm) without
knowing anything is simulated: the client sends ``CONNECT 10.10.20.10:6443``
to this proxy on loopback and runs its TLS handshake through the tunnel, so
the server name it checks is the declared one
(https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/#proxy).

The proxy decides nothing about the cluster: a *resolver* (the server's)
maps a declared ``host:port`` to a loopback address while something serves
it (the VIP only while a node holds it), or names why it is not served; the
proxy answers that with ``503`` and the reason, as a gateway would.  It only
ever connects to 127.0.0.0/8: an address outside loopback is refused even if
a resolver returned it (the project's network rule).

It listens on 127.0.0.1 unless told another loopback address (``serve
--proxy-host 127.0.0.2``; Linux answers on the whole of 127.0.0.0/8): a
client then reaches the cluster through an address that is not 127.0.0.1, as
a verification run against a real cluster does, while nothing leaves
loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], "tuple[str, int] | str"]
"""``(host, port)`` as the client asked -> a loopback ``(host, port)``, or why it is not served."""

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
MAX_HEADER = 16 * 1024
CONNECT_TIMEOUT = 10.0
CHUNK = 64 * 1024


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host) in LOOPBACK
    except ValueError:
        return False


def parse_connect(head: bytes) -> tuple[str, int] | None:
    """``CONNECT host:port HTTP/1.1`` -> ``(host, port)``; None for anything else."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/"):
        return None
    host, sep, port = parts[1].rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def _status(code: int, reason: str, body: str = "") -> bytes:
    data = body.encode("utf-8", "replace")
    return (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii") + data


def _read_head(sock: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > MAX_HEADER:
            return None
        data += chunk
    return data


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side closes."""
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in sel.select():
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    chunk = source.recv(CHUNK)
                except OSError:
                    return
                if not chunk:
                    return
                try:
                    key.data.sendall(chunk)
                except OSError:
                    return


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(CONNECT_TIMEOUT)
        try:
            head = _read_head(client)
        except OSError:
            return
        if head is None:
            return
        asked = parse_connect(head)
        if asked is None:
            client.sendall(_status(405, "Method Not Allowed", "only CONNECT is proxied\n"))
            return
        try:
            where = self.server.resolve(*asked)
        except Exception:  # a resolver bug must not kill the listener
            log.exception("resolving %s:%s failed", *asked)
            where = "the simulator could not resolve this address"
        if isinstance(where, str):
            client.sendall(_status(503, "Service Unavailable", f"{asked[0]}:{asked[1]}: {where}\n"))
            return
        if not is_loopback(where[0]):
            client.sendall(_status(403, "Forbidden", "only loopback addresses are dialled\n"))
            return
        try:
            upstream = socket.create_connection(where, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            client.sendall(_status(502, "Bad Gateway", f"{exc.strerror or exc}\n"))
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            client.settimeout(None)
            upstream.settimeout(None)
            _pipe(client, upstream)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], resolve: Resolver) -> None:
        self.resolve = resolve
        super().__init__(address, _Handler)


class AddressProxy:
    """A CONNECT proxy on a loopback *host* whose destinations a :data:`Resolver` chooses."""

    def __init__(self, resolve: Resolver, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise ValueError(f"the address proxy listens on loopback only, not {host}")
        self.host = host
        self._server = _Server((host, port), resolve)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="address-proxy", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with contextlib.suppress(OSError):
            self._server.server_close()
