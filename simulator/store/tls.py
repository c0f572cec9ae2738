"""Mutual TLS for the simulator's etcd: its own CA, a serving and a client certificate.

The simulator's etcd holds every machine config with its secrets and every
Kubernetes Secret.  Served as plain HTTP on loopback, any local process could
read them with one ``/v3/kv/range``; a real Talos node never exposes such a
thing (its etcd is reached only with a client certificate of the etcd CA,
https://etcd.io/docs/v3.5/op-guide/security/).  So etcd runs here with
``--client-cert-auth`` and a CA of its own, and the only client certificate
lives in a 0700 directory beside the data directory: a caller who cannot read
that directory cannot complete a TLS handshake, let alone a request.

The material is made once per directory and reused on restarts, so a client
holding an :class:`EtcdClientTLS` keeps working across ``stop``/``start``.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.config import pki

_LIFETIME = timedelta(days=3650)
_LOOPBACK = "127.0.0.1"


def _serving_certificate(ca: pki.CertificateAndKey) -> tuple[bytes, bytes]:
    """etcd's certificate for 127.0.0.1, usable as server *and* client.

    etcd's JSON gateway dials etcd's own gRPC server with ``--cert-file`` as
    its client certificate, so under ``--client-cert-auth`` a server-only
    certificate makes every gateway request fail with "bad certificate".
    """
    ca_cert = pki.load_certificate(ca.crt)
    ca_key = pki.load_private_key(ca.key)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.now(UTC) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "etcd")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _LIFETIME)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(_LOOPBACK))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), pki.private_key_pem(key)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class EtcdClientTLS:
    """Where a client finds the etcd CA and its own certificate and key (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, directory: Path) -> EtcdClientTLS:
        return cls(directory / "ca.crt", directory / "client.crt", directory / "client.key")

    def context(self) -> ssl.SSLContext:
        """A client context trusting only the etcd CA and presenting the client certificate.

        :raises OSError: a file is missing or unreadable (e.g. another user's state).
        :raises ssl.SSLError: the files are not a certificate and its key.
        """
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


@dataclass(frozen=True)
class EtcdServingTLS:
    """The files etcd's ``--trusted-ca-file``, ``--cert-file`` and ``--key-file`` name."""

    ca: Path
    cert: Path
    key: Path

    def flags(self) -> list[str]:
        return [
            "--client-cert-auth",
            f"--trusted-ca-file={self.ca}",
            f"--cert-file={self.cert}",
            f"--key-file={self.key}",
        ]

    def peer_flags(self) -> list[str]:
        """The same identity on the peer port: nothing else may talk raft to this member."""
        return [
            "--peer-client-cert-auth",
            f"--peer-trusted-ca-file={self.ca}",
            f"--peer-cert-file={self.cert}",
            f"--peer-key-file={self.key}",
        ]


def ensure_material(directory: Path) -> tuple[EtcdServingTLS, EtcdClientTLS]:
    """The serving and client material in *directory* (0700), made if any file is missing.

    The CA key is not kept: nothing issues further certificates, and a CA
    key on disk would only be one more secret to guard.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    serving = EtcdServingTLS(
        directory / "ca.crt", directory / "server.crt", directory / "server.key"
    )
    client = EtcdClientTLS.in_dir(directory)
    files = (serving.ca, serving.cert, serving.key, client.cert, client.key)
    if all(path.is_file() for path in files):
        return serving, client
    ca = pki.new_ca("talos-conformance simulator etcd", pki.KeyKind.ECDSA_P256)
    server_crt, server_key = _serving_certificate(ca)
    client_crt, client_key = pki.issue_client_certificate(
        ca.crt, ca.key, "simulator", ["simulator"], _LIFETIME
    )
    for path, data in (
        (serving.cert, server_crt),
        (serving.key, server_key),
        (client.cert, client_crt),
        (client.key, client_key),
    ):
        _write_private(path, data)
    # The CA certificate last: its presence with the others means a complete set.
    _write_private(serving.ca, ca.crt)
    return serving, client
