"""Longhorn drifts change state; what Talos and longhorn-manager report follows from it.

Fast, in-process: each test applies a drift to a copy of the provisioned
cluster of :mod:`tests.simulator.test_drifts` (its ``ctx`` fixture), runs the
cluster controller once where longhorn-manager would react, and reads back
what LH-02, LH-03 and LH-07 observe -- Talos volume and mount statuses, the
Longhorn Node CRs, the manager's images, the helm release history and the
``current-longhorn-version`` Setting.  A drift that only edited a result, or
a controller that reverted an operator's edit, fails here before the slower
end-to-end tests in tests/suite run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from simulator.controllers import cluster as core
from simulator.drifts import DriftContext, DriftError, apply_to
from simulator.helm import releases, values
from simulator.helm.actions import manifest_text
from simulator.helm.charts import catalogue
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType, builtin_registry
from simulator.state.machines import Site, SiteStore
from simulator.talos import resources
from simulator.talos.errors import TalosError
from tests.simulator.provisioned_cluster import NOW, ROOT

NS = "longhorn-system"
PATH = "/var/lib/longhorn"


def _site(ctx: DriftContext) -> Site:
    return SiteStore(ctx.kv).load()


def _store(ctx: DriftContext) -> ObjectStore:
    return ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)


def _rt(store: ObjectStore, group: str, version: str, plural: str) -> ResourceType:
    found = store.registry.lookup(group, version, plural)
    assert found is not None
    return found


def _reconciled(ctx: DriftContext, minutes: int = 1) -> ObjectStore:
    """The store after one pass of the cluster controller (longhorn-manager included)."""
    store = _store(ctx)
    core.reconcile(_site(ctx), store, now=NOW + dt.timedelta(minutes=minutes))
    return store


def _lh_node(store: ObjectStore, name: str) -> dict[str, Any]:
    return store.get(_rt(store, "longhorn.io", "v1beta2", "nodes"), NS, name)


def _condition(status: dict[str, Any], kind: str) -> str:
    return str(next(c["status"] for c in status["conditions"] if c["type"] == kind))


def _mounts(site: Site, node: str, kind: str) -> dict[str, Any]:
    """Target -> spec of the mount statuses *kind* names on *node*."""
    found = resources.resources(site, site.machines[node], resources.resolve_type(kind))
    return {r.spec["target"]: r.spec for r in found}


def _volume_mounts(site: Site, node: str) -> dict[str, dict[str, Any]]:
    """Volume ID -> mountSpec of the VolumeStatuses on *node* that have one."""
    typedef = resources.resolve_type("volumestatuses")
    return {
        r.id: r.spec["mountSpec"]
        for r in resources.resources(site, site.machines[node], typedef)
        if "mountSpec" in r.spec
    }


# -- mount statuses: the model the LH-02 drift relies on -----------------------------------------


def test_mountstatuses_names_the_block_type_and_mounts_the_legacy_one() -> None:
    assert resources.resolve_type("mountstatuses").type == "MountStatuses.block.talos.dev"
    assert resources.resolve_type("mounts").type == "MountStatuses.runtime.talos.dev"
    assert resources.resolve_type("MountStatuses.runtime.talos.dev").display == "MountStatus"
    with pytest.raises(TalosError, match='"ms" is ambiguous'):
        resources.resolve_type("ms")


def test_mount_statuses_follow_the_volumes(ctx: DriftContext) -> None:
    site = _site(ctx)
    block = _mounts(site, "node04", "mountstatuses")
    assert sorted(block) == ["/system/state", "/var", PATH]
    volume = next(v for v in site.machines["node04"].volumes.values() if v.mount_point == PATH)
    assert block[PATH]["source"] == volume.location
    assert block[PATH]["filesystem"] == "xfs"
    assert block[PATH]["spec"]["volumeID"] == volume.id
    # Talos v1.12 mounts a machine.disks partition under /var inside EPHEMERAL
    # (block/user_disk_config.go): the VolumeStatus holds the relative path, the
    # MountStatus the full one.
    assert block[PATH]["spec"]["parentID"] == "EPHEMERAL"
    assert block["/var"]["spec"]["parentID"] == ""
    specs = _volume_mounts(site, "node04")
    assert specs[volume.id] == {
        "targetPath": "lib/longhorn",
        "selinuxLabel": "system_u:object_r:ephemeral_t:s0",
        "parentId": "EPHEMERAL",
    }
    assert specs["EPHEMERAL"] == {
        "targetPath": "/var",
        "selinuxLabel": "system_u:object_r:ephemeral_t:s0",
    }
    assert specs["STATE"]["targetPath"] == "/system/state"
    assert "encryptionProvider" not in block[PATH]
    # EPHEMERAL is LUKS2 on the shipped cluster: mounted from its mapper device.
    assert block["/var"]["source"].startswith("/dev/dm-")
    assert block["/var"]["encryptionProvider"] == "luks2"
    legacy = _mounts(site, "node04", "mounts")
    assert legacy[PATH] == {
        "source": volume.location,
        "target": PATH,
        "filesystemType": "xfs",
        "options": None,
        "encrypted": False,
    }
    assert legacy["/var"]["encrypted"] is True
    # node01 has no Longhorn SSD: nothing is mounted at the data path there.
    assert sorted(_mounts(site, "node01", "mountstatuses")) == ["/system/state", "/var"]


# -- LH-02 ----------------------------------------------------------------------------------------


def test_drop_data_disk_unmounts_the_path_and_longhorn_sees_the_disk_not_ready(
    ctx: DriftContext,
) -> None:
    assert _condition(_lh_node(_store(ctx), "k8s-node04")["status"], "Ready") == "True"
    said = apply_to(ctx, "longhorn.drop_data_disk", "node04")
    assert said.startswith("node04: machine.disks no longer mounts /dev/disk/by-id/ata-")
    site = _site(ctx)
    machine = site.machines["node04"]
    assert "disks:" not in (machine.config or "")
    assert machine.persistent_config == machine.config  # a reboot keeps it
    assert PATH not in _mounts(site, "node04", "mountstatuses")
    assert PATH not in _mounts(site, "node04", "mounts")
    assert not any(v.startswith("/dev/") for v in _volume_mounts(site, "node04"))
    assert "lib/longhorn" in [m["targetPath"] for m in _volume_mounts(site, "node05").values()]
    assert PATH in _mounts(site, "node05", "mountstatuses")
    store = _reconciled(ctx)
    node04 = _lh_node(store, "k8s-node04")
    (disk,) = node04["status"]["diskStatus"].values()
    assert _condition(disk, "Ready") == "False"
    assert _condition(disk, "Schedulable") == "False"
    # The kubelet bind is still configured: only the mount went.
    assert _condition(node04["status"], "MountPropagation") == "True"
    (other,) = _lh_node(store, "k8s-node05")["status"]["diskStatus"].values()
    assert _condition(other, "Ready") == "True"


def test_drop_data_disk_needs_a_storage_node(ctx: DriftContext) -> None:
    with pytest.raises(DriftError, match="on node01, but its config has none"):
        apply_to(ctx, "longhorn.drop_data_disk", "node01")


def test_drop_kubelet_bind_loses_mount_propagation_only(ctx: DriftContext) -> None:
    apply_to(ctx, "longhorn.drop_kubelet_bind", "node03")
    site = _site(ctx)
    assert "extraMounts" not in (site.machines["node03"].config or "")
    assert PATH in _mounts(site, "node03", "mountstatuses")  # the SSD is still mounted
    store = _reconciled(ctx)
    node03 = _lh_node(store, "k8s-node03")
    assert _condition(node03["status"], "MountPropagation") == "False"
    (disk,) = node03["status"]["diskStatus"].values()
    assert _condition(disk, "Schedulable") == "True"
    assert _condition(_lh_node(store, "k8s-node04")["status"], "MountPropagation") == "True"
    with pytest.raises(DriftError, match=r"needs a kubelet extraMount .* on node01"):
        apply_to(ctx, "longhorn.drop_kubelet_bind", "node01")


# -- LH-03 ----------------------------------------------------------------------------------------


def test_scheduling_disabled_by_an_operator_is_kept_by_longhorn(ctx: DriftContext) -> None:
    apply_to(ctx, "longhorn.node_scheduling_disabled", "node04")
    apply_to(ctx, "longhorn.disk_scheduling_disabled", "node05")
    store = _reconciled(ctx)
    store = _reconciled(ctx, minutes=2)  # a second pass changes nothing back
    assert _lh_node(store, "k8s-node04")["spec"]["allowScheduling"] is False
    node05 = _lh_node(store, "k8s-node05")
    assert node05["spec"]["allowScheduling"] is True
    ((name, disk),) = node05["spec"]["disks"].items()
    assert disk["allowScheduling"] is False
    assert disk["path"] == PATH + "/"
    status = node05["status"]["diskStatus"][name]
    assert _condition(status, "Ready") == "True"
    assert _condition(status, "Schedulable") == "False"
    (other,) = _lh_node(store, "k8s-node06")["spec"]["disks"].values()
    assert other["allowScheduling"] is True
    with pytest.raises(DriftError, match="is it a storage node"):
        apply_to(ctx, "longhorn.disk_scheduling_disabled", "node01")


# -- LH-07 ----------------------------------------------------------------------------------------


def _setting(store: ObjectStore, name: str) -> str:
    return str(store.get(_rt(store, "longhorn.io", "v1beta2", "settings"), NS, name)["value"])


def _manager_images(store: ObjectStore) -> set[str]:
    pods = store.list(_rt(store, "", "v1", "pods"), NS, label_selector="app=longhorn-manager")
    return {c["image"] for p in pods["items"] for c in p["spec"]["containers"]}


def _history(store: ObjectStore) -> list[releases.Release]:
    secrets = store.list(
        _rt(store, "", "v1", "secrets"), NS, label_selector="owner=helm,name=longhorn"
    )
    return sorted((releases.from_secret(s) for s in secrets["items"]), key=lambda r: r.version)


def test_the_manager_records_its_version_and_only_moves_it_up(ctx: DriftContext) -> None:
    store = _store(ctx)
    assert _setting(store, "current-longhorn-version") == "v1.8.1"
    settings = _rt(store, "longhorn.io", "v1beta2", "settings")
    store.patch(
        settings,
        NS,
        "current-longhorn-version",
        b'{"value": "v1.7.2"}',
        "application/merge-patch+json",
    )
    store = _reconciled(ctx)
    assert _setting(store, "current-longhorn-version") == "v1.8.1"  # upgraded: recorded


def _record_install(ctx: DriftContext) -> dict[str, Any]:
    """The release Secret ``helm install`` leaves (the in-process cluster rendered the chart)."""
    chart = catalogue()["longhorn"]
    shipped = values.load_file(ROOT / "cluster" / "helm" / "longhorn-values.yaml")
    merged = values.coalesce(chart.defaults, shipped)
    objects = chart.render(merged, release="longhorn", namespace=NS, version=chart.version)
    stamp = releases.now()
    installed = releases.Release(
        name="longhorn",
        namespace=NS,
        version=1,
        status="deployed",
        chart_name=chart.name,
        chart_version=chart.version,
        app_version=chart.app_version,
        config=dict(shipped),
        manifest=manifest_text(objects),
        first_deployed=stamp,
        last_deployed=stamp,
        description="Install complete",
        chart_values=dict(chart.defaults),
    )
    store = _store(ctx)
    store.create(_rt(store, "", "v1", "secrets"), NS, releases.to_secret(installed, 0))
    return dict(shipped)


def test_release_rolled_back_runs_older_images_under_a_new_revision(ctx: DriftContext) -> None:
    shipped = _record_install(ctx)
    said = apply_to(ctx, "longhorn.release_rolled_back")
    assert "revision 2 runs chart longhorn-1.8.0" in said
    store = _store(ctx)
    history = _history(store)
    assert [(r.version, r.status, r.chart_version) for r in history] == [
        (1, "superseded", "1.8.1"),
        (2, "deployed", "1.8.0"),
    ]
    assert history[1].config == shipped  # the declared values are kept
    assert "longhornio/longhorn-manager:v1.8.0" in history[1].manifest
    assert "v1.8.1" not in history[1].manifest
    daemonsets = _rt(store, "apps", "v1", "daemonsets")
    manager = store.get(daemonsets, NS, "longhorn-manager")
    images = {c["image"] for c in manager["spec"]["template"]["spec"]["containers"]}
    assert images == {"longhornio/longhorn-manager:v1.8.0"}
    assert manager["metadata"]["labels"]["helm.sh/chart"] == "longhorn-1.8.0"
    deployments = _rt(store, "apps", "v1", "deployments")
    ui = store.get(deployments, NS, "longhorn-ui")
    assert {c["image"] for c in ui["spec"]["template"]["spec"]["containers"]} == {
        "longhornio/longhorn-ui:v1.8.0"
    }
    store = _reconciled(ctx)
    assert _manager_images(store) == {"longhornio/longhorn-manager:v1.8.0"}
    # longhorn-manager refuses downgrades and never records one.
    assert _setting(store, "current-longhorn-version") == "v1.8.1"


def test_release_rolled_back_needs_a_release(ctx: DriftContext) -> None:
    store = _store(ctx)
    secrets = _rt(store, "", "v1", "secrets")
    for secret in store.list(secrets, NS, label_selector="owner=helm")["items"]:
        store.delete(secrets, NS, secret["metadata"]["name"])
    with pytest.raises(DriftError, match="needs a deployed helm release longhorn"):
        apply_to(ctx, "longhorn.release_rolled_back")
