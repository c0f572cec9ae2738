"""CAs and client certificates come out in Talos's key kinds and PEM labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config import pki

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _label(pem: bytes) -> str:
    return pem.decode("ascii").splitlines()[0].removeprefix("-----BEGIN ").removesuffix("-----")


@pytest.mark.parametrize(
    ("kind", "label", "key_type"),
    [
        (pki.KeyKind.ECDSA_P256, "EC PRIVATE KEY", ec.EllipticCurvePrivateKey),
        (pki.KeyKind.ED25519, "ED25519 PRIVATE KEY", ed25519.Ed25519PrivateKey),
    ],
)
def test_ca_is_a_ten_year_ca_with_talos_key_label(
    kind: pki.KeyKind, label: str, key_type: type
) -> None:
    ca = pki.new_ca("etcd", kind, NOW)
    cert = pki.load_certificate(ca.crt)
    key = pki.load_private_key(ca.key)
    assert _label(ca.key) == label
    assert isinstance(key, key_type)
    assert cert.public_key() == key.public_key()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.digital_signature
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + timedelta(hours=87600)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "etcd"
    cert.verify_directly_issued_by(cert)


def test_ca_without_organization_has_empty_subject() -> None:
    cert = pki.load_certificate(pki.new_ca(None, pki.KeyKind.ECDSA_P256, NOW).crt)
    assert len(cert.subject) == 0


def test_rsa_key_is_pkcs1_4096() -> None:
    pem = pki.private_key_pem(pki.new_private_key(pki.KeyKind.RSA_4096))
    assert _label(pem) == "RSA PRIVATE KEY"
    key = pki.load_private_key(pem)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 4096


def test_client_certificate_under_kubernetes_ca_is_ecdsa_and_verifies() -> None:
    ca = pki.new_ca("kubernetes", pki.KeyKind.ECDSA_P256, NOW)
    crt, key_pem = pki.issue_client_certificate(
        ca.crt, ca.key, "admin", ["system:masters"], timedelta(days=365), NOW
    )
    cert = x509.load_pem_x509_certificate(crt)
    cert.verify_directly_issued_by(pki.load_certificate(ca.crt))
    assert isinstance(pki.load_private_key(key_pem), ec.EllipticCurvePrivateKey)
    assert cert.public_key() == pki.load_private_key(key_pem).public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert cert.not_valid_after_utc == NOW + timedelta(days=365)


def test_client_certificate_refuses_a_foreign_ca_key() -> None:
    ca = pki.new_ca("talos", pki.KeyKind.ED25519, NOW)
    other = pki.new_ca("talos", pki.KeyKind.ED25519, NOW)
    with pytest.raises(ValueError, match="does not belong"):
        pki.issue_client_certificate(ca.crt, other.key, "", ["os:admin"], timedelta(days=1), NOW)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        pki.new_ca("talos", pki.KeyKind.ED25519, datetime(2026, 1, 1))


def test_bad_key_error_does_not_quote_the_input() -> None:
    body = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="  # valid base64, not a key
    pem = f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n".encode()
    with pytest.raises(ValueError, match="EC PRIVATE KEY") as caught:
        pki.load_private_key(pem)
    assert body not in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_load_private_key_raises_only_value_error(data: bytes) -> None:
    wrapped = b"-----BEGIN PRIVATE KEY-----\n" + data + b"\n-----END PRIVATE KEY-----\n"
    for candidate in (data, wrapped):
        with pytest.raises(ValueError, match=r"PEM|private key|key type"):
            pki.load_private_key(candidate)
