"""The rules of ``cluster.yaml`` that span fields, and the checks of the files it names.

:mod:`provisioning.definition.inventory_model` owns the model (what a cluster *is*); this
module owns the cross-field rules (unique addresses, the VIP, the endpoint,
roles, replica placement, the backup node) and the checks of referenced files.
Single values are read by :class:`~provisioning.definition.inventory_reader.Reader` with the
converters of :mod:`provisioning.definition.inventory_values`; both are re-exported here
for code written against the module before it was split.

They are apart because the rules are where the operator-facing wording lives
-- each message says what is wrong *and* why it matters on a real cluster --
and mixing that with the dataclasses made both hard to read.  Nothing here
raises on bad input: each rule runs on whatever parts of the file were
readable (``None`` for the rest) and records problems through the reader, so
one run reports every mistake.  Messages never echo a value read from a
secrets-related field.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from provisioning.definition import yamlfiles
from provisioning.definition.inventory_reader import Parent, Reader
from provisioning.definition.inventory_values import (
    DNS_LABEL,
    DNS_LABEL_RULE,
    Bad,
    cron,
    integer,
    ipv4,
    kind_of,
    matching,
    recipient,
    shown,
    subnet,
    text,
)
from provisioning.definition.problems import DefinitionError, Problem
from provisioning.definition.yamlfiles import PathKey

__all__ = [
    "DNS_LABEL",
    "DNS_LABEL_RULE",
    "STABLE_DISK_PREFIXES",
    "Bad",
    "NodeEntry",
    "Parent",
    "Reader",
    "check_addresses",
    "check_disks",
    "check_endpoint",
    "check_exists",
    "check_inside",
    "check_replicas",
    "check_roles",
    "check_snapshot_node",
    "check_unique",
    "check_yaml_file",
    "cron",
    "integer",
    "ipv4",
    "kind_of",
    "matching",
    "recipient",
    "shown",
    "subnet",
    "text",
]

STABLE_DISK_PREFIXES = ("/dev/disk/by-id/", "/dev/disk/by-path/")


# --- referenced files -------------------------------------------------------------------


def check_exists(reader: Reader, at: PathKey, path: Path, written: str, *, directory: bool) -> bool:
    """Whether *path* is there as a file (or directory); reported in cluster.yaml if not."""
    try:
        wrong = (
            "not found"
            if not path.exists()
            else "is a file, not a directory"
            if directory and not path.is_dir()
            else "is a directory, not a file"
            if not directory and path.is_dir()
            else None
        )
    except OSError as exc:
        wrong = f"cannot be checked: {exc.strerror}"
    if wrong:
        reader.error(at, f"{written}: {wrong} ({path})")
    return wrong is None


def check_inside(reader: Reader, at: PathKey, path: Path, written: str, *, directory: bool) -> bool:
    """Whether *written* (resolved to *path*) stays inside the definition folder.

    The definition is the unit an operator reviews and commits; a patch or
    values file it names from elsewhere (``../``, an absolute path, ``~``, or
    a symlink leading out) would render content nobody reviewed -- or read a
    file the operator never meant to hand over, such as ``/etc/shadow``.
    """
    what = "the manifests folder" if directory else "a file the definition names"
    if os.path.isabs(written) or written.startswith("~"):
        message = f"{shown(written)}: {what} must be a path relative to the definition folder"
    elif not path.is_relative_to(reader.root):
        message = f"{shown(written)}: {what} must not lead out of the definition folder (..)"
    elif yamlfiles.outside(path, reader.root):
        message = f"{shown(written)}: is a symlink leading out of the definition folder"
    else:
        return True
    reader.error(at, message)
    return False


def check_manifest(reader: Reader, path: Path, display: str, *, within: Path) -> None:
    """A file of the manifests folder loads as the apply step will load it: mappings only.

    ``validate`` reads them so a manifest that is a symlink out, not a file,
    or YAML the loader refuses fails here, not halfway through a provision.
    """
    if yamlfiles.outside(path, within):
        reader.problems.append(
            Problem(display, "", "is a symlink leading out of the manifests folder; not read")
        )
        return
    try:
        documents = yamlfiles.load_documents(path, display, loader=yamlfiles.KubeLoader)
    except DefinitionError as exc:
        reader.problems.extend(exc.problems)
        return
    present = [doc for doc in documents if doc.value is not None]
    for number, doc in enumerate(present, start=1):
        if not isinstance(doc.value, Mapping):
            where = f"document {number}" if len(present) > 1 else ""
            message = f"must be a Kubernetes object (a mapping), not {kind_of(doc.value)}"
            reader.problems.append(Problem(display, where, message, doc.lines.line(())))


def _is_json_patch(value: object) -> bool:
    ops = value if isinstance(value, list) else []
    return bool(ops) and all(isinstance(op, Mapping) and "op" in op for op in ops)


def check_yaml_file(
    reader: Reader, at: PathKey, path: Path, written: str, display: str, *,
    allow_json_patch: bool,
) -> None:  # fmt: skip
    """A referenced YAML file exists, parses, and holds mappings.

    Problems inside the file name that file and its line; a missing file is
    reported against the cluster.yaml field that names it.  A file that is one
    list of ``op`` mappings is an RFC 6902 patch, which Talos accepts as a
    patch file (whether the config it lands on allows one is the patch
    engine's question, not this one's).
    """
    if not check_exists(reader, at, path, written, directory=False):
        return
    try:
        documents = yamlfiles.load_documents(path, display, within=reader.root)
    except DefinitionError as exc:
        reader.problems.extend(exc.problems)
        return
    present = [doc for doc in documents if doc.value is not None]
    for number, doc in enumerate(present, start=1):
        if isinstance(doc.value, Mapping):
            continue
        if allow_json_patch and len(present) == 1 and _is_json_patch(doc.value):
            continue
        expected = "a mapping" + (" (or a list of JSON patch ops)" if allow_json_patch else "")
        where = f"document {number}" if len(present) > 1 else ""
        message = f"must be {expected}, not {kind_of(doc.value)}"
        reader.problems.append(Problem(display, where, message, doc.lines.line(())))


# --- nodes ------------------------------------------------------------------------------


@dataclass
class NodeEntry:
    """What could be read of one ``nodes[i]`` entry; ``None`` = unusable, reported."""

    index: int
    name: str | None = None
    hostname: str | None = None
    ip: ipaddress.IPv4Address | None = None
    has_roles: bool = False
    is_control_plane: bool = False
    is_worker: bool = False
    is_storage: bool = False
    install_disk: str | None = None
    storage_disk: str | None = None

    @property
    def label(self) -> str:
        return f"nodes[{self.index}]" + (f" ({self.name})" if self.name else "")


def check_unique(reader: Reader, entries: Sequence[NodeEntry]) -> None:
    """No two nodes share a name, hostname or IP; the message names both entries."""
    for key in ("name", "hostname", "ip"):
        first: dict[object, NodeEntry] = {}
        for entry in entries:
            value = getattr(entry, key)
            if value is not None and value in first:
                reader.error(
                    ("nodes", entry.index, key),
                    f"{value} is already the {key} of {first[value].label}",
                )
            elif value is not None:
                first[value] = entry


def _not_a_host(
    address: ipaddress.IPv4Address,
    net: ipaddress.IPv4Network,
    gateway: ipaddress.IPv4Address | None,
) -> str | None:
    if address not in net:
        return f"is outside network.subnet {net}"
    if net.prefixlen < 31 and address in (net.network_address, net.broadcast_address):
        which = "network" if address == net.network_address else "broadcast"
        return f"is the {which} address of {net}"
    return "is the gateway (network.gateway)" if address == gateway else None


def check_addresses(
    reader: Reader,
    entries: Sequence[NodeEntry],
    net: ipaddress.IPv4Network | None,
    gateway: ipaddress.IPv4Address | None,
    vip: ipaddress.IPv4Address | None,
) -> None:
    """Node IPs and the VIP are host addresses of the subnet; the VIP is no node's.

    Runs on whatever parts were readable, so one bad field hides no other problem.
    """
    if net is not None and gateway is not None and gateway not in net:
        reader.error(("network", "gateway"), f"{gateway} is outside network.subnet {net}")
    for entry in entries:
        wrong = _not_a_host(entry.ip, net, gateway) if net is not None and entry.ip else None
        if wrong:
            reader.error(("nodes", entry.index, "ip"), f"{entry.ip} {wrong}")
    at = ("controlPlane", "vip")
    if owners := [e for e in entries if vip is not None and e.ip == vip]:
        reader.error(
            at,
            f"{vip} is the IP of {owners[0].label}; the VIP must be an address no node owns, "
            "so it can move to whichever control-plane node is healthy",
        )
    if vip is not None and net is not None and (wrong := _not_a_host(vip, net, gateway)):
        reader.error(
            at,
            f"{vip} {wrong}; the VIP works only when the control-plane nodes share one layer-2 "
            "network, so it must be a free host address of their subnet",
        )


def check_endpoint(
    reader: Reader, endpoint: str | None, vip: ipaddress.IPv4Address | None,
    entries: Sequence[NodeEntry],
) -> None:  # fmt: skip
    """``controlPlane.endpoint`` is ``https://<vip>:6443``, never a node (Talos facts, 4)."""
    if endpoint is None:
        return
    at = ("controlPlane", "endpoint")
    example = f"https://{vip or '<vip>'}:6443"
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:  # a port that is no number or out of range
        parts, port = urlsplit(""), None
    if parts.scheme != "https" or not parts.hostname:
        reader.error(at, f"{shown(endpoint)} is not an https URL such as {example}")
        return
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        reader.error(at, f"{shown(endpoint)} must be only scheme, host and port, as {example}")
    if owners := [e for e in entries if e.ip is not None and str(e.ip) == parts.hostname]:
        reader.error(
            at,
            f"points at {owners[0].label}, a node IP; the endpoint must be the VIP "
            f"({example}) so the API stays reachable when that node is down",
        )
    elif vip is not None and parts.hostname != str(vip):
        reader.error(at, f"host {shown(parts.hostname)} is not the VIP; use {example}")
    if port is None:
        reader.error(at, f"names no port; the API server listens on 6443 ({example})")
    elif port != 6443:
        reader.warn(at, f"port {port} is not the API server's default 6443")


