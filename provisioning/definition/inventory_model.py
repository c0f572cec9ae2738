"""The cluster definition as typed values: :class:`Cluster` and the parts it is made of.

Everything else in the suite -- rendering, the simulator, the checks -- takes
its expected state from :class:`Cluster`, never from the YAML, so a value is
interpreted (and validated) exactly once, by :func:`provisioning.definition.inventory.load_cluster`.
The model is frozen dataclasses with enums for closed sets; paths are absolute,
resolved against the cluster directory with ``~`` expanded, so consumers never
care where the suite was started from.  It is apart from the reading code so a
consumer can see what a cluster *is* without wading through how a wrong file is
reported; :mod:`provisioning.definition.inventory` re-exports every name.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.definition.problems import Problem


class Role(enum.Enum):
    CONTROLPLANE = "controlplane"
    WORKER = "worker"
    STORAGE = "storage"


@dataclass(frozen=True)
class PatchRef:
    """A patch file: where it is, and how ``cluster.yaml`` wrote it (for messages)."""

    path: Path
    display: str


@dataclass(frozen=True)
class Node:
    name: str
    hostname: str
    ip: ipaddress.IPv4Address
    roles: frozenset[Role]
    cpu: int
    memory_gib: int
    install_disk: str
    storage_disk: str | None
    patches: tuple[PatchRef, ...]  # the apply order: node patch, then shared feature patches

    @property
    def is_control_plane(self) -> bool:
        return Role.CONTROLPLANE in self.roles

    @property
    def is_storage(self) -> bool:
        return Role.STORAGE in self.roles

    @property
    def is_worker(self) -> bool:
        return Role.WORKER in self.roles


@dataclass(frozen=True)
class Versions:
    talos: str
    kubernetes: str
    cilium: str
    longhorn: str


@dataclass(frozen=True)
class Network:
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    nameservers: tuple[ipaddress.IPv4Address, ...]


@dataclass(frozen=True)
class ControlPlane:
    vip: ipaddress.IPv4Address
    endpoint: str
    kubeprism_port: int


@dataclass(frozen=True)
class ImageFactory:
    installer_repository: str
    schematic: Mapping[str, Any]  # a private deep copy behind a read-only view
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class Storage:
    longhorn_path: str
    replica_count: int


@dataclass(frozen=True)
class HelmRelease:
    name: str
    chart: str
    namespace: str
    values: Path


@dataclass(frozen=True)
class Security:
    pod_security_enforce: str
    exempt_namespaces: tuple[str, ...]
    system_namespaces: tuple[str, ...]


@dataclass(frozen=True)
class Backup:
    schedule: str
    retention_days: int
    snapshot_node: str
    directory: Path
    age_recipient: str  # `auto` (the secrets recipient) or a normalised age1... recipient
    identity_file: Path | None


@dataclass(frozen=True)
class SecretsConfig:
    directory: Path
    recipient: str
    identity_file: Path


@dataclass(frozen=True)
class Cluster:
    root: Path
    file: Path
    name: str
    versions: Versions
    network: Network
    control_plane: ControlPlane
    base: PatchRef
    image_factory: ImageFactory
    storage: Storage
    nodes: tuple[Node, ...]
    helm: Mapping[str, HelmRelease]
    manifests: Path
    security: Security
    backup: Backup
    secrets: SecretsConfig
    warnings: tuple[Problem, ...]

    def node(self, name: str) -> Node:
        """The node called *name*; :class:`LookupError` naming the known ones otherwise."""
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise LookupError(f"no node {name!r} in {self.name} (nodes: {known})")

    @property
    def control_plane_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    @property
    def storage_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_storage)
