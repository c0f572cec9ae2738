"""Validating a rendered machine config the way Talos v1.12.5 does, offline.

A node must never receive a config that ``talosctl validate -m metal`` or
``apply-config`` would refuse, and the operator should learn that before
touching a node -- in Talos's own words, so a message can be looked up
upstream.  This module re-implements the rules that matter for the reference
cluster, read from the Talos source at tag v1.12.5:

* ``configloader/internal/decoder/decoder.go`` and ``siderolabs/gen`` xyaml
  (document identity, unknown kinds, unknown keys, duplicates),
* ``config/container/container.go`` (conflicting documents, the ``Kind`` /
  ``Kind/name`` prefix of per-document errors, cross-document conflicts),
* ``types/v1alpha1/v1alpha1_validation.go``, ``types/network/hostname.go``,
  ``types/network/layer2_vip.go``, ``types/block/volume_config.go`` and
  ``types/block/encryption.go``.

Every finding is a :class:`~provisioning.problems.Problem`: ``field`` is the
config path (``machine.network.interfaces[0].vip``) or the document id Talos
prints (``HostnameConfig``, ``VolumeConfig/STATE``); ``message`` is Talos's
text without its multierror framing and YAML line numbers (plain values have
none).  Talos's warnings and the deprecations the project chose to flag are
:attr:`~provisioning.problems.Severity.WARNING`; warnings worded by this suite
rather than Talos end with ``(this suite)``.

As in Talos, a document that does not decode (unknown key, wrong value type,
unknown enum value) is not validated further; unlike Talos, the other
documents still are, so one run shows every broken document.

Not modelled, because each needs machinery Talos has and we do not: CEL disk
selectors, disk-size matchers, bond/bridge/wireguard options, and the rules of
document kinds other than HostnameConfig, VolumeConfig and Layer2VIPConfig
(their keys are not checked either).  Values that can be secrets (CA keys,
tokens, passphrases) are only tested for presence; no message contains one.

Layout: schema tables (which keys and value kinds decode), the loader, the
v1alpha1 rules, the rules of the other documents, then readers that turn any
value into Go's zero value instead of raising -- arbitrary input must yield
problems, never a traceback.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from provisioning.problems import Problem, Severity
from provisioning.yamlfiles import field_path

MODES = ("metal", "cloud", "container")


@dataclass(frozen=True)
class _Each:
    """A list whose items all follow *item* (Go ``[]Struct``)."""

    item: _Node


# A schema node: a struct (known keys), a list of structs, or a leaf kind:
# "str" (any scalar: Go's decoder stringifies), "bool", "int", "list" (of
# scalars), "map" (free-form), "any" (not checked).
_Node: TypeAlias = "Mapping[str, _Node] | _Each | str"


_Schema: TypeAlias = Mapping[str, "_Node"]


def _keys(kind: str, *names: str) -> dict[str, _Node]:
    """Several keys of the same leaf kind (keeps the tables below readable)."""
    return dict.fromkeys(names, kind)


# Key names are the yaml tags of the Go structs in v1alpha1_types.go, network/*.go and
# block/*.go at v1.12.5; "any"/"map" marks sections this module does not look into.
# fmt: off
_ROUTE: _Schema = {**_keys("str", "network", "gateway", "source"), "metric": "int", "mtu": "int"}
_VIP: _Schema = {"ip": "str", "equinixMetal": "map", "hcloud": "map"}
_VLAN: _Schema = {
    "addresses": "list", "cidr": "str", "routes": _Each(_ROUTE), "dhcp": "bool",
    "vlanId": "int", "mtu": "int", "vip": _VIP, "dhcpOptions": "map",
}
_DEVICE: _Schema = {
    **_keys("map", "bond", "bridge", "bridgePort", "dhcpOptions", "wireguard"),
    **_keys("bool", "dhcp", "ignore", "dummy"),
    "interface": "str", "addresses": "list", "cidr": "str", "mtu": "int", "vip": _VIP,
    "deviceSelector": {
        **_keys("str", "busPath", "hardwareAddr", "permanentAddr", "pciID", "driver"),
        "physical": "bool",
    },
    "routes": _Each(_ROUTE), "vlans": _Each(_VLAN),
}
_KEY_TYPES: _Schema = _keys("map", "static", "nodeID", "kms", "tpm")
_CERT: _Schema = _keys("str", "crt", "key")
_LEGACY_ENCRYPTION: _Schema = {
    "provider": "str", "keys": _Each({"slot": "int", **_KEY_TYPES}), "cipher": "str",
    "keySize": "int", "blockSize": "int", "options": "list",
}
_MACHINE: _Schema = {
    **_keys("any", "token", "acceptedCAs", "controlPlane", "pods", "files", "env", "time",
            "sysctls", "sysfs", "registries", "udev", "logging", "kernel", "seccompProfiles",
            "baseRuntimeSpecOverrides", "nodeLabels", "nodeAnnotations", "nodeTaints"),
    "type": "str", "certSANs": "list", "ca": _CERT,
    "kubelet": {
        **_keys("bool", "defaultRuntimeSeccompProfileEnabled", "registerWithFQDN",
                "skipNodeRegistration", "disableManifestsDirectory"),
        **_keys("map", "extraArgs", "extraConfig", "credentialProviderConfig"),
        "image": "str", "clusterDNS": "list", "nodeIP": {"validSubnets": "list"},
        "extraMounts": _Each({**_keys("str", "destination", "type", "source"),
                              "options": "list", "uidMappings": "any", "gidMappings": "any"}),
    },
    "network": {
        "hostname": "str", "interfaces": _Each(_DEVICE), "nameservers": "list",
        "searchDomains": "list", "extraHostEntries": "any", "kubespan": "any",
        "disableSearchDomain": "bool",
    },
    "disks": _Each({"device": "str", "partitions": _Each({"size": "str", "mountpoint": "str"})}),
    "install": {
        **_keys("bool", "bootloader", "wipe", "legacyBIOSSupport", "grubUseUKICmdline"),
        "disk": "str", "image": "str", "extraKernelArgs": "list",
        "extensions": _Each({"image": "str"}),
        "diskSelector": _keys("str", "size", "name", "model", "serial", "modalias", "uuid",
                              "wwid", "type", "busPath"),
    },
    "systemDiskEncryption": {"state": _LEGACY_ENCRYPTION, "ephemeral": _LEGACY_ENCRYPTION},
    "features": {
        **_keys("bool", "rbac", "stableHostname", "apidCheckExtKeyUsage", "diskQuotaSupport"),
        **_keys("map", "kubernetesTalosAPIAccess", "kubePrism", "hostDNS", "imageCache"),
        "nodeAddressSortAlgorithm": "str",
    },
}
_CLUSTER: _Schema = {
    **_keys("any", "id", "secret", "clusterName", "token", "aescbcEncryptionSecret",
            "secretboxEncryptionSecret", "acceptedCAs", "aggregatorCA", "serviceAccount",
            "apiServer", "controllerManager", "scheduler", "discovery", "coreDNS",
            "externalCloudProvider", "extraManifests", "extraManifestHeaders", "inlineManifests",
            "adminKubeconfig"),
    "controlPlane": {"endpoint": "str", "localAPIServerPort": "int"}, "ca": _CERT,
    "network": {
        "cni": {"name": "str", "urls": "list", "flannel": {"extraArgs": "list"}},
        "dnsDomain": "str", "podSubnets": "list", "serviceSubnets": "list",
    },
    "proxy": {"disabled": "bool", "image": "str", "mode": "str", "extraArgs": "map"},
    "etcd": {"image": "str", "ca": _CERT, "extraArgs": "map", "subnet": "str",
             "advertisedSubnets": "list", "listenSubnets": "list"},
    **_keys("bool", "allowSchedulingOnMasters", "allowSchedulingOnControlPlanes"),
}
_V1ALPHA1: _Schema = {
    "version": "str", "debug": "bool", "persist": "bool", "machine": _MACHINE, "cluster": _CLUSTER,
}
_ENCRYPTION: _Schema = {
    **_LEGACY_ENCRYPTION,
    "keys": _Each({"slot": "int", **_KEY_TYPES, "lockToState": "bool",
                   "tpm": {"options": {"pcrs": "list"}, "checkSecurebootStatusOnEnroll": "bool"}}),
}
_DOC_SCHEMAS: Mapping[str, _Schema] = {
    "HostnameConfig": _keys("str", "apiVersion", "kind", "auto", "hostname"),
    "Layer2VIPConfig": _keys("str", "apiVersion", "kind", "name", "link"),
    "VolumeConfig": {
        **_keys("str", "apiVersion", "kind", "name"), "encryption": _ENCRYPTION,
        "provisioning": {"diskSelector": {"match": "str"}, "grow": "bool",
                         "minSize": "str", "maxSize": "str"},
    },
}
# `git grep registry.Register` over pkg/machinery/config/types at v1.12.5.
KINDS = frozenset((
    "BondConfig", "BridgeConfig", "DHCPv4Config", "DHCPv6Config", "DummyLinkConfig",
    "EthernetConfig", "EventSinkConfig", "ExistingVolumeConfig", "ExtensionServiceConfig",
    "HCloudVIPConfig", "HostnameConfig", "KmsgLogConfig", "KubeSpanEndpointsConfig",
    "Layer2VIPConfig", "LinkAliasConfig", "LinkConfig", "NetworkDefaultActionConfig",
    "NetworkRuleConfig", "OOMConfig", "PCIDriverRebindConfig", "RawVolumeConfig",
    "RegistryAuthConfig", "RegistryMirrorConfig", "RegistryTLSConfig", "ResolverConfig",
    "SideroLinkConfig", "StaticHostConfig", "SwapVolumeConfig", "TimeSyncConfig",
    "TrustedRootsConfig", "UserVolumeConfig", "VLANConfig", "VolumeConfig", "WatchdogTimerConfig",
    "WireguardConfig", "ZswapConfig",
))
_PROTECTED_KUBELET_FIELDS = (
    "apiVersion", "authentication", "authorization", "cgroupRoot", "kind", "kubeletCgroups",
    "port", "protectKernelDefaults", "resolvConf", "rotateCertificates", "systemCgroups",
    "staticPodPath", "seccompDefault",
)
_YAML11_TRUE = ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")
_YAML11_FALSE = ("n", "N", "no", "No", "NO", "off", "Off", "OFF")
# fmt: on
_CONFLICTING_KINDS = {"Layer2VIPConfig": "HCloudVIPConfig", "HCloudVIPConfig": "Layer2VIPConfig"}
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
_MISSING_SECTION = "required either config section to be set"
_EXCLUSIVE = "config sections are mutually exclusive"


@dataclass
class _Report:
    display: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.display, where, message))

    def warn(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.display, where, message, severity=Severity.WARNING))


@dataclass(frozen=True)
class _Doc:
    """A decoded non-v1alpha1 document and the id Talos prefixes its errors with."""

    kind: str
    name: str
    value: Mapping[Any, Any]

    @property
    def ident(self) -> str:
        return (
            f"{self.kind}/{self.name}" if "name" in _DOC_SCHEMAS.get(self.kind, {}) else self.kind
        )


def validate_config(
    documents: Sequence[Mapping[str, Any]], display: str, mode: str = "metal"
) -> list[Problem]:
    """Everything Talos v1.12.5 would reject or warn about in *documents*.

    :param documents: the machine config, one plain value per YAML document.
    :param display: names the config in every problem (``Problem.file``).
    :param mode: ``talosctl validate --mode``: ``metal`` requires install
        instructions, ``container`` requires host DNS forwarding.
    :raises ValueError: for an unknown *mode* (a programming error).
    """
    if mode not in MODES:
        raise ValueError(f"unknown validation mode {mode!r}; expected one of {MODES}")
    report = _Report(display)
    decoded = _decode(documents, report)
    v1alpha1 = decoded.v1alpha1
    if not decoded.has_v1alpha1:
        report.error(
            "",
            "the applied machine configuration doesn't contain v1alpha1 config, "
            "did you mean to patch the machine config instead?",
        )
    elif v1alpha1 is not None:
        _validate_v1alpha1(v1alpha1, mode, report)
    for doc in decoded.docs:
        _DOC_RULES.get(doc.kind, _no_rules)(doc, v1alpha1, report)
    return report.problems


# --- decoding: what the loader refuses before any validation -----------------------------------


@dataclass
class _Decoded:
    """What the loader made of the documents; an undecodable v1alpha1 doc still counts."""

    v1alpha1: Mapping[Any, Any] | None = None
    has_v1alpha1: bool = False
    docs: list[_Doc] = field(default_factory=list)


def _decode(documents: Sequence[Any], report: _Report) -> _Decoded:
    decoded = _Decoded()
    seen: set[tuple[str, str, str]] = set()
    ids: set[str] = set()
    for index, value in enumerate(documents if isinstance(documents, Sequence) else ()):
        where = f"documents[{index}]"
        if value is None:  # Talos skips null documents
            continue
        if not isinstance(value, Mapping):
            report.error(where, "expected a YAML document")
            continue
        version, kind, name = _identity(value)
        key = (version, kind or "v1alpha1", name)
        if key in seen:
            report.error(where, f"duplicate document {'/'.join(key)} is not allowed")
            continue
        seen.add(key)
        failure = _kind_error(version, kind)
        if failure:
            report.error(where, f"error decoding document {'/'.join(key)}: {failure}")
            continue
        if not kind:
            if decoded.has_v1alpha1:  # container.New, after the decoder's own duplicate check
                report.error(where, "duplicate v1alpha1.Config")
            elif _shape(value, _V1ALPHA1, "", report):
                decoded.v1alpha1 = value
            decoded.has_v1alpha1 = True
            continue
        doc = _Doc(kind, name, value)
        if kind in _DOC_SCHEMAS and not _shape(value, _DOC_SCHEMAS[kind], doc.ident + ".", report):
            continue
        if conflict := _conflicting(doc, ids):
            report.error(where, conflict)
        ids.add(f"{kind}/{name}")
        decoded.docs.append(doc)
    return decoded


def _identity(value: Mapping[Any, Any]) -> tuple[str, str, str]:
    """(apiVersion, kind, name) as the decoder reads them, key order included."""
    version = kind = ""
    for key, item in value.items():
        if key == "kind":
            kind = _text(item)
        elif key == "apiVersion":
            version = _text(item)
        elif key in ("machine", "cluster", "debug", "persist"):
            version = "v1alpha1"
    return version, kind, _text(value.get("name"))


def _kind_error(version: str, kind: str) -> str:
    if not kind:
        return "" if version == "v1alpha1" else "missing kind"
    if kind in KINDS and version == "v1alpha1":
        return ""
    return f"{_goq(kind)} {_goq(version)}: not registered"


def _conflicting(doc: _Doc, ids: set[str]) -> str:
    other = _CONFLICTING_KINDS.get(doc.kind)
    if other and f"{other}/{doc.name}" in ids:
        return f"conflicting documents: {other}/{doc.name} and {doc.kind}/{doc.name}"
    return ""


def _shape(value: Any, node: _Node, where: str, report: _Report) -> bool:
    """Report unknown keys and undecodable values below *value*; True if it decodes."""
    before = len(report.problems)
    _walk(value, node, where.rstrip("."), report)
    return len(report.problems) == before


def _walk(value: Any, node: _Node, where: str, report: _Report) -> None:
    if value is None or (node in ("any", "str") and not isinstance(value, Mapping | list)):
        return
    if isinstance(node, Mapping):
        if not isinstance(value, Mapping):
            report.error(where, f"cannot unmarshal !!{_tag(value)} into struct")
            return
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in node:
                report.error(path, "unknown keys found during decoding")
            else:
                _walk(item, node[key], path, report)
    elif isinstance(node, _Each):
        if not isinstance(value, list):
            report.error(where, f"cannot unmarshal !!{_tag(value)} into slice")
            return
        for index, item in enumerate(value):
            _walk(item, node.item, f"{where}[{index}]", report)
    elif node == "bool" and not (isinstance(value, bool) or value in _YAML11_TRUE + _YAML11_FALSE):
        report.error(where, f"cannot unmarshal !!{_tag(value)} into bool")
    elif node == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        report.error(where, f"cannot unmarshal !!{_tag(value)} into int")
    elif node == "map" and not isinstance(value, Mapping):
        report.error(where, f"cannot unmarshal !!{_tag(value)} into map")
    elif node == "list" and not (
        isinstance(value, list) and all(not isinstance(i, Mapping | list) for i in value)
    ):
        report.error(where, f"cannot unmarshal !!{_tag(value)} into []string")
    elif node == "str":
        report.error(where, f"cannot unmarshal !!{_tag(value)} into string")


# --- the v1alpha1 document (v1alpha1_validation.go, Config.Validate) ---------------------------


def _validate_v1alpha1(cfg: Mapping[Any, Any], mode: str, report: _Report) -> None:
    machine = cfg.get("machine")
    if not isinstance(machine, Mapping):
        report.error("machine", "machine instructions are required")
        return
    machine_type = _text(machine.get("type"))
    is_cp = machine_type in ("controlplane", "init")
    _cluster_rules(cfg.get("cluster"), is_cp, report)
    if mode == "metal":
        _install_rules(machine.get("install"), report)
    if mode == "container":
        host_dns = _at(machine, "features", "hostDNS")
        if not _flag(_at(host_dns, "enabled")):
            report.error(
                "machine.features.hostDNS.enabled",
                "feature HostDNS should be enabled "
                "in container mode (.machine.features.hostDNS.enabled)",
            )
        if not _flag(_at(host_dns, "forwardKubeDNSToHost")):
            report.error(
                "machine.features.hostDNS.forwardKubeDNSToHost",
                "feature HostDNS should "
                "forward kube-dns to host in container mode "
                "(.machine.features.hostDNS.forwardKubeDNSToHost)",
            )
    if machine_type in ("", "join"):
        report.warn(
            "machine.type", f'use "worker" instead of {_goq(machine_type)} for machine type'
        )
    _role_rules(cfg, machine_type, report)
    _network_rules(_at(machine, "network", "interfaces"), report)
    _disk_rules(machine.get("disks"), report)
    _kubelet_rules(machine.get("kubelet"), report)
    _legacy_encryption_rules(machine.get("systemDiskEncryption"), report)
    _extension_rules(_at(machine, "install", "extensions"), report)
    if cfg.get("persist") is False or cfg.get("persist") in _YAML11_FALSE:
        report.error("persist", ".persist should be enabled")
    for path, replacement in _DEPRECATED:
        if _is_set(_at(cfg, *path)):
            report.warn(
                field_path(path),
                f"marked deprecated in Talos v1.12, use {replacement} instead; "
                "still honoured (this suite)",
            )


def _cluster_rules(cluster: Any, is_cp: bool, report: _Report) -> None:
    if not isinstance(cluster, Mapping):
        report.error("cluster", "cluster instructions are required")
        return
    endpoint = _at(cluster, "controlPlane", "endpoint")
    if endpoint is None:
        report.error("cluster.controlPlane.endpoint", "cluster controlplane endpoint is required")
        return
    parsed = _go_url(_text(endpoint))
    if isinstance(parsed, str):
        report.error("cluster.controlPlane.endpoint", parsed)
    elif failure := _endpoint_error(parsed):
        report.error("cluster.controlPlane.endpoint", f"invalid controlplane endpoint: {failure}")
    elif parsed.scheme != "https":
        report.warn(
            "cluster.controlPlane.endpoint",
            f"scheme is {_goq(parsed.scheme)}, but the "
            "Kubernetes API server only serves https (this suite)",
        )
    domain = _text(_at(cluster, "network", "dnsDomain"))
    if domain and not (_DNS_NAME.match(domain) and len(domain) - domain.count(".") <= 255):
        report.error("cluster.network.dnsDomain", f"{_goq(domain)} is not a valid DNS name")
    etcd = cluster.get("etcd")
    if etcd is not None and not is_cp:
        report.error("cluster.etcd", "etcd config is only allowed on control plane machines")
    elif isinstance(etcd, Mapping):
        _etcd_rules(etcd, report)
    if not is_cp and _is_set(_at(cluster, "ca", "key")):
        report.error(
            "cluster.ca", "cluster CA key is not allowed on non-controlplane nodes (.cluster.ca)"
        )
    discovery = cluster.get("discovery")
    if _flag(_at(discovery, "enabled")) and not _flag(
        _at(discovery, "registries", "service", "disabled")
    ):
        for key in ("id", "secret"):
            if not _text(cluster.get(key)):
                report.error(f"cluster.{key}", f"cluster discovery service requires .cluster.{key}")


def _etcd_rules(etcd: Mapping[Any, Any], report: _Report) -> None:
    if etcd.get("ca") is None:
        report.error("cluster.etcd.ca", "key/cert combination should not be empty")
    if _text(etcd.get("subnet")) and _items(etcd.get("advertisedSubnets")):
        report.error(
            "cluster.etcd.subnet", "etcd subnet can't be set when advertised subnets are set"
        )
    for key, what in (("advertisedSubnets", "advertised"), ("listenSubnets", "listen")):
        for index, cidr in enumerate(_items(etcd.get(key))):
            if not _is_subnet_or_address(_text(cidr).removeprefix("!")):
                report.error(
                    f"cluster.etcd.{key}[{index}]",
                    f"etcd {what} subnet is not valid: {_goq(_text(cidr))}",
                )


def _install_rules(install: Any, report: _Report) -> None:
    if not isinstance(install, Mapping):
        report.error("machine.install", 'install instructions are required in "metal" mode')
        return
    selector = install.get("diskSelector")
    has_matcher = isinstance(selector, Mapping)
    if has_matcher and _text(_at(selector, "name")):
        report.error(
            "machine.install.diskSelector.name",
            "install disk selector is invalid: selector on name is not supported",
        )
        has_matcher = False
    kind = _text(_at(selector, "type"))
    if has_matcher and kind and kind not in ("nvme", "sd", "hdd", "ssd"):
        report.error(
            "machine.install.diskSelector.type",
            f"install disk selector is invalid: unsupported disk type {_goq(kind)}",
        )
        has_matcher = False
    if not _text(install.get("disk")) and not has_matcher:
        report.error("machine.install", "either install disk or diskSelector should be defined")
    if _items(install.get("extraKernelArgs")) and _flag(install.get("grubUseUKICmdline")):
        report.error(
            "machine.install.extraKernelArgs",
            "install.extraKernelArgs and install.grubUseUKICmdline can't be used together",
        )


def _role_rules(cfg: Mapping[Any, Any], machine_type: str, report: _Report) -> None:
    ca, accepted = _at(cfg, "machine", "ca"), _items(_at(cfg, "machine", "acceptedCAs"))
    if ca is None and not accepted:
        report.error(
            "machine.ca",
            "issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)",
        )
    if machine_type in ("controlplane", "init"):
        cni = _at(cfg, "cluster", "network", "cni")
        _cni_rules(cni if cni is not None else {"name": "flannel"}, report)
        if ca is None:
            report.error("machine.ca", "issuing CA is required (.machine.ca)")
        elif not _is_set(_at(ca, "key")):
            report.error(
                "machine.ca.key",
                "issuing CA key is required for controlplane nodes (.machine.ca.key)",
            )
    elif machine_type in ("worker", "join", ""):
        for path in _vip_paths(_at(cfg, "machine", "network", "interfaces")):
            report.error(path, "virtual (shared) IP is not allowed on non-controlplane nodes")
        if ca is not None and _is_set(_at(ca, "key")):
            report.error(
                "machine.ca",
                "issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)",
            )
        if ca is not None and not _is_set(_at(ca, "crt")) and not accepted:
            report.error(
                "machine.ca",
                "trusted CA certificates are required on non-controlplane "
                "nodes (.machine.ca.crt, .machine.acceptedCAs)",
            )
        if _is_set(_at(cfg, "cluster", "ca", "key")):
            report.error(
                "cluster.ca",
                "issuing Kubernetes API CA key is not allowed on "
                "non-controlplane nodes (.cluster.ca)",
            )
    else:
        report.error("machine.type", f"unknown machine type {_goq(machine_type)}")


def _vip_paths(interfaces: Any) -> list[str]:
    paths = []
    for index, device in enumerate(_items(interfaces)):
        base = f"machine.network.interfaces[{index}]"
        if _at(device, "vip") is not None:
            paths.append(f"{base}.vip")
        for v, vlan in enumerate(_items(_at(device, "vlans"))):
            if _at(vlan, "vip") is not None:
                paths.append(f"{base}.vlans[{v}].vip")
    return paths


def _cni_rules(cni: Any, report: _Report) -> None:
    name, urls = _text(_at(cni, "name")), _items(_at(cni, "urls"))
    flannel_args = _items(_at(cni, "flannel", "extraArgs"))
    where = "cluster.network.cni"
    if name not in ("flannel", "custom", "none"):
        report.error(f"{where}.name", 'cni name should be one of ["flannel", "custom", "none"]')
        return
    if name != "custom" and urls:
        report.error(f"{where}.urls", f'"urls" field should be empty for {_goq(name)} CNI')
    if name != "flannel" and flannel_args:
        report.error(
            f"{where}.flannel.extraArgs",
            f'"flanneldExtraArgs" field should be empty for {_goq(name)} CNI',
        )
    if name == "custom" and not urls:
        report.warn(f"{where}.urls", '"urls" field should not be empty for "custom" CNI')
    for index, url in enumerate(urls if name == "custom" else ()):
        parsed = _go_url(_text(url))
        failure = parsed if isinstance(parsed, str) else _endpoint_error(parsed)
        if failure:
            report.error(f"{where}.urls[{index}]", failure)


def _network_rules(interfaces: Any, report: _Report) -> None:
    for index, device in enumerate(_items(interfaces)):
        if not isinstance(device, Mapping) or _flag(device.get("ignore")):
            continue
        where, name = f"machine.network.interfaces[{index}]", _text(device.get("interface"))
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
        addresses, cidr = _items(device.get("addresses")), _text(device.get("cidr"))
        if addresses and cidr:
            report.error(
                where,
                f"[networking.os.device] {_goq(name)}: interface can't have both "
                ".cidr and .addresses set",
            )
        if cidr:
            report.warn(
                f"{where}.cidr",
                f"{_goq(name)}: machine.network.interface.cidr is "
                "deprecated, please use machine.network.interface.addresses",
            )
        checks = [("cidr", "CIDR", cidr)] if cidr else []
        checks += [(f"addresses[{i}]", "addresses", _text(a)) for i, a in enumerate(addresses)]
        for at, label, address in checks:
            if failure := _ip_or_cidr_error(address):
                report.error(
                    f"{where}.{at}", f"[networking.os.device.{label}] {_goq(name)}: {failure}"
                )
        vip = device.get("vip")
        if vip is not None and not _is_ip(_text(_at(vip, "ip"))):
            report.error(
                f"{where}.vip",
                f"[networking.os.device.vip] failed to parse "
                f"{_goq(_text(_at(vip, 'ip')))} as IP address",
            )
        for r, route in enumerate(_items(device.get("routes"))):
            _route_rules(route, f"{where}.routes[{r}]", r, report)


def _route_rules(route: Any, where: str, index: int, report: _Report) -> None:
    label = f"networking.os.device.route[{index}]"
    network, gateway = _text(_at(route, "network")), _text(_at(route, "gateway"))
    source = _text(_at(route, "source"))
    if network and _cidr_error(network):
        report.error(
            f"{where}.network", f"[{label}.network] {_goq(network)}: invalid network address"
        )
    if gateway and not _is_ip(gateway):
        report.error(
            f"{where}.gateway", f"[{label}.gateway] {_goq(gateway)}: invalid network address"
        )
    if not gateway and not network:
        report.error(where, f"[{label}]: either network or gateway should be set")
    if source and not _is_ip(source):
        report.error(f"{where}.source", f"[{label}.source] {_goq(source)}: invalid network address")


def _disk_rules(disks: Any, report: _Report) -> None:
    for index, disk in enumerate(_items(disks)):
        if disk is None:
            report.error(f"machine.disks[{index}]", f"machine.disks[{index}] is null")
            continue
        partitions = _items(_at(disk, "partitions"))
        for p, partition in enumerate(partitions[:-1]):
            if _size_is_zero(_at(partition, "size")):
                report.error(
                    f"machine.disks[{index}].partitions[{p}].size",
                    f"partition for disk {_goq(_text(_at(disk, 'device')))} is set to "
                    "occupy full disk, but it's not the last partition in the list",
                )


def _kubelet_rules(kubelet: Any, report: _Report) -> None:
    for index, cidr in enumerate(_items(_at(kubelet, "nodeIP", "validSubnets"))):
        if not _is_subnet_or_address(_text(cidr).removeprefix("!")):
            report.error(
                f"machine.kubelet.nodeIP.validSubnets[{index}]",
                f"kubelet nodeIP subnet is not valid: {_goq(_text(cidr))}",
            )
    extra = _at(kubelet, "extraConfig")
    for name in _PROTECTED_KUBELET_FIELDS if isinstance(extra, Mapping) else ():
        if name in extra:
            report.error(
                f"machine.kubelet.extraConfig.{name}",
                f"kubelet configuration field {_goq(name)} can't be overridden",
            )
    for index, mount in enumerate(_items(_at(kubelet, "extraMounts"))):
        options = [_text(o) for o in _items(_at(mount, "options"))]
        if "bind" not in options and "rbind" not in options:
            report.warn(
                f"machine.kubelet.extraMounts[{index}].options",
                "either bind or rbind is required in the options, says the Talos field "
                "doc (this suite)",
            )


def _legacy_encryption_rules(encryption: Any, report: _Report) -> None:
    for key, label in (("ephemeral", "EPHEMERAL"), ("state", "STATE")):
        config = _at(encryption, key)
        if config is None:
            continue
        where, keys = f"machine.systemDiskEncryption.{key}", _items(_at(config, "keys"))
        if not keys:
            report.error(f"{where}.keys", f'partition "{label}": no encryption keys provided')
        used: set[int] = set()
        for index, item in enumerate(keys):
            slot = _slot(item)
            if slot in used:
                report.error(
                    f"{where}.keys[{index}].slot",
                    f'partition "{label}": encryption key slot {slot} is already in use',
                )
            used.add(slot)
            if not _has_key_type(item):
                report.error(
                    f"{where}.keys[{index}]",
                    f'partition "{label}": encryption key at '
                    f"slot {slot} doesn't have the configuration parameters",
                )


def _extension_rules(extensions: Any, report: _Report) -> None:
    images: set[str] = set()
    for index, extension in enumerate(_items(extensions)):
        image = _text(_at(extension, "image"))
        if image in images:
            report.error(
                f"machine.install.extensions[{index}]", f"duplicate system extension {_goq(image)}"
            )
        images.add(image)
    if images:
        report.warn(
            "machine.install.extensions",
            f"{_EXTENSIONS_WARNING} -- it has no effect: "
            "extensions come from the installer image's schematic (this suite)",
        )


# --- other documents: Validate() prefixed by the document id, then V1Alpha1ConflictValidate ---


def _no_rules(doc: _Doc, v1alpha1: Mapping[Any, Any] | None, report: _Report) -> None:
    """Kinds whose rules are not modelled: decoding them is all that is checked."""


def _hostname_rules(doc: _Doc, v1alpha1: Mapping[Any, Any] | None, report: _Report) -> None:
    auto = _enum(doc.value.get("auto"), ("off", "talos-addr", "stable"), "off")
    if auto is None:
        kind = _text(doc.value.get("auto"))
        report.error(f"{doc.ident}.auto", f"{kind} does not belong to AutoHostnameKind values")
        return
    hostname = _text(doc.value.get("hostname"))
    if auto == "off" and not hostname:
        report.error(doc.ident, "either 'auto' or 'hostname' must be set")
    if auto != "off" and hostname:
        report.error(doc.ident, "'auto' and 'hostname' cannot be set at the same time")
    if auto == "talos-addr":
        report.error(doc.ident, "invalid value for 'auto': talos-addr")
    if hostname:
        if len(hostname) > 253:
            report.error(doc.ident, f"fqdn is too long: {len(hostname)}")
        label = hostname.partition(".")[0]
        if not 0 < len(label) <= 63:
            report.error(doc.ident, f"invalid hostname {_goq(label)}")
    if v1alpha1 is not None:
        features = _at(v1alpha1, "machine", "features")
        if _text(_at(v1alpha1, "machine", "network", "hostname")):
            report.error(doc.ident, "static hostname is already set in v1alpha1 config")
        elif isinstance(features, Mapping) and _flag(features.get("stableHostname")):
            report.error(doc.ident, "stable hostname is already set in v1alpha1 config")


def _layer2_vip_rules(doc: _Doc, v1alpha1: Mapping[Any, Any] | None, report: _Report) -> None:
    if not doc.name:
        report.error(doc.ident, "name must be specified")
    elif not _is_ip(doc.name):
        report.error(
            doc.ident,
            f"name must be a valid IP address: ParseAddr({_goq(doc.name)}): unable to parse IP",
        )
    if not _text(doc.value.get("link")):
        report.error(doc.ident, "link must be specified")
    if v1alpha1 is not None and _text(_at(v1alpha1, "machine", "type")) not in (
        "controlplane",
        "init",
    ):
        report.warn(
            doc.ident,
            "a Layer2 VIP is only operated on control-plane nodes; Talos "
            "accepts it here but it will never be announced (this suite)",
        )


def _volume_rules(doc: _Doc, v1alpha1: Mapping[Any, Any] | None, report: _Report) -> None:
    encryption = doc.value.get("encryption")
    provider = _enum(_at(encryption, "provider"), ("none", "luks2"), "none")
    if provider is None:
        kind = _text(_at(encryption, "provider"))
        report.error(
            f"{doc.ident}.encryption.provider",
            f"{kind} does not belong to EncryptionProviderType values",
        )
        return
    if doc.name not in ("STATE", "EPHEMERAL", "IMAGECACHE"):
        report.error(doc.ident, 'only ["STATE" "EPHEMERAL" "IMAGECACHE"] volumes are supported')
        return
    keys = _items(_at(encryption, "keys"))
    provisioning = doc.value.get("provisioning")
    if doc.name == "STATE":
        # ProvisioningSpec.IsZero: `grow` is a *bool, so even `grow: false` counts.
        if _at(provisioning, "grow") is not None or any(
            _is_set(_at(provisioning, *p))
            for p in (("minSize",), ("maxSize",), ("diskSelector", "match"))
        ):
            report.error(doc.ident, 'provisioning config is not allowed for the "STATE" volume')
        for key in keys:
            if _flag(_at(key, "lockToState")):
                report.error(doc.ident, 'state-locked key is not allowed for the "STATE" volume')
    low, high = _size(_at(provisioning, "minSize")), _size(_at(provisioning, "maxSize"))
    if low and high and low > high and not _text(_at(provisioning, "maxSize")).endswith("%"):
        report.error(doc.ident, "min size is greater than max size")
    if provider == "none" and not keys:
        return  # EncryptionSpec.IsZero: no encryption configured at all
    if provider != "luks2":
        report.error(doc.ident, f"unsupported encryption provider: {provider}")
    if not keys:
        report.error(doc.ident, "encryption keys are required")
    used: set[int] = set()
    for key in keys:
        slot = _slot(key)
        if slot in used:
            report.error(doc.ident, f"duplicate key slot {slot}")
        used.add(slot)
        if not _has_key_type(key):
            report.error(
                doc.ident, f"at least one encryption key type must be specified for slot {slot}"
            )
        for pcr in _items(_at(key, "tpm", "options", "pcrs")):
            if isinstance(pcr, int) and not 0 <= pcr <= 23:
                report.error(doc.ident, f"TPM PCR {pcr} is out of range (0-23)")
    legacy = _at(v1alpha1, "machine", "systemDiskEncryption", doc.name.lower())
    if provider != "none" and doc.name != "IMAGECACHE" and legacy is not None:
        report.error(
            doc.ident,
            f'system disk encryption for "{doc.name}" is configured in both '
            "v1alpha1.Config and VolumeConfig",
        )


_DOC_RULES = {
    "HostnameConfig": _hostname_rules,
    "Layer2VIPConfig": _layer2_vip_rules,
    "VolumeConfig": _volume_rules,
}


# --- value readers: Go zero values for whatever is missing or mistyped -------------------------


def _at(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str:
    """A scalar as Go's decoder turns it into a string field; "" for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else ""


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _flag(value: Any) -> bool:
    return value is True or value in _YAML11_TRUE


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value not in ("", [], {})


