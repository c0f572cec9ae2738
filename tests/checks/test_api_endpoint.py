"""API-endpoint controls over hand-built snapshots of the reference definition."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checks import api_endpoint
from checks import snapshot as snapshot_module
from checks.api_endpoint import VipProbe
from checks.findings import Unobservable
from checks.snapshot import ApiHealth, Snapshot
from fixtures import probe_api_endpoint
from provisioning.definition import inventory
from provisioning.drivers import Target
from tests.checks.builders import reference_cluster

VIP = "10.10.20.10"
ENDPOINT = "https://10.10.20.10:6443"


def config_docs(node: inventory.Node, *, vip: str | None = VIP, endpoint: str = ENDPOINT) -> Any:
    iface: dict[str, Any] = {"interface": "enp1s0", "addresses": [f"{node.ip}/24"]}
    if vip is not None:
        iface["vip"] = {"ip": vip}
    return [
        {
            "version": "v1alpha1",
            "machine": {"type": "controlplane", "network": {"interfaces": [iface]}},
            "cluster": {"controlPlane": {"endpoint": endpoint}},
        },
        {"apiVersion": "v1alpha1", "kind": "HostnameConfig", "hostname": node.hostname},
    ]


def resource(node: inventory.Node, rid: str, spec: Any) -> dict[str, Any]:
    return {"node": str(node.ip), "metadata": {"id": rid}, "spec": spec}


def addresses(node: inventory.Node, *, holds_vip: bool) -> list[dict[str, Any]]:
    cidrs = [f"{node.ip}/24"] + ([f"{VIP}/32"] if holds_vip else [])
    return [resource(node, f"enp1s0/{c}", {"address": c, "linkName": "enp1s0"}) for c in cidrs]


def kube_node(node: inventory.Node, ready: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": node.hostname},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def snap(
    *,
    cluster: inventory.Cluster | None = None,
    configs: dict[str, Any] | None = None,
    holders: tuple[str, ...] = ("node01",),
    prism: dict[str, Any] | None = None,
    ready: dict[str, str] | None = None,
    drop: dict[str, set[str]] | None = None,
    **overrides: Any,
) -> Snapshot:
    """A snapshot of a healthy cluster; *drop* removes nodes from a Talos type's answer."""
    cluster = cluster or reference_cluster()
    configs = configs or {}
    prism = prism or {}
    ready = ready or {}
    talos: dict[str, dict[str, list[dict[str, Any]]]] = {
        snapshot_module.MACHINE_CONFIG: {
            n.name: [resource(n, "v1alpha1", configs.get(n.name) or config_docs(n))]
            for n in cluster.nodes
        },
        snapshot_module.ADDRESS_STATUS: {
            n.name: addresses(n, holds_vip=n.name in holders) for n in cluster.nodes
        },
        snapshot_module.KUBEPRISM_STATUS: {
            n.name: [
                resource(
                    n,
                    "k8s-loadbalancer",
                    prism.get(n.name, {"host": "127.0.0.1:7445", "healthy": True}),
                )
            ]
            for n in cluster.nodes
        },
    }
    for talos_type, names in (drop or {}).items():
        for name in names:
            del talos[talos_type][name]
    values: dict[str, Any] = {
        "definition": cluster,
        "target": "test",
        "taken_at": dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
        "kube": {"nodes": [kube_node(n, ready.get(n.name, "True")) for n in cluster.nodes]},
        "talos": talos,
        "api": ApiHealth(server=ENDPOINT, answered=True, seconds=0.01),
    }
    values.update(overrides)
    return Snapshot(**values)


ALL_CHECKS = (
    api_endpoint.vip_configured_on_control_planes,
    api_endpoint.single_healthy_vip_holder,
    api_endpoint.endpoint_is_vip_and_answers,
    api_endpoint.kubeprism_healthy,
)


@pytest.mark.parametrize("check", ALL_CHECKS)
def test_clean_cluster_has_no_findings(check: Any) -> None:
    assert check(snap()) == []


def test_configured_vips_reads_every_form() -> None:
    docs: list[dict[str, Any]] = [
        {
            "version": "v1alpha1",
            "machine": {
                "network": {
                    "interfaces": [
                        {"interface": "eno1", "vip": {"ip": "10.0.0.5"}},
                        {"interface": "eno2", "vlans": [{"vlanId": 7, "vip": {"ip": "10.0.7.5"}}]},
                    ]
                }
            },
        },
        {"apiVersion": "v1alpha1", "kind": "Layer2VIPConfig", "name": "10.0.9.5", "link": "br0"},
    ]
    assert api_endpoint.configured_vips(docs) == [
        ("eno1", "10.0.0.5"),
        ("eno2.7", "10.0.7.5"),
        ("br0", "10.0.9.5"),
    ]