def check_roles(reader: Reader, entries: Sequence[NodeEntry]) -> None:
    """Per-node role sense, and the cluster-wide control-plane count (etcd quorum)."""
    for entry in (e for e in entries if e.has_roles):
        at = ("nodes", entry.index)
        if not (entry.is_control_plane or entry.is_worker):
            reader.error((*at, "roles"), "needs the controlplane or the worker role (or both)")
        elif entry.is_storage and not entry.is_worker:
            reader.error((*at, "roles"), "storage needs the worker role: Longhorn runs in pods")
        if entry.is_storage and entry.storage_disk is None:
            reader.error((*at, "roles"), "has the storage role but no storageDisk")
        if entry.storage_disk is not None and not entry.is_storage:
            reader.error((*at, "storageDisk"), "is set but the node lacks the storage role")
    if not entries or not all(e.has_roles for e in entries):
        return
    count = sum(1 for e in entries if e.is_control_plane)
    if count == 0:
        reader.error(("nodes",), "no node has the controlplane role; etcd needs at least one")
    elif count % 2 == 0:
        reader.warn(
            ("nodes",),
            f"{count} control-plane nodes: etcd quorum is {count // 2 + 1}, so they tolerate "
            f"{(count - 1) // 2} failure(s), no more than {count - 1} would; prefer an odd count",
        )