def _slot(key: Any) -> int:
    slot = _at(key, "slot")
    return slot if isinstance(slot, int) and not isinstance(slot, bool) else 0


def _has_key_type(key: Any) -> bool:
    """A key type is set when its section is a non-null value (Go: non-nil pointer)."""
    return any(_at(key, kind) is not None for kind in ("static", "nodeID", "kms", "tpm"))


def _enum(value: Any, names: tuple[str, ...], zero: str) -> str | None:
    """An enumer ``-text`` value: exact or lower-case name; None if it does not decode."""
    if value is None:
        return zero
    text = _text(value)
    return text if text in names else text.lower() if text.lower() in names else None


_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "ki": 2**10,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mi": 2**20,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gi": 2**30,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "ti": 2**40,
    "tib": 2**40,
}


def _size(value: Any) -> float:
    """A humanize-style byte size; 0 when absent, relative or unreadable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", _text(value))
    if not match or match[2].lower() not in _UNITS or match[1].count(".") > 1:
        return 0.0
    return float(match[1] or 0) * _UNITS[match[2].lower()]


def _size_is_zero(value: Any) -> bool:
    return value is None or (_size(value) == 0 and not re.search(r"[1-9]", _text(value)))


def _tag(value: Any) -> str:
    for kind, tag in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "seq")):
        if isinstance(value, kind):
            return tag
    return "map" if isinstance(value, Mapping) else "null" if value is None else "str"


def _goq(text: str) -> str:
    """Go's %q for the strings we quote (printable text, escaped quotes)."""
    return json.dumps(text, ensure_ascii=False)


