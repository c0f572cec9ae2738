"""The Talos secrets bundle: its type, its ``secrets.yaml`` form, its generation.

:class:`MachineSecrets` is what ``talosctl gen secrets`` writes and
``gen config --with-secrets`` reads, field for field, so a bundle made here
works with talosctl and the other way round.  The format follows
siderolabs/talos v1.12.5 ``pkg/machinery/config/generate/secrets``
(``secrets.go``, ``bundle.go``, ``utils.go``; read for behaviour, not copied):
lower-case YAML keys (``cluster``, ``secrets``, ``trustdinfo``, ``certs``),
certificates and keys as base64 of PEM, tokens ``[a-z0-9]{6}.[a-z0-9]{16}``,
a 32-byte base64 secretbox key, a 32-byte cluster id encoded URL-safe (v1.12)
and a 32-byte cluster secret encoded standard base64.  Key algorithms are in
:mod:`provisioning.config.pki`.

It is separate from the store (:mod:`provisioning.config.agestore`) and from merging
(:mod:`provisioning.config.secrets`) because parsing and validating an untrusted
bundle is its own job: every malformed field is reported at once, by file and
dotted field, and no value is ever quoted -- the file is full of secrets.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from secrets import choice, token_bytes
from typing import Any

from cryptography import x509

from provisioning.config import pki
from provisioning.config.pki import CertificateAndKey
from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem

TOKEN_PATTERN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")
_TOKEN_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Marks a field whose parent is missing or not a mapping (already reported).
_BROKEN = object()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, repr=False)
class MachineSecrets:
    """One cluster's Talos secrets bundle (``talosctl gen secrets``)."""

    cluster_id: str
    cluster_secret: str
    bootstrap_token: str
    secretbox_encryption_secret: str
    trustd_token: str
    etcd_ca: CertificateAndKey
    k8s_ca: CertificateAndKey
    k8s_aggregator_ca: CertificateAndKey
    k8s_service_account_key: bytes
    os_ca: CertificateAndKey
    # Bundles from Talos < 1.3 carry this instead of the secretbox secret.
    aescbc_encryption_secret: str = ""

    def __repr__(self) -> str:
        return "MachineSecrets(<secret material redacted>)"

    __str__ = __repr__

    def to_yaml(self) -> str:
        """The bundle as ``talosctl gen secrets`` writes ``secrets.yaml``."""
        encryption: dict[str, str] = {"bootstraptoken": self.bootstrap_token}
        if self.aescbc_encryption_secret:
            encryption["aescbcencryptionsecret"] = self.aescbc_encryption_secret
        if self.secretbox_encryption_secret:
            encryption["secretboxencryptionsecret"] = self.secretbox_encryption_secret
        bundle = {
            "cluster": {"id": self.cluster_id, "secret": self.cluster_secret},
            "secrets": encryption,
            "trustdinfo": {"token": self.trustd_token},
            "certs": {
                "etcd": _pair(self.etcd_ca),
                "k8s": _pair(self.k8s_ca),
                "k8saggregator": _pair(self.k8s_aggregator_ca),
                "k8sserviceaccount": {"key": _b64(self.k8s_service_account_key)},
                "os": _pair(self.os_ca),
            },
        }
        return yamlfiles.dump_document(bundle)

    @classmethod
    def from_yaml(cls, text: str, display: str) -> MachineSecrets:
        """Parse a ``secrets.yaml`` bundle; *display* names it in errors.

        :raises DefinitionError: listing every missing or malformed field,
            without ever quoting a value.
        """
        return _BundleReader(text, display).read()

    def secret_values(self) -> frozenset[str]:
        """Every secret string as it may appear in rendered files (for leak scans)."""
        keys = [
            self.etcd_ca.key,
            self.k8s_ca.key,
            self.k8s_aggregator_ca.key,
            self.k8s_service_account_key,
            self.os_ca.key,
        ]
        values = {
            self.cluster_secret,
            self.bootstrap_token,
            self.bootstrap_token.partition(".")[2],
            self.secretbox_encryption_secret,
            self.aescbc_encryption_secret,
            self.trustd_token,
            self.trustd_token.partition(".")[2],
        }
        values.update(_b64(key) for key in keys)
        values.update(key.decode("ascii") for key in keys)
        values.discard("")
        return frozenset(values)


