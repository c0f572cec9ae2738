"""Reading ``cluster.yaml`` field by field, and the rules that span fields.

:mod:`provisioning.inventory` owns the model (what a cluster *is*); this
module owns how a wrong definition is *reported*: a :class:`Reader` that pulls
typed values out of the untyped YAML and records a located
:class:`~provisioning.problems.Problem` for every value that is missing or of
the wrong shape, and the cross-field rules (unique addresses, the VIP, the
endpoint, roles, replica placement, the backup node, referenced files).

They are apart because the rules are where the operator-facing wording lives
-- each message says what is wrong *and* why it matters on a real cluster --
and mixing that with the dataclasses made both hard to read.  Nothing here
raises on bad input: a reader returns ``None`` for a value it could not use
and the caller carries on, so one run reports every mistake.  Messages never
echo a value read from a secrets-related field.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pyrage
from pyrage import x25519

from provisioning import yamlfiles
from provisioning.problems import DefinitionError, Problem, Severity
from provisioning.yamlfiles import LineMap, PathKey

T = TypeVar("T")
Parent = Mapping[str, object] | None

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_LABEL_RULE = (
    "a DNS label (RFC 1123: lowercase letters, digits and '-', at most 63 characters, "
    "starting and ending with a letter or digit)"
)
STABLE_DISK_PREFIXES = ("/dev/disk/by-id/", "/dev/disk/by-path/")
_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"))


class Bad(ValueError):
    """A value of the wrong shape; the message is what the operator reads."""


def kind_of(value: object) -> str:
    """How a YAML value reads to an operator: 'a list', 'a string', ..."""
    if value is None:
        return "empty"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return next((name for t, name in _KINDS if isinstance(value, t)), type(value).__name__)


def shown(value: object) -> str:
    """A value quoted for a message, cut short so a pasted blob cannot flood it."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- converters: object -> typed value, or Bad(message) ---------------------------------


def text(found: object) -> str:
    if not isinstance(found, str):
        raise Bad(f"must be a string, not {kind_of(found)}")
    if not found.strip():
        raise Bad("must not be empty")
    return found


def matching(pattern: re.Pattern[str], expect: str) -> Callable[[object], str]:
    def convert(found: object) -> str:
        if not pattern.fullmatch(value := text(found)):
            raise Bad(f"{shown(value)} is not {expect}")
        return value

    return convert


def integer(low: int, high: int | None = None) -> Callable[[object], int]:
    def convert(found: object) -> int:
        if isinstance(found, bool) or not isinstance(found, int):
            raise Bad(f"must be an integer, not {kind_of(found)}")
        if found < low or (high is not None and found > high):
            allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise Bad(f"must be {allowed}, not {found}")
        return found

    return convert


def ipv4(found: object) -> ipaddress.IPv4Address:
    value = text(found)
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise Bad(f"{shown(value)} is not an IPv4 address") from None


def subnet(found: object) -> ipaddress.IPv4Network:
    value = text(found)
    try:
        loose = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise Bad(f"{shown(value)} is not an IPv4 network such as 10.10.20.0/24") from None
    if "/" not in value:
        raise Bad(f"{shown(value)} has no prefix length, e.g. 10.10.20.0/24")
    try:
        return ipaddress.IPv4Network(value)
    except ValueError:
        raise Bad(f"{shown(value)} has host bits set; the network is {loose}") from None


def recipient(found: object) -> str:
    """``auto`` or an age X25519 recipient, normalised; the value is never echoed."""
    value = text(found).strip()
    if value == "auto":
        return value
    if value.upper().startswith("AGE-SECRET-KEY-"):
        raise Bad(
            "holds an age identity (a private key), not a recipient: remove it from this "
            "file and from git history, and put its public recipient (age1...) here"
        )
    try:
        return str(x25519.Recipient.from_str(value))
    except pyrage.RecipientError:
        raise Bad("must be `auto` or an age X25519 recipient (age1 and 58 characters)") from None


