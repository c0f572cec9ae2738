"""Client-certificate authentication, as kube-apiserver's x509 authenticator does it.

What belongs here: deciding, from the certificate a TLS client presented,
who is calling -- user = subject CN, groups = subject O values plus
``system:authenticated`` -- or that the call is unauthorized.  Separate from
the TLS server because the TLS layer deliberately accepts any certificate
(so that a bad one gets kube-apiserver's 401 ``Status`` instead of a failed
handshake) and this check is then a pure function, easy to test with
expired and foreign certificates.

A certificate is accepted when it is directly signed by the cluster CA, is
within its validity window and, if it has an extended key usage extension,
allows client authentication.  Deviation: intermediate CAs are not
followed (Talos issues admin certificates directly from the Kubernetes CA).
Failures never echo the certificate or any key material.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.kube import errors
from simulator.kube.hooks import UserInfo

AUTHENTICATED = "system:authenticated"


def _names(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def authenticate(
    cert: x509.Certificate | None, ca: x509.Certificate, now: dt.datetime | None = None
) -> UserInfo | None:
    """The user *cert* proves, None when no certificate was presented.

    :raises errors.ApiError: 401 Unauthorized when a certificate was presented but does not
        authenticate (kube-apiserver fails the request rather than falling back to anonymous).
    """
    if cert is None:
        return None
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise errors.unauthorized() from exc
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise errors.unauthorized()
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        raise errors.unauthorized()
    common_names = _names(cert, NameOID.COMMON_NAME)
    if not common_names or not common_names[0]:
        raise errors.unauthorized()
    groups = [*_names(cert, NameOID.ORGANIZATION_NAME), AUTHENTICATED]
    return UserInfo(common_names[0], tuple(dict.fromkeys(groups)))
