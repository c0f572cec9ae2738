"""Synthetic worker machines for scale runs (``serve --nodes N``) and how they join the cluster.

What belongs here: creating the extra machines (:func:`synthesise_workers`),
the one worker config they all receive (:func:`worker_config`) and
:func:`join_synthetic_workers`, which applies it to each of them.

Why they join by themselves: the provisioning plan applies configs only to
the nodes of the inventory, yet a scale run needs the extra machines to be
real worker nodes (a Node each, Ready once the CNI runs, DaemonSet pods on
each).  So, once the cluster is bootstrapped, every synthetic machine still
in maintenance mode gets the worker config through the same Machine API
transition an operator's ``talosctl apply-config --insecure`` causes
(:meth:`Lifecycle.apply_config`: install, reboot, boot, running).

The worker config is derived from a control-plane machine's applied config
the way ``talosctl gen config`` derives ``worker.yaml`` from the same
secrets: ``machine.type: worker``; the control-plane-only cluster sections
(API server, controller manager, scheduler, etcd, the CA keys, service
account and aggregator keys, secretbox secret) removed; node-specific
settings (static addresses, the VIP, the hostname, node labels, the install
disk, user volumes) removed.  All synthetic workers share that one text, as
real fleets share one ``worker.yaml``: their hostnames are Talos's stable
default (``talos-<3 hex>-<last 3 characters of the machine name>``) and the
install disk is chosen by a ``diskSelector`` (NVMe; Talos refuses an install
with neither ``disk`` nor ``diskSelector``), the machine's first disk.  One
shared text also means it is parsed once, not once per machine.

Limits: at most :data:`MAX_SYNTHETIC` machines (names have four digits);
past 999 workers two default hostnames can collide (same last three digits
and same 3-hex prefix; 1 in 4,096 per pair).
"""

from __future__ import annotations

import copy
import ipaddress
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from simulator.state.hardware import build_hardware
from simulator.state.machines import Machine, Site, Stage
from simulator.talos import convergence
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle

SYNTHETIC_SUBNET = ipaddress.ip_network("10.200.0.0/16")
MAX_SYNTHETIC = 9999
_NAME = re.compile(r"^worker-\d{4}$")
# Cluster sections a worker config keeps (the rest belongs to control planes only).
_CLUSTER_KEPT = ("id", "secret", "controlPlane", "clusterName", "network", "token", "discovery")
# Documents of other kinds that are node-specific and stay out of the shared worker config.
_NODE_DOCUMENTS = ("HostnameConfig", "UserVolumeConfig", "LinkConfig", "Layer2VIPConfig")


def synthesise_workers(site: Site, count: int) -> list[str]:
    """Add worker machines ``worker-0001``... (IPs in 10.200.0.0/16, data only) up to *count*."""
    if count > MAX_SYNTHETIC:
        raise ValueError(f"at most {MAX_SYNTHETIC} synthetic workers, not {count}")
    added: list[str] = []
    hosts = SYNTHETIC_SUBNET.hosts()
    for index in range(1, count + 1):
        name = f"worker-{index:04d}"
        ip = str(next(hosts))
        if name in site.machines:
            continue
        hardware = build_hardware(
            index=1000 + index,
            cpu=4,
            memory_gib=16,
            install_disk=f"/dev/disk/by-id/nvme-SIM_WORKER_{index:04d}",
            storage_disk=None,
            nic_name="enp1s0",
        )
        site.machines[name] = Machine(name=name, ip=ip, hardware=hardware)
        added.append(name)
    return added


def is_synthetic(machine: Machine) -> bool:
    """Whether *machine* was added by :func:`synthesise_workers`."""
    return bool(_NAME.match(machine.name)) and (
        ipaddress.ip_address(machine.ip) in SYNTHETIC_SUBNET
    )


def _only_crt(value: object) -> dict[str, Any] | None:
    if isinstance(value, Mapping) and value.get("crt"):
        return {"crt": value["crt"], "key": ""}
    return None


def worker_config(control_plane_config: str) -> str:
    """The shared worker config derived from a control-plane machine's config text."""
    documents = [d for d in yaml.safe_load_all(control_plane_config) if isinstance(d, dict)]
    out: list[dict[str, Any]] = []
    for doc in documents:
        if "kind" in doc or "apiVersion" in doc:
            if doc.get("kind") not in _NODE_DOCUMENTS:
                out.append(copy.deepcopy(doc))
            continue
        machine = dict(doc.get("machine") or {})
        cluster = dict(doc.get("cluster") or {})
        worker_machine: dict[str, Any] = {"type": "worker"}
        for key in ("token", "kubelet", "features", "sysctls", "kernel", "files", "time"):
            if key in machine:
                worker_machine[key] = copy.deepcopy(machine[key])
        ca = _only_crt(machine.get("ca"))
        if ca is not None:
            worker_machine["ca"] = ca
        install = {k: v for k, v in dict(machine.get("install") or {}).items() if k != "disk"}
        if install:
            worker_machine["install"] = {**copy.deepcopy(install), "diskSelector": {"type": "nvme"}}
        nameservers = dict(machine.get("network") or {}).get("nameservers")
        if nameservers:
            worker_machine["network"] = {"nameservers": list(nameservers)}
        worker_cluster = {k: copy.deepcopy(cluster[k]) for k in _CLUSTER_KEPT if k in cluster}
        cluster_ca = _only_crt(cluster.get("ca"))
        if cluster_ca is not None:
            worker_cluster["ca"] = cluster_ca
        out.insert(
            0,
            {
                **{k: v for k, v in doc.items() if k not in ("machine", "cluster")},
                "machine": worker_machine,
                "cluster": worker_cluster,
            },
        )
    return yaml.safe_dump_all(out, sort_keys=False)


def _control_plane_config(site: Site) -> str | None:
    for name in sorted(site.machines):
        machine = site.machines[name]
        view = convergence.view_of(machine)
        if view is not None and view.is_control_plane and machine.stage is Stage.RUNNING:
            return machine.config
    return None


class _Batch(Lifecycle):
    """Applies configs to many machines and converges once, not after every machine.

    Converging walks every machine, so converging after each of N joins
    would cost N squared.
    """

    def _done(self) -> None:
        pass


def join_synthetic_workers(site: Site, *, clock: Callable[[], float] = time.time) -> list[str]:
    """Apply the worker config to every synthetic machine in maintenance; names joined.

    Nothing happens before the cluster is bootstrapped (a worker's kubelet
    would have no API server to register with) or while no control plane
    runs a config to derive the worker config from.  Only machines in
    maintenance with no config and no installation join -- a synthetic
    machine reset back to that state joins again, as a fleet provisioned
    from one ``worker.yaml`` would; one whose join failed keeps Talos's
    error in ``last_error`` and is not retried.
    """
    if not site.bootstrapped:
        return []
    waiting = [
        m
        for m in site.machines.values()
        if is_synthetic(m)
        and m.stage is Stage.MAINTENANCE
        and m.config is None
        and not m.installed
        and not m.last_error
    ]
    if not waiting:
        return []
    source = _control_plane_config(site)
    if source is None:
        return []
    text = worker_config(source)
    lifecycle = _Batch(site, clock=clock)
    joined: list[str] = []
    for machine in sorted(waiting, key=lambda m: m.name):
        try:
            lifecycle.apply_config(machine.ip, text, insecure=True)
        except TalosError as exc:
            machine.last_error = exc.message
            continue
        joined.append(machine.name)
    convergence.converge(site)
    return joined
