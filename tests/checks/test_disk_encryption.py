"""ENC-01 over hand-built snapshots of the reference cluster's volume statuses.

The clean volumes are shaped as Talos v1.12.5 reports them (``talosctl get
volumestatuses -o json``); each test changes one field the way a real node
would show the problem and looks for the finding that names node and volume.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from checks import disk_encryption
from checks import snapshot as snap
from checks.findings import Unobservable
from checks.snapshot import Snapshot
from provisioning.definition import inventory
from tests.checks import builders


def volume(node_ip: str, volume_id: str, **spec: Any) -> dict[str, Any]:
    encrypted: dict[str, Any] = {
        "phase": "ready",
        "type": "partition",
        "location": "/dev/nvme0n1p3",
        "mountLocation": "/dev/dm-1",
        "filesystem": "xfs",
        "encryptionProvider": "luks2",
        "configuredEncryptionKeys": ["nodeID"],
        "encryptionSlot": 0,
    }
    encrypted.update(spec)
    return {
        "node": node_ip,
        "metadata": {"namespace": "runtime", "id": volume_id},
        "spec": {k: v for k, v in encrypted.items() if v is not None},
    }


def volumes(cluster: inventory.Cluster) -> dict[str, list[dict[str, Any]]]:
    return {
        n.name: [
            volume(
                str(n.ip),
                "META",
                encryptionProvider=None,
                configuredEncryptionKeys=None,
                encryptionSlot=None,
            ),
            volume(str(n.ip), "STATE"),
            volume(str(n.ip), "EPHEMERAL", mountLocation="/dev/dm-0"),
        ]
        for n in cluster.nodes
    }


def configs(cluster: inventory.Cluster, edit: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Every node's applied config as the collector stores it (the rendered definition)."""
    rendered = builders.machine_config_snapshot(cluster, builders.rendered_configs(cluster))
    per_node: dict[str, list[dict[str, Any]]] = copy.deepcopy(
        {k: [dict(r) for r in v] for k, v in rendered.talos[snap.MACHINE_CONFIG].items()}
    )
    if edit is not None:
        for name, resources in per_node.items():
            edit(name, resources[0]["spec"])
    return per_node


def snapshot_of(
    cluster: inventory.Cluster,
    per_node: Any = None,
    config: dict[str, list[dict[str, Any]]] | None = None,
    **kw: Any,
) -> Snapshot:
    talos: dict[str, Any] = {} if per_node is None else {snap.VOLUME_STATUS: per_node}
    talos[snap.MACHINE_CONFIG] = configs(cluster) if config is None else config
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime(2026, 3, 1, tzinfo=UTC),
        talos=talos,
        **kw,
    )


def spec_of(per_node: dict[str, list[dict[str, Any]]], node: str, vid: str) -> dict[str, Any]:
    [found] = [v for v in per_node[node] if v["metadata"]["id"] == vid]
    spec: dict[str, Any] = found["spec"]
    return spec


@pytest.mark.parametrize("vid", ["STATE", "EPHEMERAL"])
def test_clean_cluster_holds(cluster: inventory.Cluster, vid: str) -> None:
    assert (
        disk_encryption.volume_is_luks2_with_node_key(snapshot_of(cluster, volumes(cluster)), vid)
        == []
    )


def test_plain_volume_names_node_and_volume(cluster: inventory.Cluster) -> None:
    per_node = volumes(cluster)
    spec = spec_of(per_node, "node03", "STATE")
    for key in ("encryptionProvider", "configuredEncryptionKeys", "encryptionSlot"):
        del spec[key]  # how Talos reports an unencrypted volume: the fields are absent
    spec["mountLocation"] = spec["location"]
    found = disk_encryption.volume_is_luks2_with_node_key(snapshot_of(cluster, per_node), "STATE")
    assert [f.target for f in found] == ["node03 (k8s-node03) volume STATE"]
    assert "no encryption provider" in found[0].observed
    assert "luks2" in found[0].expected
    assert found[0].doc.startswith("https://docs.siderolabs.com/talos/v1.12/")
    # EPHEMERAL of the same node is untouched, so its scenario still passes.
    assert (
        disk_encryption.volume_is_luks2_with_node_key(snapshot_of(cluster, per_node), "EPHEMERAL")
        == []
    )


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        ({"encryptionSlot": 1}, "unlocked by slot 1"),
        ({"encryptionSlot": None}, "unlocked by slot none"),
        ({"configuredEncryptionKeys": ["nodeID", "static"]}, "keys [nodeID, static]"),
        ({"configuredEncryptionKeys": ["tpm"]}, "keys [tpm]"),
        ({"encryptionProvider": "luks1"}, "luks1"),
    ],
)
def test_other_keying_is_a_finding(
    cluster: inventory.Cluster, change: dict[str, Any], shown: str
) -> None:
    per_node = volumes(cluster)
    spec = spec_of(per_node, "node05", "EPHEMERAL")
    for key, value in change.items():
        if value is None:
            del spec[key]
        else:
            spec[key] = value
    found = disk_encryption.volume_is_luks2_with_node_key(
        snapshot_of(cluster, per_node), "EPHEMERAL"
    )
    assert len(found) == 1
    assert found[0].target == "node05 (k8s-node05) volume EPHEMERAL"
    assert shown in found[0].observed