def test_layer2_vip_document_satisfies_the_vip_control() -> None:
    node = reference_cluster().node("node02")
    link = {"kind": "Layer2VIPConfig", "name": VIP, "link": "enp1s0"}
    docs = [*config_docs(node, vip=None), link]
    assert api_endpoint.vip_configured_on_control_planes(snap(configs={"node02": docs})) == []


def test_vip_on_a_link_without_the_nodes_address_is_named_with_both_links() -> None:
    node = reference_cluster().node("node02")
    docs = [*config_docs(node, vip=None), {"kind": "Layer2VIPConfig", "name": VIP, "link": "eno1"}]
    [finding] = api_endpoint.vip_configured_on_control_planes(snap(configs={"node02": docs}))
    assert finding.target == "node02 (k8s-node02)"
    assert finding.observed == f"VIP {VIP} on eno1 (the node's address {node.ip} is on enp1s0)"
    # Without the node's addresses the link cannot be judged; the IP still is.
    unread = snap(configs={"node02": docs}, drop={snapshot_module.ADDRESS_STATUS: {"node02"}})
    assert api_endpoint.vip_configured_on_control_planes(unread) == []


def test_control_plane_without_or_with_another_vip_is_named() -> None:
    n3, n4 = reference_cluster().node("node03"), reference_cluster().node("node04")
    configs = {"node03": config_docs(n3, vip=None), "node04": config_docs(n4, vip="10.10.20.99")}
    findings = api_endpoint.vip_configured_on_control_planes(snap(configs=configs))
    assert {(f.target, f.observed) for f in findings} == {
        ("node03 (k8s-node03)", "no VIP"),
        ("node04 (k8s-node04)", "VIP 10.10.20.99 on enp1s0"),
    }
    assert all(VIP in f.expected for f in findings)


def test_worker_is_not_asked_for_the_vip() -> None:
    cluster = reference_cluster()
    worker = dataclasses.replace(cluster.nodes[5], roles=frozenset({inventory.Role.WORKER}))
    workers = dataclasses.replace(cluster, nodes=(*cluster.nodes[:5], worker))
    configs = {"node06": config_docs(worker, vip=None)}
    assert (
        api_endpoint.vip_configured_on_control_planes(snap(cluster=workers, configs=configs)) == []
    )


def test_unread_config_makes_vip_control_unobservable() -> None:
    key = snapshot_module.on_node(snapshot_module.MACHINE_CONFIG, "node01")
    silent = snap(
        drop={snapshot_module.MACHINE_CONFIG: {"node01"}}, missing={key: "node01 is powered off"}
    )
    with pytest.raises(Unobservable, match="node01 is powered off"):
        api_endpoint.vip_configured_on_control_planes(silent)


def test_two_vip_holders_are_both_named() -> None:
    (finding,) = api_endpoint.single_healthy_vip_holder(snap(holders=("node01", "node05")))
    assert finding.target == f"VIP {VIP}"
    assert finding.observed == "held by 2 nodes: node01 (k8s-node01), node05 (k8s-node05)"


def test_no_holder_is_a_finding() -> None:
    (finding,) = api_endpoint.single_healthy_vip_holder(snap(holders=()))
    assert finding.observed == "held by no node"


def test_holder_that_is_not_ready_is_a_finding() -> None:
    (finding,) = api_endpoint.single_healthy_vip_holder(
        snap(holders=("node02",), ready={"node02": "False"})
    )
    assert finding.observed == "held by node02 (k8s-node02), Ready=False"


def test_one_holder_seen_with_a_silent_node_is_unobservable_not_passed() -> None:
    """The silent node may hold the VIP too: two holders is what API-02 exists to catch."""
    addresses_type = snapshot_module.ADDRESS_STATUS
    failed_over = snap(
        holders=("node02",),
        ready={"node01": "Unknown"},
        drop={addresses_type: {"node01"}},
        missing={snapshot_module.on_node(addresses_type, "node01"): "powered off"},
    )
    with pytest.raises(Unobservable, match=r"node02 \(k8s-node02\) holds the VIP.*powered off"):
        api_endpoint.single_healthy_vip_holder(failed_over)


def test_one_holder_seen_that_is_not_ready_fails_despite_a_silent_node() -> None:
    addresses_type = snapshot_module.ADDRESS_STATUS
    state = snap(
        holders=("node02",),
        ready={"node02": "False"},
        drop={addresses_type: {"node01"}},
        missing={snapshot_module.on_node(addresses_type, "node01"): "powered off"},
    )
    (finding,) = api_endpoint.single_healthy_vip_holder(state)
    assert finding.observed == "held by node02 (k8s-node02), Ready=False"


