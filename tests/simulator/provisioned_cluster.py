"""The shipped definition provisioned in-process over one MemoryKV, for drift unit tests.

Why in-process: the drift unit tests need a provisioned cluster in
milliseconds per test, not a running simulator; building it once (configs
applied through the Talos lifecycle, bootstrap, core reconcile, the Cilium and
Longhorn charts, the shipped manifests) and copying the KV per test gives each
test an independent cluster.  The fixtures over it live in this directory's
conftest.py, so every drift test module shares one build.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from provisioning.config import render
from provisioning.definition import inventory
from simulator.controllers import cluster as core
from simulator.drifts import DriftContext
from simulator.helm import values
from simulator.helm.charts import catalogue
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.state.machines import SiteStore
from simulator.state.site import site_from_cluster
from simulator.store.kv import KV, MemoryKV
from simulator.talos.lifecycle import Lifecycle

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _create_all(store: ObjectStore, objects: list[dict[str, Any]]) -> None:
    objects = sorted(objects, key=lambda o: o["kind"] != "CustomResourceDefinition")
    for obj in objects:
        rt = store.registry.by_kind(obj["apiVersion"], obj["kind"])
        if rt is not None:
            store.create(rt, obj["metadata"].get("namespace", ""), obj)


def _chart(store: ObjectStore, name: str, namespace: str) -> None:
    chart = catalogue()[name]
    shipped = values.load_file(ROOT / "cluster" / "helm" / f"{name}-values.yaml")
    merged = values.coalesce(chart.defaults, shipped)
    _create_all(
        store, chart.render(merged, release=name, namespace=namespace, version=chart.version)
    )


def provision(kv: KV, *, pod_start_delay: float = 0.0) -> None:
    """Build the shipped cluster into *kv*, as `pytest --provision` would leave it.

    With *pod_start_delay* (``simulator serve --pod-start-delay``) the pods
    are still starting at the end: later passes, by a later clock, start them.
    """
    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    rendered = render.render_cluster(shipped)
    site = site_from_cluster(shipped)
    for machine in site.machines.values():
        for disk in machine.hardware.disks:
            disk.signatures = []
    life = Lifecycle(site)
    for name, machine in site.machines.items():
        life.apply_config(machine.ip, rendered[name].to_yaml(), insecure=True)
    life.bootstrap(site.machines["node01"].ip)
    SiteStore(kv).save(site)
    store = ObjectStore(kv, builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW, pod_start_delay=pod_start_delay)
    _chart(store, "cilium", "kube-system")
    ns = store.registry.lookup("", "v1", "namespaces")
    assert ns is not None
    store.create(ns, "", {"metadata": {"name": "longhorn-system"}})
    _chart(store, "longhorn", "longhorn-system")
    core.reconcile(site, store, now=NOW, pod_start_delay=pod_start_delay)
    # After the reconcile: the Cilium operator's CRDs (CiliumNetworkPolicy) exist by then.
    for path in sorted((ROOT / "cluster" / "manifests").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        _create_all(store, [d for d in docs if d["kind"] != "Namespace"])


def copy_of(provisioned: MemoryKV, state_dir: Path) -> DriftContext:
    """An independent cluster: entries are immutable, so a shallow copy of the map will do."""
    kv = MemoryKV()
    kv._data = dict(provisioned._data)
    kv._revision = provisioned._revision
    return DriftContext(kv, state_dir)
