"""The Talos side of the simulated site: machines, volumes, etcd membership, VIPs.

Plain data only, with a JSON form, because the simulator keeps it in its
etcd (under ``/talos-sim/``) next to the Kubernetes objects, like a real
cluster keeps everything in one datastore.  Behaviour -- what an apply or a
reset does to this data -- lives in :mod:`simulator.talos.lifecycle`; what
``talosctl get`` shows is derived from it in :mod:`simulator.talos.resources`.

What is stored is what a real node would keep across reboots (its applied
and staged config, what its partitions were formatted as, the installed
image) plus the site facts (hardware, current address).  Anything derivable
(hostname, kubelet settings, VIP eligibility) is deliberately not stored, so
it can never disagree with the config it comes from.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

from simulator.state.hardware import Hardware
from simulator.store.kv import KV

PREFIX = "/talos-sim/"
TALOS_VERSION = "v1.12.5"
KUBERNETES_VERSION = "1.35.2"
ETCD_VERSION = "v3.6.8"
VANILLA_SCHEMATIC = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"


class Stage(enum.Enum):
    """MachineStatus stages, plus ``powered off`` (no Talos running to report one)."""

    MAINTENANCE = "maintenance"
    BOOTING = "booting"
    INSTALLING = "installing"
    RUNNING = "running"
    REBOOTING = "rebooting"
    RESETTING = "resetting"
    UPGRADING = "upgrading"
    SHUTTING_DOWN = "shutting down"
    POWERED_OFF = "powered off"


@dataclass
class Volume:
    """One partition Talos manages, as it was last provisioned.

    ``filesystem`` and ``encryption`` record what the partition was formatted
    as; they change only when the partition is (re)formatted, which happens
    only when it is empty -- the reason adding LUKS to a formatted volume
    fails instead of converting it.
    """

    id: str
    location: str  # raw partition, /dev/nvme0n1p4
    parent: str  # /dev/nvme0n1
    partition_index: int
    size: int
    mount_point: str = ""
    filesystem: str = ""  # "" = empty partition, never formatted
    encryption: str = ""  # "luks2" if formatted encrypted
    key_types: list[str] = field(default_factory=list)
    key_slot: int = 0
    phase: str = "waiting"
    error: str = ""
    volume_type: str = "partition"


@dataclass
class PendingStage:
    """A stage the machine will enter at *due* (seconds on the simulator clock)."""

    stage: str
    due: float


@dataclass
class Machine:
    """One simulated node."""

    name: str  # inventory name (node01); the hostname comes from the config
    ip: str  # the address talosctl reaches it at (data, never dialled)
    hardware: Hardware
    stage: Stage = Stage.MAINTENANCE
    installed: bool = False
    config: str | None = None  # active config text (MachineConfig v1alpha1)
    persistent_config: str | None = None  # stored config (differs after staged/try)
    try_revert_at: float | None = None
    image: str = ""
    schematic: str = ""
    talos_version: str = TALOS_VERSION
    volumes: dict[str, Volume] = field(default_factory=dict)
    pending: list[PendingStage] = field(default_factory=list)
    generation: int = 1  # bumped on every change; resources show it as VERSION
    changed_at: float = 0.0
    last_error: str = ""
    etcd_data: bool = False  # /var/lib/etcd on EPHEMERAL holds a member's data
    etcd_stopped: bool = False  # after `etcd leave`, until the next boot

    def to_json(self) -> dict[str, Any]:
        """What :func:`dataclasses.asdict` gives, JSON-ready, without its deep copies.

        Every save encodes every machine to see which changed; ``asdict``
        deep-copies each leaf and made that the bulk of a machine API call
        at 1,000 nodes.  The result is the same document (a test holds it to
        ``asdict`` and ``Hardware.to_json``).
        """
        data: dict[str, Any] = _plain(self)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Machine:
        fields = dict(data)
        fields["stage"] = Stage(fields["stage"])
        fields["hardware"] = Hardware.from_json(fields["hardware"])
        fields["volumes"] = {k: Volume(**v) for k, v in fields["volumes"].items()}
        fields["pending"] = [PendingStage(**p) for p in fields["pending"]]
        return cls(**fields)


@dataclass
class EtcdMember:
    """One member of the etcd cluster, as ``MemberList`` reports it."""

    id: int
    name: str  # the node's hostname when it joined
    node: str  # the machine's inventory name
    peer_urls: list[str]
    client_urls: list[str]
    is_learner: bool = False
    # Active alarms raised by this member (etcd's AlarmType names: NOSPACE, CORRUPT); they
    # are cluster state (raft), so every member's AlarmList reports them.
    alarms: list[str] = field(default_factory=list)


@dataclass
class Site:
    """Everything Talos-side the simulator keeps."""

    machines: dict[str, Machine] = field(default_factory=dict)
    etcd_members: list[EtcdMember] = field(default_factory=list)
    bootstrapped: bool = False
    vip_holders: dict[str, str] = field(default_factory=dict)  # VIP -> machine name
    schematics: dict[str, list[str]] = field(default_factory=dict)  # id -> extension names
    member_counter: int = 0

    def machine_at(self, ip: str) -> Machine | None:
        """The machine currently answering at *ip*."""
        for machine in self.machines.values():
            if machine.ip == ip:
                return machine
        return None

    def member_of(self, name: str) -> EtcdMember | None:
        for member in self.etcd_members:
            if member.node == name:
                return member
        return None

    def cluster_json(self) -> dict[str, Any]:
        return {
            "etcd_members": [asdict(m) for m in self.etcd_members],
            "bootstrapped": self.bootstrapped,
            "vip_holders": self.vip_holders,
            "schematics": self.schematics,
            "member_counter": self.member_counter,
        }


class SiteStore:
    """Loads and saves a :class:`Site` under ``/talos-sim/`` with optimistic locking.

    Each machine is one key and the cluster-wide part another, so the API
    server's watchers see which machine changed.  ``save`` writes only keys
    whose JSON changed, each conditional on the revision seen at ``load``: two
    concurrent operations cannot silently overwrite each other
    (:class:`~simulator.store.kv.RevisionConflict` is raised instead).
    """

    def __init__(self, kv: KV, prefix: str = PREFIX) -> None:
        self.kv = kv
        self.prefix = prefix
        self._seen: dict[str, tuple[int, bytes]] = {}

    def _key(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    def load(self) -> Site:
        entries, _ = self.kv.range(self.prefix)
        self._seen = {e.key: (e.mod_revision, e.value) for e in entries}
        site = Site()
        for entry in entries:
            data = json.loads(entry.value)
            if entry.key.startswith(self._key("machines/")):
                machine = Machine.from_json(data)
                site.machines[machine.name] = machine
            elif entry.key == self._key("cluster"):
                site.etcd_members = [EtcdMember(**m) for m in data["etcd_members"]]
                site.bootstrapped = bool(data["bootstrapped"])
                site.vip_holders = dict(data["vip_holders"])
                site.schematics = {k: list(v) for k, v in data["schematics"].items()}
                site.member_counter = int(data["member_counter"])
        return site

    def _wanted(self, site: Site) -> dict[str, bytes]:
        wanted: dict[str, bytes] = {self._key("cluster"): _encode(site.cluster_json())}
        for name, machine in site.machines.items():
            wanted[self._key(f"machines/{name}")] = _encode(machine.to_json())
        return wanted

    def dirty(self, site: Site) -> bool:
        """Whether :meth:`save` would write anything: *site* differs from what ``load`` read."""
        wanted = self._wanted(site)
        if wanted.keys() != self._seen.keys():
            return True
        return any(self._seen[key][1] != value for key, value in wanted.items())

    def save(self, site: Site) -> bool:
        """Write the keys whose JSON changed (and delete vanished ones); whether any was."""
        wanted = self._wanted(site)
        wrote = False
        for key, value in wanted.items():
            seen = self._seen.get(key)
            if seen is not None and seen[1] == value:
                continue
            revision = self.kv.put(key, value, expect_mod_revision=seen[0] if seen else 0)
            self._seen[key] = (revision, value)
            wrote = True
        for key in [k for k in self._seen if k not in wanted]:
            self.kv.delete(key, expect_mod_revision=self._seen.pop(key)[0])
            wrote = True
        return wrote


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """:func:`dataclasses.asdict` for JSON: dataclasses, lists, dicts, enums (by value), leaves."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not is_dataclass(value):
            return value
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(value))
    return {name: _plain(getattr(value, name)) for name in names}


def _encode(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