def test_no_holder_seen_with_a_silent_node_is_unobservable() -> None:
    addresses_type = snapshot_module.ADDRESS_STATUS
    silent = snap(
        holders=("node01",),
        drop={addresses_type: {"node01"}},
        missing={snapshot_module.on_node(addresses_type, "node01"): "powered off"},
    )
    with pytest.raises(Unobservable, match=r"node01 \(k8s-node01\): powered off"):
        api_endpoint.single_healthy_vip_holder(silent)


def test_node_config_pointing_at_a_node_is_named() -> None:
    n2 = reference_cluster().node("node02")
    configs = {"node02": config_docs(n2, endpoint="https://10.10.20.17:6443")}
    (finding,) = api_endpoint.endpoint_is_vip_and_answers(snap(configs=configs))
    assert finding.target == "node02 (k8s-node02) cluster.controlPlane.endpoint"
    assert (finding.expected, finding.observed) == (ENDPOINT, "https://10.10.20.17:6443")


def test_kubeconfig_server_that_is_not_the_endpoint_is_a_finding() -> None:
    loopback = ApiHealth(server="https://127.0.0.1:41234", answered=True, seconds=0.02)
    (finding,) = api_endpoint.endpoint_is_vip_and_answers(snap(api=loopback))
    assert (finding.target, finding.observed) == ("kubeconfig server", "https://127.0.0.1:41234")
    on_vip = ApiHealth(server=ENDPOINT + "/", answered=True, seconds=0.02)
    assert api_endpoint.endpoint_is_vip_and_answers(snap(api=on_vip)) == []


def test_unanswered_and_slow_api_are_findings() -> None:
    down = ApiHealth(server=ENDPOINT, answered=False, seconds=0.1, error="503")
    (finding,) = api_endpoint.endpoint_is_vip_and_answers(snap(api=down))
    assert finding.observed == "no answer (503)"
    slow = ApiHealth(server=ENDPOINT, answered=True, seconds=5.02)
    (finding,) = api_endpoint.endpoint_is_vip_and_answers(snap(api=slow))
    assert (finding.expected, finding.observed) == ("answers within 2 s", "answered after 5.0 s")
    assert api_endpoint.endpoint_is_vip_and_answers(snap(api=slow), max_seconds=6) == []


def test_api_not_asked_is_unobservable() -> None:
    with pytest.raises(Unobservable, match="not asked"):
        api_endpoint.endpoint_is_vip_and_answers(snap(api=None))


def test_kubeprism_problems_are_named_per_node() -> None:
    prism = {
        "node03": {"host": "127.0.0.1:7445", "healthy": False},
        "node04": {"host": "127.0.0.1:7446", "healthy": True},
    }
    findings = api_endpoint.kubeprism_healthy(snap(prism=prism))
    assert {(f.target, f.observed) for f in findings} == {
        ("node03 (k8s-node03)", "not healthy"),
        ("node04 (k8s-node04)", "listening on 127.0.0.1:7446"),
    }


def test_kubeprism_disabled_is_not_running() -> None:
    silent = snap()
    prism = dict(silent.talos[snapshot_module.KUBEPRISM_STATUS])
    prism["node05"] = []
    talos = dict(silent.talos) | {snapshot_module.KUBEPRISM_STATUS: prism}
    (finding,) = api_endpoint.kubeprism_healthy(dataclasses.replace(silent, talos=talos))
    assert (finding.target, finding.observed) == ("node05 (k8s-node05)", "KubePrism not running")


def test_kubeprism_of_a_silent_node_is_unobservable() -> None:
    silent = snap(drop={snapshot_module.KUBEPRISM_STATUS: {"node06"}})
    with pytest.raises(Unobservable, match="node06"):
        api_endpoint.kubeprism_healthy(silent)


def test_vip_probe_outcomes() -> None:
    where = f"{VIP}:6443"
    with pytest.raises(Unobservable, match="simulated"):
        api_endpoint.vip_serves_valid_certificate(snap(), VipProbe(where, skipped="simulated"))
    refused = VipProbe(where, error="connection refused")
    (finding,) = api_endpoint.vip_serves_valid_certificate(snap(), refused)
    assert finding.observed == "no TLS answer (connection refused)"
    wrong = VipProbe(where, connected=True, error="IP address mismatch", sans=("IP:10.10.20.16",))
    (finding,) = api_endpoint.vip_serves_valid_certificate(snap(), wrong)
    assert finding.observed == "IP address mismatch (SANs: IP:10.10.20.16)"
    good = VipProbe(where, connected=True, verified=True, sans=("DNS:localhost", f"IP:{VIP}"))
    assert api_endpoint.vip_serves_valid_certificate(snap(), good) == []


