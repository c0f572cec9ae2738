"""The inventory loads the shipped definition and names every mistake precisely.

Each rule test copies ``cluster/`` to a temporary directory, breaks one thing
the way an operator might, and asserts the file, field, line and message of
the problem; the property tests throw random damage at the loader and require
a Cluster or a DefinitionError, never another exception.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrage import x25519

from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError, Problem, Severity

SHIPPED = Path(__file__).resolve().parents[2] / "cluster"
FILE = "cluster/cluster.yaml"


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    target = tmp_path / "cluster"
    shutil.copytree(SHIPPED, target)
    return target


def load(definition: Path) -> inventory.Cluster:
    return inventory.load_cluster(definition, display="cluster")


def edit(definition: Path, old: str, new: str, count: int = 1) -> None:
    path = definition / "cluster.yaml"
    text = path.read_text()
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new))


def problems(definition: Path) -> tuple[Problem, ...]:
    with pytest.raises(DefinitionError) as caught:
        load(definition)
    return caught.value.problems


def errors_of(definition: Path) -> list[Problem]:
    return [p for p in problems(definition) if p.severity is Severity.ERROR]


def line_of(definition: Path, needle: str, name: str = "cluster.yaml") -> int:
    lines = (definition / name).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def the(found: tuple[Problem, ...], field: str) -> Problem:
    matching = [p for p in found if p.field == field]
    assert len(matching) == 1, f"{field}: {[str(p) for p in found]}"
    return matching[0]


# --- the shipped definition ---------------------------------------------------------------


def test_shipped_definition_loads_with_the_reference_values() -> None:
    cluster = inventory.load_cluster(SHIPPED, display="cluster")
    assert cluster.name == "K8S-CLUSTER"
    assert [n.name for n in cluster.nodes] == [f"node0{i}" for i in range(1, 7)]
    assert [n.name for n in cluster.storage_nodes] == [f"node0{i}" for i in range(2, 7)]
    assert len(cluster.control_plane_nodes) == 6
    assert cluster.control_plane.vip == ipaddress.IPv4Address("10.10.20.10")
    assert cluster.control_plane.endpoint == "https://10.10.20.10:6443"
    assert cluster.control_plane.kubeprism_port == 7445
    assert cluster.versions == inventory.Versions("v1.12.5", "1.35.2", "1.19.1", "1.8.1")
    assert cluster.network.subnet == ipaddress.IPv4Network("10.10.20.0/24")
    assert cluster.storage == inventory.Storage("/var/lib/longhorn", 3)
    assert cluster.node("node03").ip == ipaddress.IPv4Address("10.10.20.18")
    assert cluster.node("node01").storage_disk is None
    assert cluster.security.exempt_namespaces == ("kube-system", "longhorn-system")
    assert cluster.backup.snapshot_node == "node01"
    assert cluster.backup.schedule == "0 2 * * *"
    assert cluster.secrets.recipient == "auto"
    assert set(cluster.helm) == {"cilium", "longhorn"}
    assert cluster.helm["longhorn"].values == SHIPPED / "helm" / "longhorn-values.yaml"
    assert cluster.manifests == SHIPPED / "manifests"
    assert cluster.base == inventory.PatchRef(SHIPPED / "controlplane.yaml", "controlplane.yaml")


def test_patch_stacks_are_flattened_in_order() -> None:
    cluster = inventory.load_cluster(SHIPPED)
    features = [
        "patches/cilium-cni.yaml",
        "patches/allow-scheduling-cp.yaml",
        "patches/disk-encryption.yaml",
        "patches/longhorn-extensions.yaml",
    ]
    node01 = [ref.display for ref in cluster.node("node01").patches]
    node02 = [ref.display for ref in cluster.node("node02").patches]
    assert node01 == ["patches/k8s-node01.yaml", *features]
    assert node02 == ["patches/k8s-node02.yaml", *features, "patches/longhorn-storage.yaml"]
    for ref in cluster.node("node02").patches:
        assert ref.path.is_absolute()
        assert ref.path == SHIPPED / ref.display


def test_shipped_definition_warns_only_about_its_even_control_plane() -> None:
    cluster = inventory.load_cluster(SHIPPED, display="cluster")
    (warning,) = cluster.warnings
    assert warning.severity is Severity.WARNING
    assert (warning.file, warning.field) == (FILE, "nodes")
    assert "6 control-plane nodes" in warning.message
    assert "quorum is 4" in warning.message


def test_unknown_node_is_a_lookup_error_naming_the_known_ones() -> None:
    cluster = inventory.load_cluster(SHIPPED)
    with pytest.raises(LookupError, match=r"no node 'node09'.*node01, node02"):
        cluster.node("node09")


def test_model_is_frozen() -> None:
    cluster = inventory.load_cluster(SHIPPED)
    with pytest.raises(AttributeError):
        cluster.nodes[0].ip = ipaddress.IPv4Address("10.10.20.99")  # type: ignore[misc]
    with pytest.raises(TypeError):
        cluster.image_factory.schematic["customization"] = {}  # type: ignore[index]


# --- the file as a whole ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "is empty; expected one Cluster document", None),
        ("# only a comment\n", "is empty", None),
        ("- a\n- list\n", "must be a mapping, not a list", 1),
        ("a: 1\n---\nb: 2\n", "holds 2 YAML documents", None),
        ("name: x\nnodes: [1,\n", "not valid YAML", 3),
    ],
)
def test_whole_file_problems(definition: Path, text: str, message: str, line: int | None) -> None:
    (definition / "cluster.yaml").write_text(text)
    (problem,) = problems(definition)
    assert problem.file == FILE
    assert message in problem.message
    assert problem.line == line


def test_missing_definition_directory_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        inventory.load_cluster(tmp_path / "nope", display="nope")
    (problem,) = caught.value.problems
    assert (problem.file, problem.message) == ("nope/cluster.yaml", "file not found")


def test_api_version_and_kind_are_checked(definition: Path) -> None:
    edit(definition, "apiVersion: conformance.talos.dev/v1alpha1", "apiVersion: v1")
    edit(definition, "kind: Cluster", "kind: Machine")
    found = problems(definition)
    assert "must be 'conformance.talos.dev/v1alpha1', not 'v1'" in the(found, "apiVersion").message
    assert the(found, "kind").line == line_of(definition, "kind: Machine")


def test_unknown_top_level_key_is_named_with_a_suggestion(definition: Path) -> None:
    edit(definition, "\nnetwork:", "\nnetwrok:")
    found = problems(definition)
    typo = the(found, "netwrok")
    assert typo.message == "unknown field 'netwrok'; did you mean 'network'?"
    assert typo.line == line_of(definition, "subnet: 10.10.20.0/24")  # where its value starts
    assert the(found, "network").message == "is required"


def test_unknown_key_inside_a_node_is_named(definition: Path) -> None:
    edit(
        definition,
        "    storageDisk: /dev/disk/by-id/ata-Samsung",
        "    storagedisk: /dev/disk/by-id/ata-Samsung",
    )
    found = problems(definition)
    assert "did you mean 'storageDisk'?" in the(found, "nodes[1].storagedisk").message
    assert "no storageDisk" in the(found, "nodes[1].roles").message


def test_missing_required_field_names_it_at_its_parent_line(definition: Path) -> None:
    edit(definition, "  talos: v1.12.5\n", "")
    problem = the(problems(definition), "versions.talos")
    assert problem.message == "is required"
    assert problem.line == line_of(definition, "kubernetes: 1.35.2")  # where versions' value starts


def test_every_problem_is_reported_in_one_run(definition: Path) -> None:
    edit(definition, "cpu: 6", "cpu: six")
    edit(definition, "retentionDays: 30", "retentionDays: 0")
    edit(definition, "kubePrismPort: 7445", "kubePrismPort: 70000")
    found = problems(definition)
    assert the(found, "nodes[1].cpu").message == "must be an integer, not a string"
    assert the(found, "nodes[1].cpu").line == line_of(definition, "cpu: six")
    assert the(found, "backup.retentionDays").message == "must be at least 1, not 0"
    assert the(found, "controlPlane.kubePrismPort").message == (
        "must be between 1 and 65535, not 70000"
    )


# --- versions, network, control plane -----------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "expect"),
    [
        ("talos: v1.12.5", "talos: 1.12.5", "versions.talos", "is not a Talos version"),
        ("kubernetes: 1.35.2", "kubernetes: v1.35.2", "versions.kubernetes", "no leading v"),
        ("cilium: 1.19.1", "cilium: 1.19", "versions.cilium", "must be a string, not a number"),
        ("longhorn: 1.8.1", "longhorn: latest", "versions.longhorn", "is not a version X.Y.Z"),
    ],
)
def test_version_formats(definition: Path, old: str, new: str, field: str, expect: str) -> None:
    edit(definition, old, new)
    problem = the(problems(definition), field)
    assert expect in problem.message
    assert problem.line == line_of(definition, new)


@pytest.mark.parametrize(
    ("address", "expect"),
    [
        ("10.10.21.16", "is outside network.subnet 10.10.20.0/24"),
        ("10.10.20.0", "is the network address of 10.10.20.0/24"),
        ("10.10.20.255", "is the broadcast address of 10.10.20.0/24"),
        ("10.10.20.1", "is the gateway"),
        ("10.10.20.300", "is not an IPv4 address"),
    ],
)
def test_node_ip_must_be_a_host_of_the_subnet(definition: Path, address: str, expect: str) -> None:
    edit(definition, "ip: 10.10.20.16", f"ip: {address}")
    problem = the(problems(definition), "nodes[0].ip")
    assert expect in problem.message
    assert problem.line == line_of(definition, f"    ip: {address}")


def test_subnet_with_host_bits_is_refused(definition: Path) -> None:
    edit(definition, "subnet: 10.10.20.0/24", "subnet: 10.10.20.5/24")
    assert (
        "host bits set; the network is 10.10.20.0/24"
        in the(problems(definition), "network.subnet").message
    )


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("name: node03", "nodes[2].name"),
        ("hostname: k8s-node03", "nodes[2].hostname"),
        ("ip: 10.10.20.18", "nodes[2].ip"),
    ],
)
def test_duplicates_name_both_entries(definition: Path, name: str, field: str) -> None:
    key = name.split(": ")[0]
    first = {"name": "node01", "hostname": "k8s-node01", "ip": "10.10.20.16"}[key]
    edit(definition, name, f"{key}: {first}")
    problem = the(problems(definition), field)
    assert problem.message == f"{first} is already the {key} of nodes[0] (node01)"
    lines = (definition / "cluster.yaml").read_text().splitlines()
    holders = [i for i, line in enumerate(lines, 1) if line.lstrip("- ") == f"{key}: {first}"]
    assert problem.line == holders[1]  # the second entry, the one that duplicates


@pytest.mark.parametrize("hostname", ["K8S-node01", "k8s_node01", "-k8s", "a" * 64])
def test_hostname_is_a_dns_label(definition: Path, hostname: str) -> None:
    edit(definition, "hostname: k8s-node01", f"hostname: {hostname}")
    problem = the(problems(definition), "nodes[0].hostname")
    assert "is not a DNS label (RFC 1123" in problem.message


def test_vip_equal_to_a_node_ip_is_refused(definition: Path) -> None:
    edit(definition, "vip: 10.10.20.10", "vip: 10.10.20.17")
    found = problems(definition)
    vip = the(found, "controlPlane.vip")
    assert vip.message.startswith("10.10.20.17 is the IP of nodes[1] (node02)")
    assert vip.line == line_of(definition, "vip: 10.10.20.17")


def test_vip_outside_the_subnet_is_refused(definition: Path) -> None:
    edit(definition, "vip: 10.10.20.10", "vip: 10.10.30.10")
    edit(definition, "endpoint: https://10.10.20.10:6443", "endpoint: https://10.10.30.10:6443")
    vip = the(problems(definition), "controlPlane.vip")
    assert "is outside network.subnet 10.10.20.0/24" in vip.message
    assert "layer-2" in vip.message


def test_endpoint_pointing_at_a_node_is_refused(definition: Path) -> None:
    edit(definition, "endpoint: https://10.10.20.10:6443", "endpoint: https://10.10.20.16:6443")
    problem = the(problems(definition), "controlPlane.endpoint")
    assert "points at nodes[0] (node01), a node IP" in problem.message
    assert "https://10.10.20.10:6443" in problem.message
    assert problem.line == line_of(definition, "endpoint: https://10.10.20.16")


@pytest.mark.parametrize(
    ("endpoint", "expect"),
    [
        ("http://10.10.20.10:6443", "is not an https URL"),
        ("10.10.20.10:6443", "is not an https URL"),
        ("https://10.10.20.10", "names no port"),
        ("https://api.example.com:6443", "host 'api.example.com' is not the VIP"),
        ("https://10.10.20.10:6443/api", "must be only scheme, host and port"),
        ("https://10.10.20.10:99999", "is not an https URL"),
    ],
)
def test_endpoint_must_be_the_vip_url(definition: Path, endpoint: str, expect: str) -> None:
    edit(definition, "endpoint: https://10.10.20.10:6443", f"endpoint: {endpoint}")
    assert expect in the(problems(definition), "controlPlane.endpoint").message


def test_endpoint_on_another_port_is_a_warning(definition: Path) -> None:
    edit(definition, "endpoint: https://10.10.20.10:6443", "endpoint: https://10.10.20.10:443")
    cluster = load(definition)
    assert any(
        w.field == "controlPlane.endpoint" and "port 443" in w.message for w in cluster.warnings
    )


@pytest.mark.parametrize("port", ["0", "65536", "'7445'"])
def test_kubeprism_port_range(definition: Path, port: str) -> None:
    edit(definition, "kubePrismPort: 7445", f"kubePrismPort: {port}")
    problem = the(problems(definition), "controlPlane.kubePrismPort")
    assert problem.message in (
        f"must be between 1 and 65535, not {port}",
        "must be an integer, not a string",
    )


# --- roles, storage, disks ------------------------------------------------------------------


def test_unknown_role_is_named(definition: Path) -> None:
    edit(definition, "roles: [controlplane, worker]\n", "roles: [controlplane, master]\n")
    problem = the(problems(definition), "nodes[0].roles[1]")
    assert problem.message == "unknown role 'master'; roles are controlplane, worker, storage"


def test_role_listed_twice_is_named(definition: Path) -> None:
    edit(definition, "roles: [controlplane, worker]\n", "roles: [worker, worker]\n")
    problem = the(problems(definition), "nodes[0].roles")
    assert problem.message == "lists a role twice"


def test_empty_node_entry_is_named(definition: Path) -> None:
    edit(definition, "\nnodes:\n", "\nnodes:\n  -\n")
    problem = the(problems(definition), "nodes[0]")
    assert problem.message.startswith("is empty; a node needs name")
    assert "is already the name of nodes[0]" not in str(problems(definition))


def test_node_needs_controlplane_or_worker(definition: Path) -> None:
    edit(definition, "roles: [controlplane, worker]\n", "roles: []\n")
    problem = the(problems(definition), "nodes[0].roles")
    assert problem.message == "needs the controlplane or the worker role (or both)"


def test_storage_role_without_worker_is_refused(definition: Path) -> None:
    edit(definition, "roles: [controlplane, worker, storage]", "roles: [controlplane, storage]", 5)
    found = problems(definition)
    assert "storage needs the worker role" in the(found, "nodes[1].roles").message


def test_no_control_plane_node_is_refused(definition: Path) -> None:
    edit(definition, "roles: [controlplane, ", "roles: [", 6)
    found = problems(definition)
    assert "no node has the controlplane role" in the(found, "nodes").message
    assert "is not a control-plane node" in the(found, "backup.snapshotNode").message


def test_odd_control_plane_count_has_no_quorum_warning(definition: Path) -> None:
    edit(
        definition,
        "ip: 10.10.20.21\n    roles: [controlplane, worker",
        "ip: 10.10.20.21\n    roles: [worker",
    )
    cluster = load(definition)
    assert len(cluster.control_plane_nodes) == 5
    assert cluster.warnings == ()


def test_storage_role_needs_a_storage_disk(definition: Path) -> None:
    text = (definition / "cluster.yaml").read_text()
    (definition / "cluster.yaml").write_text(re.sub(r"    storageDisk: .*Samsung.*\n", "", text))
    problem = the(problems(definition), "nodes[1].roles")
    assert problem.message == "has the storage role but no storageDisk"
    assert problem.line == line_of(definition, "roles: [controlplane, worker, storage]")


def test_storage_disk_needs_the_storage_role(definition: Path) -> None:
    edit(
        definition,
        "ip: 10.10.20.17\n    roles: [controlplane, worker, storage]",
        "ip: 10.10.20.17\n    roles: [controlplane, worker]",
    )
    problem = the(problems(definition), "nodes[1].storageDisk")
    assert problem.message == "is set but the node lacks the storage role"


def test_replicas_without_storage_nodes(definition: Path) -> None:
    text = (definition / "cluster.yaml").read_text().replace(", storage]", "]")
    (definition / "cluster.yaml").write_text(re.sub(r"    storageDisk: .*\n", "", text))
    problem = the(problems(definition), "storage.replicaCount")
    assert problem.message == "no node has the storage role; Longhorn has nowhere for 3"
    assert problem.line == line_of(definition, "replicaCount: 3")


def test_fewer_storage_nodes_than_replicas(definition: Path) -> None:
    edit(definition, "replicaCount: 3", "replicaCount: 6")
    problem = the(problems(definition), "storage.replicaCount")
    assert problem.message.startswith("6 replicas need 6 storage nodes, only 5 have")


@pytest.mark.parametrize("count", ["0", "21"])
def test_replica_count_is_longhorns_range(definition: Path, count: str) -> None:
    edit(definition, "replicaCount: 3", f"replicaCount: {count}")
    problem = the(problems(definition), "storage.replicaCount")
    assert problem.message == f"must be between 1 and 20, not {count}"


@pytest.mark.parametrize(
    ("old", "field"),
    [("cpu: 6", "cpu"), ("memoryGiB: 8\n    installDisk: /dev/disk/by-id/nvme-WD", "memoryGiB")],
)
def test_cpu_and_memory_are_positive(definition: Path, old: str, field: str) -> None:
    edit(definition, old, old.replace(old.split(": ")[1].split("\n")[0], "-1", 1))
    problem = the(problems(definition), f"nodes[1].{field}")
    assert problem.message == "must be at least 1, not -1"


def test_kernel_device_name_is_a_warning_citing_lesson_2(definition: Path) -> None:
    edit(
        definition,
        "installDisk: /dev/disk/by-id/nvme-CT500P3SSD8_2301E6A1B2C3",
        "installDisk: /dev/nvme0n1",
    )
    cluster = load(definition)
    (warning,) = [w for w in cluster.warnings if w.field == "nodes[0].installDisk"]
    assert "article lesson 2" in warning.message
    assert "/dev/disk/by-id/" in warning.message
    assert warning.line == line_of(definition, "installDisk: /dev/nvme0n1")
    assert cluster.node("node01").install_disk == "/dev/nvme0n1"


def test_disk_outside_dev_and_disk_reuse_are_errors(definition: Path) -> None:
    edit(
        definition, "installDisk: /dev/disk/by-id/nvme-CT500P3SSD8_2301E6A1B2C3", "installDisk: sda"
    )
    edit(
        definition,
        "installDisk: /dev/disk/by-id/nvme-WD_Blue_SN580_500GB_23316F800612",
        "installDisk: /dev/disk/by-id/ata-Samsung_SSD_870_EVO_1TB_S6PTNM0T512345A",
    )
    found = problems(definition)
    assert "is not a device path under /dev/" in the(found, "nodes[0].installDisk").message
    assert the(found, "nodes[1].storageDisk").message == "is the install disk"


# --- referenced files -------------------------------------------------------------------------


def test_missing_node_patch_is_named_where_it_is_referenced(definition: Path) -> None:
    (definition / "patches" / "k8s-node01.yaml").unlink()
    problem = the(problems(definition), "nodes[0].patches[0]")
    assert problem.file == FILE
    assert problem.message.startswith("patches/k8s-node01.yaml: not found")
    assert problem.line == line_of(definition, "patches: [patches/k8s-node01.yaml")


def test_missing_shared_patch_is_reported_once(definition: Path) -> None:
    (definition / "patches" / "cilium-cni.yaml").unlink()
    found = [p for p in problems(definition) if "cilium-cni.yaml" in p.message]
    assert len(found) == 1
    assert found[0].field == "nodes[0].patches[1][0]"


def test_patch_that_is_a_directory(definition: Path) -> None:
    (definition / "patches" / "k8s-node01.yaml").unlink()
    (definition / "patches" / "k8s-node01.yaml").mkdir()
    problem = the(problems(definition), "nodes[0].patches[0]")
    assert "is a directory, not a file" in problem.message


def test_patch_with_invalid_yaml_names_the_patch_and_line(definition: Path) -> None:
    (definition / "patches" / "k8s-node03.yaml").write_text("machine:\n  network: [1,\n  x: 2\n")
    (problem,) = errors_of(definition)
    assert problem.file == "cluster/patches/k8s-node03.yaml"
    assert "not valid YAML" in problem.message
    assert problem.line is not None
    assert problem.line >= 2


def test_patch_document_that_is_not_a_mapping(definition: Path) -> None:
    (definition / "patches" / "k8s-node03.yaml").write_text("machine: {}\n---\n- a\n- b\n")
    (problem,) = errors_of(definition)
    assert problem.file == "cluster/patches/k8s-node03.yaml"
    assert (problem.field, problem.line) == ("document 2", 3)
    assert problem.message == "must be a mapping (or a list of JSON patch ops), not a list"


def test_json_patch_file_is_accepted(definition: Path) -> None:
    ops = "- op: add\n  path: /machine/nodeLabels\n  value: {a: b}\n"
    (definition / "patches" / "k8s-node03.yaml").write_text(ops)
    assert load(definition).node("node03").patches[0].display == "patches/k8s-node03.yaml"


def test_patch_that_is_not_utf8(definition: Path) -> None:
    (definition / "patches" / "k8s-node03.yaml").write_bytes(b"\xff\xfe\x00")
    (problem,) = errors_of(definition)
    assert problem.file == "cluster/patches/k8s-node03.yaml"
    assert "not UTF-8" in problem.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_patch(definition: Path) -> None:
    (definition / "patches" / "k8s-node03.yaml").chmod(0)
    (problem,) = errors_of(definition)
    assert (problem.file, problem.message) == (
        "cluster/patches/k8s-node03.yaml",
        "file is not readable",
    )


def test_patch_list_that_contains_itself_is_an_error_not_a_hang(definition: Path) -> None:
    edit(
        definition,
        "storageFeaturePatches: &storage-features\n  - patches/longhorn-storage.yaml",
        "storageFeaturePatches: &storage-features\n  - patches/longhorn-storage.yaml\n"
        "  - *storage-features",
    )
    (found,) = problems(definition)
    # Refused while loading, as Go's yaml.v3 refuses it ("anchor ... value contains itself").
    assert (found.file, found.message) == (FILE, "an anchor's value contains an alias to itself")
    assert found.line is not None


@pytest.mark.parametrize(
    ("text", "expect"), [(None, "not found"), ("- a\n", "must be a mapping, not a list")]
)
def test_base_file_is_checked(definition: Path, text: str | None, expect: str) -> None:
    base = definition / "controlplane.yaml"
    if text is None:
        base.unlink()
    else:
        base.write_text(text)
    found = problems(definition)
    problem = the(found, "base") if text is None else the(found, "")
    assert expect in problem.message
    assert problem.file == (FILE if text is None else "cluster/controlplane.yaml")


def test_helm_values_file_must_exist(definition: Path) -> None:
    (definition / "helm" / "cilium-values.yaml").unlink()
    problem = the(problems(definition), "helm.cilium.values")
    assert problem.message.startswith("helm/cilium-values.yaml: not found")
    assert problem.line == line_of(definition, "values: helm/cilium-values.yaml")


def test_manifests_must_be_a_directory(definition: Path) -> None:
    shutil.rmtree(definition / "manifests")
    (definition / "manifests").write_text("")
    problem = the(problems(definition), "manifests")
    assert "is a file, not a directory" in problem.message


def test_paths_expand_home(
    definition: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    edit(definition, "directory: ../.backups/K8S-CLUSTER", "directory: ~/backups")
    assert load(definition).backup.directory == tmp_path / "home" / "backups"


# --- security, backup, secrets ------------------------------------------------------------------


def test_exempt_namespaces_are_dns_labels(definition: Path) -> None:
    edit(
        definition,
        "exemptNamespaces: [kube-system, longhorn-system]",
        "exemptNamespaces: [kube-system, Longhorn_System]",
    )
    problem = the(problems(definition), "security.podSecurity.exemptNamespaces[1]")
    assert "'Longhorn_System' is not a namespace name" in problem.message


def test_pod_security_level_is_known(definition: Path) -> None:
    edit(definition, "enforce: baseline", "enforce: strict")
    assert (
        "is not one of privileged, baseline, restricted"
        in the(problems(definition), "security.podSecurity.enforce").message
    )


@pytest.mark.parametrize(
    ("node", "expect"),
    [
        ("node09", "'node09' is not a node in nodes (known: node01"),
        ("node02", "node02 is not a control-plane node"),
    ],
)
def test_snapshot_node_is_a_control_plane_node(definition: Path, node: str, expect: str) -> None:
    edit(definition, "snapshotNode: node01", f"snapshotNode: {node}")
    if node == "node02":
        edit(
            definition,
            "ip: 10.10.20.17\n    roles: [controlplane, worker",
            "ip: 10.10.20.17\n    roles: [worker",
        )
    problem = the(problems(definition), "backup.snapshotNode")
    assert problem.message.startswith(expect)
    assert problem.line == line_of(definition, f"snapshotNode: {node}")


@pytest.mark.parametrize(
    ("schedule", "expect"),
    [
        ("0 2 * *", "has 4 fields"),
        ("@daily", "has 1 fields"),
        ("61 2 * * *", "minute field '61' is not a value or range in 0-59"),
        ("0 2 * 13 *", "month field '13'"),
        ("0 2 * * 7", "day of week field '7'"),
        ("0 5-2 * * *", "backwards range"),
        ("*/0 2 * * *", "bad step"),
        ("CRON_TZ=UTC 0 2 * * *", "has 6 fields"),
    ],
)
def test_schedule_is_a_five_field_cron(definition: Path, schedule: str, expect: str) -> None:
    edit(definition, 'schedule: "0 2 * * *"', f'schedule: "{schedule}"')
    assert expect in the(problems(definition), "backup.schedule").message


@pytest.mark.parametrize(
    "schedule", ["*/15 0-6 1,15 JAN-mar mon-FRI", "0 2 ? * sun", "5 4 * * 0-6/2"]
)
def test_valid_cron_forms_are_accepted(definition: Path, schedule: str) -> None:
    edit(definition, 'schedule: "0 2 * * *"', f'schedule: "{schedule}"')
    assert load(definition).backup.schedule == schedule


def test_recipient_must_be_auto_or_age_x25519(definition: Path) -> None:
    edit(definition, "  recipient: auto", "  recipient: age1notarecipient")
    problem = the(problems(definition), "secrets.recipient")
    assert problem.message.startswith("must be `auto` or an age X25519 recipient")
    assert "age1notarecipient" not in str(problem)


def test_pasted_identity_is_refused_without_echoing_it(definition: Path) -> None:
    secret = str(x25519.Identity.generate())
    edit(definition, "ageRecipient: auto", f"ageRecipient: {secret}")
    problem = the(problems(definition), "backup.ageRecipient")
    assert "holds an age identity (a private key)" in problem.message
    assert secret not in str(problem)
    assert secret[16:] not in str(problem)


def test_valid_recipient_is_kept(definition: Path) -> None:
    recipient = str(x25519.Identity.generate().to_public())
    edit(definition, "  recipient: auto", f"  recipient: {recipient}")
    assert load(definition).secrets.recipient == recipient


# --- robustness: random damage never escapes as another exception ---------------------------------

_SHIPPED_VALUE: dict[str, Any] = yaml.safe_load((SHIPPED / "cluster.yaml").read_text())

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["10.10.20.16", "../x", "~nobody123/x", "auto", "patches/cilium-cni.yaml"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


_ALL_PATHS = [p for p in _paths(_SHIPPED_VALUE) if p]


def _mutate(doc: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return doc


def _assert_loads_or_reports(directory: Path) -> None:
    try:
        inventory.load_cluster(directory, display="cluster")
    except DefinitionError as exc:
        assert any(p.severity is Severity.ERROR for p in exc.problems)
        assert not any("no recorded reason" in p.message for p in exc.problems)
        for problem in exc.problems:
            assert problem.file.startswith("cluster/"), problem
            assert problem.message


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fuzz") / "cluster"
    shutil.copytree(SHIPPED, target)
    return target


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_mutations_yield_a_cluster_or_problems(scratch: Path, data: st.DataObject) -> None:
    doc = copy.deepcopy(_SHIPPED_VALUE)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        doc = _mutate(doc, path, data.draw(_values), data.draw(st.booleans()))
    (scratch / "cluster.yaml").write_text(yaml.safe_dump(doc))
    _assert_loads_or_reports(scratch)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(max_size=200)
    | st.sampled_from(
        ["&a [*a]", "nodes: &n [*n]", "? [a]\n: b", "\ufeffa: 1", "nodes:\n - patches: &p [*p]"]
    )
)
def test_random_text_yields_problems_naming_the_file(scratch: Path, text: str) -> None:
    (scratch / "cluster.yaml").write_text(text)
    _assert_loads_or_reports(scratch)


def test_shipped_paths_are_all_mutable() -> None:
    # The mutation test draws from these; an empty list would make it vacuous.
    assert len(_ALL_PATHS) > 100


def test_cross_field_rules_run_on_incomplete_sections(definition: Path) -> None:
    edit(definition, "nameservers: [10.10.20.1]", "nameservers: [10.10.20.1, ~]")
    edit(definition, "vip: 10.10.20.10", "vip: 10.10.20.16")
    found = problems(definition)
    assert the(found, "network.nameservers[1]").message == "must be a string, not empty"
    assert "is the IP of nodes[0] (node01)" in the(found, "controlPlane.vip").message
    lines = [p.line or 0 for p in found if p.file == FILE]
    assert lines == sorted(lines)  # read top to bottom
