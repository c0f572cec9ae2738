"""Simulator drifts: named, deliberate departures of the simulated cluster from its definition.

What belongs here: the registry (:func:`drift`, :func:`list_drifts`), the
context a drift works through (:class:`DriftContext`: the Talos-side site,
the Kubernetes objects over the same KV, the state directory, the cluster
definition) and the apply API (:func:`apply_drift` for a state directory,
:func:`apply_to` for a context tests build in-process).  The drifts
themselves live in one module per area (``disk_encryption``, ``cilium``, ...),
each function decorated with ``@drift("area.name", controls=(...), ...)``.

Why drifts change *state* and never results: the conformance controls must
notice a drift through the same interfaces they use against a real cluster
(``talosctl get``, the Kubernetes API, the backup directory), so a drift
edits what a real operator or failure would have changed -- a machine's
config text, a volume's format, a stored object, a file -- and leaves the
observing to the simulator's normal behaviour.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError
from simulator.kube.errors import ApiError
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType, builtin_registry
from simulator.state.machines import Machine, Site, SiteStore
from simulator.store.kv import KV

AREAS = (
    "disk_encryption",
    "cilium",
    "longhorn",
    "pod_security",
    "seccomp",
    "audit",
    "network_policy",
    "backups",
    "etcd",
    "config_hygiene",
    "topology",
    "api_endpoint",
)

# Outside /talos-sim/: SiteStore.save deletes any key under its prefix it did not write.
FAULT_KEY = "/sim-faults/apiserver"

DriftFunction = Callable[["DriftContext", "str | None"], str]


class DriftError(Exception):
    """A drift cannot be applied; the message says why, for the operator.

    ``exit_code`` follows the CLI's convention: 2 for a wrong name or node
    (usage), 1 for a state the drift cannot work on (not provisioned).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Drift:
    """One registered drift."""

    name: str
    controls: tuple[str, ...]
    description: str
    function: DriftFunction
    takes_node: bool


_REGISTRY: dict[str, Drift] = {}


def drift(
    name: str, *, controls: tuple[str, ...], description: str, takes_node: bool = False
) -> Callable[[DriftFunction], DriftFunction]:
    """Register *fn* as drift *name* that the controls *controls* must detect."""

    def register(fn: DriftFunction) -> DriftFunction:
        if name in _REGISTRY:
            raise ValueError(f"drift {name!r} is registered twice")
        _REGISTRY[name] = Drift(name, controls, description, fn, takes_node)
        return fn

    return register


def _load_areas() -> None:
    # Imported lazily: the area modules import this one for ``drift``.
    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}")


def list_drifts() -> list[Drift]:
    """Every registered drift, sorted by name."""
    _load_areas()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def find_drift(name: str) -> Drift:
    """The drift called *name*; :class:`DriftError` (exit 2) listing the valid names."""
    _load_areas()
    found = _REGISTRY.get(name)
    if found is None:
        names = "\n  ".join(sorted(_REGISTRY))
        raise DriftError(f"unknown drift {name!r}; valid drifts:\n  {names}", exit_code=2)
    return found


@dataclass
class DriftContext:
    """What a drift works on: the site and objects in one KV, the state dir, the definition."""

    kv: KV
    state_dir: Path
    cluster_dir: Path | None = None
    _sites: SiteStore = field(init=False)
    _site: Site | None = field(default=None, init=False)
    _store: ObjectStore | None = field(default=None, init=False)
    _cluster: inventory.Cluster | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._sites = SiteStore(self.kv)

    @property
    def site(self) -> Site:
        """The site as loaded once; call :meth:`save_site` after changing it."""
        if self._site is None:
            self._site = self._sites.load()
        return self._site

    def save_site(self) -> None:
        self._sites.save(self.site)

    @property
    def store(self) -> ObjectStore:
        """Kubernetes objects over the same KV, written as the API would (no admission)."""
        if self._store is None:
            self._store = ObjectStore(self.kv, builtin_registry())
        return self._store

    @property
    def cluster(self) -> inventory.Cluster:
        """The cluster definition; :class:`DriftError` if none was named or it does not load."""
        if self._cluster is None:
            if self.cluster_dir is None:
                raise DriftError(
                    "this drift needs the cluster definition: pass --cluster DIR "
                    "(a running simulator names it in serve.json)"
                )
            try:
                self._cluster = inventory.load_cluster(self.cluster_dir, str(self.cluster_dir))
            except DefinitionError as exc:
                raise DriftError(f"the cluster definition has problems:\n{exc}") from None
        return self._cluster

    # -- shared lookups for the area modules ---------------------------------------------

    def require_provisioned(self, drift_name: str) -> None:
        if not self.site.bootstrapped:
            raise DriftError(
                f"drift {drift_name} needs a provisioned cluster, but the simulated cluster "
                f"in {self.state_dir} is not bootstrapped yet"
            )

    def machine(self, node: str | None, *, default: str | None = None) -> Machine:
        """The machine named *node* (inventory name or hostname), else *default*, else first."""
        machines = self.site.machines
        if not machines:
            raise DriftError(f"the simulated site in {self.state_dir} has no machines")
        wanted = node if node is not None else default
        if wanted is None:
            return machines[sorted(machines)[0]]
        for machine in machines.values():
            if wanted in (machine.name, hostname_of(machine)):
                return machine
        valid = ", ".join(sorted(machines))
        raise DriftError(f"unknown node {wanted!r}; valid nodes: {valid}", exit_code=2)

    def configured(self, node: str | None, drift_name: str) -> Machine:
        machine = self.machine(node)
        if machine.config is None:
            raise DriftError(
                f"drift {drift_name} needs a configured node, but {machine.name} has no config"
            )
        return machine

    def rt(self, group: str, version: str, plural: str) -> ResourceType:
        found = self.store.registry.lookup(group, version, plural)
        if found is None:
            raise DriftError(f"the simulated API does not serve {group}/{version} {plural}")
        return found

    def get(self, rt: ResourceType, namespace: str, name: str, drift_name: str) -> dict[str, Any]:
        """The stored object; a 404 means the cluster lacks what the drift changes."""
        try:
            return self.store.get(rt, namespace, name)
        except ApiError as exc:
            if exc.code == 404:
                where = f"{namespace}/{name}" if namespace else name
                raise DriftError(
                    f"drift {drift_name} needs {rt.kind} {where}, which the simulated "
                    "cluster does not have (is it provisioned?)"
                ) from None
            raise

    def merge_patch(self, rt: ResourceType, namespace: str, name: str, body: object) -> None:
        self.store.patch(
            rt, namespace, name, json.dumps(body).encode(), "application/merge-patch+json"
        )