# -- API-05: the VIP probe's logic, against a local TLS server on 127.0.0.1 ---------------


@dataclasses.dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def issue(common_name: str, sans: tuple[str, ...] = (), signer: Issued | None = None) -> Issued:
    """A CA (no *signer*) or a server certificate for the IP *sans* signed by *signer*."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer.cert.subject if signer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=signer is None, path_length=None), critical=True)
    )
    if sans:
        ips = [x509.IPAddress(ipaddress.ip_address(s)) for s in sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(ips), critical=False)
    cert = builder.sign(signer.key if signer else key, hashes.SHA256())
    return Issued(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert,
        key,
    )


@pytest.fixture(scope="module")
def cluster_ca() -> Issued:
    return issue("kubernetes")


@contextlib.contextmanager
def tls_server(leaf: Issued, tmp_path: Path) -> Iterator[int]:
    """A TLS listener on 127.0.0.1 serving *leaf* to every handshake; yields its port."""
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem)
    (tmp_path / "leaf.key").write_bytes(leaf.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_probe_verifies_chain_and_ip_san(cluster_ca: Issued, tmp_path: Path) -> None:
    leaf = issue("kube-apiserver", ("127.0.0.1", VIP), cluster_ca)
    with tls_server(leaf, tmp_path) as port:
        probe = probe_api_endpoint.dial("127.0.0.1", port, cluster_ca.cert_pem.decode())
    assert (probe.connected, probe.verified, probe.error) == (True, True, None)
    assert probe.sans == ("IP:127.0.0.1", f"IP:{VIP}")
    assert api_endpoint.vip_serves_valid_certificate(snap(), probe) == []


def test_probe_reports_a_certificate_not_valid_for_the_address(
    cluster_ca: Issued, tmp_path: Path
) -> None:
    leaf = issue("kube-apiserver", ("10.10.20.16",), cluster_ca)
    with tls_server(leaf, tmp_path) as port:
        probe = probe_api_endpoint.dial("127.0.0.1", port, cluster_ca.cert_pem.decode())
    assert (probe.connected, probe.verified) == (True, False)
    assert probe.sans == ("IP:10.10.20.16",)
    (finding,) = api_endpoint.vip_serves_valid_certificate(snap(), probe)
    assert "mismatch" in finding.observed
    assert "IP:10.10.20.16" in finding.observed


def test_probe_reports_a_certificate_from_another_ca(cluster_ca: Issued, tmp_path: Path) -> None:
    stranger = issue("someone-else")
    leaf = issue("kube-apiserver", ("127.0.0.1",), stranger)
    with tls_server(leaf, tmp_path) as port:
        probe = probe_api_endpoint.dial("127.0.0.1", port, cluster_ca.cert_pem.decode())
    assert (probe.connected, probe.verified) == (True, False)
    assert "issuer" in (probe.error or "")


def test_probe_reports_a_closed_port(cluster_ca: Issued) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
    probe = probe_api_endpoint.dial("127.0.0.1", port, cluster_ca.cert_pem.decode(), timeout=2)
    assert (probe.connected, probe.skipped) == (False, None)
    (finding,) = api_endpoint.vip_serves_valid_certificate(snap(), probe)
    assert finding.observed.startswith("no TLS answer")


@pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")  # pytest-socket's
def test_probe_refused_by_the_loopback_rule_is_a_skip(cluster_ca: Issued) -> None:
    """The project's tests allow only 127.0.0.0/8 (pytest-socket): no packet leaves."""
    probe = probe_api_endpoint.dial("10.10.99.1", 6443, cluster_ca.cert_pem.decode())
    assert probe.connected is False
    assert (probe.skipped or "").startswith("connecting to 10.10.99.1:6443 is not allowed here")


