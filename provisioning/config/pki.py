"""Certificate authorities and client certificates, in Talos's PEM dialect.

Talos's secrets bundle and machine config carry keys and certificates as PEM
(base64-encoded once more in YAML).  This module produces exactly what
``talosctl gen secrets`` produces, so a bundle generated here can be used with
``talosctl gen config --with-secrets`` and vice versa.  The behaviour follows
siderolabs/talos v1.12.5 ``pkg/machinery/config/generate/secrets/ca.go`` and
siderolabs/crypto ``x509`` (read for behaviour, not copied):

* etcd, Kubernetes and aggregator CAs: ECDSA P-256 keys, SHA-256 signatures,
  key PEM ``EC PRIVATE KEY`` (SEC 1);
* Talos API (``os``) CA: Ed25519, key PEM ``ED25519 PRIVATE KEY`` -- a PKCS #8
  body under Talos's own label, which stock PEM loaders reject;
* Kubernetes service-account key (Talos >= 1.7): RSA 4096, ``RSA PRIVATE KEY``
  (PKCS #1);
* CAs are valid for 87,600 h (ten years), subject ``O=<organization>`` only
  (the aggregator CA has an empty subject: upstream passes its common name to
  an option the CA template ignores), key usage certSign + digitalSignature,
  extended key usage serverAuth + clientAuth;
* client certificates get a key of the CA's kind, key usage
  digitalSignature and extended key usage clientAuth only; serving
  certificates (apid's, minted by each node from the machine CA) the same
  with serverAuth and the addresses they answer on as IP SANs.

It lives apart from :mod:`provisioning.config.secrets` because it is pure
cryptography with no notion of files, YAML or age.  Errors never quote key
material: a key that does not load is reported by its role, never by value.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import re
import secrets as stdlib_secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = timedelta(hours=87600)
RSA_BITS = 4096

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

_ED25519_LABEL = "ED25519 PRIVATE KEY"
_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)\r?\n?-----END \1-----", re.DOTALL | re.ASCII
)


class KeyKind(enum.Enum):
    """The key algorithms Talos uses for its PKI."""

    ECDSA_P256 = "ecdsa-p256"
    ED25519 = "ed25519"
    RSA_4096 = "rsa-4096"


@dataclass(frozen=True, repr=False)
class CertificateAndKey:
    """A PEM certificate and its PEM private key (``crt``/``key`` in Talos YAML)."""

    crt: bytes
    key: bytes

    def __repr__(self) -> str:
        return "CertificateAndKey(crt=..., key=<redacted>)"


def new_private_key(kind: KeyKind) -> PrivateKey:
    """A fresh private key of *kind*."""
    if kind is KeyKind.ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is KeyKind.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def key_kind(key: PrivateKey) -> KeyKind:
    """Which of Talos's key kinds *key* is (RSA of any size counts as RSA)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return KeyKind.ECDSA_P256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return KeyKind.ED25519
    return KeyKind.RSA_4096


def private_key_pem(key: PrivateKey) -> bytes:
    """*key* as PEM under the label siderolabs/crypto writes for its kind."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return _pem_block(_ED25519_LABEL, der)
    # EC -> "EC PRIVATE KEY" (SEC 1), RSA -> "RSA PRIVATE KEY" (PKCS #1)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _pem_block(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode("ascii")


def load_private_key(pem: bytes, *, check_rsa: bool = True) -> PrivateKey:
    """Load a PEM private key in any label Talos writes or reads.

    :param check_rsa: verify an RSA key's internal consistency (~0.3 s for
        4096 bits); only worth skipping for keys this process never signs with.

    :raises ValueError: not a supported private key; the message never
        contains key material.
    """
    text = pem.decode("ascii", errors="replace")
    match = _PEM_BLOCK.search(text)
    if match is None:
        raise ValueError("not a PEM block")
    label = match.group(1)
    if label not in ("EC PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY", _ED25519_LABEL):
        raise ValueError(f"unsupported PEM type {label!r}")
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
        # The DER loader accepts PKCS #8, SEC 1 and PKCS #1 alike, which also
        # covers Talos's PKCS #8 body under the non-standard Ed25519 label.
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=not check_rsa
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(f"{label} does not hold a valid private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        return key
    raise ValueError(f"{label} holds a key type Talos does not use")


def load_certificate(pem: bytes) -> x509.Certificate:
    """Load one PEM certificate.

    :raises ValueError: not a PEM certificate.
    """
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError("not a valid PEM certificate") from None


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA512 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None  # Ed25519 signs the message itself; no separate digest
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA512()  # siderolabs/crypto: RSA CAs sign with SHA512WithRSA
    return hashes.SHA256()


def _serial() -> int:
    # 128 random bits, as siderolabs/crypto NewSerialNumber; never zero
    return stdlib_secrets.randbits(128) | 1


def new_ca(
    organization: str | None, kind: KeyKind, now: datetime | None = None
) -> CertificateAndKey:
    """A self-signed CA like Talos's ``NewSelfSignedCertificateAuthority``.

    :param organization: the subject's only attribute; ``None`` for an empty
        subject (Talos's aggregator CA).
    """
    start = _utc(now)
    key = new_private_key(kind)
    subject = x509.Name(
        []
        if organization is None
        else [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    )
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(start + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    cert = builder.sign(key, _signature_hash(key))
    return CertificateAndKey(cert.public_bytes(serialization.Encoding.PEM), private_key_pem(key))


def issue_client_certificate(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    common_name: str,
    organizations: Sequence[str],
    lifetime: timedelta,
    now: datetime | None = None,
) -> tuple[bytes, bytes]:
    """A client certificate signed by the CA, returned as ``(crt_pem, key_pem)``.

    The new key is of the CA's kind (Talos's ``NewKeyPair``): Ed25519 under the
    Talos API CA (talosconfig), ECDSA P-256 under the Kubernetes CA
    (kubeconfig ``O=system:masters``).  An empty *common_name* leaves the CN
    out, as Talos's admin certificate does.

    :raises ValueError: the CA certificate or key does not load, or they do
        not belong together.
    """
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return _issue(
        ca_cert_pem,
        ca_key_pem,
        x509.Name(attributes),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        (),
        lifetime,
        now,
    )


def issue_server_certificate(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    addresses: Sequence[str],
    lifetime: timedelta,
    now: datetime | None = None,
) -> tuple[bytes, bytes]:
    """A serving certificate for *addresses* (IP SANs) signed by the CA: ``(crt_pem, key_pem)``.

    :raises ValueError: the CA does not load, or an address is not an IP.
    """
    sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    return _issue(
        ca_cert_pem, ca_key_pem, x509.Name([]), ExtendedKeyUsageOID.SERVER_AUTH, sans, lifetime, now
    )


def _issue(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: Sequence[x509.GeneralName],
    lifetime: timedelta,
    now: datetime | None,
) -> tuple[bytes, bytes]:
    ca_cert = load_certificate(ca_cert_pem)
    ca_key = load_private_key(ca_key_pem)
    if ca_cert.public_key() != ca_key.public_key():
        raise ValueError("the CA key does not belong to the CA certificate")
    start = _utc(now)
    key = new_private_key(key_kind(ca_key))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    except x509.ExtensionNotFound:
        pass  # an imported CA without SKI: the AKI is optional
    cert = builder.sign(ca_key, _signature_hash(ca_key))
    return cert.public_bytes(serialization.Encoding.PEM), private_key_pem(key)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _utc(now: datetime | None) -> datetime:
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("certificate times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)
