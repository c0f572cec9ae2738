"""Addresses and URLs as Go's ``net``, ``net/netip`` and ``net/url`` parse them.

Talos validates endpoints, CIDRs and IPs with the Go standard library and
``siderolabs/net``; Python's :mod:`ipaddress` and :mod:`urllib.parse` accept
and reject different strings (zones, bracket rules, ports), and their error
texts differ.  Keeping the Go behaviour in one module lets the validators
report Talos's own wording without each re-deriving the edge cases.  Nothing
here dials anything: addresses are data.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from provisioning.config.govalues import goq


def is_ip(text: str) -> bool:
    """Whether Go's ``net.ParseIP`` accepts *text*."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "%" not in text  # Go's ParseIP has no zones


def cidr_error(text: str) -> str:
    """Go's ``net.ParseCIDR`` error for *text*, or "" when it parses."""
    address, slash, bits = text.partition("/")
    if slash and bits.isdigit() and is_ip(address):
        try:
            ipaddress.ip_interface(text)
        except ValueError:
            pass
        else:
            return ""
    return f"invalid CIDR address: {text}"


def ip_or_cidr_error(text: str) -> str:
    """The error for an interface address, which may be a bare IP or a CIDR; "" if valid."""
    if "/" in text:
        return cidr_error(text)
    return "" if is_ip(text) else f"failed to parse IP address {goq(text)}"


def is_subnet_or_address(text: str) -> bool:
    """Whether *text* is an IP or a CIDR (subnet filters accept both)."""
    return is_ip(text) or not cidr_error(text)


@dataclass(frozen=True)
class GoURL:
    """The parts of a ``url.URL`` the endpoint checks read (``Host`` keeps the port)."""

    scheme: str
    host: str
    hostname: str
    port: str


def parse_url(raw: str) -> GoURL | str:
    """The parts of *raw* Go's ``url.Parse`` yields, or its error text."""
    fail = f"parse {goq(raw)}: "
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return fail + "net/url: invalid control character in URL"
    rest, scheme = raw.partition("#")[0], ""
    for index, char in enumerate(rest):
        if char.isascii() and (char.isalpha() or (index and (char.isdigit() or char in "+-."))):
            continue
        if char == ":":
            if index == 0:
                return fail + "missing protocol scheme"
            scheme, rest = rest[:index].lower(), rest[index + 1 :]
        break
    rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:
            return GoURL(scheme, "", "", "")
        if ":" in rest.partition("/")[0]:
            return fail + "first path segment in URL cannot contain colon"
    if not rest.startswith("//"):
        return GoURL(scheme, "", "", "")
    host = rest[2:].partition("/")[0].rpartition("@")[2]
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            return fail + "missing ']' in host"
        hostname, port = host[1:close], host[close + 1 :]
    else:
        colon = host.rfind(":")
        hostname, port = (host[:colon], host[colon:]) if colon >= 0 else (host, "")
    if port and not ((port.startswith(":") and port[1:].isdigit()) or port == ":"):
        return fail + f"invalid port {goq(port)} after host"
    return GoURL(scheme, host, hostname, port[1:])


def endpoint_error(url: GoURL) -> str:
    """siderolabs/net ``ValidateEndpointURI`` on an already parsed URL."""
    if url.host.count(":") > 2 and ("[" not in url.host or "]" not in url.host):
        return "IPv6 addresses MUST be enclosed by square brackets"
    if not url.hostname:
        return "hostname must not be blank"
    if url.port and (len(url.port) > 18 or not 1 <= int(url.port) <= 65535):
        return "port number must be between 1 and 65535"
    return ""