def test_a_bug_while_dialling_is_raised_not_skipped(
    cluster_ca: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> socket.socket:
        raise RuntimeError("a bug in the probe")

    monkeypatch.setattr(probe_api_endpoint, "_connect", broken)
    with pytest.raises(RuntimeError, match="a bug in the probe"):
        probe_api_endpoint.dial("127.0.0.1", 6443, cluster_ca.cert_pem.decode())


def test_probe_through_a_proxy_it_cannot_speak_is_a_skip(cluster_ca: Issued) -> None:
    probe = probe_api_endpoint.dial(
        VIP, 6443, cluster_ca.cert_pem.decode(), proxy="socks5://127.0.0.1:1080"
    )
    assert probe.skipped == "the probe speaks no socks5 proxy"
    with pytest.raises(Unobservable, match="socks5"):
        api_endpoint.vip_serves_valid_certificate(snap(), probe)


def test_probe_reports_a_refused_tunnel(cluster_ca: Issued) -> None:
    """A proxy that will not CONNECT to the VIP: the VIP does not answer (a finding)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"

        def refuse() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\n\r\nno node holds it\n")

        thread = threading.Thread(target=refuse, daemon=True)
        thread.start()
        probe = probe_api_endpoint.dial(VIP, 6443, cluster_ca.cert_pem.decode(), proxy=proxy)
        thread.join(timeout=5)
    assert (probe.connected, probe.skipped) == (False, None)
    assert probe.error == (
        f"the proxy {proxy} answered HTTP/1.1 503 Service Unavailable: no node holds it"
    )
    (finding,) = api_endpoint.vip_serves_valid_certificate(snap(), probe)
    assert finding.observed.startswith("no TLS answer (the proxy")


def kubeconfig(tmp_path: Path, cluster: dict[str, Any]) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "admin@k",
        "contexts": [{"name": "admin@k", "context": {"cluster": "k", "user": "admin"}}],
        "clusters": [{"name": "k", "cluster": {"server": ENDPOINT, **cluster}}],
        "users": [{"name": "admin", "user": {"client-key-data": "c2VjcmV0"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_kubeconfig_proxy_url_is_read(tmp_path: Path) -> None:
    direct = kubeconfig(tmp_path, {})
    assert probe_api_endpoint.kubeconfig_proxy(direct) is None
    proxied = kubeconfig(tmp_path, {"proxy-url": "http://127.0.0.1:3128"})
    assert probe_api_endpoint.kubeconfig_proxy(proxied) == "http://127.0.0.1:3128"


def test_kubeconfig_ca_from_data_or_file(cluster_ca: Issued, tmp_path: Path) -> None:
    data = base64.b64encode(cluster_ca.cert_pem).decode()
    inline = kubeconfig(tmp_path, {"certificate-authority-data": data})
    assert probe_api_endpoint.kubeconfig_ca(inline) == cluster_ca.cert_pem.decode()
    (tmp_path / "ca.crt").write_bytes(cluster_ca.cert_pem)
    on_disk = kubeconfig(tmp_path, {"certificate-authority": "ca.crt"})
    assert probe_api_endpoint.kubeconfig_ca(on_disk) == cluster_ca.cert_pem.decode()


def test_kubeconfig_without_ca_is_a_skip_naming_the_file(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"insecure-skip-tls-verify": True})
    target = Target("live", path, None, None)
    probe = probe_api_endpoint.probe_vip(target, reference_cluster())
    assert probe.skipped is not None
    assert str(path) in probe.skipped
    assert "certificate-authority" in probe.skipped
    assert "c2VjcmV0" not in probe.skipped


def test_api_is_judged_even_when_no_config_was_read() -> None:
    configs_missing = snap(
        talos={},
        missing={snapshot_module.MACHINE_CONFIG: "talosctl timed out"},
        api=ApiHealth(server=ENDPOINT, answered=True, seconds=3.5),
    )
    (finding,) = api_endpoint.endpoint_is_vip_and_answers(configs_missing)
    assert finding.observed == "answered after 3.5 s"
    healthy = dataclasses.replace(configs_missing, api=snap().api)
    with pytest.raises(Unobservable, match="machine configs: talosctl timed out"):
        api_endpoint.endpoint_is_vip_and_answers(healthy)


def test_vip_on_a_node_that_is_not_a_control_plane_is_a_finding() -> None:
    cluster = reference_cluster()
    worker = dataclasses.replace(cluster.nodes[2], roles=frozenset({inventory.Role.WORKER}))
    mixed = dataclasses.replace(cluster, nodes=(*cluster.nodes[:2], worker, *cluster.nodes[3:]))
    (finding,) = api_endpoint.single_healthy_vip_holder(snap(cluster=mixed, holders=("node03",)))
    assert finding.observed == "held by node03 (k8s-node03), not a control plane"


def test_holder_readiness_unknown_without_nodes_is_unobservable() -> None:
    blind = snap(kube={}, missing={"nodes": "the Kubernetes API did not answer"})
    with pytest.raises(Unobservable, match=r"node01 \(k8s-node01\) is Ready: the Kubernetes API"):
        api_endpoint.single_healthy_vip_holder(blind)