def test_missing_volume_and_unanswered_node(cluster: inventory.Cluster) -> None:
    per_node = volumes(cluster)
    per_node["node02"] = [v for v in per_node["node02"] if v["metadata"]["id"] != "STATE"]
    del per_node["node04"]
    why = {snap.on_node(snap.VOLUME_STATUS, "node04"): "talosctl got no answer from node04"}
    found = disk_encryption.volume_is_luks2_with_node_key(
        snapshot_of(cluster, per_node, missing=why), "STATE"
    )
    assert {f.target: f.observed for f in found} == {
        "node02 (k8s-node02) volume STATE": "no such volume reported",
        "node04 (k8s-node04) volume STATE": "volume status not read: "
        "talosctl got no answer from node04",
    }


def test_unobservable_when_no_node_answered(cluster: inventory.Cluster) -> None:
    with pytest.raises(Unobservable, match="no node reported"):
        disk_encryption.volume_is_luks2_with_node_key(snapshot_of(cluster, {}), "STATE")
    missing = snapshot_of(cluster, missing={snap.VOLUME_STATUS: "talosctl timed out"})
    with pytest.raises(Unobservable, match="talosctl timed out"):
        disk_encryption.volume_is_luks2_with_node_key(missing, "STATE")


def test_unknown_volume_is_a_usage_error(cluster: inventory.Cluster) -> None:
    with pytest.raises(ValueError, match="STATE, EPHEMERAL"):
        disk_encryption.volume_is_luks2_with_node_key(
            snapshot_of(cluster, copy.deepcopy(volumes(cluster))), "META"
        )


def test_silent_node_beside_conforming_ones_is_unobservable(cluster: inventory.Cluster) -> None:
    per_node = volumes(cluster)
    del per_node["node01"]
    why = {snap.on_node(snap.VOLUME_STATUS, "node01"): "connection refused"}
    with pytest.raises(Unobservable) as skipped:
        disk_encryption.volume_is_luks2_with_node_key(
            snapshot_of(cluster, per_node, missing=why), "EPHEMERAL"
        )
    assert skipped.value.reason.startswith(
        "node01 (k8s-node01) volume EPHEMERAL: volume status not read: connection refused"
    )


def test_volume_not_ready_is_a_finding(cluster: inventory.Cluster) -> None:
    per_node = volumes(cluster)
    spec_of(per_node, "node02", "STATE")["phase"] = "failed"
    found = disk_encryption.volume_is_luks2_with_node_key(snapshot_of(cluster, per_node), "STATE")
    assert [(f.target, "phase failed" in f.observed) for f in found] == [
        ("node02 (k8s-node02) volume STATE", True)
    ]


def _volume_doc(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d.get("kind") == "VolumeConfig" and d.get("name") == name]
    return doc


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (
            lambda doc: doc["encryption"]["keys"].append(
                {"slot": 1, "static": {"passphrase": "x"}}
            ),
            "keys [slot 0: nodeID, slot 1: static]",
        ),
        (lambda doc: doc["encryption"].update(keys=[{"slot": 0, "tpm": {}}]), "[slot 0: tpm]"),
        (
            lambda doc: doc["encryption"].update(keys=[{"slot": 2, "nodeID": {}}]),
            "[slot 2: nodeID]",
        ),
        (lambda doc: doc.pop("encryption"), "declares no encryption"),
    ],
)
def test_applied_config_keying_is_judged_beside_the_volume(
    cluster: inventory.Cluster, change: Any, shown: str
) -> None:
    def edit(name: str, docs: list[dict[str, Any]]) -> None:
        if name == "node06":
            change(_volume_doc(docs, "EPHEMERAL"))

    found = disk_encryption.volume_is_luks2_with_node_key(
        snapshot_of(cluster, volumes(cluster), configs(cluster, edit)), "EPHEMERAL"
    )
    assert [f.target for f in found] == ["node06 (k8s-node06) volume EPHEMERAL config"]
    assert isinstance(found[0], disk_encryption.EncryptionConfigDrift)
    assert shown in found[0].observed
    assert "passphrase" not in found[0].observed
    # STATE of the same node is untouched.
    assert (
        disk_encryption.volume_is_luks2_with_node_key(
            snapshot_of(cluster, volumes(cluster), configs(cluster, edit)), "STATE"
        )
        == []
    )


def test_legacy_system_disk_encryption_counts_as_a_source(cluster: inventory.Cluster) -> None:
    def edit(name: str, docs: list[dict[str, Any]]) -> None:
        if name == "node01":
            docs[0]["machine"]["systemDiskEncryption"] = {
                "state": {"provider": "luks2", "keys": [{"slot": 0, "static": {}}]}
            }

    found = disk_encryption.volume_is_luks2_with_node_key(
        snapshot_of(cluster, volumes(cluster), configs(cluster, edit)), "STATE"
    )
    assert [f.target for f in found] == ["node01 (k8s-node01) volume STATE config"]
    assert "machine.systemDiskEncryption.state: provider luks2, keys [slot 0: static]" in (
        found[0].observed
    )


def test_unread_config_never_lets_the_control_pass(cluster: inventory.Cluster) -> None:
    config = configs(cluster)
    del config["node03"]
    with pytest.raises(
        Unobservable, match=r"node03 \(k8s-node03\) volume STATE config: config not"
    ):
        disk_encryption.volume_is_luks2_with_node_key(
            snapshot_of(cluster, volumes(cluster), config), "STATE"
        )
