"""How the ``talosctl`` shim reaches nodes: talosconfig, nodes, and the loopback machine API.

This is talosctl's client side (``cmd/talosctl/pkg/talos/global/client.go``,
``pkg/machinery/client``) reduced to what the simulator needs:

* **secure calls** (``WithClient``): talosconfig context, ``--endpoints`` /
  ``--nodes`` overrides, the exact "nodes are not set" error; the request
  carries the node list, so apid proxies one-to-many and every node's error
  comes back as ``<node>: rpc error: code = X desc = ...`` inside a
  hashicorp multierror (``client.NodeError``, ``FilterMessages``);
* **insecure calls** (``WithClientMaintenance``): no talosconfig, the
  ``--nodes`` become endpoints and the call goes to one of them -- the shim
  uses the first -- and its error is a bare ``rpc error: ...``;
* **COSI calls** (``get``): one call per node, errors without a node prefix.

Calls are mutual TLS as talosctl's (:mod:`simulator.talos.tls`): a secure
session verifies the server against the context's ``ca`` and presents its
``crt``/``key``; an insecure one presents nothing and verifies nothing.  A
refused handshake is the node's ``Unavailable`` error, worded as talosctl
words it.

All traffic goes to the machine API URL on 127.0.0.0/8; node IPs are only
sent as data.  A non-loopback URL is refused rather than dialled.  One
command's calls share one keep-alive connection (a command asks every node,
often twice: the version check, then the resources), closed by
:func:`close_transports` when the command ends.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.talos import talosconfig, tls
from simulator.talos.errors import TalosError
from simulator.talos.ops import READ_ONLY_OPS

NODES_NOT_SET = (
    "nodes are not set for the command: please use `--nodes` flag or configuration file to set "
    "the nodes to run the command against"
)
NO_ENDPOINTS = "error constructing client: failed to determine endpoints"
_TIMEOUT_SECONDS = 120.0
_OPEN: list[Transport] = []  # transports of this process, see close_transports


class CliError(Exception):
    """What talosctl prints to stderr before exiting 1."""


@dataclass(frozen=True)
class GlobalArgs:
    """talosctl's persistent flags."""

    nodes: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    talosconfig: str = ""
    context: str = ""


