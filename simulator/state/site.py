"""Building the simulated site from the cluster definition.

The twin must have the hardware the definition expects -- the install and
storage disks it names by ``/dev/disk/by-id``, the NIC its node patch
configures -- and an Image Factory that knows the definition's schematic, so
that what the definition produces can be tried before a real node sees it.
Machines start powered on in maintenance mode at their inventory address
(a DHCP reservation), as freshly booted Talos ISOs do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.definition import inventory, schematic, yamlfiles
from provisioning.definition.problems import DefinitionError
from simulator.state.hardware import DEFAULT_OLD_SIGNATURES, build_hardware
from simulator.state.machines import VANILLA_SCHEMATIC, Machine, Site

DEFAULT_NIC = "enp1s0"


def _nic_name(node: inventory.Node) -> str:
    """The link the node's own patch configures (its first patch), else the default."""
    if not node.patches:
        return DEFAULT_NIC
    try:
        documents = yamlfiles.load_documents(node.patches[0].path, node.patches[0].display)
    except DefinitionError:
        return DEFAULT_NIC
    for doc in documents:
        value: Any = doc.value
        if isinstance(value, Mapping):
            interfaces = ((value.get("machine") or {}).get("network") or {}).get("interfaces")
            if isinstance(interfaces, list) and interfaces and isinstance(interfaces[0], Mapping):
                return str(interfaces[0].get("interface") or DEFAULT_NIC)
    return DEFAULT_NIC


def site_from_cluster(
    cluster: inventory.Cluster,
    *,
    old_signatures: Mapping[str, tuple[str, ...]] = DEFAULT_OLD_SIGNATURES,
) -> Site:
    """A site with one maintenance-mode machine per inventory node."""
    site = Site()
    site.schematics[VANILLA_SCHEMATIC] = []
    site.schematics[schematic.schematic_id(cluster.image_factory.schematic)] = list(
        schematic.official_extensions(cluster.image_factory.schematic)
    )
    for index, node in enumerate(cluster.nodes, 1):
        hardware = build_hardware(
            index=index,
            cpu=node.cpu,
            memory_gib=node.memory_gib,
            install_disk=node.install_disk,
            storage_disk=node.storage_disk,
            nic_name=_nic_name(node),
            old_signatures=old_signatures.get(node.name, ()),
        )
        site.machines[node.name] = Machine(name=node.name, ip=str(node.ip), hardware=hardware)
    return site