# --- addresses, as Go's net, net/netip and net/url read them -----------------------------------


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return "%" not in text  # Go's ParseIP has no zones


def _cidr_error(text: str) -> str:
    address, slash, bits = text.partition("/")
    if slash and bits.isdigit() and _is_ip(address):
        try:
            ipaddress.ip_interface(text)
        except ValueError:
            pass
        else:
            return ""
    return f"invalid CIDR address: {text}"


def _ip_or_cidr_error(text: str) -> str:
    if "/" in text:
        return _cidr_error(text)
    return "" if _is_ip(text) else f"failed to parse IP address {_goq(text)}"


def _is_subnet_or_address(text: str) -> bool:
    return _is_ip(text) or not _cidr_error(text)


@dataclass(frozen=True)
class _URL:
    scheme: str
    host: str
    hostname: str
    port: str


def _go_url(raw: str) -> _URL | str:
    """The parts of *raw* Go's ``url.Parse`` yields, or its error text."""
    fail = f"parse {_goq(raw)}: "
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return fail + "net/url: invalid control character in URL"
    rest, scheme = raw.partition("#")[0], ""
    for index, char in enumerate(rest):
        if char.isascii() and (char.isalpha() or (index and (char.isdigit() or char in "+-."))):
            continue
        if char == ":":
            if index == 0:
                return fail + "missing protocol scheme"
            scheme, rest = rest[:index].lower(), rest[index + 1 :]
        break
    rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:
            return _URL(scheme, "", "", "")
        if ":" in rest.partition("/")[0]:
            return fail + "first path segment in URL cannot contain colon"
    if not rest.startswith("//"):
        return _URL(scheme, "", "", "")
    host = rest[2:].partition("/")[0].rpartition("@")[2]
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            return fail + "missing ']' in host"
        hostname, port = host[1:close], host[close + 1 :]
    else:
        colon = host.rfind(":")
        hostname, port = (host[:colon], host[colon:]) if colon >= 0 else (host, "")
    if port and not ((port.startswith(":") and port[1:].isdigit()) or port == ":"):
        return fail + f"invalid port {_goq(port)} after host"
    return _URL(scheme, host, hostname, port[1:])


def _endpoint_error(url: _URL) -> str:
    """siderolabs/net ``ValidateEndpointURI`` on an already parsed URL."""
    if url.host.count(":") > 2 and ("[" not in url.host or "]" not in url.host):
        return "IPv6 addresses MUST be enclosed by square brackets"
    if not url.hostname:
        return "hostname must not be blank"
    if url.port and (len(url.port) > 18 or not 1 <= int(url.port) <= 65535):
        return "port number must be between 1 and 65535"
    return ""