class Transport:
    """JSON calls to the simulator's machine API (loopback only, over *context*'s TLS)."""

    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "https" or not _is_loopback(host) or parts.port is None:
            raise CliError(
                f"simulated Talos machine API URL {url!r} is not an https://127.x.y.z:port URL"
            )
        self.url = url
        self._context = context
        self.host = host
        self.port = parts.port
        self._conn: http.client.HTTPSConnection | None = None
        _OPEN.append(self)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, body: bytes, *, read_only: bool) -> tuple[int, bytes]:
        """POST one call on the kept connection; once more on a fresh one if it was closed.

        Only a read goes on a kept connection: the server may drop an idle one
        just as a request arrives, and a read can simply be sent again.  A write
        always gets a fresh connection and is never repeated.
        """
        if not read_only:
            self.close()
        for _ in range(2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=_TIMEOUT_SECONDS, context=self._context
                )
            try:
                self._conn.request("POST", "/v1/call", body, {"Content-Type": "application/json"})
                response = self._conn.getresponse()
                return response.status, response.read()
            except ssl.SSLError:
                self.close()
                raise
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused:
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        raise AssertionError("unreachable: the second attempt uses a fresh connection")

    def call(self, node: str, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """The ``result`` of one call.

        :raises TalosError: the node answered with an error, or refused the handshake.
        :raises CliError: the API is unreachable or rejected the request.
        """
        body = json.dumps({"node": node, "op": op, "args": dict(args)}).encode()
        try:
            status, payload = self._exchange(body, read_only=op in READ_ONLY_OPS)
        except ssl.SSLError as exc:
            raise TalosError("Unavailable", tls.refused(exc)) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise CliError(
                f"simulated Talos machine API at {self.url} is not reachable ({reason}); "
                "is the simulator running?"
            ) from None
        try:
            answer = json.loads(payload)
        except ValueError:
            raise CliError(
                f"simulated Talos machine API at {self.url} answered HTTP {status} "
                "with a body that is not JSON"
            ) from None
        if status != 200 or not isinstance(answer, dict):
            detail = answer.get("malformed") or answer.get("failure") if answer else None
            raise CliError(
                f"simulated Talos machine API at {self.url} answered HTTP {status}: "
                f"{detail or 'unexpected answer'}"
            )
        error = answer.get("error")
        if isinstance(error, dict):
            raise TalosError(str(error.get("code", "Unknown")), str(error.get("message", "")))
        result = answer.get("result")
        return result if isinstance(result, dict) else {}


def close_transports() -> None:
    """Close every connection this process opened (the end of a command)."""
    while _OPEN:
        _OPEN.pop().close()


def multierror(messages: Sequence[str]) -> str:
    """hashicorp/go-multierror's text (:func:`simulator.talos.configview.multierror`).

    Imported when an error is printed: the config parser behind it is not
    needed by a command that succeeds.
    """
    from simulator.talos.configview import multierror as text

    return text(messages)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Session:
    """One command's connection: the nodes it targets and how."""

    transport: Transport
    nodes: list[str]
    insecure: bool
    connection_error: TalosError | None = None  # the TLS handshake would fail

    def call(self, node: str, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if self.connection_error is not None:
            raise self.connection_error
        return self.transport.call(node, op, {**args, "insecure": self.insecure})

    def each(
        self, op: str, args: Mapping[str, Any], *, prefix: str, partial_ok: bool = False
    ) -> list[tuple[str, dict[str, Any]]]:
        """Call *op* on every node (one-to-many); the first node only when insecure.

        Failures are collected as talosctl collects them.  With *partial_ok*
        (commands that print what they got: version, etcd members) failures
        become a ``WARNING:`` when at least one node answered.
        """
        if self.insecure:
            try:
                return [("", self.call(self.nodes[0], op, args))]
            except TalosError as exc:
                raise CliError(prefix + exc.rpc_text()) from None
        if self.connection_error is not None:
            raise CliError(prefix + self.connection_error.rpc_text())
        answers: list[tuple[str, dict[str, Any]]] = []
        failures: list[str] = []
        for node in self.nodes:
            try:
                answers.append((node, self.call(node, op, args)))
            except TalosError as exc:
                failures.append(f"{node}: {exc.rpc_text()}")
        if failures:
            if not (partial_ok and answers):
                raise CliError(prefix + multierror(failures))
            warn("WARNING: " + multierror(failures))
        return answers

    def single(self, command: str) -> str:
        """The one node of a command that refuses several (``FailIfMultiNodes``)."""
        if len(self.nodes) > 1 and not self.insecure:
            raise CliError(f'command "{command}" is not supported with multiple nodes')
        return self.nodes[0]


def warn(text: str) -> None:
    """talosctl's ``cli.Warning``: one line (or block) on stderr."""
    sys.stderr.write(text + "\n")


def connect(
    api_url: str, flags: GlobalArgs, *, insecure: bool = False, now: datetime | None = None
) -> Session:
    """The session talosctl would open for these flags.

    :raises CliError: with talosctl's message (talosconfig, endpoints, nodes).
    """
    if insecure:
        transport = Transport(api_url, tls.insecure_context())
        if not flags.nodes:
            raise CliError("failed to determine endpoints")
        return Session(transport, list(flags.nodes), insecure=True)
    path = talosconfig.default_path() if not flags.talosconfig else _path(flags.talosconfig)
    try:
        config = talosconfig.load(path)
        context = config.context(flags.context or None)
    except talosconfig.TalosconfigError as exc:
        raise CliError(str(exc)) from None
    endpoints = flags.endpoints or (context.endpoints if context is not None else ())
    if context is None or not endpoints:
        raise CliError(NO_ENDPOINTS)
    problem = talosconfig.credentials_problem(context, now)
    connection_error = None
    if problem is not None:
        kind, message = problem
        if kind == "client":
            raise CliError(message)
        connection_error = TalosError("Unavailable", message)
    nodes = list(flags.nodes) or list(context.nodes)
    if not nodes:
        raise CliError(NODES_NOT_SET)
    transport = Transport(api_url, _credentials(context) if problem is None else _no_credentials())
    return Session(transport, nodes, insecure=False, connection_error=connection_error)


def _credentials(context: talosconfig.Context) -> ssl.SSLContext:
    """The context's ``ca``/``crt``/``key`` as talosctl loads them (already decodable).

    Without ``ca`` the system roots are trusted, which the simulated machine CA
    is not in: the handshake then fails as talosctl's would.
    """
    crt, key = base64.b64decode(context.crt), base64.b64decode(context.key)
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    made.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if context.ca:
            made.load_verify_locations(cadata=base64.b64decode(context.ca).decode("ascii"))
        else:
            made.load_default_certs()
    except (ssl.SSLError, ValueError):
        raise CliError(
            "error constructing client: failed to create client connection: failed to get CA: "
            "failed to append CA certificate to RootCAs pool"
        ) from None
    try:
        tls.load_pair(made, crt, key)
    except ssl.SSLError:
        raise CliError(
            "error constructing client: failed to create client connection: failed to acquire "
            "credentials: could not load client key pair: tls: private key does not match "
            "public key"
        ) from None
    return made


def _no_credentials() -> ssl.SSLContext:
    """A context for a session that never dials (its handshake problem is already known)."""
    return ssl.create_default_context()


def _path(value: str) -> Path:
    return Path(value).expanduser()


def split_list(values: Sequence[str] | None) -> tuple[str, ...]:
    """pflag ``StringSlice``: repeatable and comma-separated."""
    out: list[str] = []
    for value in values or ():
        out.extend(part for part in value.split(",") if part)
    return tuple(out)
