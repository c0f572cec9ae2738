"""``python -m simulator serve|status`` as the suite uses it: a subprocess on a state directory.

The shipped definition (``cluster/``) is copied to a temporary directory so
its secret store is created there, rendered with those secrets, and the
simulator is driven only through ``DIR/bin/talosctl``, ``DIR/kubeconfig``,
the official client and ``python -m simulator status``.  One simulator runs
for the module (starting etcd costs about a second); the restart test stops
and starts it on the same state directory.  Every process is stopped in the
fixture's teardown.  Only 127.0.0.1 is dialled; node IPs are data.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from fixtures import probe_api_endpoint
from provisioning.config import render, secrets
from provisioning.definition import inventory

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 40.0
SERVE = (sys.executable, "-m", "simulator", "serve")
CP = "10.10.20.16"  # node01 in cluster/cluster.yaml


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


class Serving:
    """One ``python -m simulator serve`` process and the ways the suite talks to it."""

    def __init__(self, state: Path, cluster: Path, work: Path) -> None:
        self.state, self.cluster, self.work = state, cluster, work
        self.process: subprocess.Popen[str] | None = None
        self.ready_line = ""
        self.before_bootstrap: tuple[int, dict[str, Any]] = (0, {})
        self.kubeconfig_at_bootstrap = False

    def start(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [*SERVE, "--state", str(self.state), "--cluster", str(self.cluster), *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        try:
            self.ready_line = lines.get(timeout=READY_TIMEOUT)
        except queue.Empty:
            self.stop()
            raise AssertionError("simulator printed no ready line") from None
        if not self.ready_line.startswith("simulator ready: "):
            err = self.process.stderr.read() if self.process.stderr else ""
            self.stop()
            raise AssertionError(f"unexpected first line {self.ready_line!r}: {err}")

    def stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        return process.returncode

    def talosctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.state / "bin" / "talosctl"), "--talosconfig"]
        command += [str(self.state / "talosconfig"), *args]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, cwd=self.work
        )
        if check:
            assert done.returncode == 0, f"talosctl {args}: {done.stderr}"
        return done

    def status(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "simulator", "status", "--state", str(self.state)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def kube(self) -> Any:
        path = self.state / "kubeconfig"
        return config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]


def _probe_version(serving: Serving) -> tuple[int, dict[str, Any]]:
    """GET /version without credentials: the API's answer before it has any identity to trust."""
    url = json.loads((serving.state / "serve.json").read_text())["kubernetes"]
    parts = urllib.parse.urlsplit(url)
    context = ssl._create_unverified_context()  # loopback probe of a server not yet bootstrapped
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port, context=context, timeout=10
    )
    try:
        conn.request("GET", "/version")
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def definition(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """The shipped definition in a temp dir, its secrets created, every node rendered."""
    work = tmp_path_factory.mktemp("definition")
    shutil.copytree(ROOT / "cluster", work / "cluster")
    cluster = inventory.load_cluster(work / "cluster", "cluster")
    store = secrets.SecretStore(
        cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
    )
    rendered = render.render_cluster(cluster, store.load_or_create())
    files: dict[str, Path] = {}
    for node in cluster.nodes:
        path = work / f"{node.name}.yaml"
        path.write_text(rendered[node.name].to_yaml(), encoding="utf-8")
        files[str(node.ip)] = path
    return work / "cluster", files


@pytest.fixture(scope="module")
def sim(
    definition: tuple[Path, dict[str, Path]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Serving]:
    cluster, files = definition
    work = tmp_path_factory.mktemp("work")
    serving = Serving(work / "state", cluster, work)
    serving.start()
    try:
        for ip, path in files.items():
            serving.talosctl("apply-config", "--insecure", "-n", ip, "--file", str(path))
        serving.before_bootstrap = _probe_version(serving)
        serving.talosctl("-n", CP, "bootstrap")
        serving.kubeconfig_at_bootstrap = (serving.state / "kubeconfig").exists()
        serving.talosctl("-n", CP, "kubeconfig", str(serving.state / "kubeconfig"), "--force")
        yield serving
    finally:
        serving.stop()


PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "privileged-probe"},
    "spec": {
        "containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]
    },
}


