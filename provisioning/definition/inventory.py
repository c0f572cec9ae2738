"""The cluster definition's index, ``cluster.yaml``, as a typed model: the entry point.

Everything else in the suite -- rendering, the simulator, the checks -- takes
its expected state from :class:`Cluster`, never from the YAML, so a value is
interpreted (and validated) exactly once, here.  This module is what consumers
import: :func:`load_cluster` and, re-exported, the model types of
:mod:`provisioning.definition.inventory_model` and the constants of
:mod:`provisioning.definition.inventory_sections`.

:func:`load_cluster` either returns a complete :class:`Cluster` or raises
:class:`~provisioning.definition.problems.DefinitionError` listing *every* problem, each
naming ``cluster.yaml`` (or the referenced file), the field and its line.
Warnings (an even control-plane count, an unstable disk name) do not stop
loading; they travel in :attr:`Cluster.warnings`.

The section readers live in :mod:`provisioning.definition.inventory_sections`, the located
reads in :mod:`provisioning.definition.inventory_reader`, single-value converters in
:mod:`provisioning.definition.inventory_values` and the cross-field rules in
:mod:`provisioning.definition.inventory_checks`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

from provisioning.definition import inventory_checks as rules
from provisioning.definition import inventory_values as conv
from provisioning.definition import yamlfiles
from provisioning.definition.inventory_model import (
    Backup,
    Cluster,
    ControlPlane,
    HelmRelease,
    ImageFactory,
    Network,
    Node,
    PatchRef,
    Role,
    SecretsConfig,
    Security,
    Storage,
    Versions,
)
from provisioning.definition.inventory_reader import Parent, Reader
from provisioning.definition.inventory_sections import (
    API_VERSION,
    KIND,
    LONGHORN_MAX_REPLICAS,
    NODE_FIELDS,
    POD_SECURITY_LEVELS,
    SEMVER,
    TALOS_VERSION,
    TOP_LEVEL,
    Sections,
)
from provisioning.definition.problems import DefinitionError, Problem, Severity, errors

__all__ = [
    "API_VERSION",
    "KIND",
    "LONGHORN_MAX_REPLICAS",
    "NODE_FIELDS",
    "POD_SECURITY_LEVELS",
    "SEMVER",
    "TALOS_VERSION",
    "TOP_LEVEL",
    "Backup",
    "Cluster",
    "ControlPlane",
    "HelmRelease",
    "ImageFactory",
    "Network",
    "Node",
    "PatchRef",
    "Role",
    "SecretsConfig",
    "Security",
    "Storage",
    "Versions",
    "load_cluster",
]


def load_cluster(directory: Path, display: str | None = None) -> Cluster:
    """Load and validate ``<directory>/cluster.yaml`` and the files it names.

    :param display: the directory as the operator typed it (``cluster``), so
        problems read ``cluster/cluster.yaml:12: nodes[2].ip: ...``.
    :raises DefinitionError: with every problem found (warnings included)
        when any of them is an error.
    """
    root = Path(os.path.normpath(directory.expanduser().absolute()))
    shown_dir = display if display is not None else str(directory)
    file = root / "cluster.yaml"
    name = "cluster.yaml" if shown_dir in ("", ".") else f"{shown_dir.rstrip('/')}/cluster.yaml"
    documents = [d for d in yamlfiles.load_documents(file, name) if d.value is not None]
    if len(documents) != 1:
        wrong = "is empty" if not documents else f"holds {len(documents)} YAML documents"
        raise DefinitionError([Problem(name, "", f"{wrong}; expected one Cluster document")])
    reader = Reader(name, documents[0].lines, root)
    top = reader.mapping(documents[0].value, (), TOP_LEVEL)
    cluster = _assemble(Sections(reader, shown_dir), top, root, file) if top is not None else None
    # Sorted so an operator reads cluster.yaml top to bottom, then the files it names.
    reader.problems.sort(key=lambda p: (p.file != name, p.file, p.line or 0))
    if cluster is None or errors(reader.problems):
        unexplained = Problem(name, "", "cannot be loaded, for no recorded reason (a bug)")
        raise DefinitionError(reader.problems if errors(reader.problems) else [unexplained])
    return cluster


def _assemble(read: Sections, top: Parent, root: Path, file: Path) -> Cluster | None:
    reader = read.r
    name = read.header(top)
    versions = read.versions(top)
    network = read.network(top)
    control_plane = read.control_plane(top)
    base = read.file_ref(reader.get(top, (), "base", conv.text), ("base",), json_patch=False)
    image_factory = read.image_factory(top)
    storage = read.storage(top)
    entries, nodes = read.nodes(top)
    rules.check_addresses(reader, entries, read.subnet, read.gateway, read.vip)
    rules.check_endpoint(reader, read.endpoint, read.vip, entries)
    rules.check_replicas(reader, entries, storage.replica_count if storage else None)
    helm = read.helm(top)
    manifests = read.manifests(top)
    security = read.security(top)
    backup = read.backup(top, entries)
    secrets = read.secrets(top)
    if (
        name is None or versions is None or network is None or control_plane is None
        or base is None or image_factory is None or storage is None or nodes is None
        or helm is None or manifests is None or security is None or backup is None
        or secrets is None
    ):  # fmt: skip
        return None
    return Cluster(
        root=root, file=file, name=name, versions=versions, network=network,
        control_plane=control_plane, base=base, image_factory=image_factory, storage=storage,
        nodes=tuple(nodes), helm=MappingProxyType(helm), manifests=manifests, security=security,
        backup=backup, secrets=secrets,
        warnings=tuple(p for p in reader.problems if p.severity is Severity.WARNING),
    )  # fmt: skip
