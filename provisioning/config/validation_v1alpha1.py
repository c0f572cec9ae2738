"""The rules of the v1alpha1 machine config document (``v1alpha1_validation.go``, v1.12.5).

``Config.Validate`` in Talos checks the legacy ``machine``/``cluster`` document:
install instructions per mode, endpoint and DNS domain, role-specific CA and VIP
rules, interfaces and routes, disks, kubelet, legacy disk encryption and
extensions; it also warns about deprecated fields.  That is the largest single
block of rules, so it has its own module; the rules of the other document kinds
are in :mod:`provisioning.config.validation_documents`, and those of
``machine.network.interfaces`` in :mod:`provisioning.config.validation_network`.
Messages keep Talos's wording; warnings worded by this suite end with
``(this suite)``.  Secret-bearing values (CA keys, tokens) are only tested for
presence, never quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provisioning.config.goparse import endpoint_error, is_subnet_or_address, parse_url
from provisioning.config.govalues import (
    YAML11_FALSE,
    as_flag,
    as_list,
    as_text,
    goq,
    has_key_type,
    is_set,
    key_slot,
    size_is_zero,
    value_at,
)
from provisioning.config.validation_network import network_rules, vip_paths
from provisioning.config.validation_schema import Report
from provisioning.definition.yamlfiles import field_path

# fmt: off
_PROTECTED_KUBELET_FIELDS = (
    "apiVersion", "authentication", "authorization", "cgroupRoot", "kind", "kubeletCgroups",
    "port", "protectKernelDefaults", "resolvConf", "rotateCertificates", "systemCgroups",
    "staticPodPath", "seccompDefault",
)
# fmt: on
_EXTENSIONS_WARNING = (
    ".machine.install.extensions is deprecated, please see "
    "https://www.talos.dev/latest/talos-guides/install/boot-assets/"
)
# Fields marked "Deprecated:" in v1alpha1_types.go at v1.12.5, with the replacement it names.
_DEPRECATED: tuple[tuple[tuple[str, ...], str], ...] = (
    (("machine", "disks"), "UserVolumeConfig documents"),
    (("machine", "network", "hostname"), "a HostnameConfig document"),
    (("machine", "network", "interfaces"), "multi-document network config (LinkConfig, ...)"),
    (("machine", "network", "nameservers"), "a ResolverConfig document"),
    (("machine", "network", "searchDomains"), "a ResolverConfig document"),
    (("machine", "network", "disableSearchDomain"), "a ResolverConfig document"),
    (("machine", "network", "extraHostEntries"), "StaticHostConfig documents"),
    (("machine", "time"), "a TimeSyncConfig document"),
    (("machine", "registries"), "Registry*Config documents"),
    (("machine", "systemDiskEncryption"), "VolumeConfig documents"),
    (("machine", "install", "extraKernelArgs"), "Image Factory boot assets"),
    (("cluster", "allowSchedulingOnMasters"), "cluster.allowSchedulingOnControlPlanes"),
    (("cluster", "etcd", "subnet"), "cluster.etcd.advertisedSubnets"),
)
_DNS_NAME = re.compile(
    r"^([a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})(\.[a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})*[._]?$"
)


def validate_v1alpha1(cfg: Mapping[Any, Any], mode: str, report: Report) -> None:
    machine = cfg.get("machine")
    if not isinstance(machine, Mapping):
        report.error("machine", "machine instructions are required")
        return
    machine_type = as_text(machine.get("type"))
    is_cp = machine_type in ("controlplane", "init")
    _cluster_rules(cfg.get("cluster"), is_cp, report)
    if mode == "metal":
        _install_rules(machine.get("install"), report)
    if mode == "container":
        host_dns = value_at(machine, "features", "hostDNS")
        if not as_flag(value_at(host_dns, "enabled")):
            report.error(
                "machine.features.hostDNS.enabled",
                "feature HostDNS should be enabled "
                "in container mode (.machine.features.hostDNS.enabled)",
            )
        if not as_flag(value_at(host_dns, "forwardKubeDNSToHost")):
            report.error(
                "machine.features.hostDNS.forwardKubeDNSToHost",
                "feature HostDNS should "
                "forward kube-dns to host in container mode "
                "(.machine.features.hostDNS.forwardKubeDNSToHost)",
            )
    if machine_type in ("", "join"):
        report.warn("machine.type", f'use "worker" instead of {goq(machine_type)} for machine type')
    _role_rules(cfg, machine_type, report)
    network_rules(value_at(machine, "network", "interfaces"), report)
    _disk_rules(machine.get("disks"), report)
    _kubelet_rules(machine.get("kubelet"), report)
    _legacy_encryption_rules(machine.get("systemDiskEncryption"), report)
    _extension_rules(value_at(machine, "install", "extensions"), report)
    if cfg.get("persist") is False or cfg.get("persist") in YAML11_FALSE:
        report.error("persist", ".persist should be enabled")
    for path, replacement in _DEPRECATED:
        if is_set(value_at(cfg, *path)):
            report.warn(
                field_path(path),
                f"marked deprecated in Talos v1.12, use {replacement} instead; "
                "still honoured (this suite)",
            )


def _cluster_rules(cluster: Any, is_cp: bool, report: Report) -> None:
    if not isinstance(cluster, Mapping):
        report.error("cluster", "cluster instructions are required")
        return
    endpoint = value_at(cluster, "controlPlane", "endpoint")
    if endpoint is None:
        report.error("cluster.controlPlane.endpoint", "cluster controlplane endpoint is required")
        return
    parsed = parse_url(as_text(endpoint))
    if isinstance(parsed, str):
        report.error("cluster.controlPlane.endpoint", parsed)
    elif failure := endpoint_error(parsed):
        report.error("cluster.controlPlane.endpoint", f"invalid controlplane endpoint: {failure}")
    elif parsed.scheme != "https":
        report.warn(
            "cluster.controlPlane.endpoint",
            f"scheme is {goq(parsed.scheme)}, but the "
            "Kubernetes API server only serves https (this suite)",
        )
    domain = as_text(value_at(cluster, "network", "dnsDomain"))
    if domain and not (_DNS_NAME.match(domain) and len(domain) - domain.count(".") <= 255):
        report.error("cluster.network.dnsDomain", f"{goq(domain)} is not a valid DNS name")
    etcd = cluster.get("etcd")
    if etcd is not None and not is_cp:
        report.error("cluster.etcd", "etcd config is only allowed on control plane machines")
    elif isinstance(etcd, Mapping):
        _etcd_rules(etcd, report)
    if not is_cp and is_set(value_at(cluster, "ca", "key")):
        report.error(
            "cluster.ca", "cluster CA key is not allowed on non-controlplane nodes (.cluster.ca)"
        )
    discovery = cluster.get("discovery")
    if as_flag(value_at(discovery, "enabled")) and not as_flag(
        value_at(discovery, "registries", "service", "disabled")
    ):
        for key in ("id", "secret"):
            if not as_text(cluster.get(key)):
                report.error(f"cluster.{key}", f"cluster discovery service requires .cluster.{key}")


def _etcd_rules(etcd: Mapping[Any, Any], report: Report) -> None:
    if etcd.get("ca") is None:
        report.error("cluster.etcd.ca", "key/cert combination should not be empty")
    if as_text(etcd.get("subnet")) and as_list(etcd.get("advertisedSubnets")):
        report.error(
            "cluster.etcd.subnet", "etcd subnet can't be set when advertised subnets are set"
        )
    for key, what in (("advertisedSubnets", "advertised"), ("listenSubnets", "listen")):
        for index, cidr in enumerate(as_list(etcd.get(key))):
            if not is_subnet_or_address(as_text(cidr).removeprefix("!")):
                report.error(
                    f"cluster.etcd.{key}[{index}]",
                    f"etcd {what} subnet is not valid: {goq(as_text(cidr))}",
                )


def _install_rules(install: Any, report: Report) -> None:
    if not isinstance(install, Mapping):
        report.error("machine.install", 'install instructions are required in "metal" mode')
        return
    selector = install.get("diskSelector")
    has_matcher = isinstance(selector, Mapping)
    if has_matcher and as_text(value_at(selector, "name")):
        report.error(
            "machine.install.diskSelector.name",
            "install disk selector is invalid: selector on name is not supported",
        )
        has_matcher = False
    kind = as_text(value_at(selector, "type"))
    if has_matcher and kind and kind not in ("nvme", "sd", "hdd", "ssd"):
        report.error(
            "machine.install.diskSelector.type",
            f"install disk selector is invalid: unsupported disk type {goq(kind)}",
        )
        has_matcher = False
    if not as_text(install.get("disk")) and not has_matcher:
        report.error("machine.install", "either install disk or diskSelector should be defined")
    if as_list(install.get("extraKernelArgs")) and as_flag(install.get("grubUseUKICmdline")):
        report.error(
            "machine.install.extraKernelArgs",
            "install.extraKernelArgs and install.grubUseUKICmdline can't be used together",
        )


def _role_rules(cfg: Mapping[Any, Any], machine_type: str, report: Report) -> None:
    ca, accepted = value_at(cfg, "machine", "ca"), as_list(value_at(cfg, "machine", "acceptedCAs"))
    if ca is None and not accepted:
        report.error(
            "machine.ca",
            "issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)",
        )
    if machine_type in ("controlplane", "init"):
        cni = value_at(cfg, "cluster", "network", "cni")
        _cni_rules(cni if cni is not None else {"name": "flannel"}, report)
        if ca is None:
            report.error("machine.ca", "issuing CA is required (.machine.ca)")
        elif not is_set(value_at(ca, "key")):
            report.error(
                "machine.ca.key",
                "issuing CA key is required for controlplane nodes (.machine.ca.key)",
            )
    elif machine_type in ("worker", "join", ""):
        for path in vip_paths(value_at(cfg, "machine", "network", "interfaces")):
            report.error(path, "virtual (shared) IP is not allowed on non-controlplane nodes")
        if ca is not None and is_set(value_at(ca, "key")):
            report.error(
                "machine.ca",
                "issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)",
            )
        if ca is not None and not is_set(value_at(ca, "crt")) and not accepted:
            report.error(
                "machine.ca",
                "trusted CA certificates are required on non-controlplane "
                "nodes (.machine.ca.crt, .machine.acceptedCAs)",
            )
        if is_set(value_at(cfg, "cluster", "ca", "key")):
            report.error(
                "cluster.ca",
                "issuing Kubernetes API CA key is not allowed on "
                "non-controlplane nodes (.cluster.ca)",
            )
    else:
        report.error("machine.type", f"unknown machine type {goq(machine_type)}")


def _cni_rules(cni: Any, report: Report) -> None:
    name, urls = as_text(value_at(cni, "name")), as_list(value_at(cni, "urls"))
    flannel_args = as_list(value_at(cni, "flannel", "extraArgs"))
    where = "cluster.network.cni"
    if name not in ("flannel", "custom", "none"):
        report.error(f"{where}.name", 'cni name should be one of ["flannel", "custom", "none"]')
        return
    if name != "custom" and urls:
        report.error(f"{where}.urls", f'"urls" field should be empty for {goq(name)} CNI')
    if name != "flannel" and flannel_args:
        report.error(
            f"{where}.flannel.extraArgs",
            f'"flanneldExtraArgs" field should be empty for {goq(name)} CNI',
        )
    if name == "custom" and not urls:
        report.warn(f"{where}.urls", '"urls" field should not be empty for "custom" CNI')
    for index, url in enumerate(urls if name == "custom" else ()):
        parsed = parse_url(as_text(url))
        failure = parsed if isinstance(parsed, str) else endpoint_error(parsed)
        if failure:
            report.error(f"{where}.urls[{index}]", failure)


def _disk_rules(disks: Any, report: Report) -> None:
    for index, disk in enumerate(as_list(disks)):
        if disk is None:
            report.error(f"machine.disks[{index}]", f"machine.disks[{index}] is null")
            continue
        partitions = as_list(value_at(disk, "partitions"))
        for p, partition in enumerate(partitions[:-1]):
            if size_is_zero(value_at(partition, "size")):
                report.error(
                    f"machine.disks[{index}].partitions[{p}].size",
                    f"partition for disk {goq(as_text(value_at(disk, 'device')))} is set to "
                    "occupy full disk, but it's not the last partition in the list",
                )


def _kubelet_rules(kubelet: Any, report: Report) -> None:
    for index, cidr in enumerate(as_list(value_at(kubelet, "nodeIP", "validSubnets"))):
        if not is_subnet_or_address(as_text(cidr).removeprefix("!")):
            report.error(
                f"machine.kubelet.nodeIP.validSubnets[{index}]",
                f"kubelet nodeIP subnet is not valid: {goq(as_text(cidr))}",
            )
    extra = value_at(kubelet, "extraConfig")
    for name in _PROTECTED_KUBELET_FIELDS if isinstance(extra, Mapping) else ():
        if name in extra:
            report.error(
                f"machine.kubelet.extraConfig.{name}",
                f"kubelet configuration field {goq(name)} can't be overridden",
            )
    for index, mount in enumerate(as_list(value_at(kubelet, "extraMounts"))):
        options = [as_text(o) for o in as_list(value_at(mount, "options"))]
        if "bind" not in options and "rbind" not in options:
            report.warn(
                f"machine.kubelet.extraMounts[{index}].options",
                "either bind or rbind is required in the options, says the Talos field "
                "doc (this suite)",
            )


def _legacy_encryption_rules(encryption: Any, report: Report) -> None:
    for key, label in (("ephemeral", "EPHEMERAL"), ("state", "STATE")):
        config = value_at(encryption, key)
        if config is None:
            continue
        where, keys = f"machine.systemDiskEncryption.{key}", as_list(value_at(config, "keys"))
        if not keys:
            report.error(f"{where}.keys", f'partition "{label}": no encryption keys provided')
        used: set[int] = set()
        for index, item in enumerate(keys):
            slot = key_slot(item)
            if slot in used:
                report.error(
                    f"{where}.keys[{index}].slot",
                    f'partition "{label}": encryption key slot {slot} is already in use',
                )
            used.add(slot)
            if not has_key_type(item):
                report.error(
                    f"{where}.keys[{index}]",
                    f'partition "{label}": encryption key at '
                    f"slot {slot} doesn't have the configuration parameters",
                )


def _extension_rules(extensions: Any, report: Report) -> None:
    images: set[str] = set()
    for index, extension in enumerate(as_list(extensions)):
        image = as_text(value_at(extension, "image"))
        if image in images:
            report.error(
                f"machine.install.extensions[{index}]", f"duplicate system extension {goq(image)}"
            )
        images.add(image)
    if images:
        report.warn(
            "machine.install.extensions",
            f"{_EXTENSIONS_WARNING} -- it has no effect: "
            "extensions come from the installer image's schematic (this suite)",
        )
