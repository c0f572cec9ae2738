"""The ``helm`` executable end to end against the simulated API server.

One HTTPS API server on 127.0.0.1 (MemoryKV) per module; every command runs
the launcher :func:`simulator.helm.cli.install_helm` writes, as the suite
will, with ``--kubeconfig`` and an isolated repository config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from simulator.helm import releases
from simulator.helm.cli import install_helm
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.kube.server import KubeApiServer
from simulator.pki import ClusterCA, write_kubeconfig
from simulator.store.kv import MemoryKV

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ca = ClusterCA.generate()
    store = ObjectStore(MemoryKV(), builtin_registry())
    namespaces = store.registry.lookup("", "v1", "namespaces")
    assert namespaces is not None
    for name in ("default", "kube-system"):
        store.create(namespaces, "", {"metadata": {"name": name}})
    server = KubeApiServer(store, ca.serving_tls())
    server.start()
    work = tmp_path_factory.mktemp("helm")
    kubeconfig = work / "kubeconfig"
    issued = ca.issue_client_cert("admin", ["system:masters"])
    write_kubeconfig(kubeconfig, server.url, ca.cert_pem, issued.cert_pem, issued.key_pem, "k8s")
    install_helm(work / "bin")
    api: Any = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    yield {"bin": work / "bin" / "helm", "kubeconfig": kubeconfig, "work": work, "api": api}
    api.close()
    server.stop()


def helm(env: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(env["work"]),
        "HELM_REPOSITORY_CONFIG": str(env["work"] / "repositories.yaml"),
    }
    return subprocess.run(
        [str(env["bin"]), *args, "--kubeconfig", str(env["kubeconfig"])],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


def test_launcher_is_executable(env: dict[str, Any]) -> None:
    assert shutil.which("helm", path=str(env["bin"].parent)) == str(env["bin"])
    out = helm(env, "version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('version.BuildInfo{Version:"v3.')


def test_chart_needs_repo_then_installs(env: dict[str, Any]) -> None:
    values = str(ROOT / "cluster" / "helm" / "cilium-values.yaml")
    install = ("upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system")
    missing = helm(env, *install, "--version", "1.19.1", "-f", values)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error: repo cilium not found"

    added = helm(env, "repo", "add", "cilium", "https://helm.cilium.io/")
    assert added.stdout.strip() == '"cilium" has been added to your repositories'
    assert helm(env, "repo", "update").returncode == 0

    # No controllers run here, so nothing would ever be ready: no --wait (see the last test).
    first = helm(env, *install, "--version", "1.19.1", "-f", values)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith('Release "cilium" does not exist. Installing it now.\n')
    assert "STATUS: deployed\nREVISION: 1\n" in first.stdout

    core: Any = client.CoreV1Api(env["api"])
    cm = core.read_namespaced_config_map("cilium-config", "kube-system")
    assert cm.data["kube-proxy-replacement"] == "true"
    assert cm.metadata.annotations["meta.helm.sh/release-name"] == "cilium"
    apps: Any = client.AppsV1Api(env["api"])
    assert apps.read_namespaced_deployment("cilium-operator", "kube-system").spec.replicas == 2

    second = helm(
        env, *install, "--version", "1.19.1", "-f", values, "--set", "operator.replicas=1"
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith('Release "cilium" has been upgraded. Happy Helming!\n')
    assert apps.read_namespaced_deployment("cilium-operator", "kube-system").spec.replicas == 1

    secrets = core.list_namespaced_secret("kube-system", label_selector="owner=helm,name=cilium")
    by_name = {s.metadata.name: s for s in secrets.items}
    assert set(by_name) == {"sh.helm.release.v1.cilium.v1", "sh.helm.release.v1.cilium.v2"}
    assert by_name["sh.helm.release.v1.cilium.v1"].metadata.labels["status"] == "superseded"
    assert by_name["sh.helm.release.v1.cilium.v2"].type == "helm.sh/release.v1"
    stored = releases.from_secret(
        {"data": {"release": by_name["sh.helm.release.v1.cilium.v2"].data["release"]}}
    )
    assert stored.config["operator"] == {"replicas": 1}


def test_list_and_get_values(env: dict[str, Any]) -> None:
    listed = helm(env, "list", "-n", "kube-system", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [
        (r["name"], r["revision"], r["status"], r["chart"], r["app_version"]) for r in rows
    ] == [("cilium", "2", "deployed", "cilium-1.19.1", "1.19.1")]
    assert rows[0]["updated"].endswith(" +0000 UTC")
    table = helm(env, "list", "-A")
    assert table.stdout.splitlines()[0].split() == [
        "NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP", "VERSION"
    ]  # fmt: skip
    assert helm(env, "list", "-n", "default", "-o", "json").stdout.strip() == "[]"

    got = helm(env, "get", "values", "cilium", "-n", "kube-system", "-o", "json")
    user = json.loads(got.stdout)
    assert user["k8sServicePort"] == 7445
    assert user["operator"] == {"replicas": 1}
    text = helm(env, "get", "values", "cilium", "-n", "kube-system")
    assert text.stdout.startswith("USER-SUPPLIED VALUES:\n")
    computed = json.loads(
        helm(env, "get", "values", "cilium", "-n", "kube-system", "--all", "-o", "json").stdout
    )
    assert computed["routingMode"] == "tunnel"  # a chart default the user did not set


def test_bad_kpr_fails_without_new_revision(env: dict[str, Any]) -> None:
    bad = helm(
        env, "upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system",
        "--set", "kubeProxyReplacement=strict",
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: UPGRADE FAILED: execution error at (cilium/templates/")
    assert "kubeProxyReplacement must be explicitly set" in bad.stderr
    assert "Traceback" not in bad.stderr
    rows = json.loads(helm(env, "list", "-n", "kube-system", "-o", "json").stdout)
    assert rows[0]["revision"] == "2"


def test_longhorn_needs_namespace_then_creates_crds(env: dict[str, Any]) -> None:
    assert helm(env, "repo", "add", "longhorn", "https://charts.longhorn.io").returncode == 0
    values = str(ROOT / "cluster" / "helm" / "longhorn-values.yaml")
    args = ("upgrade", "--install", "longhorn", "longhorn/longhorn", "-n", "longhorn-system")
    no_ns = helm(env, *args, "--version", "1.8.1", "-f", values)
    assert no_ns.returncode == 1
    assert no_ns.stderr.strip() == (
        "Error: INSTALLATION FAILED: create: failed to create: "
        'namespaces "longhorn-system" not found'
    )
    done = helm(env, *args, "--version", "1.8.1", "-f", values, "--create-namespace")
    assert done.returncode == 0, done.stderr
    ext: Any = client.ApiextensionsV1Api(env["api"])
    crd = ext.read_custom_resource_definition("volumes.longhorn.io")
    assert crd.spec.names.short_names == ["lhv"]
    cm: Any = client.CoreV1Api(env["api"]).read_namespaced_config_map(
        "longhorn-storageclass", "longhorn-system"
    )
    assert 'numberOfReplicas: "3"' in cm.data["storageclass.yaml"]


def test_foreign_object_is_not_adopted(env: dict[str, Any]) -> None:
    core: Any = client.CoreV1Api(env["api"])
    core.create_namespace({"metadata": {"name": "other"}})
    core.create_namespaced_config_map(
        "other", {"metadata": {"name": "cilium-config"}, "data": {"mine": "yes"}}
    )
    out = helm(env, "upgrade", "--install", "c2", "cilium/cilium", "-n", "other",
               "--set", "kubeProxyReplacement=true")  # fmt: skip
    assert out.returncode == 1
    assert (
        'ConfigMap "cilium-config" in namespace "other" exists and cannot be imported' in out.stderr
    )
    assert core.read_namespaced_config_map("cilium-config", "other").data == {"mine": "yes"}


def test_uninstall_removes_objects_and_history(env: dict[str, Any]) -> None:
    out = helm(env, "uninstall", "cilium", "-n", "kube-system")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'release "cilium" uninstalled'
    core: Any = client.CoreV1Api(env["api"])
    names = {c.metadata.name for c in core.list_namespaced_config_map("kube-system").items}
    assert "cilium-config" not in names
    left = core.list_namespaced_secret("kube-system", label_selector="owner=helm,name=cilium")
    assert left.items == []
    again = helm(env, "uninstall", "cilium", "-n", "kube-system")
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "Error: uninstall: Release not loaded: cilium: release: not found"
    )


def test_wait_fails_the_release_when_its_workloads_never_become_ready(
    env: dict[str, Any],
) -> None:
    # No controllers run against this API server: the Deployment never gets a ReplicaSet.
    install = ("upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system")
    values = str(ROOT / "cluster" / "helm" / "cilium-values.yaml")
    bare = helm(env, *install, "-f", values, "--wait", "--timeout", "300")
    assert bare.returncode == 1
    assert bare.stderr.strip() == (
        'Error: invalid argument "300" for "--timeout" flag: time: missing unit in duration "300"'
    )
    waited = helm(env, *install, "-f", values, "--wait", "--timeout", "2s")
    assert waited.returncode == 1
    assert waited.stderr.strip() == "Error: INSTALLATION FAILED: context deadline exceeded"
    rows = json.loads(helm(env, "list", "-n", "kube-system", "-o", "json").stdout)
    assert [(r["name"], r["revision"], r["status"]) for r in rows] == [("cilium", "1", "failed")]
    core: Any = client.CoreV1Api(env["api"])
    secret = core.read_namespaced_secret("sh.helm.release.v1.cilium.v1", "kube-system")
    stored = releases.from_secret({"data": {"release": secret.data["release"]}})
    assert stored.description == 'Release "cilium" failed: context deadline exceeded'
    helm(env, "uninstall", "cilium", "-n", "kube-system")
