"""What the shipped definition renders to, node by node (issue: foundation, "Done when").

These assert the properties the reference cluster depends on, on the final
configs exactly as `talosctl apply-config --file controlplane.yaml
--config-patch @...` would produce them, and that contradictions between the
inventory and the patches are caught before anything is applied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provisioning.config import render, secrets
from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError

ROOT = Path(__file__).resolve().parents[2]
FACTORY = (
    "factory.talos.dev/installer/"
    "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245:v1.12.5"
)


@pytest.fixture(scope="module")
def cluster() -> inventory.Cluster:
    return inventory.load_cluster(ROOT / "cluster", display="cluster")


@pytest.fixture(scope="module")
def rendered(cluster: inventory.Cluster) -> dict[str, render.RenderedNode]:
    return render.render_cluster(cluster)


def test_every_node_renders(rendered: dict[str, render.RenderedNode]) -> None:
    assert sorted(rendered) == [f"node0{i}" for i in range(1, 7)]


def test_vip_hostname_and_address_per_node(
    cluster: inventory.Cluster, rendered: dict[str, render.RenderedNode]
) -> None:
    for node in cluster.nodes:
        config = rendered[node.name].config
        (interface,) = config.get("machine.network.interfaces")
        assert interface["vip"] == {"ip": "10.10.20.10"}
        assert interface["addresses"] == [f"{node.ip}/24"]
        hostname = config.find("HostnameConfig")
        assert hostname == {
            "apiVersion": "v1alpha1",
            "kind": "HostnameConfig",
            "auto": "off",
            "hostname": node.hostname,
        }
        assert config.get("machine.network.hostname") is None


def test_cluster_wide_features(rendered: dict[str, render.RenderedNode]) -> None:
    for result in rendered.values():
        config = result.config
        assert config.get("cluster.network.cni.name") == "none"
        assert config.get("cluster.proxy.disabled") is True
        assert config.get("cluster.allowSchedulingOnControlPlanes") is True
        assert config.get("machine.install.image") == FACTORY
        assert config.get("machine.features.kubePrism") == {"enabled": True, "port": 7445}
        assert config.get("machine.kubelet.defaultRuntimeSeccompProfileEnabled") is True
        assert config.get("cluster.controlPlane.endpoint") == "https://10.10.20.10:6443"
        (psa,) = config.get("cluster.apiServer.admissionControl")
        exemptions = psa["configuration"]["exemptions"]["namespaces"]
        assert exemptions == ["kube-system", "longhorn-system"]  # appended, not replaced


def test_luks2_volume_configs(rendered: dict[str, render.RenderedNode]) -> None:
    for result in rendered.values():
        for volume in ("STATE", "EPHEMERAL"):
            doc = result.config.find("VolumeConfig", volume)
            assert doc is not None
            assert doc["encryption"] == {"provider": "luks2", "keys": [{"slot": 0, "nodeID": {}}]}


def test_longhorn_disk_only_on_storage_nodes(
    cluster: inventory.Cluster, rendered: dict[str, render.RenderedNode]
) -> None:
    for node in cluster.nodes:
        disks = rendered[node.name].config.get("machine.disks")
        mounts = rendered[node.name].config.get("machine.kubelet.extraMounts")
        if node.name == "node01":
            assert disks is None
            assert mounts is None
        else:
            assert disks == [
                {"device": node.storage_disk, "partitions": [{"mountpoint": "/var/lib/longhorn"}]}
            ]
            assert mounts[0]["destination"] == "/var/lib/longhorn"
            assert "rshared" in mounts[0]["options"]


def test_without_secrets_every_secret_is_a_placeholder(
    rendered: dict[str, render.RenderedNode],
) -> None:
    config = rendered["node01"].config
    for path in (*secrets.SECRET_PATHS, *secrets.PUBLIC_PATHS):
        expected = render.REDACTED_BYTES if path.endswith((".crt", ".key")) else render.REDACTED
        assert config.get(path) == expected, path


def test_with_secrets_they_are_merged_and_redaction_removes_them(
    cluster: inventory.Cluster,
) -> None:
    machine_secrets = secrets.generate_secrets()
    result = render.render_cluster(cluster, machine_secrets, nodes=[cluster.nodes[0]])["node01"]
    assert result.config.get("machine.token") == machine_secrets.trustd_token
    assert result.config.get("cluster.token") == machine_secrets.bootstrap_token
    text = str(render.redacted_documents(result.config))
    assert all(value not in text for value in machine_secrets.secret_values())


def test_rendering_is_deterministic(cluster: inventory.Cluster) -> None:
    first = {n: r.to_yaml() for n, r in render.render_cluster(cluster).items()}
    second = {n: r.to_yaml() for n, r in render.render_cluster(cluster).items()}
    assert first == second


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "cluster"
    shutil.copytree(ROOT / "cluster", target, ignore=shutil.ignore_patterns(".secrets"))
    return target


def test_patch_contradicting_the_inventory_is_caught(tmp_path: Path) -> None:
    """node04's patch sets .20 (node05's address) while cluster.yaml says .19."""
    definition = _copy(tmp_path)
    patch = definition / "patches" / "k8s-node04.yaml"
    patch.write_text(patch.read_text().replace("10.10.20.19/24", "10.10.20.20/24"))
    cluster = inventory.load_cluster(definition, display="cluster")
    with pytest.raises(DefinitionError) as caught:
        render.render_cluster(cluster)
    messages = [str(p) for p in caught.value.problems]
    assert any(
        m.startswith("node04 (rendered config): machine.network.interfaces[].addresses")
        and "10.10.20.19" in m
        for m in messages
    ), messages


def test_every_node_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    definition = _copy(tmp_path)
    patch = definition / "patches" / "longhorn-extensions.yaml"
    patch.write_text(patch.read_text().replace("613e1592", "0000aaaa"))
    cluster = inventory.load_cluster(definition, display="cluster")
    with pytest.raises(DefinitionError) as caught:
        render.render_cluster(cluster)
    nodes = {
        p.file.split(" ")[0] for p in caught.value.problems if p.field == "machine.install.image"
    }
    assert nodes == {f"node0{i}" for i in range(1, 7)}


def test_inventory_worker_rendered_as_control_plane_is_caught(tmp_path: Path) -> None:
    """The inventory demotes node06 to a worker, but its patches still make a CP with a VIP."""
    definition = _copy(tmp_path)
    text = (definition / "cluster.yaml").read_text()
    marker = "    ip: 10.10.20.21\n    roles: [controlplane, worker, storage]"
    assert marker in text
    (definition / "cluster.yaml").write_text(
        text.replace(marker, "    ip: 10.10.20.21\n    roles: [worker, storage]")
    )
    cluster = inventory.load_cluster(definition, display="cluster")
    node06 = cluster.node("node06")
    assert not node06.is_control_plane
    with pytest.raises(DefinitionError) as caught:
        render.render_cluster(cluster, nodes=[node06])
    fields = {p.field for p in caught.value.problems}
    assert {"machine.type", "machine.network.interfaces[].vip.ip"} <= fields