def hostname_of(machine: Machine) -> str:
    """The hostname the machine's config gives it, "" when it has none."""
    for doc in config_documents(machine.config):
        if doc.get("kind") == "HostnameConfig" and doc.get("hostname"):
            return str(doc["hostname"])
        network = (doc.get("machine") or {}).get("network") or {}
        if isinstance(network, Mapping) and network.get("hostname"):
            return str(network["hostname"])
    return ""


def config_documents(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


@contextmanager
def edit_config(machine: Machine) -> Iterator[list[dict[str, Any]]]:
    """Edit *machine*'s applied config documents in place, as if a patch had been applied.

    The stored (persistent) config follows, so a reboot keeps the drift, as
    on a node whose config was changed with ``apply-config``.
    """
    docs = config_documents(machine.config)
    yield docs
    text = yaml.safe_dump_all(docs, sort_keys=False)
    machine.config = text
    machine.persistent_config = text
    machine.generation += 1


def v1alpha1(docs: list[dict[str, Any]], machine: Machine) -> dict[str, Any]:
    for doc in docs:
        if doc.get("version") == "v1alpha1" and "machine" in doc:
            return doc
    raise DriftError(f"the config of {machine.name} has no v1alpha1 document")


def control_planes(ctx: DriftContext, drift_name: str) -> list[Machine]:
    """The configured control-plane machines: where cluster-wide settings live on Talos."""
    found = [
        m
        for _, m in sorted(ctx.site.machines.items())
        if any(
            (d.get("machine") or {}).get("type") in ("controlplane", "init")
            for d in config_documents(m.config)
        )
    ]
    if not found:
        raise DriftError(
            f"drift {drift_name} needs configured control-plane nodes, but the simulated "
            f"cluster in {ctx.state_dir} has none (is it provisioned?)"
        )
    return found


def apply_to(ctx: DriftContext, name: str, node: str | None = None) -> str:
    """Apply drift *name* through *ctx*; returns what changed, in operator words."""
    found = find_drift(name)
    if node is not None and not found.takes_node:
        raise DriftError(f"drift {name} does not take --node: it is cluster-wide", exit_code=2)
    return found.function(ctx, node)


def apply_drift(
    state_dir: Path, name: str, node: str | None = None, *, cluster_dir: Path | None = None
) -> str:
    """Apply drift *name* to the simulated cluster in *state_dir*, running or not.

    A running simulator's etcd is used (its client URL is in ``serve.json``);
    otherwise an etcd is started on ``state_dir/etcd`` for the change and stopped.
    """
    from simulator.drifts.cli import open_state  # the CLI module owns the etcd wiring

    find_drift(name)  # a wrong name fails before any etcd is started
    with open_state(state_dir, cluster_dir) as ctx:
        return apply_to(ctx, name, node)


__all__ = [
    "AREAS",
    "FAULT_KEY",
    "Drift",
    "DriftContext",
    "DriftError",
    "apply_drift",
    "apply_to",
    "config_documents",
    "control_planes",
    "drift",
    "edit_config",
    "find_drift",
    "hostname_of",
    "list_drifts",
    "v1alpha1",
]
