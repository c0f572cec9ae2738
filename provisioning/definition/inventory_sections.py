"""Reading each section of ``cluster.yaml`` into its part of the model.

:class:`Sections` holds one reader method per top-level section (``versions``,
``network``, ``nodes``, ``helm``, ``backup`` ...): which keys the section may
have, which converter each value goes through, and which cross-field rules of
:mod:`provisioning.definition.inventory_checks` run once the section is read.  A method
returns its model part, or ``None`` when anything in it was unusable (already
reported), so :func:`provisioning.definition.inventory.load_cluster` can assemble a
:class:`~provisioning.definition.inventory_model.Cluster` only from complete parts.  It is
apart from the model and from the rules because it is the one place that knows
the file's layout; the accepted values (versions, pod-security levels, replica
bounds) are therefore defined here.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
from pathlib import Path
from types import MappingProxyType

from provisioning.definition import inventory_checks as rules
from provisioning.definition import inventory_values as conv
from provisioning.definition import schematic
from provisioning.definition.inventory_checks import NodeEntry
from provisioning.definition.inventory_model import (
    Backup,
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
from provisioning.definition.inventory_values import Bad
from provisioning.definition.problems import DefinitionError, errors
from provisioning.definition.yamlfiles import PathKey

API_VERSION = "conformance.talos.dev/v1alpha1"
KIND = "Cluster"
TOP_LEVEL = (
    "apiVersion", "kind", "name", "versions", "network", "controlPlane", "base",
    "imageFactory", "storage", "featurePatches", "storageFeaturePatches", "nodes", "helm",
    "manifests", "security", "backup", "secrets",
)  # fmt: skip
NODE_FIELDS = (
    "name", "hostname", "ip", "roles", "cpu", "memoryGiB", "installDisk", "storageDisk",
    "patches",
)  # fmt: skip
TALOS_VERSION = re.compile(r"v\d+\.\d+\.\d+")
SEMVER = re.compile(r"\d+\.\d+\.\d+")
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
LONGHORN_MAX_REPLICAS = 20  # Longhorn's numberOfReplicas / default-replica-count range is 1-20


_VERSIONS = {
    "talos": conv.matching(TALOS_VERSION, "a Talos version such as v1.12.5"),
    "kubernetes": conv.matching(SEMVER, "a version X.Y.Z (no leading v), e.g. 1.35.2"),
    "cilium": conv.matching(SEMVER, "a version X.Y.Z (no leading v), e.g. 1.19.1"),
    "longhorn": conv.matching(SEMVER, "a version X.Y.Z (no leading v), e.g. 1.8.1"),
}
_HOSTNAME = conv.matching(conv.DNS_LABEL, conv.DNS_LABEL_RULE)
# A node's name becomes the file `render` writes (<name>.yaml) and the label an
# operator reads in every finding: a DNS label, so never `..`, `/` or an escape.
_NODE_NAME = conv.matching(
    conv.DNS_LABEL, "a node name: " + conv.DNS_LABEL_RULE + "; render writes <name>.yaml"
)
# The cluster name becomes the talosconfig context and Target name.
_CLUSTER_NAME = conv.matching(
    re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"),
    "a cluster name: letters, digits, '-', '_' and '.', at most 63 characters, "
    "starting and ending with a letter or digit",
)
_NAMESPACE = conv.matching(conv.DNS_LABEL, "a namespace name: " + conv.DNS_LABEL_RULE)
_ENFORCE = conv.matching(
    re.compile("|".join(POD_SECURITY_LEVELS)), "one of " + ", ".join(POD_SECURITY_LEVELS)
)
_ABSOLUTE = conv.matching(re.compile(r"/\S*"), "an absolute path")
_REPOSITORY = conv.matching(
    re.compile(r"[^\s:@/]+(:\d+)?(/[^\s:@]+)+"),
    "an image repository without a tag, e.g. factory.talos.dev/installer",
)


def _anything(found: object) -> object:
    return found


def _role(found: object) -> Role:
    name = conv.text(found)
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise Bad(f"unknown role {conv.shown(name)}; roles are {known}") from None


class Sections:
    """Reads one ``cluster.yaml`` document, section by section, into the model."""

    def __init__(self, reader: Reader, display_dir: str) -> None:
        self.r = reader
        self.display_dir = display_dir
        self.refs: dict[str, PatchRef | None] = {}  # each file is checked once, however often named
        # Kept even when their section is incomplete: cross-field rules use every readable part.
        self.subnet: ipaddress.IPv4Network | None = None
        self.gateway: ipaddress.IPv4Address | None = None
        self.vip: ipaddress.IPv4Address | None = None
        self.endpoint: str | None = None

    def file_ref(self, written: str | None, at: PathKey, *, json_patch: bool) -> PatchRef | None:
        if written in self.refs:
            return self.refs[written]
        path = self.r.resolve(written, at)
        if written is None or path is None:
            return None
        # Problems inside the file name it as the operator would open it: cluster/patches/x.yaml.
        relative = not os.path.isabs(written) and not written.startswith("~")
        prefix = self.display_dir.rstrip("/") + "/" if self.display_dir not in ("", ".") else ""
        shown = prefix + written if relative else written
        before = len(errors(self.r.problems))
        if rules.check_inside(self.r, at, path, written, directory=False):
            rules.check_yaml_file(self.r, at, path, written, shown, allow_json_patch=json_patch)
        ok = len(errors(self.r.problems)) == before
        self.refs[written] = PatchRef(path, written) if ok else None
        return self.refs[written]

    def versions(self, top: Parent) -> Versions | None:
        s = self.r.section(top, (), "versions", tuple(_VERSIONS))
        found = {
            key: self.r.get(s, ("versions",), key, convert) for key, convert in _VERSIONS.items()
        }
        if None in found.values():
            return None
        return Versions(**{k: v for k, v in found.items() if v is not None})

    def network(self, top: Parent) -> Network | None:
        s = self.r.section(top, (), "network", ("subnet", "gateway", "nameservers"))
        at = ("network",)
        self.subnet = self.r.get(s, at, "subnet", conv.subnet)
        self.gateway = self.r.get(s, at, "gateway", conv.ipv4)
        servers = self.r.items(s, at, "nameservers", conv.ipv4)
        if self.subnet is None or self.gateway is None or servers is None:
            return None
        return Network(self.subnet, self.gateway, servers)

    def control_plane(self, top: Parent) -> ControlPlane | None:
        s = self.r.section(top, (), "controlPlane", ("vip", "endpoint", "kubePrismPort"))
        at = ("controlPlane",)
        self.vip = self.r.get(s, at, "vip", conv.ipv4)
        self.endpoint = self.r.get(s, at, "endpoint", conv.text)
        port = self.r.get(s, at, "kubePrismPort", conv.integer(1, 65535))
        if self.vip is None or self.endpoint is None or port is None:
            return None
        return ControlPlane(self.vip, self.endpoint, port)

    def image_factory(self, top: Parent) -> ImageFactory | None:
        s = self.r.section(top, (), "imageFactory", ("installerRepository", "schematic"))
        at = ("imageFactory",)
        repository = self.r.get(s, at, "installerRepository", _REPOSITORY)
        raw = self.r.mapping(self.r.get(s, at, "schematic", _anything), (*at, "schematic"), None)
        if raw is None:
            return None
        try:
            schematic.canonical_yaml(raw, "schematic")
        except DefinitionError as exc:  # re-homed so the operator is sent to cluster.yaml
            for problem in exc.problems:
                where = tuple(p for p in problem.field.split(".") if p)
                self.r.error((*at, "schematic", *where), problem.message)
            return None
        if repository is None:
            return None
        frozen = MappingProxyType(copy.deepcopy(dict(raw)))
        return ImageFactory(repository, frozen, schematic.official_extensions(frozen))

    def storage(self, top: Parent) -> Storage | None:
        s = self.r.section(top, (), "storage", ("longhornPath", "replicaCount"))
        at = ("storage",)
        path = self.r.get(s, at, "longhornPath", _ABSOLUTE)
        replicas = self.r.get(s, at, "replicaCount", conv.integer(1, LONGHORN_MAX_REPLICAS))
        return Storage(path, replicas) if path is not None and replicas is not None else None

    def patch_stack(self, found: object, at: PathKey) -> tuple[PatchRef, ...] | None:
        """The node's patches in order, nested lists (shared YAML aliases) flattened."""
        if found is not None and not isinstance(found, list):
            self.r.error(at, f"must be a list, not {conv.kind_of(found)}")
            return None
        stack: list[PatchRef] = []
        usable = found is not None
        pending: list[tuple[object, PathKey, frozenset[int]]] = [(found, at, frozenset())]
        while pending and found is not None:
            item, where, outer = pending.pop()
            if isinstance(item, list) and id(item) in outer:  # `&a [*a]`: no infinite descent
                self.r.error(where, "a patch list must not contain itself")
                usable = False
            elif isinstance(item, list):
                inner = outer | {id(item)}
                pending.extend(
                    (sub, (*where, i), inner) for i, sub in reversed(list(enumerate(item)))
                )
            else:
                written = self.r.convert(item, where, conv.text)
                ref = self.file_ref(written, where, json_patch=True)
                usable = usable and ref is not None
                stack.extend([ref] if ref is not None else [])
        return tuple(stack) if usable else None

    def node(self, item: object, index: int) -> tuple[NodeEntry, Node | None]:
        at: PathKey = ("nodes", index)
        entry = NodeEntry(index)
        if item is None:
            self.r.error(at, "is empty; a node needs name, hostname, ip, roles, cpu, ...")
        s = self.r.mapping(item, at, NODE_FIELDS)
        entry.name = self.r.get(s, at, "name", _NODE_NAME)
        entry.hostname = self.r.get(s, at, "hostname", _HOSTNAME)
        entry.ip = self.r.get(s, at, "ip", conv.ipv4)
        listed = self.r.items(s, at, "roles", _role)
        roles = frozenset(listed) if listed is not None else None
        if listed is not None and roles is not None and len(roles) != len(listed):
            self.r.error((*at, "roles"), "lists a role twice")
        elif roles is not None:
            entry.has_roles = True
            entry.is_control_plane = Role.CONTROLPLANE in roles
            entry.is_worker = Role.WORKER in roles
            entry.is_storage = Role.STORAGE in roles
        cpu = self.r.get(s, at, "cpu", conv.integer(1))
        memory = self.r.get(s, at, "memoryGiB", conv.integer(1))
        entry.install_disk = self.r.get(s, at, "installDisk", conv.text)
        entry.storage_disk = self.r.get(s, at, "storageDisk", conv.text, required=False)
        stack = self.patch_stack(self.r.get(s, at, "patches", _anything), (*at, "patches"))
        name, hostname, ip, disk = entry.name, entry.hostname, entry.ip, entry.install_disk
        if (
            name is None or hostname is None or ip is None or roles is None or cpu is None
            or memory is None or disk is None or stack is None or not entry.has_roles
        ):  # fmt: skip
            return entry, None
        return entry, Node(name, hostname, ip, roles, cpu, memory, disk, entry.storage_disk, stack)

    def nodes(self, top: Parent) -> tuple[list[NodeEntry], list[Node] | None]:
        listed = self.r.sequence(top, (), "nodes")
        if listed is not None and not listed:
            self.r.error(("nodes",), "is empty; a cluster needs at least one node")
        read = [self.node(item, index) for index, item in enumerate(listed or ())]
        entries = [entry for entry, _ in read]
        rules.check_unique(self.r, entries)
        rules.check_roles(self.r, entries)
        rules.check_disks(self.r, entries)
        built = [node for _, node in read if node is not None]
        return entries, built if listed and len(built) == len(read) else None

    def helm(self, top: Parent) -> dict[str, HelmRelease] | None:
        s = self.r.mapping(self.r.get(top, (), "helm", _anything), ("helm",), None)
        releases: dict[str, HelmRelease] = {}
        for name, item in (s or {}).items():
            at: PathKey = ("helm", name)
            if item is None:
                self.r.error(at, "is empty; a release needs chart, namespace and values")
            release = self.r.mapping(item, at, ("chart", "namespace", "values"))
            chart = self.r.get(release, at, "chart", conv.matching(re.compile(r"\S+"), "a chart"))
            namespace = self.r.get(release, at, "namespace", _NAMESPACE)
            written = self.r.get(release, at, "values", conv.text)
            values = self.file_ref(written, (*at, "values"), json_patch=False)
            if chart is not None and namespace is not None and values is not None:
                releases[name] = HelmRelease(name, chart, namespace, values.path)
        return releases if s is not None and len(releases) == len(s) else None

    def manifests(self, top: Parent) -> Path | None:
        written = self.r.get(top, (), "manifests", conv.text)
        path = self.r.resolve(written, ("manifests",))
        if written is None or path is None:
            return None
        at = ("manifests",)
        inside = rules.check_inside(self.r, at, path, written, directory=True)
        if not (inside and rules.check_exists(self.r, at, path, written, directory=True)):
            return None
        if os.path.realpath(path) == os.path.realpath(self.r.root):
            message = (
                f"{rules.shown(written)}: the manifests folder must be a folder of its own, "
                "not the definition folder (cluster.yaml and the patches would be applied "
                "as manifests)"
            )
            self.r.error(at, message)
            return None
        before = len(errors(self.r.problems))
        prefix = self.display_dir.rstrip("/") + "/" if self.display_dir not in ("", ".") else ""
        for file in sorted(path.glob("*.yaml")):
            shown = prefix + file.relative_to(self.r.root).as_posix()
            rules.check_manifest(self.r, file, shown, within=path)
        return path if len(errors(self.r.problems)) == before else None

    def security(self, top: Parent) -> Security | None:
        s = self.r.section(top, (), "security", ("podSecurity", "systemNamespaces"))
        pss = self.r.section(s, ("security",), "podSecurity", ("enforce", "exemptNamespaces"))
        at = ("security", "podSecurity")
        enforce = self.r.get(pss, at, "enforce", _ENFORCE)
        exempt = self.r.items(pss, at, "exemptNamespaces", _NAMESPACE)
        system = self.r.items(s, ("security",), "systemNamespaces", _NAMESPACE)
        if enforce is None or exempt is None or system is None:
            return None
        return Security(enforce, exempt, system)

    def backup(self, top: Parent, entries: list[NodeEntry]) -> Backup | None:
        known = (
            "schedule",
            "retentionDays",
            "snapshotNode",
            "directory",
            "ageRecipient",
            "identityFile",
        )
        s = self.r.section(top, (), "backup", known)
        at = ("backup",)
        schedule = self.r.get(s, at, "schedule", conv.cron)
        retention = self.r.get(s, at, "retentionDays", conv.integer(1))
        node = self.r.get(s, at, "snapshotNode", conv.text)
        rules.check_snapshot_node(self.r, node, entries)
        directory = self.r.path(s, at, "directory")
        recipient = self.r.get(s, at, "ageRecipient", conv.recipient)
        identity = self.r.path(s, at, "identityFile", required=False)
        identity_ok = identity is not None or s is None or s.get("identityFile") is None
        if schedule is None or retention is None or node is None or directory is None:
            return None
        if recipient is None or not identity_ok:
            return None
        return Backup(schedule, retention, node, directory, recipient, identity)

    def secrets(self, top: Parent) -> SecretsConfig | None:
        s = self.r.section(top, (), "secrets", ("directory", "recipient", "identityFile"))
        directory = self.r.path(s, ("secrets",), "directory")
        recipient = self.r.get(s, ("secrets",), "recipient", conv.recipient)
        identity = self.r.path(s, ("secrets",), "identityFile")
        if directory is None or recipient is None or identity is None:
            return None
        return SecretsConfig(directory, recipient, identity)

    def header(self, top: Parent) -> str | None:
        for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
            found = self.r.get(top, (), key, _anything)
            if found is not None and found != expected:
                self.r.error((key,), f"must be {expected!r}, not {conv.shown(found)}")
        for key in ("featurePatches", "storageFeaturePatches"):  # anchors; used via the nodes
            if top is not None and key in top:
                self.r.sequence(top, (), key)
        return self.r.get(top, (), "name", _CLUSTER_NAME)
