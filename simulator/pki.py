"""Certificates for the simulated control plane: one CA, a serving cert, client certs.

What belongs here: minting the X.509 material a real Talos control plane
hands out -- the Kubernetes CA, the API server's serving certificate and
admin client certificates (CN = user, O = groups, as kube-apiserver's x509
authenticator reads them) -- plus writing a kubeconfig the way
``talosctl kubeconfig`` names things (cluster ``<cluster>``, user and context
``admin@<cluster>``; facts/talos.md section 4.4).

Why ECDSA P-256: Talos mints its Kubernetes CA and admin certificates as
ECDSA, and P-256 keys are cheap enough to generate per test.  Client
certificates take explicit validity bounds so tests can mint expired or
not-yet-valid ones; a second :meth:`ClusterCA.generate` gives a foreign CA.

Private keys never leave this module except as PEM bytes handed to the
caller, are never logged, and files holding them are written mode 0600.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_YEAR = dt.timedelta(days=365)
# Backdating absorbs small clock differences between the minting and the verifying side.
_BACKDATE = dt.timedelta(minutes=5)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:  # keeps the key out of logs and assertion messages
        return f"IssuedCert(cert_pem=<{len(self.cert_pem)} bytes>, key_pem=<redacted>)"


@dataclass(frozen=True)
class ServingTLS:
    """What the HTTPS front needs: its cert/key and the CA that client certs must chain to."""

    cert_pem: bytes
    key_pem: bytes
    client_ca_pem: bytes

    def __repr__(self) -> str:
        return "ServingTLS(<redacted>)"


class ClusterCA:
    """A self-signed Kubernetes CA that issues serving and client certificates."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self._key = key
        self.cert = cert

    def __repr__(self) -> str:
        return f"ClusterCA(subject={self.cert.subject.rfc4514_string()!r})"

    @classmethod
    def generate(cls, common_name: str = "kubernetes") -> ClusterCA:
        """A fresh CA valid for ten years (Talos's CA lifetime)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + 10 * _ONE_YEAR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def _leaf(
        self,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        not_before: dt.datetime,
        not_after: dt.datetime,
        sans: Sequence[x509.GeneralName] = (),
    ) -> IssuedCert:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), False)
        cert = builder.sign(self._key, hashes.SHA256())
        return IssuedCert(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def issue_server_cert(self, sans: Sequence[str]) -> IssuedCert:
        """A one-year serving cert; each SAN that parses as an IP becomes an IP SAN."""
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        now = _now()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
        return self._leaf(
            subject, ExtendedKeyUsageOID.SERVER_AUTH, now - _BACKDATE, now + _ONE_YEAR, names
        )

    def issue_client_cert(
        self,
        cn: str,
        orgs: Sequence[str] = (),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> IssuedCert:
        """A client cert for user *cn* in groups *orgs* (default validity: one year from now)."""
        now = _now()
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        return self._leaf(
            x509.Name(attributes),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            not_before if not_before is not None else now - _BACKDATE,
            not_after if not_after is not None else now + _ONE_YEAR,
        )

    def serving_tls(self, sans: Sequence[str] = ("127.0.0.1", "localhost")) -> ServingTLS:
        """Serving material for the API server, trusting this CA for client certs."""
        issued = self.issue_server_cert(sans)
        return ServingTLS(issued.cert_pem, issued.key_pem, self.cert_pem)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_private_file(path: Path, data: bytes) -> None:
    """Write *data* to *path* readable by the owner only (created 0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)


def write_kubeconfig(
    path: Path,
    server_url: str,
    ca_pem: bytes,
    client_cert_pem: bytes,
    client_key_pem: bytes,
    cluster_name: str,
    user: str | None = None,
    context: str | None = None,
    proxy_url: str | None = None,
) -> None:
    """Write a kubeconfig named as ``talosctl kubeconfig`` names it (mode 0600).

    :param proxy_url: the cluster's ``proxy-url`` (the simulator's address proxy).

    :param user: defaults to ``admin@<cluster_name>``.
    :param context: defaults to ``admin@<cluster_name>``.
    """
    user_name = user if user is not None else f"admin@{cluster_name}"
    context_name = context if context is not None else f"admin@{cluster_name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": _b64(ca_pem),
                    **({"proxy-url": proxy_url} if proxy_url else {}),
                },
            }
        ],
        "users": [
            {
                "name": user_name,
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        ],
        "contexts": [
            {
                "name": context_name,
                "context": {"cluster": cluster_name, "namespace": "default", "user": user_name},
            }
        ],
        "current-context": context_name,
        "preferences": {},
    }
    write_private_file(path, yaml.safe_dump(document, sort_keys=False).encode())
