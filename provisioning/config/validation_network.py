"""The v1alpha1 rules for ``machine.network.interfaces``: devices, addresses, VIPs, routes.

Part of ``Config.Validate`` in Talos v1.12.5 (``v1alpha1_validation.go``): the
per-device checks Talos reports with a ``[networking.os.device...]`` prefix, and
where shared VIPs are configured (they are refused on non-control-plane nodes).
Split from :mod:`provisioning.config.validation_v1alpha1` because the interface rules
are a self-contained block that Talos itself is moving to separate documents
(LinkConfig, Layer2VIPConfig, ...); addresses are parsed as Go does
(:mod:`provisioning.config.goparse`) and never dialled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.config.goparse import cidr_error, ip_or_cidr_error, is_ip
from provisioning.config.govalues import as_flag, as_list, as_text, goq, value_at
from provisioning.config.validation_schema import Report

_MISSING_SECTION = "required either config section to be set"
_EXCLUSIVE = "config sections are mutually exclusive"


def vip_paths(interfaces: Any) -> list[str]:
    """Config paths of every VIP set on an interface or one of its VLANs."""
    paths = []
    for index, device in enumerate(as_list(interfaces)):
        base = f"machine.network.interfaces[{index}]"
        if value_at(device, "vip") is not None:
            paths.append(f"{base}.vip")
        for v, vlan in enumerate(as_list(value_at(device, "vlans"))):
            if value_at(vlan, "vip") is not None:
                paths.append(f"{base}.vlans[{v}].vip")
    return paths


def network_rules(interfaces: Any, report: Report) -> None:
    """What ``NetworkDeviceValidator`` and the route checks refuse in *interfaces*."""
    for index, device in enumerate(as_list(interfaces)):
        if not isinstance(device, Mapping) or as_flag(device.get("ignore")):
            continue
        where, name = f"machine.network.interfaces[{index}]", as_text(device.get("interface"))
        sections = "[networking.os.device.interface], [networking.os.device.deviceSelector]"
        selector = device.get("deviceSelector")
        if not name and selector is None:
            report.error(where, f"{sections}: {_MISSING_SECTION}")
        elif name and selector is not None:
            report.error(where, f"{sections}: {_EXCLUSIVE}")
        # Go's reflect IsZero: strings empty and the *bool `physical` nil (false counts).
        if isinstance(selector, Mapping) and all(v in (None, "") for v in selector.values()):
            report.error(
                f"{where}.deviceSelector",
                "[networking.os.device.deviceSelector]: "
                "config section should contain at least one field",
            )
        addresses, cidr = as_list(device.get("addresses")), as_text(device.get("cidr"))
        if addresses and cidr:
            report.error(
                where,
                f"[networking.os.device] {goq(name)}: interface can't have both "
                ".cidr and .addresses set",
            )
        if cidr:
            report.warn(
                f"{where}.cidr",
                f"{goq(name)}: machine.network.interface.cidr is "
                "deprecated, please use machine.network.interface.addresses",
            )
        checks = [("cidr", "CIDR", cidr)] if cidr else []
        checks += [(f"addresses[{i}]", "addresses", as_text(a)) for i, a in enumerate(addresses)]
        for at, label, address in checks:
            if failure := ip_or_cidr_error(address):
                report.error(
                    f"{where}.{at}", f"[networking.os.device.{label}] {goq(name)}: {failure}"
                )
        vip = device.get("vip")
        if vip is not None and not is_ip(as_text(value_at(vip, "ip"))):
            report.error(
                f"{where}.vip",
                f"[networking.os.device.vip] failed to parse "
                f"{goq(as_text(value_at(vip, 'ip')))} as IP address",
            )
        for r, route in enumerate(as_list(device.get("routes"))):
            _route_rules(route, f"{where}.routes[{r}]", r, report)


def _route_rules(route: Any, where: str, index: int, report: Report) -> None:
    label = f"networking.os.device.route[{index}]"
    network, gateway = as_text(value_at(route, "network")), as_text(value_at(route, "gateway"))
    source = as_text(value_at(route, "source"))
    if network and cidr_error(network):
        report.error(
            f"{where}.network", f"[{label}.network] {goq(network)}: invalid network address"
        )
    if gateway and not is_ip(gateway):
        report.error(
            f"{where}.gateway", f"[{label}.gateway] {goq(gateway)}: invalid network address"
        )
    if not gateway and not network:
        report.error(where, f"[{label}]: either network or gateway should be set")
    if source and not is_ip(source):
        report.error(f"{where}.source", f"[{label}.source] {goq(source)}: invalid network address")