def check_replicas(reader: Reader, entries: Sequence[NodeEntry], replicas: int | None) -> None:
    """Longhorn can place ``replicaCount`` replicas of a volume on distinct storage nodes."""
    if replicas is None or not all(e.has_roles for e in entries):
        return
    storage = sum(1 for e in entries if e.is_storage)
    at = ("storage", "replicaCount")
    if storage == 0:
        reader.error(at, f"no node has the storage role; Longhorn has nowhere for {replicas}")
    elif storage < replicas:
        reader.error(
            at,
            f"{replicas} replicas need {replicas} storage nodes, only {storage} have the storage "
            "role; Longhorn's default hard anti-affinity puts no two replicas on one node",
        )


def check_disks(reader: Reader, entries: Sequence[NodeEntry]) -> None:
    """Disks are device paths, preferably stable selectors (article lesson 2)."""
    for entry in entries:
        for key, disk in (("installDisk", entry.install_disk), ("storageDisk", entry.storage_disk)):
            at = ("nodes", entry.index, key)
            if disk is not None and not disk.startswith("/dev/"):
                reader.error(at, f"{shown(disk)} is not a device path under /dev/")
            elif disk is not None and not disk.startswith(STABLE_DISK_PREFIXES):
                reader.warn(
                    at,
                    f"{disk} is a kernel device name, which can point at another disk after a "
                    "wipe (article lesson 2: device names shift); use a /dev/disk/by-id/ or "
                    "/dev/disk/by-path/ selector",
                )
        if entry.install_disk is not None and entry.install_disk == entry.storage_disk:
            reader.error(("nodes", entry.index, "storageDisk"), "is the install disk")


def check_snapshot_node(reader: Reader, name: str | None, entries: Sequence[NodeEntry]) -> None:
    """Backups come from an inventory node that runs an etcd member."""
    at = ("backup", "snapshotNode")
    found = [e for e in entries if name is not None and e.name == name]
    if name is not None and not found:
        known = ", ".join(e.name for e in entries if e.name) or "none"
        reader.error(at, f"{shown(name)} is not a node in nodes (known: {known})")
    elif found and found[0].has_roles and not found[0].is_control_plane:
        reader.error(at, f"{name} is not a control-plane node; only those run etcd")
