"""A rendered config is judged as Talos v1.12.5 judges it: same verdicts, same words.

Every rule has a failing config and, next to it, a passing counterpart, so
each test can only pass if the rule fires exactly where it should.  The
base case is a realistic node02-style control-plane config of the reference
cluster (VIP, LUKS2 VolumeConfigs, Longhorn disk, Cilium, HostnameConfig).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.config import validation
from provisioning.definition.problems import Problem, Severity

Docs = list[dict[str, Any]]
SECRET = "c2VjcmV0LW1hcmtlci1kby1ub3QtcHJpbnQ="  # base64 of a marker; must never be printed

_NODE02: Docs = [
    {
        "version": "v1alpha1",
        "debug": False,
        "persist": True,
        "machine": {
            "type": "controlplane",
            "token": SECRET,
            "ca": {"crt": "ZmFrZS1jcnQ=", "key": SECRET},
            "certSANs": [],
            "kubelet": {
                "image": "ghcr.io/siderolabs/kubelet:v1.35.2",
                "defaultRuntimeSeccompProfileEnabled": True,
                "disableManifestsDirectory": True,
                "extraMounts": [
                    {
                        "destination": "/var/lib/longhorn",
                        "type": "bind",
                        "source": "/var/lib/longhorn",
                        "options": ["bind", "rshared", "rw"],
                    }
                ],
            },
            "network": {
                "interfaces": [
                    {
                        "interface": "eno1",
                        "dhcp": False,
                        "addresses": ["10.10.20.17/24"],
                        "routes": [{"network": "0.0.0.0/0", "gateway": "10.10.20.1"}],
                        "vip": {"ip": "10.10.20.10"},
                    }
                ],
            },
            "disks": [
                {
                    "device": "/dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_S6PTNM0T512345A",
                    "partitions": [{"mountpoint": "/var/lib/longhorn"}],
                }
            ],
            "install": {
                "disk": "/dev/disk/by-id/nvme-WD_Blue_SN580_500GB_23316F800612",
                "image": "factory.talos.dev/installer/"
                "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245:v1.12.5",
                "wipe": False,
                "grubUseUKICmdline": True,
            },
            "features": {
                "diskQuotaSupport": True,
                "kubePrism": {"enabled": True, "port": 7445},
                "hostDNS": {"enabled": True, "forwardKubeDNSToHost": True},
            },
            "nodeLabels": {"node.longhorn.io/create-default-disk": "true"},
        },
        "cluster": {
            "id": "ZmFrZS1pZA==",
            "secret": SECRET,
            "controlPlane": {"endpoint": "https://10.10.20.10:6443"},
            "clusterName": "K8S-CLUSTER",
            "network": {
                "cni": {"name": "none"},
                "dnsDomain": "cluster.local",
                "podSubnets": ["10.244.0.0/16"],
                "serviceSubnets": ["10.96.0.0/12"],
            },
            "token": SECRET,
            "secretboxEncryptionSecret": SECRET,
            "ca": {"crt": "ZmFrZS1jcnQ=", "key": SECRET},
            "apiServer": {"image": "registry.k8s.io/kube-apiserver:v1.35.2"},
            "proxy": {"disabled": True},
            "discovery": {"enabled": True, "registries": {"service": {}}},
            "etcd": {"ca": {"crt": "ZmFrZS1jcnQ=", "key": SECRET}},
            "allowSchedulingOnControlPlanes": True,
        },
    },
    {"apiVersion": "v1alpha1", "kind": "HostnameConfig", "auto": "off", "hostname": "k8s-node02"},
    {
        "apiVersion": "v1alpha1",
        "kind": "VolumeConfig",
        "name": "STATE",
        "encryption": {"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]},
    },
    {
        "apiVersion": "v1alpha1",
        "kind": "VolumeConfig",
        "name": "EPHEMERAL",
        "encryption": {"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]},
    },
]


def node02() -> Docs:
    return copy.deepcopy(_NODE02)


def worker() -> Docs:
    """node02 turned into a worker the way gen config would write one."""
    docs = node02()
    machine, cluster = docs[0]["machine"], docs[0]["cluster"]
    machine["type"] = "worker"
    machine["ca"]["key"] = ""
    del machine["network"]["interfaces"][0]["vip"]
    cluster["ca"]["key"] = ""
    del cluster["etcd"]
    return docs


def doc(docs: Docs, kind: str, name: str | None = None) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == kind and (name is None or d["name"] == name))


def run(docs: Docs, mode: str = "metal") -> list[Problem]:
    return validation.validate_config(docs, "rendered/k8s-node02.yaml", mode)


def errors(docs: Docs, mode: str = "metal") -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in run(docs, mode) if p.severity is Severity.ERROR]


def warnings(docs: Docs, mode: str = "metal") -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in run(docs, mode) if p.severity is Severity.WARNING]


def v1(docs: Docs) -> dict[str, Any]:
    return docs[0]


def setting(path: str, value: Any) -> Callable[[Docs], None]:
    """A mutation setting `machine.install.disk`-style *path* in the v1alpha1 doc."""

    def mutate(docs: Docs) -> None:
        *parents, last = path.split(".")
        target = v1(docs)
        for key in parents:
            target = target.setdefault(key, {})
        if value is _DELETE:
            target.pop(last, None)
        else:
            target[last] = value

    return mutate


_DELETE = object()


# --- the reference config -------------------------------------------------------------------


def test_realistic_controlplane_config_has_no_errors() -> None:
    assert errors(node02()) == []


def test_realistic_config_warns_only_about_deprecated_legacy_fields() -> None:
    assert sorted(f for f, _ in warnings(node02())) == [
        "machine.disks",
        "machine.network.interfaces",
    ]
    assert all("deprecated" in message for _, message in warnings(node02()))


def test_realistic_worker_config_has_no_errors() -> None:
    assert errors(worker()) == []


def test_problems_name_the_file() -> None:
    docs = node02()
    v1(docs)["machine"]["type"] = "x"
    (problem,) = [p for p in run(docs) if p.field == "machine.type"]
    assert problem.file == "rendered/k8s-node02.yaml"
    assert str(problem) == 'rendered/k8s-node02.yaml: machine.type: unknown machine type "x"'


# --- one failing config per rule, with Talos's text ---------------------------------------------

V1_CASES: list[tuple[str, Callable[[Docs], None], str, str]] = [
    ("machine-type", setting("machine.type", "x"), "machine.type", 'unknown machine type "x"'),
    ("no-machine", setting("machine", _DELETE), "machine", "machine instructions are required"),
    ("no-cluster", setting("cluster", _DELETE), "cluster", "cluster instructions are required"),
    (
        "no-endpoint",
        setting("cluster.controlPlane.endpoint", _DELETE),
        "cluster.controlPlane.endpoint",
        "cluster controlplane endpoint is required",
    ),
    (
        "endpoint-no-scheme",
        setting("cluster.controlPlane.endpoint", "10.10.20.10:6443"),
        "cluster.controlPlane.endpoint",
        'parse "10.10.20.10:6443": first path segment in URL cannot contain colon',
    ),
    (
        "endpoint-blank-host",
        setting("cluster.controlPlane.endpoint", "https://:6443"),
        "cluster.controlPlane.endpoint",
        "invalid controlplane endpoint: hostname must not be blank",
    ),
    (
        "endpoint-port-range",
        setting("cluster.controlPlane.endpoint", "https://10.10.20.10:70000"),
        "cluster.controlPlane.endpoint",
        "invalid controlplane endpoint: port number must be between 1 and 65535",
    ),
    (
        "endpoint-port-text",
        setting("cluster.controlPlane.endpoint", "https://api:port"),
        "cluster.controlPlane.endpoint",
        'parse "https://api:port": invalid port ":port" after host',
    ),
    (
        "endpoint-ipv6-brackets",
        setting("cluster.controlPlane.endpoint", "https://fd00::10:6443"),
        "cluster.controlPlane.endpoint",
        "invalid controlplane endpoint: IPv6 addresses MUST be enclosed by square brackets",
    ),
    (
        "cni-name",
        setting("cluster.network.cni", {"name": "cilium"}),
        "cluster.network.cni.name",
        'cni name should be one of ["flannel", "custom", "none"]',
    ),
    (
        "cni-none-urls",
        setting("cluster.network.cni", {"name": "none", "urls": ["https://x/cilium.yaml"]}),
        "cluster.network.cni.urls",
        '"urls" field should be empty for "none" CNI',
    ),
    (
        "cni-custom-bad-url",
        setting("cluster.network.cni", {"name": "custom", "urls": ["https:///cilium.yaml"]}),
        "cluster.network.cni.urls[0]",
        "hostname must not be blank",
    ),
    (
        "interface-and-selector",
        setting(
            "machine.network.interfaces",
            [{"interface": "eno1", "deviceSelector": {"driver": "e1000e"}, "dhcp": True}],
        ),
        "machine.network.interfaces[0]",
        "[networking.os.device.interface], [networking.os.device.deviceSelector]: "
        "config sections are mutually exclusive",
    ),
    (
        "neither-interface-nor-selector",
        setting("machine.network.interfaces", [{"dhcp": True}]),
        "machine.network.interfaces[0]",
        "[networking.os.device.interface], [networking.os.device.deviceSelector]: "
        "required either config section to be set",
    ),
    (
        "empty-selector",
        setting("machine.network.interfaces", [{"deviceSelector": {}, "dhcp": True}]),
        "machine.network.interfaces[0].deviceSelector",
        "[networking.os.device.deviceSelector]: config section should contain at least one field",
    ),
    (
        "bad-address",
        setting("machine.network.interfaces", [{"interface": "eno1", "addresses": ["10.1/99"]}]),
        "machine.network.interfaces[0].addresses[0]",
        '[networking.os.device.addresses] "eno1": invalid CIDR address: 10.1/99',
    ),
    (
        "bad-vip",
        setting("machine.network.interfaces", [{"interface": "eno1", "vip": {"ip": "vip"}}]),
        "machine.network.interfaces[0].vip",
        '[networking.os.device.vip] failed to parse "vip" as IP address',
    ),
    (
        "route-without-target",
        setting("machine.network.interfaces", [{"interface": "eno1", "routes": [{"metric": 5}]}]),
        "machine.network.interfaces[0].routes[0]",
        "[networking.os.device.route[0]]: either network or gateway should be set",
    ),
    (
        "no-install",
        setting("machine.install", _DELETE),
        "machine.install",
        'install instructions are required in "metal" mode',
    ),
    (
        "no-install-disk",
        setting("machine.install.disk", _DELETE),
        "machine.install",
        "either install disk or diskSelector should be defined",
    ),
    (
        "selector-on-name",
        setting("machine.install.diskSelector", {"name": "/dev/sda"}),
        "machine.install.diskSelector.name",
        "install disk selector is invalid: selector on name is not supported",
    ),
    (
        "uki-and-kernel-args",
        setting("machine.install.extraKernelArgs", ["console=ttyS0"]),
        "machine.install.extraKernelArgs",
        "install.extraKernelArgs and install.grubUseUKICmdline can't be used together",
    ),
    (
        "kubelet-seccomp-override",
        setting("machine.kubelet.extraConfig", {"seccompDefault": False}),
        "machine.kubelet.extraConfig.seccompDefault",
        'kubelet configuration field "seccompDefault" can\'t be overridden',
    ),
    (
        "kubelet-port-override",
        setting("machine.kubelet.extraConfig", {"port": 10251}),
        "machine.kubelet.extraConfig.port",
        'kubelet configuration field "port" can\'t be overridden',
    ),
    (
        "legacy-encryption-no-keys",
        setting("machine.systemDiskEncryption", {"state": {"provider": "luks2"}}),
        "machine.systemDiskEncryption.state.keys",
        'partition "STATE": no encryption keys provided',
    ),
    (
        "legacy-encryption-duplicate-slot",
        setting(
            "machine.systemDiskEncryption",
            {"ephemeral": {"provider": "luks2", "keys": [{"nodeID": {}}, {"nodeID": {}}]}},
        ),
        "machine.systemDiskEncryption.ephemeral.keys[1].slot",
        'partition "EPHEMERAL": encryption key slot 0 is already in use',
    ),
    (
        "legacy-encryption-key-without-type",
        setting("machine.systemDiskEncryption", {"state": {"keys": [{"slot": 1}]}}),
        "machine.systemDiskEncryption.state.keys[0]",
        'partition "STATE": encryption key at slot 1 doesn\'t have the configuration parameters',
    ),
    (
        "full-disk-partition-not-last",
        setting(
            "machine.disks",
            [{"device": "/dev/sdb", "partitions": [{"mountpoint": "/a"}, {"mountpoint": "/b"}]}],
        ),
        "machine.disks[0].partitions[0].size",
        'partition for disk "/dev/sdb" is set to occupy full disk, '
        "but it's not the last partition in the list",
    ),
    (
        "duplicate-extension",
        setting("machine.install.extensions", [{"image": "ghcr.io/x:1"}, {"image": "ghcr.io/x:1"}]),
        "machine.install.extensions[1]",
        'duplicate system extension "ghcr.io/x:1"',
    ),
    ("persist-off", setting("persist", False), "persist", ".persist should be enabled"),
    (
        "cp-without-ca-key",
        setting("machine.ca", {"crt": "ZmFrZS1jcnQ="}),
        "machine.ca.key",
        "issuing CA key is required for controlplane nodes (.machine.ca.key)",
    ),
    (
        "no-ca-at-all",
        setting("machine.ca", _DELETE),
        "machine.ca",
        "issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)",
    ),
    (
        "etcd-without-ca",
        setting("cluster.etcd", {}),
        "cluster.etcd.ca",
        "key/cert combination should not be empty",
    ),
    (
        "etcd-bad-subnet",
        setting("cluster.etcd.advertisedSubnets", ["10.10.20.0/33"]),
        "cluster.etcd.advertisedSubnets[0]",
        'etcd advertised subnet is not valid: "10.10.20.0/33"',
    ),
    (
        "dns-domain",
        setting("cluster.network.dnsDomain", "bad domain"),
        "cluster.network.dnsDomain",
        '"bad domain" is not a valid DNS name',
    ),
    (
        "discovery-without-id",
        setting("cluster.id", _DELETE),
        "cluster.id",
        "cluster discovery service requires .cluster.id",
    ),
    ("unknown-top-level-key", setting("extra", 1), "extra", "unknown keys found during decoding"),
    (
        "unknown-nested-key",
        setting("machine.install.disks", "/dev/sda"),
        "machine.install.disks",
        "unknown keys found during decoding",
    ),
    (
        "bool-type",
        setting("machine.install.wipe", "maybe"),
        "machine.install.wipe",
        "cannot unmarshal !!str into bool",
    ),
    (
        "struct-type",
        setting("machine.network", ["eno1"]),
        "machine.network",
        "cannot unmarshal !!seq into struct",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where", "message"), [c[1:] for c in V1_CASES], ids=[c[0] for c in V1_CASES]
)
def test_v1alpha1_rule_rejects_with_talos_text(
    mutate: Callable[[Docs], None], where: str, message: str
) -> None:
    docs = node02()
    mutate(docs)
    assert (where, message) in errors(docs)


# --- the passing counterparts --------------------------------------------------------------


def _legacy_state_encryption_only(docs: Docs) -> None:
    v1(docs)["machine"]["systemDiskEncryption"] = {
        "state": {"provider": "luks2", "keys": [{"slot": 0, "tpm": {}}]}
    }
    docs.remove(doc(docs, "VolumeConfig", "STATE"))


def _discovery_service_off_without_id(docs: Docs) -> None:
    del v1(docs)["cluster"]["id"]
    v1(docs)["cluster"]["discovery"]["registries"]["service"] = {"disabled": True}


PASSING: list[tuple[str, Callable[[Docs], None]]] = [
    ("disk-selector-instead-of-disk", lambda d: v1(d)["machine"]["install"].update(
        disk=None, diskSelector={"type": "nvme", "size": ">= 400GB"})),
    ("cni-custom-with-urls",
     setting("cluster.network.cni", {"name": "custom", "urls": ["https://x/c.yaml"]})),
    ("cni-default-flannel", setting("cluster.network", {"dnsDomain": "cluster.local"})),
    ("selector-only", setting("machine.network.interfaces",
                              [{"deviceSelector": {"physical": False}, "dhcp": True}])),
    ("kubelet-extra-config", setting("machine.kubelet.extraConfig", {"serverTLSBootstrap": True})),
    ("yaml11-bool", setting("machine.install.wipe", "yes")),
    ("stringified-scalar", setting("machine.install.disk", 7)),
    ("legacy-encryption-alone", lambda d: _legacy_state_encryption_only(d)),
    ("ipv6-endpoint", setting("cluster.controlPlane.endpoint", "https://[fd00::10]:6443")),
    ("endpoint-without-port", setting("cluster.controlPlane.endpoint", "https://api.example.com")),
    ("partition-sizes", setting("machine.disks", [{"device": "/dev/sdb", "partitions": [
        {"mountpoint": "/a", "size": "100 GB"}, {"mountpoint": "/b"}]}])),
    ("discovery-service-disabled", lambda d: _discovery_service_off_without_id(d)),
]  # fmt: skip


@pytest.mark.parametrize("mutate", [c[1] for c in PASSING], ids=[c[0] for c in PASSING])
def test_valid_variant_is_accepted(mutate: Callable[[Docs], None]) -> None:
    docs = node02()
    mutate(docs)
    assert errors(docs) == []


def test_cloud_mode_needs_no_install_section() -> None:
    docs = node02()
    del v1(docs)["machine"]["install"]
    assert errors(docs, "cloud") == []
    assert ("machine.install", 'install instructions are required in "metal" mode') in errors(docs)


def test_container_mode_requires_host_dns_forwarding() -> None:
    docs = node02()
    assert errors(docs, "container") == []
    v1(docs)["machine"]["features"]["hostDNS"]["forwardKubeDNSToHost"] = False
    assert errors(docs, "container") == [
        (
            "machine.features.hostDNS.forwardKubeDNSToHost",
            "feature HostDNS should forward kube-dns to host in container mode "
            "(.machine.features.hostDNS.forwardKubeDNSToHost)",
        )
    ]


def test_unknown_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown validation mode"):
        validation.validate_config(node02(), "x", "bare-metal")


# --- VIP and etcd are control-plane only ---------------------------------------------------


def test_vip_on_worker_interface_is_rejected() -> None:
    docs = worker()
    v1(docs)["machine"]["network"]["interfaces"][0]["vip"] = {"ip": "10.10.20.10"}
    assert errors(docs) == [
        (
            "machine.network.interfaces[0].vip",
            "virtual (shared) IP is not allowed on non-controlplane nodes",
        )
    ]


def test_vip_on_worker_vlan_is_rejected() -> None:
    docs = worker()
    interface = v1(docs)["machine"]["network"]["interfaces"][0]
    interface["vlans"] = [{"vlanId": 20, "vip": {"ip": "10.10.21.10"}}]
    assert errors(docs) == [
        (
            "machine.network.interfaces[0].vlans[0].vip",
            "virtual (shared) IP is not allowed on non-controlplane nodes",
        )
    ]
    v1(docs)["machine"]["type"] = "controlplane"
    v1(docs)["machine"]["ca"]["key"] = SECRET
    assert not [e for e in errors(docs) if "virtual" in e[1]]


def test_etcd_section_on_worker_is_rejected() -> None:
    docs = worker()
    v1(docs)["cluster"]["etcd"] = {"advertisedSubnets": ["10.10.20.0/24"]}
    assert errors(docs) == [
        ("cluster.etcd", "etcd config is only allowed on control plane machines")
    ]


def test_worker_must_not_carry_ca_keys() -> None:
    docs = worker()
    v1(docs)["machine"]["ca"]["key"] = SECRET
    v1(docs)["cluster"]["ca"]["key"] = SECRET
    assert set(errors(docs)) == {
        ("machine.ca", "issuing Talos API CA key is not allowed on non-controlplane nodes "
         "(.machine.ca)"),
        ("cluster.ca", "issuing Kubernetes API CA key is not allowed on non-controlplane nodes "
         "(.cluster.ca)"),
        ("cluster.ca", "cluster CA key is not allowed on non-controlplane nodes (.cluster.ca)"),
    }  # fmt: skip


def test_join_type_warns_like_talos() -> None:
    docs = worker()
    v1(docs)["machine"]["type"] = "join"
    assert errors(docs) == []
    assert ("machine.type", 'use "worker" instead of "join" for machine type') in warnings(docs)


# --- HostnameConfig (types/network/hostname.go at v1.12.5) ---------------------------------

HOSTNAME_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("auto-and-hostname", {"auto": "stable", "hostname": "k8s-node02"},
     "'auto' and 'hostname' cannot be set at the same time"),
    ("bare-auto-off", {"auto": "off"}, "either 'auto' or 'hostname' must be set"),
    ("empty", {}, "either 'auto' or 'hostname' must be set"),
    ("talos-addr", {"auto": "talos-addr"}, "invalid value for 'auto': talos-addr"),
    ("long-label", {"hostname": "n" * 64}, f'invalid hostname "{"n" * 64}"'),
    ("empty-label", {"hostname": ".example.com"}, 'invalid hostname ""'),
    ("long-fqdn", {"hostname": ".".join(["n" * 60] * 5)}, "fqdn is too long: 304"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"), [c[1:] for c in HOSTNAME_CASES], ids=[c[0] for c in HOSTNAME_CASES]
)
def test_hostname_config_rule(fields: dict[str, Any], message: str) -> None:
    docs = node02()
    hostname = doc(docs, "HostnameConfig")
    for key in ("auto", "hostname"):
        hostname.pop(key)
    hostname.update(fields)
    assert ("HostnameConfig", message) in errors(docs)


@pytest.mark.parametrize(
    "fields",
    [{"auto": "stable"}, {"hostname": "k8s-node02"}, {"auto": "Off", "hostname": "n.example.com"}],
)
def test_hostname_config_valid_forms(fields: dict[str, Any]) -> None:
    docs = node02()
    hostname = doc(docs, "HostnameConfig")
    for key in ("auto", "hostname"):
        hostname.pop(key)
    hostname.update(fields)
    assert errors(docs) == []


def test_hostname_config_error_prints_with_document_id_prefix() -> None:
    docs = node02()
    doc(docs, "HostnameConfig")["auto"] = "stable"
    (problem,) = [p for p in run(docs) if p.severity is Severity.ERROR]
    assert str(problem).endswith(
        ": HostnameConfig: 'auto' and 'hostname' cannot be set at the same time"
    )


def test_hostname_config_beside_legacy_static_hostname_is_rejected() -> None:
    docs = node02()
    v1(docs)["machine"]["network"]["hostname"] = "k8s-node02"
    assert errors(docs) == [("HostnameConfig", "static hostname is already set in v1alpha1 config")]
    docs.remove(doc(docs, "HostnameConfig"))
    assert errors(docs) == []
    assert any(f == "machine.network.hostname" for f, _ in warnings(docs))


def test_hostname_config_beside_legacy_stable_hostname_is_rejected() -> None:
    docs = node02()
    v1(docs)["machine"]["features"]["stableHostname"] = True
    assert errors(docs) == [("HostnameConfig", "stable hostname is already set in v1alpha1 config")]
    v1(docs)["machine"]["features"]["stableHostname"] = False
    assert errors(docs) == []


@pytest.mark.parametrize("value", ["bogus", False, ""])
def test_hostname_auto_that_does_not_decode(value: Any) -> None:
    docs = node02()
    doc(docs, "HostnameConfig")["auto"] = value
    text = {False: "false"}.get(value, value)
    assert errors(docs) == [
        ("HostnameConfig.auto", f"{text} does not belong to AutoHostnameKind values")
    ]


# --- VolumeConfig (types/block/volume_config.go, encryption.go at v1.12.5) -----------------


def _state(docs: Docs) -> dict[str, Any]:
    return doc(docs, "VolumeConfig", "STATE")


def _ephemeral(docs: Docs) -> dict[str, Any]:
    return doc(docs, "VolumeConfig", "EPHEMERAL")


VOLUME_CASES: list[tuple[str, Callable[[Docs], None], str, str]] = [
    ("unsupported-volume", lambda d: _ephemeral(d).update(name="DATA"), "VolumeConfig/DATA",
     'only ["STATE" "EPHEMERAL" "IMAGECACHE"] volumes are supported'),
    ("provider-none-with-keys", lambda d: _state(d)["encryption"].update(provider="none"),
     "VolumeConfig/STATE", "unsupported encryption provider: none"),
    ("provider-unknown", lambda d: _state(d)["encryption"].update(provider="luks1"),
     "VolumeConfig/STATE.encryption.provider",
     "luks1 does not belong to EncryptionProviderType values"),
    ("no-keys", lambda d: _state(d)["encryption"].update(keys=[]),
     "VolumeConfig/STATE", "encryption keys are required"),
    ("duplicate-slot", lambda d: _state(d)["encryption"]["keys"].append({"slot": 0, "tpm": {}}),
     "VolumeConfig/STATE", "duplicate key slot 0"),
    ("key-without-params",
     lambda d: _state(d)["encryption"].update(keys=[{"slot": 0, "nodeID": None}]),
     "VolumeConfig/STATE", "at least one encryption key type must be specified for slot 0"),
    ("tpm-pcr-range", lambda d: _state(d)["encryption"]["keys"].append(
        {"slot": 1, "tpm": {"options": {"pcrs": [7, 24]}}}),
     "VolumeConfig/STATE", "TPM PCR 24 is out of range (0-23)"),
    ("lock-to-state-on-state",
     lambda d: _state(d)["encryption"]["keys"][0].update(lockToState=True),
     "VolumeConfig/STATE", 'state-locked key is not allowed for the "STATE" volume'),
    ("provisioning-on-state", lambda d: _state(d).update(provisioning={"maxSize": "2GiB"}),
     "VolumeConfig/STATE", 'provisioning config is not allowed for the "STATE" volume'),
    ("grow-false-on-state", lambda d: _state(d).update(provisioning={"grow": False}),
     "VolumeConfig/STATE", 'provisioning config is not allowed for the "STATE" volume'),
    ("min-above-max",
     lambda d: _ephemeral(d).update(provisioning={"minSize": "2GiB", "maxSize": "1GB"}),
     "VolumeConfig/EPHEMERAL", "min size is greater than max size"),
    ("both-encryption-configs", lambda d: v1(d)["machine"].update(systemDiskEncryption={
        "state": {"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]}}),
     "VolumeConfig/STATE",
     'system disk encryption for "STATE" is configured in both v1alpha1.Config and VolumeConfig'),
    ("unknown-key", lambda d: _state(d)["encryption"]["keys"][0].update(nodeId={}),
     "VolumeConfig/STATE.encryption.keys[0].nodeId", "unknown keys found during decoding"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "where", "message"), [c[1:] for c in VOLUME_CASES], ids=[c[0] for c in VOLUME_CASES]
)
def test_volume_config_rule(mutate: Callable[[Docs], None], where: str, message: str) -> None:
    docs = node02()
    mutate(docs)
    assert (where, message) in errors(docs)


def _legacy_ephemeral_encryption(docs: Docs) -> None:
    """Legacy EPHEMERAL encryption beside a STATE VolumeConfig: no overlap, no conflict."""
    docs.remove(_ephemeral(docs))
    v1(docs)["machine"]["systemDiskEncryption"] = {
        "ephemeral": {"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]}
    }


VOLUME_PASSING: list[tuple[str, Callable[[Docs], None]]] = [
    ("lock-to-state-on-ephemeral",
     lambda d: _ephemeral(d)["encryption"]["keys"][0].update(lockToState=True)),
    ("provisioning-on-ephemeral", lambda d: _ephemeral(d).update(
        provisioning={"minSize": "1GB", "maxSize": "80%", "grow": True})),
    ("imagecache-unencrypted", lambda d: d.append(
        {"apiVersion": "v1alpha1", "kind": "VolumeConfig", "name": "IMAGECACHE",
         "provisioning": {"maxSize": "10GiB"}})),
    ("no-encryption", lambda d: _state(d).pop("encryption")),
    ("legacy-ephemeral-with-state-volumeconfig", lambda d: _legacy_ephemeral_encryption(d)),
    ("static-and-node-id-slots", lambda d: _state(d)["encryption"]["keys"].append(
        {"slot": 1, "static": {"passphrase": SECRET}})),
]  # fmt: skip


@pytest.mark.parametrize(
    "mutate", [c[1] for c in VOLUME_PASSING], ids=[c[0] for c in VOLUME_PASSING]
)
def test_volume_config_valid_variant(mutate: Callable[[Docs], None]) -> None:
    docs = node02()
    mutate(docs)
    assert errors(docs) == []


# --- Layer2VIPConfig -------------------------------------------------------------------------


def _l2vip(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1alpha1", "kind": "Layer2VIPConfig", **fields}


def test_layer2_vip_requires_link_and_ip_name() -> None:
    docs = node02()
    docs.append(_l2vip(name="10.10.20.10"))
    assert errors(docs) == [("Layer2VIPConfig/10.10.20.10", "link must be specified")]
    docs[-1]["link"] = "eno1"
    assert errors(docs) == []
    docs[-1]["name"] = "api"
    assert errors(docs) == [
        (
            "Layer2VIPConfig/api",
            'name must be a valid IP address: ParseAddr("api"): unable to parse IP',
        )
    ]


def test_layer2_vip_on_worker_is_a_warning_only() -> None:
    docs = worker()
    docs.append(_l2vip(name="10.10.20.10", link="eno1"))
    assert errors(docs) == []
    assert [f for f, _ in warnings(docs) if f.startswith("Layer2")] == [
        "Layer2VIPConfig/10.10.20.10"
    ]


def test_layer2_and_hcloud_vip_for_one_address_conflict() -> None:
    docs = node02()
    docs.append(_l2vip(name="10.10.20.10", link="eno1"))
    docs.append({"apiVersion": "v1alpha1", "kind": "HCloudVIPConfig", "name": "10.10.20.10"})
    assert errors(docs) == [
        (
            "documents[5]",
            "conflicting documents: Layer2VIPConfig/10.10.20.10 and HCloudVIPConfig/10.10.20.10",
        )
    ]


# --- the loader: kinds, duplicates, missing v1alpha1 ---------------------------------------


def test_unknown_document_kind_uses_talos_text() -> None:
    docs = node02()
    docs.append({"apiVersion": "v1alpha1", "kind": "HostnameConfigs", "auto": "stable"})
    assert errors(docs) == [
        (
            "documents[4]",
            'error decoding document v1alpha1/HostnameConfigs/: "HostnameConfigs" "v1alpha1": '
            "not registered",
        )
    ]


def test_unknown_api_version_and_missing_kind() -> None:
    docs = node02()
    docs.append({"apiVersion": "v1alpha2", "kind": "LinkConfig", "name": "eno1"})
    docs.append({"apiVersion": "v1alpha2", "name": "eno1", "up": True})
    assert errors(docs) == [
        (
            "documents[4]",
            'error decoding document v1alpha2/LinkConfig/eno1: "LinkConfig" "v1alpha2": '
            "not registered",
        ),
        ("documents[5]", "error decoding document v1alpha2/v1alpha1/eno1: missing kind"),
    ]


def test_kindless_v1alpha1_api_version_decodes_as_a_second_machine_config() -> None:
    # decoder.go: version "v1alpha1" without kind means the v1alpha1 Config.
    docs = node02()
    docs.append({"apiVersion": "v1alpha1", "name": "eno1"})
    assert errors(docs) == [("documents[4]", "duplicate v1alpha1.Config")]


def test_registered_kinds_whose_rules_are_not_modelled_pass() -> None:
    docs = node02()
    docs.append({"apiVersion": "v1alpha1", "kind": "UserVolumeConfig", "name": "longhorn"})
    assert errors(docs) == []


def test_duplicate_documents() -> None:
    docs = node02()
    docs.append(copy.deepcopy(_state(docs)))
    docs.append({"version": "v1alpha1", "machine": {}})
    assert errors(docs) == [
        ("documents[4]", "duplicate document v1alpha1/VolumeConfig/STATE is not allowed"),
        ("documents[5]", "duplicate document v1alpha1/v1alpha1/ is not allowed"),
    ]


def test_config_without_v1alpha1_document_is_refused_like_apply_config() -> None:
    docs = node02()[1:]
    assert errors(docs) == [
        (
            "",
            "the applied machine configuration doesn't contain v1alpha1 config, "
            "did you mean to patch the machine config instead?",
        )
    ]


def test_undecodable_v1alpha1_document_is_not_reported_missing() -> None:
    docs = node02()
    v1(docs)["machin"] = v1(docs).pop("machine")
    assert errors(docs) == [("machin", "unknown keys found during decoding")]


def test_non_mapping_and_null_documents() -> None:
    docs: list[Any] = [*node02(), None, ["not", "a", "document"]]
    assert errors(docs) == [("documents[5]", "expected a YAML document")]


# --- warnings: deprecated but honoured, or without effect ----------------------------------


def test_install_extensions_warn_with_talos_text_and_say_they_do_nothing() -> None:
    docs = node02()
    v1(docs)["machine"]["install"]["extensions"] = [
        {"image": "ghcr.io/siderolabs/iscsi-tools:v0.2.0"}
    ]
    assert errors(docs) == []
    (message,) = [m for f, m in warnings(docs) if f == "machine.install.extensions"]
    assert message.startswith(
        ".machine.install.extensions is deprecated, please see "
        "https://www.talos.dev/latest/talos-guides/install/boot-assets/"
    )
    assert "no effect" in message


def test_legacy_disk_encryption_is_deprecated_not_rejected() -> None:
    docs = node02()
    for volume in ("STATE", "EPHEMERAL"):
        docs.remove(doc(docs, "VolumeConfig", volume))
    v1(docs)["machine"]["systemDiskEncryption"] = {
        "state": {"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]}
    }
    assert errors(docs) == []
    assert any(f == "machine.systemDiskEncryption" for f, _ in warnings(docs))


def test_extra_mount_without_bind_option_warns() -> None:
    docs = node02()
    mount = v1(docs)["machine"]["kubelet"]["extraMounts"][0]
    assert not [f for f, _ in warnings(docs) if "extraMounts" in f]
    mount["options"] = ["rshared", "rw"]
    assert [f for f, _ in warnings(docs) if "extraMounts" in f] == [
        "machine.kubelet.extraMounts[0].options"
    ]


def test_plain_http_endpoint_is_accepted_but_warned() -> None:
    docs = node02()
    v1(docs)["cluster"]["controlPlane"]["endpoint"] = "http://10.10.20.10:6443"
    assert errors(docs) == []
    assert [f for f, _ in warnings(docs)].count("cluster.controlPlane.endpoint") == 1


def test_custom_cni_without_urls_is_a_talos_warning() -> None:
    docs = node02()
    v1(docs)["cluster"]["network"]["cni"] = {"name": "custom"}
    assert errors(docs) == []
    assert ("cluster.network.cni.urls", '"urls" field should not be empty for "custom" CNI') in (
        warnings(docs)
    )


# --- secrets -------------------------------------------------------------------------------


SECRET_EXPOSURES: list[tuple[str, Callable[[Docs], None]]] = [
    ("ca-keys-on-worker", lambda d: v1(d)["machine"].update(type="worker")),
    ("unknown-key-with-secret-value", setting("machine.ca.bogus", SECRET)),
    ("secret-in-a-bool", setting("machine.install.wipe", SECRET)),
    ("secret-in-a-struct", setting("cluster.etcd.ca", SECRET)),
    ("secret-as-list", setting("machine.ca", [SECRET])),
    ("duplicate-static-key", lambda d: _state(d)["encryption"].update(
        keys=[{"slot": 0, "static": {"passphrase": SECRET}}] * 2)),
    ("secret-as-hostname-auto", lambda d: doc(d, "HostnameConfig").update(secret=SECRET)),
]  # fmt: skip


@pytest.mark.parametrize(
    "mutate", [c[1] for c in SECRET_EXPOSURES], ids=[c[0] for c in SECRET_EXPOSURES]
)
def test_secrets_never_appear_in_problems(mutate: Callable[[Docs], None]) -> None:
    docs = node02()
    mutate(docs)
    found = [p for p in run(docs) if p.severity is Severity.ERROR]
    assert found
    assert not [p for p in found if SECRET in str(p)]


# --- properties ----------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
_KEYS = st.sampled_from(
    ["machine", "cluster", "kind", "apiVersion", "name", "version", "auto", "hostname",
     "encryption", "keys", "slot", "type", "install", "network", "interfaces", "vip", "persist",
     "HostnameConfig", "VolumeConfig", "STATE", "controlPlane", "endpoint", "v1alpha1"]
) | st.text(max_size=6) | st.integers(0, 3)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


def _holds(target: Any, key: Any) -> bool:
    return isinstance(target, list) and isinstance(key, int) and key < len(target)


def _check(problems: Any) -> None:
    assert isinstance(problems, list)
    assert all(isinstance(p, Problem) and p.file == "garbage.yaml" for p in problems)
    assert all(isinstance(p.field, str) and isinstance(p.message, str) for p in problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_VALUES, max_size=5), st.sampled_from(validation.MODES))
def test_arbitrary_garbage_never_raises(documents: list[Any], mode: str) -> None:
    _check(validation.validate_config(documents, "garbage.yaml", mode))


_PATHS = st.lists(st.sampled_from(
    ["machine", "cluster", "install", "network", "interfaces", "kubelet", "extraConfig",
     "encryption", "keys", "controlPlane", "endpoint", "cni", "disks", "partitions", "etcd",
     "ca", "vip", "vlans", "features", "systemDiskEncryption", "state", "auto", "hostname",
     "provisioning", "routes", "deviceSelector", "nodeIP", "validSubnets", "extraMounts"]
) | st.integers(0, 2), min_size=1, max_size=5)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3), _PATHS, _VALUES)
def test_garbage_grafted_into_a_real_config_never_raises(
    index: int, path: list[str | int], value: Any
) -> None:
    docs: list[Any] = node02()
    target: Any = docs
    for key in [index, *path[:-1]]:
        if _holds(target, key) or (isinstance(target, dict) and key in target):
            target = target[key]
    last = path[-1]
    if isinstance(target, dict) or _holds(target, last):
        target[last] = value
    _check(validation.validate_config(docs, "garbage.yaml"))
