"""The shipped definition under ``cluster/`` is well formed and safe to commit.

These tests read the files as an operator commits them, one file at a time,
before any rendering: every YAML file parses, every patch says what it is for,
every manifest names its object, nothing secret is in git, and the base
config carries nothing node-specific (the article's "zero node-specific
configuration").  What the *rendered* per-node configs must contain is tested
over the renderer's output, not here.

The secret detectors are small pure functions so that they can be tested on
synthetic input too: a scan that never fires would pass on any tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.definition import yamlfiles

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"


def _files(pattern: str, under: Path = CLUSTER) -> list[Path]:
    # Hidden directories (an operator's local .secrets, editor state) are not
    # part of the committed definition.
    return sorted(
        path
        for path in under.rglob(pattern)
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(CLUSTER).parts[:-1])
    )


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


YAML_FILES = _files("*.yaml")
ALL_FILES = _files("*")
PATCH_FILES = _files("*.yaml", CLUSTER / "patches")
MANIFEST_FILES = _files("*.yaml", CLUSTER / "manifests")

# The fields `talosctl gen config` fills from the secrets bundle; the base must
# leave every one of them to the renderer.
SECRET_PATHS = (
    "machine.token",
    "machine.ca",
    "cluster.id",
    "cluster.secret",
    "cluster.token",
    "cluster.secretboxEncryptionSecret",
    "cluster.aescbcEncryptionSecret",
    "cluster.ca",
    "cluster.aggregatorCA",
    "cluster.serviceAccount",
    "cluster.etcd.ca",
)

# Settings that differ per node; in the base they would be wrong on five of six.
NODE_SPECIFIC_PATHS = (
    "machine.network.hostname",
    "machine.network.interfaces",
    "machine.network.nameservers",
    "machine.install.disk",
    "machine.install.diskSelector",
    "machine.disks",
)
NODE_SPECIFIC_KINDS = ("LinkConfig", "Layer2VIPConfig", "ResolverConfig", "StaticHostConfig")

_TEXT_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM block", re.compile(r"-----BEGIN [A-Z0-9 ]+-----")),
    ("a base64-encoded PEM block", re.compile(r"LS0tLS1CRUdJTi")),
    ("an age identity", re.compile(r"AGE-SECRET-KEY-")),
)
_SECRET_KEY = re.compile(r"^(?:key|token|secret)$|(?:Key|Token|Secret)$")


def text_secrets(text: str) -> list[str]:
    """What secret-shaped text *text* holds, by kind and line -- never the text itself."""
    found: list[str] = []
    for what, pattern in _TEXT_SECRETS:
        found.extend(
            f"line {text.count(chr(10), 0, match.start()) + 1}: {what}"
            for match in pattern.finditer(text)
        )
    return found


def value_secrets(value: Any) -> list[str]:
    """Paths of non-empty scalars under key/token/secret-named keys in *value*.

    Label-selector ``matchExpressions`` entries have a ``key`` that is a label
    name, not a secret, so they are left alone.
    """
    found: list[str] = []
    for path, leaf in yamlfiles.iter_paths(value):
        names = [part for part in path if isinstance(part, str)]
        if not names or "matchExpressions" in names:
            continue
        if _SECRET_KEY.search(names[-1]) and leaf not in (None, "", False):
            found.append(f"{yamlfiles.field_path(path)} is set")
    return found


def _documents(path: Path) -> list[Any]:
    return [doc.value for doc in yamlfiles.load_documents(path, _rel(path))]


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    cursor: Any = doc
    for part in dotted.split("."):
        if not isinstance(cursor, Mapping) or part not in cursor:
            return None
        cursor = cursor[part]
    return cursor


def _v1alpha1(documents: list[Any]) -> Mapping[str, Any]:
    (doc,) = [d for d in documents if isinstance(d, Mapping) and d.get("version") == "v1alpha1"]
    return doc


def _untyped(documents: list[Any]) -> Mapping[str, Any]:
    # In a patch, the document without apiVersion/kind is the v1alpha1 one.
    (doc,) = [d for d in documents if isinstance(d, Mapping) and "kind" not in d]
    return doc


def _kinds(documents: list[Any], kind: str) -> list[Mapping[str, Any]]:
    return [d for d in documents if isinstance(d, Mapping) and d.get("kind") == kind]


def _inventory() -> Mapping[str, Any]:
    (inventory,) = _documents(CLUSTER / "cluster.yaml")
    assert isinstance(inventory, Mapping)
    return inventory


def _nodes() -> Iterator[Mapping[str, Any]]:
    nodes = _inventory()["nodes"]
    assert isinstance(nodes, list)
    yield from nodes


# --- the detectors themselves ------------------------------------------------


def test_text_scan_finds_pem_base64_pem_and_age_identity() -> None:
    text = (
        "a: 1\n# -----BEGIN EC PRIVATE KEY-----\n"
        "crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n"
        "identity: AGE-SECRET-KEY-1QQQ\n"
    )
    assert text_secrets(text) == [
        "line 2: a PEM block",
        "line 3: a base64-encoded PEM block",
        "line 4: an age identity",
    ]


def test_value_scan_ignores_empty_values_and_selector_keys() -> None:
    value = {
        "machine": {"token": "", "ca": {"key": None}},
        "spec": {"matchExpressions": [{"key": "app", "operator": "In"}]},
        "cluster": {"secretboxEncryptionSecret": "abc"},
    }
    assert value_secrets(value) == ["cluster.secretboxEncryptionSecret is set"]


@settings(max_examples=50)
@given(
    key=st.sampled_from(["key", "token", "secret", "apiToken", "aescbcEncryptionSecret"]),
    secret=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", min_size=12),
)
def test_value_scan_flags_any_secret_without_echoing_it(key: str, secret: str) -> None:
    found = value_secrets({"cluster": {"nested": [{key: secret}]}})
    assert found == [f"cluster.nested[0].{key} is set"]
    assert all(secret not in message for message in found)


# --- every file ----------------------------------------------------------------


def test_the_definition_has_the_expected_files() -> None:
    names = {_rel(path) for path in ALL_FILES}
    expected = {
        "cluster/cluster.yaml",
        "cluster/controlplane.yaml",
        "cluster/README.md",
        "cluster/helm/cilium-values.yaml",
        "cluster/helm/longhorn-values.yaml",
        "cluster/manifests/default-deny.yaml",
        "cluster/manifests/l2-announcement-policy.yaml",
        "cluster/manifests/lb-ip-pool.yaml",
        "cluster/manifests/longhorn-namespace.yaml",
        "cluster/patches/allow-scheduling-cp.yaml",
        "cluster/patches/cilium-cni.yaml",
        "cluster/patches/disk-encryption.yaml",
        "cluster/patches/longhorn-extensions.yaml",
        "cluster/patches/longhorn-storage.yaml",
    } | {f"cluster/patches/k8s-node0{n}.yaml" for n in range(1, 7)}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("path", YAML_FILES, ids=_rel)
def test_file_parses_as_yaml(path: Path) -> None:
    documents = _documents(path)
    assert documents, f"{_rel(path)}: no YAML document"
    assert all(isinstance(doc, Mapping) for doc in documents), f"{_rel(path)}: not a mapping"


@pytest.mark.parametrize("path", PATCH_FILES, ids=_rel)
def test_patch_starts_with_a_comment(path: Path) -> None:
    first = path.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()[0]
    assert first.startswith("# "), f"{_rel(path)}: first line should say what the patch is for"


@pytest.mark.parametrize("path", PATCH_FILES, ids=_rel)
def test_patch_is_a_strategic_merge_patch(path: Path) -> None:
    # Talos v1.12 refuses JSON (RFC 6902) patches on its multi-document configs;
    # a YAML list of ops at top level would be read as one.
    for doc in _documents(path):
        assert isinstance(doc, Mapping), f"{_rel(path)}: JSON patches do not work on v1.12"
        assert "op" not in doc


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=_rel)
def test_manifest_names_its_object(path: Path) -> None:
    for index, doc in enumerate(_documents(path)):
        where = f"{_rel(path)} document {index + 1}"
        for field in ("apiVersion", "kind", "metadata.name"):
            value = _get(doc, field)
            assert isinstance(value, str), f"{where}: {field} missing"
            assert value.strip(), f"{where}: {field} empty"


@pytest.mark.parametrize("path", ALL_FILES, ids=_rel)
def test_no_secret_text_in_file(path: Path) -> None:
    assert text_secrets(path.read_text(encoding="utf-8")) == [], _rel(path)


@pytest.mark.parametrize("path", YAML_FILES, ids=_rel)
def test_no_secret_values_in_file(path: Path) -> None:
    for doc in _documents(path):
        assert value_secrets(doc) == [], _rel(path)


# --- the base config -----------------------------------------------------------


def test_base_holds_none_of_the_generated_secrets() -> None:
    base = _v1alpha1(_documents(CLUSTER / "controlplane.yaml"))
    present = [path for path in SECRET_PATHS if _get(base, path) is not None]
    assert present == []


def test_base_has_no_node_specific_settings() -> None:
    documents = _documents(CLUSTER / "controlplane.yaml")
    base = _v1alpha1(documents)
    assert [path for path in NODE_SPECIFIC_PATHS if _get(base, path)] == []
    assert [kind for kind in NODE_SPECIFIC_KINDS if _kinds(documents, kind)] == []
    assert [d for d in _kinds(documents, "HostnameConfig") if d.get("hostname")] == []
    vips = [path for path, _ in yamlfiles.iter_paths(base) if "vip" in path]
    assert vips == []


def test_base_mentions_no_node_address_hostname_or_disk() -> None:
    text = (CLUSTER / "controlplane.yaml").read_text(encoding="utf-8")
    for node in _nodes():
        for field in ("ip", "hostname", "installDisk", "storageDisk"):
            value = node.get(field)
            if value:
                assert str(value) not in text, f"controlplane.yaml names {node['name']}.{field}"


# --- node patches agree with the inventory ------------------------------------------


@pytest.mark.parametrize("node", list(_nodes()), ids=lambda node: str(node["name"]))
def test_node_patch_implements_its_inventory_entry(node: Mapping[str, Any]) -> None:
    inventory = _inventory()
    patch = CLUSTER / node["patches"][0]
    documents = _documents(patch)
    machine = _untyped(documents)
    (hostname,) = _kinds(documents, "HostnameConfig")
    expected = {"apiVersion": "v1alpha1", "kind": "HostnameConfig", "auto": "off"}
    assert hostname == {**expected, "hostname": node["hostname"]}
    assert _get(machine, "machine.network.hostname") is None
    (interface,) = _get(machine, "machine.network.interfaces")
    assert interface["addresses"] == [f"{node['ip']}/24"]
    assert interface["routes"] == [
        {"network": "0.0.0.0/0", "gateway": inventory["network"]["gateway"]}
    ]
    assert interface["vip"] == {"ip": inventory["controlPlane"]["vip"]}
    assert _get(machine, "machine.network.nameservers") == inventory["network"]["nameservers"]
    assert _get(machine, "machine.install.disk") == node["installDisk"]
    assert str(node["installDisk"]).startswith("/dev/disk/by-id/")
    disks = _get(machine, "machine.disks")
    if node.get("storageDisk"):
        path = inventory["storage"]["longhornPath"]
        assert disks == [{"device": node["storageDisk"], "partitions": [{"mountpoint": path}]}]
    else:
        assert disks is None


# --- helm values ------------------------------------------------------------------------


def test_cilium_values_avoid_removed_key_and_forbidden_capability() -> None:
    (values,) = _documents(CLUSTER / "helm" / "cilium-values.yaml")
    assert "externalIPs" not in values
    capabilities = _get(values, "securityContext.capabilities")
    assert capabilities is not None
    assert all("SYS_MODULE" not in caps for caps in capabilities.values())
    assert (values["k8sServiceHost"], values["k8sServicePort"]) == (
        "localhost",
        _inventory()["controlPlane"]["kubePrismPort"],
    )
