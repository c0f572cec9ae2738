"""Does a node's rendered config implement what ``cluster.yaml`` declares?

The inventory and the patches both describe a node -- the inventory for the
suite (expected state), the patches for Talos.  When they disagree, the suite
would verify one thing while the node runs another, so every fact that lives
in both places is compared here: hostname, static address, VIP, endpoint,
KubePrism port, installer image (from the schematic), Longhorn disk, kubelet
version.  Each disagreement names the node, the rendered field, the expected
value from the inventory and the value the patches produced.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from provisioning.config.machineconfig import MachineConfig
from provisioning.definition import inventory, schematic
from provisioning.definition.problems import Problem


def _interfaces(config: MachineConfig) -> list[Mapping[str, Any]]:
    found = config.get("machine.network.interfaces", [])
    return [i for i in found if isinstance(i, Mapping)] if isinstance(found, list) else []


def _addresses(config: MachineConfig) -> Iterator[str]:
    for interface in _interfaces(config):
        for address in interface.get("addresses") or []:
            yield str(address)
    for doc in config.documents:
        if doc.get("kind") == "LinkConfig":
            for entry in doc.get("addresses") or []:
                if isinstance(entry, Mapping):
                    yield str(entry.get("address"))


def _vips(config: MachineConfig) -> list[str]:
    vips = [
        str(i["vip"].get("ip"))
        for i in _interfaces(config)
        if isinstance(i.get("vip"), Mapping) and i["vip"].get("ip")
    ]
    vips += [str(d.get("name")) for d in config.documents if d.get("kind") == "Layer2VIPConfig"]
    return vips


def rendered_hostname(config: MachineConfig) -> str | None:
    """The static hostname the config sets, from whichever place sets it."""
    doc = config.find("HostnameConfig")
    if doc is not None and doc.get("hostname"):
        return str(doc["hostname"])
    legacy = config.get("machine.network.hostname")
    return str(legacy) if legacy else None


def _longhorn_mounts(config: MachineConfig, path: str) -> list[str]:
    disks = config.get("machine.disks", [])
    mounts: list[str] = []
    for disk in disks if isinstance(disks, list) else []:
        if not isinstance(disk, Mapping):
            continue
        mounts.extend(
            str(disk.get("device"))
            for partition in disk.get("partitions") or []
            if isinstance(partition, Mapping) and partition.get("mountpoint") == path
        )
    return mounts


def check_node(
    cluster: inventory.Cluster, node: inventory.Node, config: MachineConfig
) -> list[Problem]:
    """Every disagreement between *node*'s inventory entry and its rendered config."""
    problems: list[Problem] = []
    display = f"{node.name} (rendered config)"

    def differs(field: str, expected: object, observed: object) -> None:
        problems.append(
            Problem(
                display,
                field,
                f"cluster.yaml declares {expected!s}, the patches produce {observed!s}",
            )
        )

    hostname = rendered_hostname(config)
    if hostname != node.hostname:
        differs("HostnameConfig.hostname", node.hostname, hostname or "no hostname")

    own = [a for a in _addresses(config) if a.split("/")[0] == str(node.ip)]
    if not own:
        differs("machine.network.interfaces[].addresses", node.ip, sorted(_addresses(config)))
    for address in own:
        try:
            network = ipaddress.ip_interface(address).network
        except ValueError:
            continue
        if network != cluster.network.subnet:
            differs("machine.network.interfaces[].addresses", cluster.network.subnet, address)

    vips = _vips(config)
    expected_vips = [str(cluster.control_plane.vip)] if node.is_control_plane else []
    if sorted(set(vips)) != expected_vips:
        differs("machine.network.interfaces[].vip.ip", expected_vips or "no VIP", vips or "none")

    endpoint = config.get("cluster.controlPlane.endpoint")
    if endpoint != cluster.control_plane.endpoint:
        differs("cluster.controlPlane.endpoint", cluster.control_plane.endpoint, endpoint)

    prism = config.get("machine.features.kubePrism", {}) or {}
    enabled = isinstance(prism, Mapping) and prism.get("enabled") is True
    port = prism.get("port", 7445) if isinstance(prism, Mapping) else None
    if not enabled or port != cluster.control_plane.kubeprism_port:
        differs(
            "machine.features.kubePrism",
            f"enabled on port {cluster.control_plane.kubeprism_port}",
            f"enabled={enabled} port={port}",
        )

    image = config.get("machine.install.image")
    wanted = schematic.installer_image(
        cluster.image_factory.installer_repository,
        cluster.image_factory.schematic,
        cluster.versions.talos,
    )
    if image != wanted:
        differs("machine.install.image", f"{wanted} (imageFactory.schematic)", image)

    mounts = _longhorn_mounts(config, cluster.storage.longhorn_path)
    if node.is_storage and mounts != [node.storage_disk]:
        differs(
            "machine.disks",
            f"{node.storage_disk} mounted at {cluster.storage.longhorn_path}",
            mounts or "no such disk",
        )
    if not node.is_storage and mounts:
        differs("machine.disks", f"no {cluster.storage.longhorn_path} disk", mounts)

    kubelet = config.get("machine.kubelet.image")
    if isinstance(kubelet, str) and not kubelet.endswith(f":v{cluster.versions.kubernetes}"):
        differs("machine.kubelet.image", f"kubelet v{cluster.versions.kubernetes}", kubelet)

    machine_type = config.get("machine.type")
    wanted_type = "controlplane" if node.is_control_plane else "worker"
    if machine_type != wanted_type:
        differs("machine.type", wanted_type, machine_type)

    install_disk = config.get("machine.install.disk")
    selector = config.get("machine.install.diskSelector")
    if not selector and install_disk != node.install_disk:
        differs("machine.install.disk", node.install_disk, install_disk)
    return problems
