"""The Cilium 1.19.1 and Longhorn 1.8.1 renderers with the suite's shipped values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.definition.problems import DefinitionError
from simulator.helm import values
from simulator.helm.charts import RenderError, catalogue

ROOT = Path(__file__).resolve().parents[2]


def _render(chart: str, user: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    found = catalogue()[chart]
    merged = values.coalesce(found.defaults, user)
    return found.render(merged, release=chart, namespace=namespace, version=found.version)


def _shipped(chart: str) -> dict[str, Any]:
    return values.load_file(ROOT / "cluster" / "helm" / f"{chart}-values.yaml")


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


@pytest.fixture(scope="module")
def cilium() -> list[dict[str, Any]]:
    return _render("cilium", _shipped("cilium"), "kube-system")


@pytest.fixture(scope="module")
def longhorn() -> list[dict[str, Any]]:
    return _render("longhorn", _shipped("longhorn"), "longhorn-system")


def test_cilium_config_from_shipped_values(cilium: list[dict[str, Any]]) -> None:
    data = _one(cilium, "ConfigMap", "cilium-config")["data"]
    assert data["kube-proxy-replacement"] == "true"
    assert data["enable-l2-announcements"] == "true"
    assert data["enable-hubble"] == "true"
    assert data["ipam"] == "kubernetes"
    assert data["cgroup-root"] == "/sys/fs/cgroup"
    assert data["k8s-client-qps"] == "10"
    assert data["k8s-client-burst"] == "20"
    assert all(isinstance(v, str) for v in data.values())
    assert "k8sServiceHost" not in data
    assert "k8s-service-host" not in data


def test_cilium_agent_reaches_api_through_kubeprism(cilium: list[dict[str, Any]]) -> None:
    agent = _one(cilium, "DaemonSet", "cilium")
    assert agent["metadata"]["labels"]["k8s-app"] == "cilium"
    assert agent["metadata"]["labels"]["app.kubernetes.io/name"] == "cilium-agent"
    assert agent["spec"]["selector"] == {"matchLabels": {"k8s-app": "cilium"}}
    container = agent["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBERNETES_SERVICE_HOST"] == "localhost"
    assert env["KUBERNETES_SERVICE_PORT"] == "7445"
    caps = container["securityContext"]["capabilities"]["add"]
    assert "SYS_MODULE" not in caps
    assert "NET_ADMIN" in caps
    assert container["image"] == "quay.io/cilium/cilium:v1.19.1"
    init = [c["name"] for c in agent["spec"]["template"]["spec"]["initContainers"]]
    assert "mount-cgroup" not in init  # cgroup.autoMount.enabled: false


def test_cilium_operator_two_replicas_with_required_anti_affinity(
    cilium: list[dict[str, Any]],
) -> None:
    operator = _one(cilium, "Deployment", "cilium-operator")
    assert operator["spec"]["replicas"] == 2
    assert operator["spec"]["selector"]["matchLabels"] == {
        "io.cilium/app": "operator",
        "name": "cilium-operator",
    }
    terms = operator["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms[0]["topologyKey"] == "kubernetes.io/hostname"


def test_cilium_hubble_objects_follow_the_switches(cilium: list[dict[str, Any]]) -> None:
    for kind, name in (
        ("Deployment", "hubble-relay"),
        ("ConfigMap", "hubble-relay-config"),
        ("Service", "hubble-relay"),
        ("Service", "hubble-peer"),
        ("Deployment", "hubble-ui"),
        ("DaemonSet", "cilium-envoy"),
    ):
        _one(cilium, kind, name)
    relay_cfg = _one(cilium, "ConfigMap", "hubble-relay-config")["data"]["config.yaml"]
    assert 'peer-service: "hubble-peer.kube-system.svc.cluster.local:443"' in relay_cfg
    off = _render("cilium", {"kubeProxyReplacement": True, "hubble": {"enabled": False}}, "x")
    names = {o["metadata"]["name"] for o in off}
    assert not names & {"hubble-relay", "hubble-peer", "hubble-ui"}
    data = _one(off, "ConfigMap", "cilium-config")["data"]
    assert data["enable-hubble"] == "false"
    assert "enable-l2-announcements" not in data


def test_cilium_renders_no_crds_and_no_secrets(cilium: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in cilium}
    assert "CustomResourceDefinition" not in kinds
    assert "Secret" not in kinds


@pytest.mark.parametrize("bad", ["strict", "partial", "True", 1, ""])
def test_cilium_rejects_kpr_other_than_true_false(bad: object) -> None:
    with pytest.raises(RenderError, match="kubeProxyReplacement must be explicitly set"):
        _render("cilium", {"kubeProxyReplacement": bad}, "kube-system")


@pytest.mark.parametrize("good", [True, False, "true", "false"])
def test_cilium_accepts_kpr_bool_or_string(good: object) -> None:
    objects = _render("cilium", {"kubeProxyReplacement": good}, "kube-system")
    data = _one(objects, "ConfigMap", "cilium-config")["data"]
    assert data["kube-proxy-replacement"] == str(good).lower()


def test_longhorn_storageclass_text(longhorn: list[dict[str, Any]]) -> None:
    text = _one(longhorn, "ConfigMap", "longhorn-storageclass")["data"]["storageclass.yaml"]
    sc = yaml.safe_load(text)
    assert sc["metadata"]["name"] == "longhorn"
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc["provisioner"] == "driver.longhorn.io"
    assert sc["parameters"]["numberOfReplicas"] == "3"
    assert sc["parameters"]["dataEngine"] == "v1"
    assert all(isinstance(v, str) for v in sc["parameters"].values())


def test_longhorn_data_engine_only_with_revision_counter() -> None:
    objects = _render("longhorn", {"persistence": {"disableRevisionCounter": False}}, "lh")
    sc = yaml.safe_load(
        _one(objects, "ConfigMap", "longhorn-storageclass")["data"]["storageclass.yaml"]
    )
    assert "dataEngine" not in sc["parameters"]
    assert "disableRevisionCounter" not in sc["parameters"]


def test_longhorn_default_settings(longhorn: list[dict[str, Any]]) -> None:
    text = _one(longhorn, "ConfigMap", "longhorn-default-setting")["data"]["default-setting.yaml"]
    settings_ = yaml.safe_load(text)
    assert settings_["default-replica-count"] == 3
    assert "default-replica-count: 3" in text.splitlines()
    assert settings_["default-data-path"] == "/var/lib/longhorn/"
    assert settings_["create-default-disk-labeled-nodes"] is True
    assert settings_["priority-class"] == "longhorn-critical"
    assert "replica-soft-anti-affinity" not in settings_  # unset values are not written


def test_longhorn_objects_labels_and_no_namespace(longhorn: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in longhorn}
    assert "Namespace" not in kinds
    _one(longhorn, "PriorityClass", "longhorn-critical")
    _one(longhorn, "DaemonSet", "longhorn-manager")
    _one(longhorn, "Deployment", "longhorn-driver-deployer")
    _one(longhorn, "Deployment", "longhorn-ui")
    for name in ("longhorn-backend", "longhorn-frontend", "longhorn-admission-webhook"):
        _one(longhorn, "Service", name)
    for obj in longhorn:
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] in ("ConfigMap", "DaemonSet", "Deployment", "CustomResourceDefinition"):
            assert labels["app.kubernetes.io/name"] == "longhorn"
            assert labels["app.kubernetes.io/instance"] == "longhorn"
            assert labels["app.kubernetes.io/version"] == "v1.8.1"
        if "namespace" in obj["metadata"]:
            assert obj["metadata"]["namespace"] == "longhorn-system"


def test_longhorn_crds_short_names_and_columns(longhorn: list[dict[str, Any]]) -> None:
    crds = {
        o["spec"]["names"]["kind"]: o for o in longhorn if o["kind"] == "CustomResourceDefinition"
    }
    assert len(crds) == 22
    assert crds["Volume"]["spec"]["names"]["shortNames"] == ["lhv"]
    assert crds["Setting"]["spec"]["names"]["shortNames"] == ["lhs"]
    storage = [v for v in crds["Volume"]["spec"]["versions"] if v["storage"]]
    assert [v["name"] for v in storage] == ["v1beta2"]
    columns = {c["name"]: c["jsonPath"] for c in storage[0]["additionalPrinterColumns"]}
    assert columns["Robustness"] == ".status.robustness"
    assert columns["Scheduled"] == ".status.conditions[?(@.type=='Schedulable')].status"
    setting_cols = crds["Setting"]["spec"]["versions"][-1]["additionalPrinterColumns"]
    assert setting_cols[0]["jsonPath"] == ".value"


def test_unknown_chart_version_refused() -> None:
    chart = catalogue()["longhorn"]
    with pytest.raises(RenderError, match=r"not 1\.7\.0"):
        chart.render(chart.defaults, release="l", namespace="n", version="1.7.0")


def test_values_files_merge_in_order(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("operator:\n  replicas: 1\n  image: {tag: x}\nhubble: {enabled: true}\n")
    b.write_text("operator:\n  replicas: 3\n")
    merged = values.user_values([a, b], ["hubble.enabled=false,k8sServicePort=7445"])
    assert merged == {
        "operator": {"replicas": 3, "image": {"tag": "x"}},
        "hubble": {"enabled": False},
        "k8sServicePort": 7445,
    }


def test_bad_values_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(DefinitionError) as caught:
        values.load_file(bad)
    assert str(bad) in str(caught.value)
    with pytest.raises(DefinitionError, match="has no value"):
        values.parse_set(["justakey"])


_keys = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
_trees = st.recursive(
    st.integers() | st.booleans() | st.text(max_size=5),
    lambda children: st.dictionaries(_keys, children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_keys, _trees, max_size=4), st.dictionaries(_keys, _trees, max_size=4))
def test_merge_override_wins_and_base_survives(
    base: dict[str, Any], override: dict[str, Any]
) -> None:
    merged = values.merge(base, override)
    for key, value in override.items():
        if not isinstance(value, dict):
            assert merged[key] == value
    for key in base:
        assert key in merged
    assert values.merge(merged, override) == merged
