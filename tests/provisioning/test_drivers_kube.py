"""KubeDriver against the simulated API server on 127.0.0.1 (MemoryKV).

The store carries the PodSecurity admission hook the simulator installs, so
a dry-run create of a privileged pod comes back as upstream's 403.  Requests
are counted by wrapping the driver's transport, to pin "one LIST call".
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.drivers import Target, errors, kube
from simulator import apiserver
from simulator.controllers import psa
from simulator.kube.hooks import Hooks
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.kube.server import KubeApiServer
from simulator.pki import ClusterCA, write_kubeconfig
from simulator.store.kv import MemoryKV

NODES = ("", "v1", "nodes")
PODS = ("", "v1", "pods")
CONFIGMAPS = ("", "v1", "configmaps")
CONFIGZ = {"kubeletconfig": {"seccompDefault": True}}
PSA = psa.PodSecurityConfig.from_configuration(
    {
        "apiVersion": "pod-security.admission.config.k8s.io/v1alpha1",
        "kind": "PodSecurityConfiguration",
        "defaults": {"enforce": "baseline", "enforce-version": "latest"},
        "exemptions": {"namespaces": ["kube-system", "longhorn-system"]},
    }
)
PRIVILEGED = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {
        "containers": [
            {"name": "c", "image": "nginx:1.27", "securityContext": {"privileged": True}}
        ]
    },
}


@pytest.fixture(scope="module")
def ca() -> ClusterCA:
    return ClusterCA.generate()


@pytest.fixture(scope="module")
def server(ca: ClusterCA) -> Iterator[KubeApiServer]:
    hooks = Hooks()
    hooks.admission.append(apiserver.pod_security_admission(lambda: PSA, lambda ns: {}))
    store = ObjectStore(MemoryKV(), builtin_registry(), hooks)
    namespaces = store.registry.lookup("", "v1", "namespaces")
    nodes = store.registry.lookup("", "v1", "nodes")
    assert namespaces is not None
    assert nodes is not None
    for name in ("default", "kube-system"):
        store.create(namespaces, "", {"metadata": {"name": name}})
    for index in range(1, 7):
        labels = {"kubernetes.io/hostname": f"k8s-node{index:02d}"}
        if index >= 2:
            labels["node.longhorn.io/create-default-disk"] = "true"
        store.create(nodes, "", {"metadata": {"name": f"k8s-node{index:02d}", "labels": labels}})

    def node_proxy(node: str, path: str) -> tuple[int, bytes]:
        if path == "/configz":
            return 200, json.dumps(CONFIGZ).encode()
        return 404, b"404 page not found"

    with KubeApiServer(store, ca.serving_tls(), node_proxy=node_proxy) as api:
        yield api


def _target(server: KubeApiServer, ca: ClusterCA, path: Path, **cert: Any) -> Target:
    issued = ca.issue_client_cert("admin", ["system:masters"], **cert)
    write_kubeconfig(path, server.url, ca.cert_pem, issued.cert_pem, issued.key_pem, "k8s")
    return Target("simulated", path, None, None)


@pytest.fixture(scope="module")
def target(
    server: KubeApiServer, ca: ClusterCA, tmp_path_factory: pytest.TempPathFactory
) -> Target:
    return _target(server, ca, tmp_path_factory.mktemp("kc") / "kubeconfig")


@pytest.fixture
def driver(target: Target) -> Iterator[kube.KubeDriver]:
    with kube.KubeDriver(target, backoff=0) as driver:
        yield driver


def _count_requests(driver: kube.KubeDriver, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    send = driver._send

    def counted(method: str, path: str, *args: Any) -> tuple[int, bytes]:
        seen.append(f"{method} {path}")
        return send(method, path, *args)

    monkeypatch.setattr(driver, "_send", counted)
    return seen


def test_list_with_label_selector_is_one_call(
    driver: kube.KubeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _count_requests(driver, monkeypatch)
    storage = driver.list(NODES, label_selector="node.longhorn.io/create-default-disk=true")
    assert seen == ["GET /api/v1/nodes"]
    assert [n["metadata"]["name"] for n in storage] == [f"k8s-node{i:02d}" for i in range(2, 7)]
    assert {(n["apiVersion"], n["kind"]) for n in storage} == {("v1", "Node")}
    assert len(driver.list(NODES)) == 6


def test_dry_run_privileged_pod_is_forbidden_by_pod_security(driver: kube.KubeDriver) -> None:
    with pytest.raises(errors.Forbidden) as raised:
        driver.create(PODS, PRIVILEGED, "default", dry_run=True)
    assert (raised.value.code, raised.value.reason) == (403, "Forbidden")
    assert raised.value.status_message.startswith(
        'pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged'
    )
    assert str(raised.value).startswith("POST /api/v1/namespaces/default/pods: 403 Forbidden: ")

    admitted = driver.create(PODS, PRIVILEGED, "kube-system", dry_run=True)
    assert admitted["metadata"]["name"] == "p"
    assert driver.list(PODS) == []  # dry run: nothing stored


def test_write_verbs_and_not_found(driver: kube.KubeDriver) -> None:
    body = {
        "metadata": {"name": "cm", "labels": {"conformance.test/run": "t1"}},
        "data": {"a": "1"},
    }
    created = driver.create(CONFIGMAPS, body, "default")
    assert created["data"] == {"a": "1"}
    with pytest.raises(errors.AlreadyExists):
        driver.create(CONFIGMAPS, body, "default")

    merged = driver.patch(CONFIGMAPS, "cm", {"data": {"b": "2"}}, "merge", "default")
    assert merged["data"] == {"a": "1", "b": "2"}
    ops = [{"op": "remove", "path": "/data/a"}]
    assert driver.patch(CONFIGMAPS, "cm", ops, "json", "default")["data"] == {"b": "2"}
    with pytest.raises(ValueError, match="list of operations"):
        driver.patch(CONFIGMAPS, "cm", {"op": "remove"}, "json", "default")

    driver.delete(CONFIGMAPS, "cm", "default")
    with pytest.raises(errors.NotFound) as raised:
        driver.get(CONFIGMAPS, "cm", "default")
    assert raised.value.status_message == 'configmaps "cm" not found'


def test_apply_manifest_creates_then_replaces(driver: kube.KubeDriver) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied", "namespace": "kube-system"},
        "data": {"v": "1"},
    }
    [first] = driver.apply_manifest([doc])
    [second] = driver.apply_manifest([{**doc, "data": {"v": "2"}}])
    assert first["metadata"]["uid"] == second["metadata"]["uid"]
    assert driver.get(CONFIGMAPS, "applied", "kube-system")["data"] == {"v": "2"}

    with pytest.raises(errors.DriverError, match="does not serve kind Widget in v1"):
        driver.apply_manifest([{"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}])
    with pytest.raises(errors.DriverError, match="manifest document 0: apiVersion, kind"):
        driver.apply_manifest([{"kind": "ConfigMap"}])


def test_node_proxy_and_version(driver: kube.KubeDriver) -> None:
    assert json.loads(driver.node_proxy("k8s-node01", "configz")) == CONFIGZ
    with pytest.raises(errors.NotFound):
        driver.node_proxy("k8s-node01", "/nothing")
    assert driver.version()["gitVersion"] == "v1.35.2"


def test_unavailable_is_retried_then_succeeds(target: Target, server: KubeApiServer) -> None:
    sleeps: list[float] = []

    def heal(seconds: float) -> None:
        sleeps.append(seconds)
        server.set_fault(None)

    server.set_fault("unavailable")
    try:
        with kube.KubeDriver(target, backoff=0.25, sleep=heal) as driver:
            assert driver.version()["gitVersion"] == "v1.35.2"
        assert sleeps == [0.25]

        server.set_fault("unavailable")
        with kube.KubeDriver(target, retries=2, sleep=sleeps.append) as driver:
            with pytest.raises(errors.ApiStatusError) as raised:
                driver.list(NODES)
            assert raised.value.reason == "ServiceUnavailable"
            with pytest.raises(errors.ApiStatusError):  # a write is not repeated
                driver.create(CONFIGMAPS, {"metadata": {"name": "x"}}, "default")
        assert sleeps == [0.25, 0.5, 1.0]
    finally:
        server.set_fault(None)


def test_expired_credentials_are_unauthorized(
    server: KubeApiServer, ca: ClusterCA, tmp_path: Path
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    target = _target(
        server,
        ca,
        tmp_path / "kubeconfig",
        not_before=past,
        not_after=past + dt.timedelta(days=1),
    )
    with kube.KubeDriver(target) as driver, pytest.raises(errors.Unauthorized) as raised:
        driver.list(NODES)
    assert raised.value.code == 401


def test_unreachable_endpoint_is_one_clear_error(ca: ClusterCA, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    issued = ca.issue_client_cert("admin", ["system:masters"])
    path = tmp_path / "kubeconfig"
    url = f"https://127.0.0.1:{port}"
    write_kubeconfig(path, url, ca.cert_pem, issued.cert_pem, issued.key_pem, "k8s")
    sleeps: list[float] = []
    target = Target("dead", path, None, None)
    with (
        kube.KubeDriver(target, retries=2, sleep=sleeps.append) as driver,
        pytest.raises(errors.Unreachable) as raised,
    ):
        driver.list(NODES)
    assert str(raised.value).startswith(
        "GET /api/v1/nodes on target dead (attempt 3): cannot connect"
    )
    assert sleeps == [0.5, 1.0]


def test_bad_kubeconfig_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(errors.DriverError, match=f"cannot load kubeconfig {missing}"):
        kube.KubeDriver(Target("t", missing, None, None))
    with pytest.raises(errors.DriverError, match="target t has no kubeconfig"):
        kube.KubeDriver(Target("t", None, None, None))
    with pytest.raises(ValueError, match="kind must be"):
        kube._path(("", "v1", ""), None)


def test_a_kubeconfig_proxy_url_is_used_whatever_no_proxy_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As client-go: the cluster's proxy-url wins; the environment applies only without one."""
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    document: dict[str, Any] = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": "https://10.10.20.10:6443",
                    "proxy-url": "http://127.0.0.1:41234",
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(document))
    configuration = kube._load_client(path).configuration
    assert (configuration.proxy, configuration.no_proxy) == ("http://127.0.0.1:41234", "")
    del document["clusters"][0]["cluster"]["proxy-url"]
    path.write_text(json.dumps(document))
    configuration = kube._load_client(path).configuration
    assert (configuration.proxy, configuration.no_proxy) == ("http://127.0.0.1:3128", "10.0.0.0/8")
