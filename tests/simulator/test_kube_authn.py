"""Client-certificate authentication and the PKI that mints the certificates."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from simulator.kube import authn, errors
from simulator.kube.hooks import UserInfo
from simulator.pki import ClusterCA


@pytest.fixture(scope="module")
def ca() -> ClusterCA:
    return ClusterCA.generate()


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_valid_cert_gives_cn_and_orgs(ca: ClusterCA) -> None:
    issued = ca.issue_client_cert("admin", ["system:masters", "ops"])
    user = authn.authenticate(_cert(issued.cert_pem), ca.cert)
    assert user == UserInfo("admin", ("system:masters", "ops", "system:authenticated"))


def test_no_cert_is_anonymous(ca: ClusterCA) -> None:
    assert authn.authenticate(None, ca.cert) is None


@pytest.mark.parametrize("case", ["expired", "not_yet_valid", "foreign", "server_usage"])
def test_bad_certs_are_401(ca: ClusterCA, case: str) -> None:
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)
    if case == "expired":
        pem = ca.issue_client_cert("admin", not_before=now - 2 * day, not_after=now - day).cert_pem
    elif case == "not_yet_valid":
        pem = ca.issue_client_cert("admin", not_before=now + day, not_after=now + 2 * day).cert_pem
    elif case == "foreign":
        pem = ClusterCA.generate().issue_client_cert("admin").cert_pem
    else:
        pem = ca.issue_server_cert(["127.0.0.1"]).cert_pem
    with pytest.raises(errors.ApiError) as excinfo:
        authn.authenticate(_cert(pem), ca.cert)
    assert (excinfo.value.code, excinfo.value.reason, excinfo.value.message) == (
        401,
        "Unauthorized",
        "Unauthorized",
    )


def test_server_cert_sans(ca: ClusterCA) -> None:
    cert = _cert(ca.issue_server_cert(["127.0.0.1", "localhost"]).cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]


def test_keys_stay_out_of_reprs(ca: ClusterCA) -> None:
    issued = ca.issue_client_cert("admin")
    assert "PRIVATE" not in repr(issued)
    assert "PRIVATE" not in repr(ca.serving_tls())
    assert "PRIVATE" not in repr(ca)
