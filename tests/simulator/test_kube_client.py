"""The simulated API server through the official ``kubernetes`` Python client.

One HTTPS server on 127.0.0.1 per module (MemoryKV behind it); every call goes through a
generated kubeconfig with a client certificate, as the suite's drivers will.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.kube.server import KubeApiServer
from simulator.pki import ClusterCA, write_kubeconfig
from simulator.store.kv import MemoryKV

CONFIGZ = {"kubeletconfig": {"seccompDefault": True}}


@pytest.fixture(scope="module")
def ca() -> ClusterCA:
    return ClusterCA.generate()


@pytest.fixture(scope="module")
def server(ca: ClusterCA) -> Iterator[KubeApiServer]:
    store = ObjectStore(MemoryKV(), builtin_registry())
    namespaces = store.registry.lookup("", "v1", "namespaces")
    assert namespaces is not None
    store.create(namespaces, "", {"metadata": {"name": "default"}})

    def node_proxy(node: str, path: str) -> tuple[int, bytes]:
        if path == "/configz":
            return 200, json.dumps(CONFIGZ).encode()
        return 404, b"404 page not found"

    api = KubeApiServer(store, ca.serving_tls(), node_proxy=node_proxy)
    api.start()
    yield api
    api.stop()


def _kubeconfig(server: KubeApiServer, ca: ClusterCA, path: Path, **cert: Any) -> Path:
    issued = ca.issue_client_cert("admin", ["system:masters"], **cert)
    write_kubeconfig(path, server.url, ca.cert_pem, issued.cert_pem, issued.key_pem, "k8s")
    return path


@pytest.fixture(scope="module")
def api_client(
    server: KubeApiServer, ca: ClusterCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    path = _kubeconfig(server, ca, tmp_path_factory.mktemp("kc") / "kubeconfig")
    # The generated client's models are typed loosely (Optional everywhere); tests use Any.
    api: Any = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
    yield api
    api.close()


@pytest.fixture
def core(api_client: Any) -> Any:
    return client.CoreV1Api(api_client)


def _body(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "{}")
    return body


def _cm(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels or None), data={"k": "v"}
    )


def test_kubeconfig_names_and_mode(server: KubeApiServer, ca: ClusterCA, tmp_path: Path) -> None:
    path = _kubeconfig(server, ca, tmp_path / "kubeconfig")
    assert path.stat().st_mode & 0o777 == 0o600
    document = json.loads(json.dumps(__import__("yaml").safe_load(path.read_text())))
    assert document["current-context"] == "admin@k8s"
    assert document["contexts"][0]["context"] == {
        "cluster": "k8s",
        "namespace": "default",
        "user": "admin@k8s",
    }


def test_version(api_client: Any) -> None:
    info: Any = client.VersionApi(api_client).get_code()
    assert (info.git_version, info.major, info.minor, info.platform) == (
        "v1.35.2",
        "1",
        "35",
        "linux/amd64",
    )


def test_crud_with_selectors(core: Any) -> None:
    core.create_namespaced_config_map("default", _cm("crud-a", app="web"))
    core.create_namespaced_config_map("default", _cm("crud-b", app="db"))
    read = core.read_namespaced_config_map("crud-a", "default")
    assert read.metadata.uid
    assert read.metadata.resource_version
    listed = core.list_namespaced_config_map("default", label_selector="app in (web)")
    assert [i.metadata.name for i in listed.items] == ["crud-a"]
    by_field = core.list_namespaced_config_map("default", field_selector="metadata.name=crud-b")
    assert [i.metadata.name for i in by_field.items] == ["crud-b"]
    patched = core.patch_namespaced_config_map("crud-a", "default", {"data": {"k": "patched"}})
    assert patched.data == {"k": "patched"}
    status = core.delete_namespaced_config_map("crud-a", "default")
    # client v37 hands the Status back as a dict, older ones as V1Status
    assert (status["status"] if isinstance(status, dict) else status.status) == "Success"
    with pytest.raises(ApiException) as excinfo:
        core.read_namespaced_config_map("crud-a", "default")
    assert excinfo.value.status == 404


def test_not_found_body(core: Any) -> None:
    with pytest.raises(ApiException) as excinfo:
        core.read_namespaced_pod("missing", "default")
    assert excinfo.value.status == 404
    assert _body(excinfo.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "missing" not found',
        "reason": "NotFound",
        "details": {"name": "missing", "kind": "pods"},
        "code": 404,
    }


def test_dry_run_stores_nothing(core: Any) -> None:
    created = core.create_namespaced_config_map("default", _cm("dry"), dry_run="All")
    assert created.metadata.name == "dry"
    with pytest.raises(ApiException) as excinfo:
        core.read_namespaced_config_map("dry", "default")
    assert excinfo.value.status == 404
    with pytest.raises(ApiException) as bad:
        core.create_namespaced_config_map("default", _cm("dry"), dry_run="Some")
    assert bad.value.status == 400
    assert _body(bad.value)["message"] == (
        'dryRun: Unsupported value: ["Some"]: supported values: "All"'
    )


def test_conflict_on_stale_replace(core: Any) -> None:
    created = core.create_namespaced_config_map("default", _cm("conflict"))
    core.patch_namespaced_config_map("conflict", "default", {"data": {"k": "new"}})
    with pytest.raises(ApiException) as excinfo:
        core.replace_namespaced_config_map("conflict", "default", created)
    assert excinfo.value.status == 409
    body = _body(excinfo.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "conflict": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_json_patch_through_client(core: Any) -> None:
    core.create_namespaced_config_map("default", _cm("jp"))
    patched = core.patch_namespaced_config_map(
        "jp", "default", [{"op": "add", "path": "/data/extra", "value": "1"}]
    )
    assert patched.data == {"k": "v", "extra": "1"}


def test_watch_is_refused_clearly(core: Any) -> None:
    with pytest.raises(ApiException) as excinfo:
        core.list_namespaced_pod("default", watch=True)
    assert excinfo.value.status == 405
    assert _body(excinfo.value)["message"] == 'watch is not supported on resources of kind "pods"'


def test_custom_objects_on_a_crd(api_client: Any) -> None:
    extensions: Any = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {}}],
            },
        }
    )
    custom: Any = client.CustomObjectsApi(api_client)
    body = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    custom.create_cluster_custom_object("example.com", "v1", "gadgets", body)
    custom.patch_cluster_custom_object("example.com", "v1", "gadgets", "g", {"spec": {"x": 1}})
    listed = custom.list_cluster_custom_object("example.com", "v1", "gadgets")
    assert [(i["metadata"]["name"], i["spec"]) for i in listed["items"]] == [("g", {"x": 1})]
    groups: Any = client.ApisApi(api_client).get_api_versions()
    assert "example.com" in [g.name for g in groups.groups]
    extensions.delete_custom_resource_definition("gadgets.example.com")
    with pytest.raises(ApiException) as excinfo:
        custom.list_cluster_custom_object("example.com", "v1", "gadgets")
    assert excinfo.value.status == 404


def test_node_proxy_configz(core: Any) -> None:
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="node01")))
    raw = core.connect_get_node_proxy_with_path("node01", "configz", _preload_content=False)
    assert json.loads(raw.data) == CONFIGZ
    with pytest.raises(ApiException) as excinfo:
        core.connect_get_node_proxy_with_path("node99", "configz")
    assert _body(excinfo.value)["message"] == 'nodes "node99" not found'


def _get(url: str, ca: ClusterCA, cert: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    if cert is not None:
        context.load_cert_chain(*cert)
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _cert_files(tmp_path: Path, cert_pem: bytes, key_pem: bytes) -> tuple[str, str]:
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    return str(tmp_path / "c.pem"), str(tmp_path / "k.pem")


def test_bad_certificates_get_401(server: KubeApiServer, ca: ClusterCA, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue_client_cert(
        "admin", not_before=now - dt.timedelta(days=2), not_after=now - dt.timedelta(days=1)
    )
    foreign = ClusterCA.generate().issue_client_cert("admin", ["system:masters"])
    for issued in (expired, foreign):
        code, body = _get(
            f"{server.url}/api/v1/namespaces",
            ca,
            _cert_files(tmp_path, issued.cert_pem, issued.key_pem),
        )
        assert (code, body["reason"], body["message"]) == (401, "Unauthorized", "Unauthorized")
    code, body = _get(f"{server.url}/api", ca, None)
    assert (code, body["reason"]) == (401, "Unauthorized")


def test_health_needs_no_certificate(server: KubeApiServer, ca: ClusterCA) -> None:
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    with urllib.request.urlopen(f"{server.url}/readyz", context=context, timeout=10) as response:
        assert (response.status, response.read()) == (200, b"ok")


def test_unavailable_fault(server: KubeApiServer, core: Any) -> None:
    server.set_fault("unavailable")
    try:
        with pytest.raises(ApiException) as excinfo:
            core.list_namespace()
        assert excinfo.value.status == 503
        assert _body(excinfo.value)["reason"] == "ServiceUnavailable"
    finally:
        server.set_fault(None)
    assert "default" in [n.metadata.name for n in core.list_namespace().items]