def test_ready_line_names_loopback_urls_and_state(sim: Serving) -> None:
    line = sim.ready_line.strip()
    assert line.startswith("simulator ready: kubernetes https://127.0.0.1:")
    assert ", talos https://127.0.0.1:" in line
    assert line.endswith(f", state {sim.state}")
    info = json.loads((sim.state / "serve.json").read_text())
    assert info["kubernetes"] in line
    assert info["talos"] in line
    assert (sim.state / "bin" / "helm").exists()
    assert (sim.state / "bin" / "kubectl").exists()
    talosconfig = yaml.safe_load((sim.state / "talosconfig").read_text())
    context = talosconfig["contexts"][talosconfig["context"]]
    assert CP in context["endpoints"]
    assert "10.10.20.10" not in context["endpoints"]  # never the VIP (facts, correction 4)


def test_api_answers_503_until_bootstrap_then_kubeconfig_is_written(sim: Serving) -> None:
    status, body = sim.before_bootstrap
    assert status == 503
    assert body["reason"] == "ServiceUnavailable"
    assert body["message"] == "the server is currently unable to handle the request"
    assert sim.kubeconfig_at_bootstrap


def test_version_is_talos_default_kubernetes(sim: Serving) -> None:
    with sim.kube() as api:
        version = client.VersionApi(api).get_code()
    assert version.git_version == "v1.35.2"


def test_kubeconfig_is_signed_by_the_cluster_ca(
    sim: Serving, definition: tuple[Path, dict[str, Path]]
) -> None:
    kubeconfig = yaml.safe_load((sim.state / "kubeconfig").read_text())
    assert kubeconfig["current-context"] == "admin@K8S-CLUSTER"
    rendered = next(yaml.safe_load_all(definition[1][CP].read_text()))
    cluster_ca = rendered["cluster"]["ca"]["crt"]
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] == cluster_ca
    fresh = yaml.safe_load(sim.talosctl("-n", CP, "kubeconfig", "-", "--merge=false").stdout)
    old_cert = kubeconfig["users"][0]["user"]["client-certificate-data"]
    assert fresh["users"][0]["user"]["client-certificate-data"] != old_cert  # minted per call
    info = json.loads((sim.state / "serve.json").read_text())
    assert info["kubernetesCA"].startswith("cluster CA from the applied config")


def test_kubeconfig_names_the_declared_endpoint_reached_through_the_address_proxy(
    sim: Serving,
) -> None:
    """Clients reach the VIP and control-plane addresses as declared, all on loopback."""
    cluster = yaml.safe_load((sim.state / "kubeconfig").read_text())["clusters"][0]["cluster"]
    assert cluster["server"] == "https://10.10.20.10:6443"
    proxy = cluster["proxy-url"]
    assert proxy == json.loads((sim.state / "serve.json").read_text())["addressProxy"]
    assert urllib.parse.urlsplit(proxy).hostname == "127.0.0.1"
    ca = probe_api_endpoint.kubeconfig_ca(sim.state / "kubeconfig")
    for address in ("10.10.20.10", CP):
        probe = probe_api_endpoint.dial(address, 6443, ca, proxy=proxy)
        assert (probe.connected, probe.verified, probe.error) == (True, True, None), address
        assert f"IP:{address}" in probe.sans
    elsewhere = probe_api_endpoint.dial("10.10.99.1", 6443, ca, proxy=proxy)
    assert elsewhere.error is not None
    assert elsewhere.error.endswith(
        "503 Service Unavailable: 10.10.99.1:6443: 10.10.99.1 is no address of this cluster"
    )
    wrong_port = probe_api_endpoint.dial(CP, 22, ca, proxy=proxy)
    assert wrong_port.error is not None
    assert wrong_port.error.endswith(f"nothing listens on {CP}:22")


def test_privileged_pod_is_rejected_in_default_and_admitted_in_kube_system(sim: Serving) -> None:
    with sim.kube() as api:
        core: Any = client.CoreV1Api(api)
        with pytest.raises(ApiException) as rejected:
            core.create_namespaced_pod("default", PRIVILEGED_POD, dry_run="All")
        assert rejected.value.status == 403
        body = json.loads(rejected.value.body or "{}")
        assert body["reason"] == "Forbidden"
        assert body["message"] == (
            'pods "privileged-probe" is forbidden: violates PodSecurity "baseline:latest": '
            'privileged (container "c" must not set securityContext.privileged=true)'
        )
        admitted = core.create_namespaced_pod("kube-system", PRIVILEGED_POD, dry_run="All")
        assert admitted.metadata.name == "privileged-probe"


