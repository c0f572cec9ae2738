"""The simulator's state directory: its layout, its lock, and what is created in it once.

What belongs here: :class:`StatePaths` (where ``etcd/``, ``kubeconfig``,
``talosconfig``, ``bin/``, ``serve.json``, ``logs/`` and ``pki/`` live),
:func:`lock_state` (one running simulator per directory), the first-start
material -- the machine secrets the admin talosconfig is minted from, the
fallback Kubernetes CA; synthetic worker machines for ``--nodes`` are
re-exported from :mod:`simulator.talos.synthetic` -- and the errors
``serve`` reports.  Split from :mod:`simulator.server` so that module
holds only the wiring of running servers.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric import ec

from provisioning.config import pki, secrets
from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError
from simulator.pki import ClusterCA, write_private_file
from simulator.talos.synthetic import SYNTHETIC_SUBNET, synthesise_workers


class ServeError(Exception):
    """The simulator cannot start; the message says why, for the operator."""


class StateLocked(ServeError):
    """Another running simulator holds the state directory."""


@dataclass(frozen=True)
class StatePaths:
    """The layout of a state directory."""

    root: Path

    @property
    def etcd(self) -> Path:
        return self.root / "etcd"

    @property
    def etcd_tls(self) -> Path:
        """etcd's CA, serving and client certificates (:mod:`simulator.store.tls`)."""
        return self.root / "etcd-tls"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def talosconfig(self) -> Path:
        return self.root / "talosconfig"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def serve_json(self) -> Path:
        return self.root / "serve.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def audit(self) -> Path:
        return self.logs / "audit"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def lock(self) -> Path:
        return self.root / "serve.lock"


def lock_state(paths: StatePaths) -> IO[str]:
    """Hold an exclusive lock on the state directory for this process's lifetime.

    :raises StateLocked: naming the pid of the simulator holding it.
    """
    paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = open(paths.lock, "a+", encoding="utf-8")  # noqa: SIM115 - held until stop()
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StateLocked(
            f"state directory {paths.root} is in use by another running simulator "
            f"(pid {holder}); stop it first or choose another --state"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def cluster_secrets(cluster: inventory.Cluster) -> tuple[secrets.MachineSecrets, str]:
    """The definition's machine secrets, or the simulator's own; with a note saying which."""
    config = cluster.secrets
    store = secrets.SecretStore(config.directory, config.recipient, config.identity_file)
    if store.exists():
        try:
            return store.load(), f"machine secrets from {store.path}"
        except DefinitionError as exc:
            reason = str(exc)
    else:
        reason = f"{store.path}: secret store not found"
    return secrets.generate_secrets(), f"simulator-generated machine secrets ({reason})"


def simulator_ca(paths: StatePaths) -> ClusterCA:
    """The fallback Kubernetes CA, kept in the state directory so restarts keep trust."""
    crt_path, key_path = paths.pki / "ca.crt", paths.pki / "ca.key"
    if not (crt_path.exists() and key_path.exists()):
        pair = pki.new_ca("kubernetes", pki.KeyKind.ECDSA_P256)
        paths.pki.mkdir(parents=True, exist_ok=True, mode=0o700)
        crt_path.write_bytes(pair.crt)
        write_private_file(key_path, pair.key)
    ca = _ca_from_pem(crt_path.read_bytes(), key_path.read_bytes())
    if ca is None:
        raise ServeError(f"{paths.pki}: the simulator CA files are unreadable; delete them")
    return ca


def _ca_from_pem(crt: bytes, key: bytes) -> ClusterCA | None:
    try:
        cert = pki.load_certificate(crt)
        private = pki.load_private_key(key)
    except (DefinitionError, ValueError):
        return None
    return ClusterCA(private, cert) if isinstance(private, ec.EllipticCurvePrivateKey) else None


# The synthetic workers moved to simulator.talos.synthetic (with how they join); re-exported
# because ``serve`` and its tests reach them here as first-start material.
__all__ = [
    "SYNTHETIC_SUBNET",
    "ServeError",
    "StateLocked",
    "StatePaths",
    "cluster_secrets",
    "lock_state",
    "simulator_ca",
    "synthesise_workers",
]
