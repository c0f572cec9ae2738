"""Mutual TLS for the simulated Talos API, as apid serves it and talosctl dials it.

Real apid listens only with TLS: its serving certificate is signed by the
machine ("os") CA of the cluster's secrets, and every call must present a
client certificate signed by that CA; the certificate's Organization names
the caller's roles (``os:admin``, ``os:operator``, ``os:reader``,
``os:etcd:backup``; https://github.com/siderolabs/talos/blob/main/pkg/machinery/role/role.go).
A node in maintenance mode serves without asking for a client certificate
(``talosctl --insecure``), and talosctl then skips verifying the server.

The simulator serves every node on one loopback port, so the server asks for
a client certificate without requiring one: a certificate that does not chain
to the CA fails the handshake, and a connection without one is a maintenance
connection (:mod:`simulator.talos.authz` decides what it may do).

Key material goes to OpenSSL through anonymous memory files (``memfd``): it
is never written to disk and never put in a message.
"""

from __future__ import annotations

import os
import socket
import ssl
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from provisioning.config import pki
from simulator.pki import ServingTLS

_HANDSHAKE_SECONDS = 30.0
_LINGER_SECONDS = 2.0
_SERVING_LIFETIME = timedelta(days=365)
LOOPBACK = "127.0.0.1"


def serving(ca_cert_pem: bytes, ca_key_pem: bytes) -> ServingTLS:
    """apid's serving material: a certificate for the loopback address signed by the machine CA.

    :raises ValueError: the CA certificate and key do not load or do not match.
    """
    crt, key = pki.issue_server_certificate(ca_cert_pem, ca_key_pem, [LOOPBACK], _SERVING_LIFETIME)
    return ServingTLS(crt, key, ca_cert_pem)


def load_pair(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """``load_cert_chain`` from bytes: OpenSSL reads files, so hand it anonymous ones.

    The key is re-encoded as PKCS #8: OpenSSL does not read Talos's
    ``ED25519 PRIVATE KEY`` label.

    :raises ssl.SSLError: the certificate and key do not load or do not match.
    """
    try:
        key = pki.load_private_key(key_pem, check_rsa=False)
    except ValueError:
        raise ssl.SSLError("the client key does not load") from None
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fds = []
    try:
        for name, data in (("crt", cert_pem), ("key", pkcs8)):
            fd = os.memfd_create(f"talos-{name}", os.MFD_CLOEXEC)
            fds.append(fd)
            os.write(fd, data)
        context.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
    finally:
        for fd in fds:
            os.close(fd)


def server_context(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """apid's side: serve *cert_pem*, verify any client certificate against *ca_pem*."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_pair(context, cert_pem, key_pem)
    context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """talosctl's side with a talosconfig context: verify the server, present the client cert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    load_pair(context, cert_pem, key_pem)
    return context


def insecure_context() -> ssl.SSLContext:
    """``talosctl --insecure``: no client certificate, the server is not verified."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def accept(context: ssl.SSLContext, sock: Any) -> ssl.SSLSocket:
    """The server-side handshake on an accepted socket (bounded, so a silent peer ends).

    :raises OSError: the handshake failed (including an untrusted client certificate).
    """
    sock.settimeout(_HANDSHAKE_SECONDS)
    wrapped = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    try:
        wrapped.do_handshake()
    except OSError:
        _linger(wrapped)
        raise
    wrapped.settimeout(None)
    return wrapped


def _linger(sock: ssl.SSLSocket) -> None:
    """Let the refusal's TLS alert reach the client, then close.

    Under TLS 1.3 a client learns of a refused certificate only when it reads,
    after it sent its request; closing with that request unread would answer
    with a TCP reset that can overtake the alert.  So: end our side, drain
    briefly, close.
    """
    try:
        sock.settimeout(_LINGER_SECONDS)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def peer_roles(sock: ssl.SSLSocket) -> frozenset[str] | None:
    """The roles of the verified client certificate (its Organizations); None without one.

    Talos's authz reads the roles from the Organization of the certificate
    (``pkg/grpc/middleware/authz``); OpenSSL has already verified it chains to
    the machine CA, or the handshake would have failed.
    """
    der = sock.getpeercert(binary_form=True)
    if not der:
        return None
    subject = x509.load_der_x509_certificate(der).subject
    return frozenset(
        str(attribute.value)
        for attribute in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )


# Go's names for TLS alerts (crypto/tls alert.go), as talosctl prints a refused handshake.
_ALERTS = {
    "UNKNOWN_CA": "unknown certificate authority",
    "BAD_CERTIFICATE": "bad certificate",
    "CERTIFICATE_REQUIRED": "certificate required",
    "CERTIFICATE_EXPIRED": "expired certificate",
}


def refused(exc: ssl.SSLError) -> str:
    """The gRPC Unavailable description talosctl shows for a failed handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            'connection error: desc = "transport: authentication handshake failed: tls: failed '
            'to verify certificate: x509: certificate signed by unknown authority"'
        )
    reason = str(exc.reason or exc)
    preface = 'connection error: desc = "error reading server preface: '
    for marker, text in _ALERTS.items():
        if marker in reason:
            return f'{preface}remote error: tls: {text}"'
    return f'{preface}{reason.lower()}"'
