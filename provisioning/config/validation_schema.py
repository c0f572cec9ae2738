"""What Talos's config loader accepts before any validation: document kinds, keys, value types.

Talos decodes every document strictly (``configloader/internal/decoder`` and
``siderolabs/gen`` xyaml) and refuses unknown kinds, unknown keys, duplicates,
conflicting documents (``config/container``) and values of the wrong type before
any ``Validate()`` runs.  This module holds the key/type tables, read from the
yaml tags of the Go structs at v1.12.5, and the loader that applies them.
:class:`Report`, which collects the problems of every stage, and :class:`Doc`,
a decoded document with the id Talos prefixes its errors with, live here too
because decoding is where both are first made; the rule modules take them from
here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from provisioning.config.govalues import YAML11_FALSE, YAML11_TRUE, as_text, goq, yaml_tag
from provisioning.definition.problems import Problem, Severity


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
# fmt: on
_CONFLICTING_KINDS = {"Layer2VIPConfig": "HCloudVIPConfig", "HCloudVIPConfig": "Layer2VIPConfig"}


@dataclass
class Report:
    """The problems found so far in one config, every one naming it as *display*."""

    display: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.display, where, message))

    def warn(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.display, where, message, severity=Severity.WARNING))


@dataclass(frozen=True)
class Doc:
    """A decoded non-v1alpha1 document and the id Talos prefixes its errors with."""

    kind: str
    name: str
    value: Mapping[Any, Any]

    @property
    def ident(self) -> str:
        return (
            f"{self.kind}/{self.name}" if "name" in _DOC_SCHEMAS.get(self.kind, {}) else self.kind
        )


@dataclass
class Decoded:
    """What the loader made of the documents; an undecodable v1alpha1 doc still counts."""

    v1alpha1: Mapping[Any, Any] | None = None
    has_v1alpha1: bool = False
    docs: list[Doc] = field(default_factory=list)


def decode(documents: Sequence[Any], report: Report) -> Decoded:
    """Load *documents* as Talos's decoder does, reporting what it would refuse."""
    decoded = Decoded()
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
        doc = Doc(kind, name, value)
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
            kind = as_text(item)
        elif key == "apiVersion":
            version = as_text(item)
        elif key in ("machine", "cluster", "debug", "persist"):
            version = "v1alpha1"
    return version, kind, as_text(value.get("name"))


def _kind_error(version: str, kind: str) -> str:
    if not kind:
        return "" if version == "v1alpha1" else "missing kind"
    if kind in KINDS and version == "v1alpha1":
        return ""
    return f"{goq(kind)} {goq(version)}: not registered"


def _conflicting(doc: Doc, ids: set[str]) -> str:
    other = _CONFLICTING_KINDS.get(doc.kind)
    if other and f"{other}/{doc.name}" in ids:
        return f"conflicting documents: {other}/{doc.name} and {doc.kind}/{doc.name}"
    return ""


def _shape(value: Any, node: _Node, where: str, report: Report) -> bool:
    """Report unknown keys and undecodable values below *value*; True if it decodes."""
    before = len(report.problems)
    _walk(value, node, where.rstrip("."), report)
    return len(report.problems) == before


def _walk(value: Any, node: _Node, where: str, report: Report) -> None:
    if value is None or (node in ("any", "str") and not isinstance(value, Mapping | list)):
        return
    if isinstance(node, Mapping):
        if not isinstance(value, Mapping):
            report.error(where, f"cannot unmarshal !!{yaml_tag(value)} into struct")
            return
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in node:
                report.error(path, "unknown keys found during decoding")
            else:
                _walk(item, node[key], path, report)
    elif isinstance(node, _Each):
        if not isinstance(value, list):
            report.error(where, f"cannot unmarshal !!{yaml_tag(value)} into slice")
            return
        for index, item in enumerate(value):
            _walk(item, node.item, f"{where}[{index}]", report)
    elif node == "bool" and not (isinstance(value, bool) or value in YAML11_TRUE + YAML11_FALSE):
        report.error(where, f"cannot unmarshal !!{yaml_tag(value)} into bool")
    elif node == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        report.error(where, f"cannot unmarshal !!{yaml_tag(value)} into int")
    elif node == "map" and not isinstance(value, Mapping):
        report.error(where, f"cannot unmarshal !!{yaml_tag(value)} into map")
    elif node == "list" and not (
        isinstance(value, list) and all(not isinstance(i, Mapping | list) for i in value)
    ):
        report.error(where, f"cannot unmarshal !!{yaml_tag(value)} into []string")
    elif node == "str":
        report.error(where, f"cannot unmarshal !!{yaml_tag(value)} into string")