def _pair(pair: CertificateAndKey) -> dict[str, str]:
    return {"crt": _b64(pair.crt), "key": _b64(pair.key)}


class _BundleReader:
    """Validates a parsed bundle field by field, collecting every problem."""

    def __init__(self, text: str, display: str) -> None:
        self.display = display
        self.problems: list[Problem] = []
        self.root: Any = None
        self.lines = yamlfiles.LineMap()
        self._parse(text)

    def _parse(self, text: str) -> None:
        try:
            documents = yamlfiles.parse_documents(text, self.display)
        except DefinitionError as exc:
            # PyYAML's own wording may quote the offending text; keep the line only.
            line = exc.problems[0].line if exc.problems else None
            raise DefinitionError([Problem(self.display, "", "not valid YAML", line)]) from None
        except (ValueError, OverflowError, RecursionError):
            # e.g. a scalar that resolves to an impossible timestamp
            raise DefinitionError([Problem(self.display, "", "not valid YAML")]) from None
        if len(documents) != 1 or not isinstance(documents[0].value, dict):
            raise DefinitionError(
                [Problem(self.display, "", "must be one YAML mapping (a Talos secrets bundle)")]
            )
        self.root = documents[0].value
        self.lines = documents[0].lines

    def _problem(self, path: tuple[str, ...], message: str) -> None:
        problem = Problem(self.display, ".".join(path), message, self.lines.line(path))
        if problem not in self.problems:  # sibling fields share a broken parent
            self.problems.append(problem)

    def _value(self, path: tuple[str, ...]) -> Any:
        cursor: Any = self.root
        for depth, part in enumerate(path):
            if cursor is None and depth > 0:
                self._problem(path[:depth], "is required")
                return _BROKEN
            if not isinstance(cursor, dict):
                self._problem(path[:depth], "must be a mapping")
                return _BROKEN
            cursor = cursor.get(part)
        return cursor

    def string(self, path: tuple[str, ...], required: bool = True) -> str:
        value = self._value(path)
        if value is _BROKEN:
            return ""
        if value is None or value == "":
            if required:
                self._problem(path, "is required")
            return ""
        if not isinstance(value, str):
            self._problem(path, "must be a string")
            return ""
        return value

    def pem(self, path: tuple[str, ...]) -> bytes | None:
        value = self.string(path)
        if not value:
            return None
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self._problem(path, "must be base64-encoded PEM")
            return None
        if b"-----BEGIN " not in decoded:
            self._problem(path, "must be base64-encoded PEM")
            return None
        return decoded

    def key(self, path: tuple[str, ...], check_rsa: bool = True) -> pki.PrivateKey | None:
        pem = self.pem(path)
        if pem is None:
            return None
        try:
            return pki.load_private_key(pem, check_rsa=check_rsa)
        except ValueError as exc:  # pki's messages name PEM labels, never key bytes
            self._problem(path, f"is not a usable private key: {exc}")
            return None

    def ca(self, name: str) -> CertificateAndKey:
        crt_path, key_path = ("certs", name, "crt"), ("certs", name, "key")
        crt_pem = self.pem(crt_path)
        key = self.key(key_path)
        cert: x509.Certificate | None = None
        if crt_pem is not None:
            try:
                cert = pki.load_certificate(crt_pem)
            except ValueError:
                self._problem(crt_path, "is not a PEM certificate")
        if cert is not None:
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                self._problem(crt_path, "is not a CA certificate")
            if key is not None and cert.public_key() != key.public_key():
                self._problem(key_path, f"does not belong to certs.{name}.crt")
        return CertificateAndKey(crt_pem or b"", self.pem_of(key_path))

    def pem_of(self, path: tuple[str, ...]) -> bytes:
        value = self._value(path)
        try:
            return base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except (binascii.Error, ValueError):
            return b""

    def encryption_secrets(self) -> tuple[str, str]:
        secretbox_path = ("secrets", "secretboxencryptionsecret")
        aescbc_path = ("secrets", "aescbcencryptionsecret")
        secretbox = self.string(secretbox_path, required=False)
        aescbc = self.string(aescbc_path, required=False)
        if bool(secretbox) == bool(aescbc) and isinstance(self._value(("secrets",)), dict):
            how = (
                "is required"
                if not secretbox
                else "must not be set with secrets.aescbcencryptionsecret"
            )
            self._problem(secretbox_path, how)
        if secretbox and _decoded_length(secretbox) != 32:
            self._problem(secretbox_path, "must be 32 bytes, base64-encoded")
        if aescbc and _decoded_length(aescbc) not in (16, 24, 32):
            self._problem(aescbc_path, "must be 16, 24 or 32 bytes, base64-encoded")
        return secretbox, aescbc

    def read(self) -> MachineSecrets:
        bootstrap = self.string(("secrets", "bootstraptoken"))
        if bootstrap and not TOKEN_PATTERN.fullmatch(bootstrap):
            self._problem(("secrets", "bootstraptoken"), "must match [a-z0-9]{6}.[a-z0-9]{16}")
        # Talos only requires a trustd token to be non-empty; it is compared as a string.
        trustd = self.string(("trustdinfo", "token"))
        if trustd and (not trustd.isprintable() or any(c.isspace() for c in trustd)):
            self._problem(("trustdinfo", "token"), "must be printable without spaces")
        secretbox, aescbc = self.encryption_secrets()
        sa_path = ("certs", "k8sserviceaccount", "key")
        # Only kube-apiserver signs with this key, and it checks it on load; a
        # full RSA-4096 consistency check here would triple the load time.
        service_account_key = (
            self.pem_of(sa_path) if self.key(sa_path, check_rsa=False) is not None else b""
        )
        secrets = MachineSecrets(
            cluster_id=self.string(("cluster", "id")),
            cluster_secret=self.string(("cluster", "secret")),
            bootstrap_token=bootstrap,
            secretbox_encryption_secret=secretbox,
            trustd_token=trustd,
            etcd_ca=self.ca("etcd"),
            k8s_ca=self.ca("k8s"),
            k8s_aggregator_ca=self.ca("k8saggregator"),
            k8s_service_account_key=service_account_key,
            os_ca=self.ca("os"),
            aescbc_encryption_secret=aescbc,
        )
        if self.problems:
            raise DefinitionError(self.problems)
        return secrets


