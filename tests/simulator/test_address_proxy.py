"""The address proxy and which declared addresses answer: the VIP only while it is held.

The proxy is exercised against a loopback listener and a resolver of the
test's own; which addresses answer is judged on the provisioned in-process
cluster (``ctx``), with machines stopped and the VIP dropped as drifts do.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from simulator import apiserver
from simulator.address_proxy import AddressProxy, parse_connect
from simulator.drifts import DriftContext
from simulator.drifts.api_endpoint import vip_unserved
from simulator.state.machines import Stage

VIP, NODE01, NODE02 = "10.10.20.10", "10.10.20.16", "10.10.20.17"


@pytest.fixture
def echo() -> Iterator[int]:
    """A loopback listener that echoes one message per connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(conn.recv(1024))

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def _connect(proxy: AddressProxy, target: str) -> tuple[bytes, socket.socket]:
    conn = socket.create_connection((proxy.host, proxy.port), timeout=5)
    conn.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(1024)
    return head, conn


def test_parse_connect() -> None:
    assert parse_connect(b"CONNECT 10.10.20.10:6443 HTTP/1.1\r\n\r\n") == (VIP, 6443)
    assert parse_connect(b"CONNECT [fd00::1]:6443 HTTP/1.1\r\n\r\n") == ("fd00::1", 6443)
    assert parse_connect(b"GET / HTTP/1.1\r\n\r\n") is None
    assert parse_connect(b"CONNECT nohost HTTP/1.1\r\n\r\n") is None


def test_proxy_tunnels_a_resolved_address_and_refuses_the_rest(echo: int) -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> tuple[str, int] | str:
        asked.append((host, port))
        if host == VIP:
            return ("127.0.0.1", echo)
        if host == NODE01:
            return ("10.10.20.16", port)  # a resolver bug: never dialled
        return "not here"

    proxy = AddressProxy(resolve)
    proxy.start()
    try:
        head, conn = _connect(proxy, f"{VIP}:6443")
        with conn:
            assert head.startswith(b"HTTP/1.1 200 ")
            conn.sendall(b"ping")
            assert conn.recv(1024) == b"ping"
        head, conn = _connect(proxy, f"{NODE02}:6443")
        conn.close()
        assert head.startswith(b"HTTP/1.1 503 ")
        head, conn = _connect(proxy, f"{NODE01}:6443")
        conn.close()
        assert head.startswith(b"HTTP/1.1 403 ")
    finally:
        proxy.stop()
    assert asked == [(VIP, 6443), (NODE02, 6443), (NODE01, 6443)]


@pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2"])  # still loopback: 127.0.0.0/8
def test_proxy_listens_on_another_loopback_address_when_told(echo: int) -> None:
    proxy = AddressProxy(lambda host, port: ("127.0.0.1", echo), host="127.0.0.2")
    proxy.start()
    try:
        assert proxy.url == f"http://127.0.0.2:{proxy.port}"
        head, conn = _connect(proxy, f"{VIP}:6443")
        with conn:
            assert head.startswith(b"HTTP/1.1 200 ")
            conn.sendall(b"ping")
            assert conn.recv(1024) == b"ping"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5).close()
    finally:
        proxy.stop()


def test_proxy_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        AddressProxy(lambda host, port: "no", host="0.0.0.0")


def test_vip_and_control_planes_answer_on_the_endpoint_port(ctx: DriftContext) -> None:
    site = ctx.site
    assert apiserver.api_unserved_reason(site, VIP, 6443) is None
    assert apiserver.api_unserved_reason(site, NODE01, 6443) is None
    assert apiserver.api_unserved_reason(site, VIP, 443) == f"nothing listens on {VIP}:443"
    assert apiserver.api_unserved_reason(site, "10.10.99.1", 6443) == (
        "10.10.99.1 is no address of this cluster"
    )
    site.machines["node02"].stage = Stage.POWERED_OFF
    assert apiserver.api_unserved_reason(site, NODE02, 6443) == "node02 is powered off"


def test_vip_nobody_holds_answers_nowhere(ctx: DriftContext) -> None:
    vip_unserved(ctx, None)
    site = ctx.site
    site.vip_holders = {}  # what the next convergence pass elects with no VIP configured
    assert apiserver.api_unserved_reason(site, VIP, 6443) == (
        f"no running control-plane node holds the VIP {VIP}"
    )
    assert apiserver.api_unserved_reason(site, NODE01, 6443) is None
    assert VIP in apiserver.serving_sans(site)  # still the endpoint's host: Talos adds it