def test_configz_shows_seccomp_default(sim: Serving) -> None:
    with sim.kube() as api:
        core: Any = client.CoreV1Api(api)
        # Raw JSON: the client's Node model needs fields the simulator may leave out.
        nodes = json.loads(core.list_node(_preload_content=False).data)["items"]
        if not any(n["metadata"]["name"] == "k8s-node01" for n in nodes):
            pytest.skip("no Node k8s-node01: simulator.controllers.cluster did not create it")
        response = core.connect_get_node_proxy_with_path(
            "k8s-node01", "configz", _preload_content=False
        )
        assert json.loads(response.data)["kubeletconfig"]["seccompDefault"] is True


def test_reading_a_secret_writes_a_request_response_audit_event(sim: Serving) -> None:
    secret = {"metadata": {"name": "audit-probe"}, "stringData": {"k": "v"}}
    with sim.kube() as api:
        core: Any = client.CoreV1Api(api)
        core.create_namespaced_secret("default", secret)
        core.read_namespaced_secret("audit-probe", "default")
    done = sim.talosctl("-n", CP, "read", "/var/log/audit/kube/kube-apiserver.log")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    reads = [
        e
        for e in events
        if e["verb"] == "get" and e.get("objectRef", {}).get("name") == "audit-probe"
    ]
    assert reads, "no audit event for the secret read"
    assert reads[-1]["level"] == "RequestResponse"
    assert reads[-1]["stage"] == "ResponseComplete"
    assert reads[-1]["responseObject"]["metadata"]["name"] == "audit-probe"
    namespaces = [e for e in events if e.get("objectRef", {}).get("resource") == "namespaces"]
    assert all(e["level"] == "Metadata" for e in namespaces)


def test_status_reports_running_and_node_stages(sim: Serving) -> None:
    done = sim.status()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "running (pid" in done.stdout
    assert "bootstrapped: yes" in done.stdout
    assert f"node node01 {CP}: running" in done.stdout


def test_second_simulator_on_the_same_state_is_refused(sim: Serving) -> None:
    done = subprocess.run(
        [*SERVE, "--state", str(sim.state), "--cluster", str(sim.cluster)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "is in use by another running simulator" in done.stderr


def test_restart_keeps_objects_and_node_stages(sim: Serving) -> None:
    marker = {"metadata": {"name": "survives-restart"}, "data": {"k": "v"}}
    with sim.kube() as api:
        core: Any = client.CoreV1Api(api)
        core.create_namespaced_config_map("default", marker)
    assert sim.stop() == 0
    stopped = sim.status()
    assert stopped.returncode == 1
    assert "not running" in stopped.stdout
    sim.start()
    # A new process has new ports: regenerate the kubeconfig, as after a real reboot.
    sim.talosctl("-n", CP, "kubeconfig", str(sim.state / "kubeconfig"), "--force")
    with sim.kube() as api:
        reader: Any = client.CoreV1Api(api)
        got = reader.read_namespaced_config_map("survives-restart", "default")
    assert got.data == {"k": "v"}
    info = json.loads((sim.state / "serve.json").read_text())
    assert "site loaded from etcd" in info["notes"]
    assert f"node node01 {CP}: running" in sim.status().stdout


def test_status_of_an_unused_state_dir_is_not_running(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "status", "--state", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 1
    assert "not running" in done.stdout


def test_synthetic_workers_extend_the_inventory() -> None:
    from simulator import statedir
    from tests.simulator import talos_site

    site = talos_site.site(1)
    added = statedir.synthesise_workers(site, 3)
    assert added == ["worker-0001", "worker-0002", "worker-0003"]
    ips = [site.machines[name].ip for name in added]
    assert len(set(ips)) == 3
    assert all(ip.startswith("10.200.") for ip in ips)
    assert statedir.synthesise_workers(site, 3) == []  # idempotent across restarts


def test_reconciler_ignores_its_own_triggers_and_keeps_foreign_ones() -> None:
    from simulator import server

    passes: list[int] = []
    done = threading.Event()

    def run() -> None:
        passes.append(1)
        reconciler.trigger()  # a write made by the pass itself
        if len(passes) >= 2:
            done.set()

    reconciler = server.Reconciler(run)
    try:
        reconciler.run_now()
        assert len(passes) == 1  # the pass's own trigger did not start another
        reconciler.trigger()  # a client's write
        assert done.wait(10)
        assert len(passes) == 2
    finally:
        reconciler.stop()


def test_etcd_failure_exits_non_zero_with_a_clear_message(
    definition: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "etcd").write_text("not a directory")  # etcd cannot use its data dir
    done = subprocess.run(
        [*SERVE, "--state", str(state), "--cluster", str(definition[0])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "etcd failed to start" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (state / "serve.json").exists()
