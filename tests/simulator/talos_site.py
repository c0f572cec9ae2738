"""Small simulated sites and machine configs for the Talos-side tests.

Configs are built as text, the way an operator sends them, so the tests go
through the same parsing as the machine API.
"""

from __future__ import annotations

import functools
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from provisioning.config import pki, secrets
from provisioning.config.bundle import MachineSecrets
from provisioning.definition import yamlfiles
from simulator.pki import ServingTLS
from simulator.state.hardware import build_hardware
from simulator.state.machines import VANILLA_SCHEMATIC, Machine, Site
from simulator.talos import tls
from simulator.talos.cli_server import CommandServer
from simulator.talos.lifecycle import Lifecycle

ROOT = Path(__file__).resolve().parents[2]

SCHEMATIC = "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245"
INSTALLER = f"factory.talos.dev/installer/{SCHEMATIC}:v1.12.5"
VIP = "10.10.20.10"
STORAGE = "/dev/disk/by-id/ata-KINGSTON_SA400S37240G_50026B7784A1B203"
# Talos requires a machine CA and decodes it as base64; the simulated nodes
# never use it, so a placeholder (base64 of "<redacted>") stands in.
CA_PLACEHOLDER = {"crt": "PHJlZGFjdGVkPg==", "key": "PHJlZGFjdGVkPg=="}


def config(
    index: int,
    *,
    ip: str | None = None,
    controlplane: bool = True,
    encrypt: bool = True,
    storage: bool = False,
    legacy_hostname: bool = False,
    image: str = INSTALLER,
    seccomp: bool = True,
    kubeprism: bool = True,
    extra_v1alpha1: dict[str, Any] | None = None,
) -> str:
    """A node config like the definition renders (hostname k8s-nodeNN)."""
    address = ip or f"10.10.20.{15 + index}"
    iface: dict[str, Any] = {"interface": "enp1s0", "addresses": [f"{address}/24"]}
    if controlplane:
        iface["vip"] = {"ip": VIP}
    machine: dict[str, Any] = {
        "type": "controlplane" if controlplane else "worker",
        "token": "abcdef.0123456789abcdef",
        "ca": dict(CA_PLACEHOLDER) if controlplane else {"crt": CA_PLACEHOLDER["crt"]},
        "kubelet": {"defaultRuntimeSeccompProfileEnabled": seccomp},
        "network": {"interfaces": [iface]},
        "install": {"disk": "/dev/nvme0n1", "image": image},
        "features": {"kubePrism": {"enabled": kubeprism, "port": 7445}},
    }
    if legacy_hostname:
        machine["network"]["hostname"] = f"k8s-node{index:02d}"
    if storage:
        machine["disks"] = [
            {"device": STORAGE, "partitions": [{"mountpoint": "/var/lib/longhorn"}]}
        ]
    v1alpha1: dict[str, Any] = {
        "version": "v1alpha1",
        "machine": machine,
        "cluster": {
            "clusterName": "K8S-CLUSTER",
            "ca": dict(CA_PLACEHOLDER) if controlplane else {"crt": CA_PLACEHOLDER["crt"]},
            "controlPlane": {"endpoint": f"https://{VIP}:6443"},
            "apiServer": {
                "admissionControl": [{"name": "PodSecurity", "configuration": {"defaults": {}}}],
                "auditPolicy": {"apiVersion": "audit.k8s.io/v1", "kind": "Policy"},
            },
        },
    }
    v1alpha1.update(extra_v1alpha1 or {})
    docs: list[Any] = [
        v1alpha1,
        {
            "apiVersion": "v1alpha1",
            "kind": "HostnameConfig",
            "auto": "off",
            "hostname": f"k8s-node{index:02d}",
        },
    ]
    if encrypt:
        docs.extend(
            {
                "apiVersion": "v1alpha1",
                "kind": "VolumeConfig",
                "name": name,
                "encryption": {"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]},
            }
            for name in ("STATE", "EPHEMERAL")
        )
    return yamlfiles.dump_documents(docs)


def site(count: int = 3, *, dirty_storage: bool = False) -> Site:
    """*count* machines in maintenance mode at 10.10.20.16…, node01…"""
    result = Site()
    result.schematics = {VANILLA_SCHEMATIC: [], SCHEMATIC: ["iscsi-tools", "util-linux-tools"]}
    for index in range(1, count + 1):
        hardware = build_hardware(
            index=index,
            cpu=4,
            memory_gib=16,
            install_disk="/dev/nvme0n1",
            storage_disk=STORAGE,
            nic_name="enp1s0",
            old_signatures=("lvm2",) if dirty_storage else (),
        )
        name = f"node{index:02d}"
        result.machines[name] = Machine(name=name, ip=f"10.10.20.{15 + index}", hardware=hardware)
    return result


def ip(index: int) -> str:
    return f"10.10.20.{15 + index}"


def running_cluster(count: int = 3, **kwargs: Any) -> Lifecycle:
    """Every node configured (insecure apply) and the first bootstrapped."""
    life = Lifecycle(site(count))
    for index in range(1, count + 1):
        life.apply_config(ip(index), config(index, **kwargs), insecure=True)
    life.bootstrap(ip(1))
    return life


@contextmanager
def served_talosctl() -> Iterator[str]:
    """A ``talosctl`` command server for launchers these tests install (its address).

    The running simulator installs launchers bound to its own server; tests
    that install ``bin/talosctl`` next to a bare machine API pass this address
    to :func:`simulator.talos.cli.install_executables` to go the same way.
    """
    with tempfile.TemporaryDirectory() as scratch:
        server = CommandServer(ROOT, Path(scratch) / "talosctl-server.log")
        address = server.start()
        try:
            yield address
        finally:
            server.stop()


@functools.cache
def cluster_secrets() -> MachineSecrets:
    """One set of machine secrets for the tests that need a machine CA but no particular one."""
    return secrets.generate_secrets()


def serving_tls(machine_secrets: MachineSecrets | None = None) -> ServingTLS:
    """apid's serving material for a machine API whose talosconfigs come from *machine_secrets*."""
    pair = (machine_secrets or cluster_secrets()).os_ca
    return tls.serving(pair.crt, pair.key)


def client_tls(
    roles: Sequence[str] = ("os:admin",), machine_secrets: MachineSecrets | None = None
) -> ssl.SSLContext:
    """talosctl-side TLS with a fresh machine-CA client certificate, Organization = *roles*."""
    pair = (machine_secrets or cluster_secrets()).os_ca
    crt, key = pki.issue_client_certificate(pair.crt, pair.key, "", roles, timedelta(hours=1))
    return tls.client_context(pair.crt, crt, key)
