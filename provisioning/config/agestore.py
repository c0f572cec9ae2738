"""The age-encrypted secret store and the local age identity.

The bundle (:mod:`provisioning.config.bundle`) is kept as ``secrets.yaml.age`` in a
directory outside git, encrypted with age (the ``pyrage`` binding) to the
cluster's recipient from ``cluster.yaml``'s ``secrets`` section.  For the
embedded simulated cluster the recipient is ``auto``: a local X25519 identity
is created on first use in ``age-keygen``'s format, so the operator can also
read the store with ``age -d -i``.  A real cluster names its operator's
recipient instead, and the identity file must then belong to it.

Files holding secrets are created atomically with mode 0600 (directories
0700): written to a temporary file, then hard-linked into place, so neither a
crash nor a concurrent run leaves half a file or overwrites a bundle that
nodes already trust.  Errors name the file and setting, never key material.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage
from pyrage import x25519

from provisioning.config.bundle import MachineSecrets, generate_secrets
from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem

STORE_FILE = "secrets.yaml.age"
_AGE_HEADER = b"age-encryption.org/v1\n"
_IDENTITY_PREFIX = "AGE-SECRET-KEY-1"
# An identity line is 74 bytes; a store holds one bundle of a few KiB.
IDENTITY_MAX_BYTES = 64 * 1024
STORE_MAX_BYTES = yamlfiles.MAX_BYTES


def _fail(file: Path | str, message: str, field: str = "") -> DefinitionError:
    return DefinitionError([Problem(str(file), field, message)])


def read_bounded(path: Path, setting: str, noun: str, limit: int) -> bytes:
    """*path* read as the definition's files are (regular file, at most *limit* bytes).

    A FIFO or ``/dev/zero`` named as an identity or found as the store would
    otherwise hang the run or exhaust memory.  The message says which
    setting named the file.
    """
    try:
        return yamlfiles.read_bytes(path, str(path), limit=limit, noun=noun)
    except DefinitionError as exc:
        raise _fail(path, f"{exc.problems[0].message} ({setting})") from None


def read_identities(identity_file: Path, setting: str = "secrets.identityFile") -> list[Any]:
    """The X25519 identities in an age identity file (``age-keygen`` format).

    Shared by the secrets store and the backup restore check; *setting*
    names where the path came from.  Errors never quote a line: a damaged
    line may still be most of a private key.
    """
    data = read_bounded(identity_file, setting, "age identity file", IDENTITY_MAX_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(
            identity_file, f"not an age identity file ({setting}: not UTF-8 text)"
        ) from None
    identities: list[Any] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise _fail(identity_file, f"line {number}: not an age X25519 identity") from None
    if not identities:
        raise _fail(identity_file, f"holds no age identity ({setting}; {_IDENTITY_PREFIX}… lines)")
    return identities


def _private_directory(directory: Path) -> None:
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise _fail(directory, f"cannot create directory: {exc.strerror}") from None


def _write_new_private_file(path: Path, data: bytes) -> bool:
    """Atomically create *path* (mode 0600) with *data*; False if it already exists.

    The content is written to a temporary file first and then hard-linked into
    place, so a reader never sees half a file and a concurrent creator cannot
    be overwritten.
    """
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise _fail(path, f"cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _fail(path, f"cannot write: {exc.strerror}") from None
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)


def ensure_identity(identity_file: Path) -> str:
    """Create an X25519 identity in *identity_file* if missing; return its recipient.

    A new file is mode 0600 in a directory created 0700, in ``age-keygen``'s
    format, so the operator can use it with ``age -d -i``.
    """
    if not identity_file.exists():
        _private_directory(identity_file.parent)
        identity = x25519.Identity.generate()
        recipient = str(identity.to_public())
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
        if _write_new_private_file(identity_file, text.encode("ascii")):
            return recipient
        # Lost a race with another run: use the identity it wrote.
    return str(read_identities(identity_file)[0].to_public())


def resolve_recipient(recipient: str, identity_file: Path, display: str = "cluster.yaml") -> str:
    """The age recipient to encrypt to, checked against the identity file.

    ``auto`` means the local identity's recipient (created on first use).  An
    explicit ``age1…`` recipient must, if the identity file exists, belong to
    it -- otherwise the store would be unreadable with the configured identity.

    :param display: the settings file, named in errors.
    """
    if recipient == "auto":
        return ensure_identity(identity_file)
    try:
        normalized = str(x25519.Recipient.from_str(recipient))
    except pyrage.RecipientError:
        raise _fail(
            display, "must be `auto` or an age X25519 recipient (age1…)", "secrets.recipient"
        ) from None
    if identity_file.exists():
        owned = [str(identity.to_public()) for identity in read_identities(identity_file)]
        if normalized not in owned:
            raise _fail(
                display,
                f"{normalized} does not match the identity in secrets.identityFile "
                f"({identity_file}), whose recipient is {owned[0]}; set secrets.recipient to "
                "`auto` or that recipient, or point secrets.identityFile at the identity of "
                f"{normalized}",
                "secrets.recipient",
            )
    return normalized


class SecretStore:
    """The cluster's bundle, age-encrypted in ``<directory>/secrets.yaml.age``."""

    def __init__(
        self, directory: Path, recipient: str, identity_file: Path, display: str = "cluster.yaml"
    ) -> None:
        self.directory = directory
        self.recipient = recipient
        self.identity_file = identity_file
        self.display = display
        self.path = directory / STORE_FILE

    def exists(self) -> bool:
        return self.path.exists()

    def load_or_create(self) -> MachineSecrets:
        """Decrypt the stored bundle, or generate, encrypt and store one on first use."""
        if self.exists():
            if self.recipient != "auto":  # a mismatch should name both settings
                resolve_recipient(self.recipient, self.identity_file, self.display)
            return self.load()
        recipient = resolve_recipient(self.recipient, self.identity_file, self.display)
        secrets = generate_secrets()
        ciphertext = pyrage.encrypt(
            secrets.to_yaml().encode("utf-8"), [x25519.Recipient.from_str(recipient)]
        )
        _private_directory(self.directory)
        if _write_new_private_file(self.path, ciphertext):
            return secrets
        return self.load()  # another run stored a bundle first; its bundle wins

    def load(self) -> MachineSecrets:
        """Decrypt and parse the stored bundle.

        :raises DefinitionError: store or identity missing, identity not a
            recipient of the store, file corrupt.
        """
        data = read_bounded(self.path, "secrets.directory", "secret store", STORE_MAX_BYTES)
        identities = read_identities(self.identity_file)
        if not data.startswith(_AGE_HEADER):
            raise _fail(self.path, "is not an age-encrypted file (corrupt or replaced)")
        try:
            plaintext: bytes = pyrage.decrypt(data, identities)
        except pyrage.DecryptError as exc:
            if "no matching keys" in str(exc).lower():
                message = (
                    f"was not encrypted to the identity in {self.identity_file} "
                    "(secrets.identityFile); use the identity of the recipient it was created for"
                )
            else:
                message = "cannot be decrypted: the file is corrupt or truncated"
            raise _fail(self.path, message) from None
        try:
            text = plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(self.path, "decrypts to something that is not a secrets bundle") from None
        return MachineSecrets.from_yaml(text, f"{self.path} (decrypted)")
