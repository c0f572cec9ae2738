"""The collector against the provisioned simulated cluster: complete, cheap, secret-free, and
honest about what it could not read.

Each test starts one copy of the template (seconds), so a drift's assertions
are grouped: a powered-off node and an expired kubeconfig share a copy
because they cost different sources (Talos for one node, every Kubernetes
read for the other).  Also here: the harness's own promise that a suite run
maps outcomes to control ids.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checks import snapshot as model
from checks.findings import Unobservable
from checks.snapshot import Snapshot, on_node
from fixtures import observe
from provisioning.config.agestore import SecretStore
from provisioning.definition import inventory
from provisioning.drivers import Completed, Target, process
from provisioning.drivers import talosctl as talosctl_module
from provisioning.drivers.kube import KubeDriver
from provisioning.drivers.talosctl import TalosDriver
from tests.provisioning.fake_talosctl import RealShapedTalosctl
from tests.suite.harness import ROOT, BuiltCluster, ClusterWith, Layout


def _serialised(snap: Snapshot) -> str:
    """Everything the snapshot holds, as text a leak would show up in."""
    held = {
        "kube": snap.kube,
        "talos": snap.talos,
        "configz": snap.configz,
        "etcd": repr(snap.etcd_members),
        "versions": snap.talos_versions,
        "backups": repr(snap.backups),
        "certificate": repr(snap.client_certificate),
        "api": repr(snap.api),
        "missing": snap.missing,
    }
    return json.dumps(held, default=str) + repr(snap) + str(snap)


def _secret_values(layout: Layout) -> list[str]:
    cluster = layout.load()
    bundle = SecretStore(
        cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
    ).load()
    keys = [
        bundle.etcd_ca.key,
        bundle.k8s_ca.key,
        bundle.k8s_aggregator_ca.key,
        bundle.os_ca.key,
        bundle.k8s_service_account_key,
    ]
    words = [
        bundle.cluster_secret,
        bundle.bootstrap_token,
        bundle.secretbox_encryption_secret,
        bundle.trustd_token,
    ]
    return [w for w in words if w] + [base64.b64encode(k).decode() for k in keys]


@pytest.mark.slow
def test_clean_cluster_is_observed_completely(
    clean_snapshot: Snapshot, built_cluster: BuiltCluster
) -> None:
    snap = clean_snapshot
    cluster = snap.definition
    names = sorted(node.name for node in cluster.nodes)
    assert snap.missing == {}
    assert sorted(snap.kube) == sorted(kind.key for kind in model.KUBE_KINDS)
    assert len(snap.objects(model.NODES)) == len(names)
    assert {obj["metadata"]["name"] for obj in snap.objects(model.STORAGE_CLASSES)} >= {"longhorn"}
    for talos_type in model.TALOS_TYPES:
        assert sorted(snap.resources(talos_type)) == names, talos_type
    hostnames = {
        name: [r["spec"]["hostname"] for r in found]
        for name, found in snap.resources(model.HOSTNAME_STATUS).items()
    }
    assert hostnames == {node.name: [node.hostname] for node in cluster.nodes}
    assert sorted(snap.configz) == names
    assert all("seccompDefault" in config for config in snap.configz.values())
    assert snap.talos_versions == dict.fromkeys(names, cluster.versions.talos)
    assert snap.kubernetes_version == f"v{cluster.versions.kubernetes.lstrip('v')}"
    assert snap.etcd_members is not None
    assert sorted(m.hostname for m in snap.etcd_members) == sorted(
        node.hostname for node in cluster.nodes
    )
    assert snap.etcd_alarms == ()  # read, and a healthy cluster has none
    assert snap.api is not None
    assert snap.api.answered
    assert snap.api.error is None
    assert snap.api.server == cluster.control_plane.endpoint  # reached through the proxy
    assert snap.client_certificate is not None
    assert snap.client_certificate.accepted
    assert snap.client_certificate.not_after > datetime.now(UTC)
    assert snap.backups is not None
    assert [f.age_header for f in snap.backups.files] == [True]
    assert snap.backups.restore_error is None
    assert snap.backups.restore_keys is not None
    assert snap.backups.restore_keys > 0


@pytest.mark.slow
def test_snapshot_holds_no_secret(clean_snapshot: Snapshot, built_cluster: BuiltCluster) -> None:
    text = _serialised(clean_snapshot)
    assert "PRIVATE KEY" not in text
    begins = {part.split("-----")[0] for part in text.split("-----BEGIN ")[1:]}
    assert begins <= {"CERTIFICATE"}, begins
    for value in _secret_values(built_cluster.layout):
        assert value not in text
    kubeconfig = (built_cluster.layout.state / "kubeconfig").read_text(encoding="utf-8")
    client_key = kubeconfig.split("client-key-data:")[1].split()[0]
    assert client_key not in text
    for node in clean_snapshot.definition.nodes:
        docs = clean_snapshot.machine_config(node.name)
        v1alpha1 = next(d for d in docs if d.get("version") == "v1alpha1")
        assert v1alpha1["machine"]["token"] == "<redacted>"
        assert v1alpha1["machine"]["ca"]["key"] == "<redacted>"
        assert v1alpha1["cluster"]["secret"] == "<redacted>"
        assert v1alpha1["cluster"]["etcd"]["ca"]["key"] == "<redacted>"
        assert v1alpha1["cluster"]["controlPlane"]["endpoint"] == (
            clean_snapshot.definition.control_plane.endpoint
        )


def _count_talosctl(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = process.run_subprocess

    def counting(
        argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
    ) -> Completed:
        calls.append(list(argv))
        return real(argv, timeout=timeout, env=env)

    monkeypatch.setattr(process, "run_subprocess", counting)
    monkeypatch.setattr(talosctl_module, "run_subprocess", counting)
    return calls


def _count_kube(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    requests: list[str] = []
    real = KubeDriver._request

    def counting(self: KubeDriver, method: str, path: str, **kw: Any) -> bytes:
        requests.append(f"{method} {path}")
        return real(self, method, path, **kw)

    monkeypatch.setattr(KubeDriver, "_request", counting)
    return requests


def _list_path(kind: model.Kind) -> str:
    group, version, plural = kind.path
    return f"/api/{version}/{plural}" if not group else f"/apis/{group}/{version}/{plural}"


def _subcommand(argv: Sequence[str]) -> str:
    rest = list(argv[1:])
    while rest and rest[0] in ("--talosconfig", "--nodes"):
        rest = rest[2:]
    return " ".join(rest[:2]) if rest[:1] in (["get"], ["etcd"]) else rest[0] if rest else ""


@pytest.mark.slow
def test_one_read_per_kind_and_type_and_outcomes_per_control(
    cluster_with: ClusterWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    talos_calls = _count_talosctl(monkeypatch)
    kube_requests = _count_kube(monkeypatch)
    with cluster_with() as running:
        snap = running.snapshot()
        suite = running.run_suite("steps/test_config_hygiene.py")
    assert snap.missing == {}
    expected = Counter(
        ["GET /version"]
        + [f"GET {_list_path(kind)}" for kind in model.KUBE_KINDS]
        + [f"GET /api/v1/nodes/{node.hostname}/proxy/configz" for node in snap.definition.nodes]
    )
    assert Counter(kube_requests) == expected
    every_node = ",".join(str(node.ip) for node in snap.definition.nodes)
    gets = [argv for argv in talos_calls if _subcommand(argv).startswith("get ")]
    assert sorted(_subcommand(argv) for argv in gets) == sorted(
        f"get {t}" for t in model.TALOS_TYPES
    )
    assert all(every_node in argv for argv in gets)
    others = Counter(_subcommand(argv) for argv in talos_calls if argv not in gets)
    assert others == Counter({"version": 1, "etcd members": 1, "etcd alarm": 1})
    # The harness maps each scenario's outcome to its control id.
    assert suite.returncode == 0, suite.output
    definition_controls = ("HYG-01", "HYG-02", "HYG-03", "HYG-04")
    assert {c: suite.outcomes.get(c) for c in definition_controls} == dict.fromkeys(
        definition_controls, "passed"
    ), suite.output
    assert all(suite.messages[c] == "" for c in definition_controls)


@pytest.mark.slow
def test_powered_off_node_and_rejected_certificate_cost_only_their_sources(
    cluster_with: ClusterWith,
) -> None:
    drifts = (("topology.power_off", "node03"), "config_hygiene.expire_kubeconfig")
    with cluster_with(*drifts) as running:
        snap = running.snapshot()
    others = sorted(node.name for node in snap.definition.nodes if node.name != "node03")
    for talos_type in (model.VOLUME_STATUS, model.MACHINE_CONFIG, model.HOSTNAME_STATUS):
        assert sorted(snap.resources(talos_type)) == others
        reason = snap.missing[on_node(talos_type, "node03")]
        assert "node03 (10.10.20.18)" in reason
        assert "no route to host" in reason
        with pytest.raises(Unobservable, match="no route to host"):
            snap.node_resources(talos_type, "node03")
        assert snap.node_resources(talos_type, "node01")
    assert list(snap.unread_nodes(model.VOLUME_STATUS)) == ["node03"]
    with pytest.raises(Unobservable, match="node03"):
        snap.machine_config("node03")
    assert sorted(snap.talos_versions) == others
    assert snap.etcd_members is not None
    # The expired client certificate: the API answered, and refused every read.
    assert snap.api is not None
    assert snap.api.answered
    assert snap.client_certificate is not None
    assert not snap.client_certificate.accepted
    assert snap.client_certificate.not_after < datetime.now(UTC)
    for kind in model.KUBE_KINDS:
        assert "401" in snap.missing[kind.key], snap.missing[kind.key]
        with pytest.raises(Unobservable, match="client certificate"):
            snap.objects(kind)
    assert model.CONFIGZ in snap.missing


@pytest.mark.slow
def test_unavailable_api_makes_every_kubernetes_source_unobservable(
    cluster_with: ClusterWith,
) -> None:
    with cluster_with("api_endpoint.unavailable") as running:
        snap = running.snapshot()
    assert snap.api is not None
    assert not snap.api.answered
    assert snap.api.error is not None
    assert "503" in snap.api.error
    kube_sources = [kind.key for kind in model.KUBE_KINDS]
    for key in [*kube_sources, model.CONFIGZ, model.KUBERNETES_VERSION]:
        assert "did not answer" in snap.missing[key], key
        assert "503" in snap.missing[key], key
    assert model.KUBECONFIG in snap.missing  # acceptance unknown, not "rejected"
    assert snap.kubernetes_version is None
    assert snap.kube == {}
    assert snap.configz == {}
    names = sorted(node.name for node in snap.definition.nodes)
    assert sorted(snap.resources(model.VOLUME_STATUS)) == names
    assert snap.backups is not None


# -- without a cluster: talosctl's partial answers, the kubeconfig's public facts ------------

IP1, IP2, IP3 = "10.10.20.16", "10.10.20.17", "10.10.20.18"


def _driver(tmp_path: Path, runner: RealShapedTalosctl) -> TalosDriver:
    (tmp_path / "talosctl").write_text("#!/bin/sh\n")
    (tmp_path / "talosctl").chmod(0o755)
    target = Target("fake", None, tmp_path / "talosconfig", tmp_path)
    return TalosDriver(target, runner=runner, retries=2, backoff=0.0)


def _cluster() -> inventory.Cluster:
    return inventory.load_cluster(ROOT / "cluster")


def test_a_down_node_is_missing_and_the_silent_others_have_none(tmp_path: Path) -> None:
    cluster = _cluster()
    parts = observe._Parts()
    # node01 down first on the line: real talosctl prints nothing for anyone.
    talos = _driver(tmp_path, RealShapedTalosctl(down={IP1}, holding={IP2, IP3}))
    observe._talos_type(talos, model.HOSTNAME_STATUS, cluster, parts)
    found = parts.talos[model.HOSTNAME_STATUS]
    assert [r["spec"]["hostname"] for r in found["node02"]] == [IP2]
    assert found["node04"] == []  # answered: has none
    assert "node01" not in found
    assert list(parts.missing) == [on_node(model.HOSTNAME_STATUS, "node01")]
    why = parts.missing[on_node(model.HOSTNAME_STATUS, "node01")]
    assert why.startswith("talosctl get hostnamestatuses got no answer from node01 (10.10.20.16): ")
    assert "Unavailable: connection error" in why
    # Every node failing the request itself: the whole type is unobservable.
    parts = observe._Parts()
    failing = RealShapedTalosctl(refuse="rpc error: code = PermissionDenied desc = not authorized")
    observe._talos_type(_driver(tmp_path, failing), model.VOLUME_STATUS, cluster, parts)
    assert model.VOLUME_STATUS not in parts.talos
    assert "PermissionDenied" in parts.missing[model.VOLUME_STATUS]
    assert failing.calls == 1


def test_talos_versions_name_the_warned_node_with_its_error(tmp_path: Path) -> None:
    cluster = _cluster()
    parts = observe._Parts()
    talos = _driver(tmp_path, RealShapedTalosctl(down={IP3}))
    observe._talos_versions(talos, cluster, parts)
    assert parts.talos_versions["node01"] == "v1.12.5"
    assert "node03" not in parts.talos_versions
    assert parts.missing[on_node(model.TALOS_VERSION, "node03")].startswith(
        "node03 (10.10.20.18) did not answer talosctl version: Unavailable: connection error"
    )
    assert parts.talosctl_skew == ""


def test_a_talosctl_of_another_version_is_told_once(tmp_path: Path) -> None:
    cluster = _cluster()
    parts = observe._Parts()
    talos = _driver(tmp_path, RealShapedTalosctl(client_tag="v1.11.6"))
    observe._talos_versions(talos, cluster, parts)
    assert parts.talosctl_skew.startswith(
        "talosctl is v1.11.6 but the cluster runs Talos v1.12.5 on 10.10.20.16, 10.10.20.17"
    )
    told: list[str] = []
    target = Target("fake", None, tmp_path / "talosconfig", tmp_path)
    observation = observe.Observation(target, cluster, notice=told.append)
    for _ in range(2):
        observation._tell(parts.talosctl_skew)
    assert told == [parts.talosctl_skew]


def test_machine_configs_are_parsed_and_redacted() -> None:
    text = (
        "version: v1alpha1\nmachine:\n  token: abc.defghijklmnop\n  ca:\n"
        "    crt: Q0VSVA==\n    key: TOP-SECRET-KEY\ncluster:\n  secret: s3cr3t\n"
        "---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: k8s-node01\n"
    )
    resource = observe._machine_config({"node": IP1, "metadata": {}, "spec": text})
    docs = resource["spec"]
    assert docs[0]["machine"]["token"] == "<redacted>"
    assert docs[0]["machine"]["ca"] == {"crt": "Q0VSVA==", "key": "<redacted>"}
    assert docs[0]["cluster"]["secret"] == "<redacted>"
    assert docs[1]["hostname"] == "k8s-node01"
    assert "TOP-SECRET" not in json.dumps(resource)
    broken = observe._machine_config({"spec": "machine: [token: x\n"})
    assert broken["spec"] == "<unparsable machine config>"


def test_kubeconfig_is_reduced_to_the_server_and_certificate_facts(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
        ]
    )
    not_after = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "current-context": "admin@c",
                "contexts": [{"name": "admin@c", "context": {"cluster": "c", "user": "admin"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://10.10.20.10:6443"}}],
                "users": [
                    {
                        "name": "admin",
                        "user": {
                            "client-certificate-data": base64.b64encode(pem).decode(),
                            "client-key-data": "S0VZ",
                        },
                    }
                ],
            }
        )
    )
    read = observe._read_kubeconfig(path)
    assert read.server == "https://10.10.20.10:6443"
    assert read.problem is None
    assert read.certificate is not None
    assert read.certificate.subject == "CN=admin,O=system:masters"
    assert read.certificate.not_after == not_after
    assert "S0VZ" not in repr(read)
    missing = observe._read_kubeconfig(tmp_path / "absent")
    assert missing.certificate is None
    assert missing.problem is not None
    assert "cannot read kubeconfig" in missing.problem
