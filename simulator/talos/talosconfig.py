"""The talosconfig file: writing one for the simulated site, reading it as talosctl does.

The suite reaches Talos only through a talosconfig and ``talosctl``, so the
simulator writes a real-format talosconfig (``context`` plus
``contexts.<name>.{endpoints, nodes, ca, crt, key}``, PEM base64-encoded;
``pkg/machinery/client/config``) and the ``talosctl`` shim reads it back with
talosctl's rules: ``--context`` overrides ``context``, ``--endpoints``
overrides the context's endpoints, ``--nodes`` its nodes.

Endpoints and nodes are node IPs -- data only.  The shim never dials them;
every call goes to the simulator's machine API on loopback.

Credentials: real talosctl presents the context's client certificate and
apid verifies it against the machine CA.  The shim does the same over mutual
TLS (:mod:`simulator.talos.cli_session`, :mod:`simulator.talos.tls`); before
dialling, :func:`credentials_problem` reports what talosctl itself rejects
(undecodable material) and, with talosctl's wording, what the handshake
would refuse anyway (no certificate, outside its validity period).

Key material is never put into messages or reprs.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cryptography import x509

from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem

if TYPE_CHECKING:
    from provisioning.config import secrets

ENV_TALOSCONFIG = "TALOSCONFIG"


class TalosconfigError(Exception):
    """The talosconfig cannot be used; the message is talosctl's wording and names the file."""


@dataclass(frozen=True)
class Context:
    """One named context of a talosconfig."""

    name: str
    endpoints: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    ca: str = field(default="", repr=False)
    crt: str = field(default="", repr=False)
    key: str = field(default="", repr=False)


@dataclass(frozen=True)
class TalosConfig:
    """A parsed talosconfig."""

    path: Path
    current: str
    contexts: Mapping[str, Context]

    def context(self, override: str | None = None) -> Context | None:
        """The context talosctl would use (``--context`` first), None if there is none.

        :raises TalosconfigError: *override* names a context the file does not have.
        """
        if override:
            found = self.contexts.get(override)
            if found is None:
                raise TalosconfigError(
                    "error constructing client: failed to create client connection: failed to "
                    f'resolve configuration context: context "{override}" not found in config'
                )
            return found
        return self.contexts.get(self.current)


def default_path() -> Path:
    """``$TALOSCONFIG``, else ``~/.talos/config`` (talosctl's default)."""
    env = os.environ.get(ENV_TALOSCONFIG)
    if env:
        return Path(env)
    return Path.home() / ".talos" / "config"


def _strings(value: Any, display: str, where: str, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(display, where, "must be a list of strings"))
        return ()
    return tuple(value)


def _text(value: Any, display: str, where: str, problems: list[Problem]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(Problem(display, where, "must be a string"))
        return ""
    return value


def parse(text: str, path: Path) -> TalosConfig:
    """Parse talosconfig *text* read from *path*.

    :raises TalosconfigError: the YAML is malformed or a field has the wrong
        shape; the message lists every problem with its field.
    """
    display = str(path)
    problems: list[Problem] = []
    try:
        documents = yamlfiles.parse_documents(text, display)
    except DefinitionError as exc:
        raise _open_error(path, exc.problems) from None
    data = documents[0].value if documents else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _open_error(path, [Problem(display, "", "must be a mapping")])
    current = _text(data.get("context"), display, "context", problems)
    raw_contexts = data.get("contexts") or {}
    contexts: dict[str, Context] = {}
    if not isinstance(raw_contexts, dict):
        problems.append(Problem(display, "contexts", "must be a mapping of context names"))
        raw_contexts = {}
    for name, raw in raw_contexts.items():
        where = f"contexts.{name}"
        if not isinstance(raw, dict):
            problems.append(Problem(display, where, "must be a mapping"))
            continue
        contexts[str(name)] = Context(
            name=str(name),
            endpoints=_strings(raw.get("endpoints"), display, f"{where}.endpoints", problems),
            nodes=_strings(raw.get("nodes"), display, f"{where}.nodes", problems),
            ca=_text(raw.get("ca"), display, f"{where}.ca", problems),
            crt=_text(raw.get("crt"), display, f"{where}.crt", problems),
            key=_text(raw.get("key"), display, f"{where}.key", problems),
        )
    if problems:
        raise _open_error(path, problems)
    return TalosConfig(path=path, current=current, contexts=contexts)


def _open_error(path: Path, problems: Sequence[Problem]) -> TalosconfigError:
    detail = "; ".join(str(p) for p in problems)
    return TalosconfigError(f'failed to open config file "{path}": {detail}')


def load(path: Path) -> TalosConfig:
    """Read the talosconfig at *path*.

    Real talosctl creates a missing file given with ``--talosconfig``; the
    shim does not write files a user did not ask for and reports it missing.

    :raises TalosconfigError: the file is missing, unreadable or malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TalosconfigError(
            f'failed to open config file "{path}": open {path}: no such file or directory'
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise TalosconfigError(f'failed to open config file "{path}": {reason}') from None
    return parse(text, path)


def write(path: Path, document: Mapping[str, Any]) -> None:
    """Write a talosconfig *document* to *path*, readable by its owner only (it holds a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def write_admin(
    path: Path,
    machine_secrets: secrets.MachineSecrets,
    context: str,
    endpoints: Sequence[str],
    nodes: Sequence[str],
    now: datetime | None = None,
) -> None:
    """Write an ``os:admin`` talosconfig, as ``gen config -t talosconfig`` produces.

    ``provisioning.config.secrets`` is imported here: every talosctl call loads this
    module to read its talosconfig, and only writing one needs the PKI code.
    """
    from provisioning.config import secrets

    write(path, secrets.admin_talosconfig(machine_secrets, context, endpoints, nodes, now))


def _decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


_SERVER_PREFACE = 'connection error: desc = "error reading server preface: remote error: tls: {}"'


def credentials_problem(context: Context, now: datetime | None = None) -> tuple[str, str] | None:
    """Why apid would refuse this context's client certificate, or None if it would accept it.

    Returns ``(kind, message)``: kind ``"client"`` for errors talosctl raises
    before dialling (undecodable credentials), ``"rpc"`` for what the server's
    TLS handshake answers (message is then an Unavailable status description).
    """
    moment = now if now is not None else datetime.now(UTC)
    if not context.crt and not context.key:
        return ("rpc", _SERVER_PREFACE.format("certificate required"))
    crt = _decode(context.crt)
    if crt is None:
        return (
            "client",
            "error constructing client: failed to create client connection: failed to "
            "acquire credentials: error decoding certificate: illegal base64 data",
        )
    if not context.key or _decode(context.key) is None:
        return (
            "client",
            "error constructing client: failed to create client connection: failed to "
            "acquire credentials: error decoding key: illegal base64 data",
        )
    try:
        cert = x509.load_pem_x509_certificate(crt)
    except ValueError:
        return (
            "client",
            "error constructing client: failed to create client connection: failed to "
            "acquire credentials: could not load client key pair: tls: failed to find any PEM "
            "data in certificate input",
        )
    if context.ca and _decode(context.ca) is None:
        return (
            "client",
            "error constructing client: failed to create client connection: failed to get CA: "
            "error decoding CA: illegal base64 data",
        )
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        return ("rpc", _SERVER_PREFACE.format("expired certificate"))
    return None