class Reader:
    """Typed reads from one YAML document; wrong values become located problems.

    Getters take the parent mapping (``None`` when the parent itself was
    unusable, which is reported already), the parent's path and the key.
    """

    def __init__(self, file: str, lines: LineMap, root: Path) -> None:
        self.file = file
        self.lines = lines
        self.root = root
        self.problems: list[Problem] = []

    def error(self, at: PathKey, message: str, severity: Severity = Severity.ERROR) -> None:
        where = yamlfiles.field_path(at)
        self.problems.append(Problem(self.file, where, message, self.lines.line(at), severity))

    def warn(self, at: PathKey, message: str) -> None:
        self.error(at, message, Severity.WARNING)

    def convert(self, found: object, at: PathKey, convert: Callable[[object], T]) -> T | None:
        try:
            return convert(found)
        except Bad as exc:
            self.error(at, str(exc))
            return None

    def get(
        self, parent: Parent, path: PathKey, key: str, convert: Callable[[object], T], *,
        required: bool = True,
    ) -> T | None:  # fmt: skip
        """*key* of *parent* converted; absent/empty is an error only when *required*."""
        if parent is None:
            return None
        found = parent.get(key)
        if found is None:
            if required:
                missing = "is required" if key not in parent else "is empty; a value is required"
                self.error((*path, key), missing)
            return None
        return self.convert(found, (*path, key), convert)

    def each(
        self, found: object, at: PathKey, convert: Callable[[object], T]
    ) -> tuple[T, ...] | None:
        """Every item of the list *found*, or ``None`` if the list or any item is wrong."""
        if found is None:
            return None
        if not isinstance(found, list):
            self.error(at, f"must be a list, not {kind_of(found)}")
            return None
        items = [self.convert(item, (*at, i), convert) for i, item in enumerate(found)]
        return tuple(i for i in items if i is not None) if None not in items else None

    def items(
        self, parent: Parent, path: PathKey, key: str, convert: Callable[[object], T]
    ) -> tuple[T, ...] | None:
        return self.each(self.get(parent, path, key, lambda v: v), (*path, key), convert)

    def sequence(self, parent: Parent, path: PathKey, key: str) -> list[object] | None:
        """*key* as a list of raw items (``None`` items kept for the caller to name)."""
        found = self.get(parent, path, key, lambda v: v)
        if found is not None and not isinstance(found, list):
            self.error((*path, key), f"must be a list, not {kind_of(found)}")
            return None
        return found

    def mapping(self, found: object, at: PathKey, known: Collection[str] | None) -> Parent:
        """*found* as a mapping, reporting keys outside *known* (typos) when given.

        Keys starting with ``x-`` are free, for YAML anchors an operator shares.
        """
        if found is None:
            return None
        if not isinstance(found, Mapping):
            self.error(at, f"must be a mapping, not {kind_of(found)}")
            return None
        checked: dict[str, object] = {}
        for key, item in found.items():
            name = str(key)
            if known is None or name in known or name.startswith("x-"):
                checked[name] = item
                continue
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.error((*at, name), f"unknown field {shown(name)}{hint}")
        return checked

    def section(self, parent: Parent, path: PathKey, key: str, known: Collection[str]) -> Parent:
        return self.mapping(self.get(parent, path, key, lambda v: v), (*path, key), known)

    def path(
        self, parent: Parent, path: PathKey, key: str, *, required: bool = True
    ) -> Path | None:
        written = self.get(parent, path, key, text, required=required)
        return self.resolve(written, (*path, key))

    def resolve(self, written: str | None, at: PathKey) -> Path | None:
        """A path as written in the file: ``~`` expanded, relative to the cluster directory."""
        if written is None:
            return None
        if "\0" in written:
            self.error(at, "must not contain a NUL character")
            return None
        try:
            expanded = Path(written).expanduser()
        except RuntimeError:
            self.error(at, f"cannot expand {shown(written)}: unknown home directory")
            return None
        return Path(os.path.normpath(self.root / expanded))


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
        documents = yamlfiles.load_documents(path, display)
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


# --- cron ---------------------------------------------------------------------------------

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def _cron_value(word: str, low: int, names: tuple[str, ...]) -> int | None:
    if word.isascii() and word.isdigit():
        return int(word)
    return names.index(word.lower()) + low if word.lower() in names else None


def _cron_field(field: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for part in field.split(","):
        span, slash, step = part.partition("/")
        if slash and not (step.isascii() and step.isdigit() and int(step) > 0):
            return f"{part!r} has a bad step"
        if span in ("*", "?"):
            continue
        words = span.split("-")
        values = [_cron_value(w, low, names) for w in words]
        if len(words) > 2 or any(v is None or not low <= v <= high for v in values):
            return f"{part!r} is not a value or range in {low}-{high}"
        if values != sorted(v for v in values if v is not None):
            return f"{part!r} is a backwards range"
    return None


def cron(found: object) -> str:
    """A standard 5-field cron schedule, as Kubernetes CronJobs parse it.

    The grammar is robfig/cron's standard parser (vendored by Kubernetes):
    numbers, ``*``, ``?``, ranges, lists, steps, month and weekday names.
    """
    schedule = text(found)
    fields = schedule.split()
    if len(fields) != 5:
        raise Bad(
            f"{shown(schedule)} has {len(fields)} fields; a cron schedule has 5 (minute hour "
            "day-of-month month day-of-week), e.g. '0 2 * * *'"
        )
    for field, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        if wrong := _cron_field(field, low, high, names):
            raise Bad(f"{shown(schedule)}: {name} field {wrong}")
    return schedule