def _decoded_length(value: str) -> int:
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return -1


def _token(first: int, second: int) -> str:
    def part(length: int) -> str:
        return "".join(choice(_TOKEN_ALPHABET) for _ in range(length))

    return f"{part(first)}.{part(second)}"


def generate_secrets(now: datetime | None = None) -> MachineSecrets:
    """A fresh bundle as Talos v1.12's ``NewBundle`` makes it.

    :param now: start of every CA's validity (default: the current time).
    """
    ecdsa = pki.KeyKind.ECDSA_P256
    return MachineSecrets(
        # v1.12 encodes the 32-byte cluster id URL-safe, the secret standard.
        cluster_id=base64.urlsafe_b64encode(token_bytes(32)).decode("ascii"),
        cluster_secret=_b64(token_bytes(32)),
        bootstrap_token=_token(6, 16),
        secretbox_encryption_secret=_b64(token_bytes(32)),
        trustd_token=_token(6, 16),
        etcd_ca=pki.new_ca("etcd", ecdsa, now),
        k8s_ca=pki.new_ca("kubernetes", ecdsa, now),
        k8s_aggregator_ca=pki.new_ca(None, ecdsa, now),
        k8s_service_account_key=pki.private_key_pem(pki.new_private_key(pki.KeyKind.RSA_4096)),
        os_ca=pki.new_ca("talos", pki.KeyKind.ED25519, now),
    )
