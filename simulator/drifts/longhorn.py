"""Longhorn drifts (LH-01..LH-07): replicas lowered, default class lost or doubled, a storage
extension gone, the data disk unmounted or unshared, scheduling disabled, the release rolled back.

The StorageClass drifts edit ConfigMap ``longhorn-storageclass`` (what
``helm upgrade --set persistence...`` changes), because longhorn-manager
rewrites StorageClass ``longhorn`` from that ConfigMap: an edit of the
StorageClass alone would be reverted, on a real cluster and in the model.

The data-path drifts edit a node's machine config (its ``machine.disks``
entry or its kubelet bind mount), so that Talos's volume and mount statuses
and Longhorn's Node conditions follow from the config as on a real node; the
scheduling drifts edit the Longhorn Node's ``spec`` as the Longhorn UI does,
which longhorn-manager keeps; the rollback writes what ``helm`` would: a new
release revision of the older chart and the workloads it renders.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

import yaml

from provisioning.definition import schematic
from simulator.drifts import DriftContext, DriftError, drift, edit_config, hostname_of, v1alpha1
from simulator.helm import releases, values
from simulator.helm.actions import manifest_text
from simulator.helm.charts import catalogue
from simulator.helm.releases import Release
from simulator.kube.errors import ApiError
from simulator.talos import convergence

NAMESPACE = "longhorn-system"
STORAGECLASS_CM = "longhorn-storageclass"
DEFAULT_SETTING_CM = "longhorn-default-setting"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
GROUP, VERSION = "longhorn.io", "v1beta2"
EXTENSION = "iscsi-tools"
DATA_PATH_SETTING = "default-data-path"
DEFAULT_DATA_PATH = "/var/lib/longhorn/"
RELEASE = "longhorn"
OLDER_CHART = "1.8.0"  # the patch release before the declared 1.8.1


def _is_iscsi(extension: str) -> bool:
    # The factory lists "iscsi-tools"; a schematic names it "siderolabs/iscsi-tools".
    return extension.rsplit("/", 1)[-1] == EXTENSION


def _edit_class_text(ctx: DriftContext, drift_name: str, change: Any) -> None:
    rt = ctx.rt("", "v1", "configmaps")
    cm = ctx.get(rt, NAMESPACE, STORAGECLASS_CM, drift_name)
    text = (cm.get("data") or {}).get("storageclass.yaml", "")
    doc = yaml.safe_load(text) if text else None
    if not isinstance(doc, dict):
        raise DriftError(f"ConfigMap {NAMESPACE}/{STORAGECLASS_CM} holds no StorageClass")
    change(doc)
    new_text = yaml.safe_dump(doc, sort_keys=False)
    ctx.merge_patch(rt, NAMESPACE, STORAGECLASS_CM, {"data": {"storageclass.yaml": new_text}})


@drift(
    "longhorn.setting_replicas_2",
    controls=("LH-04",),
    description="Longhorn setting default-replica-count is 2 (as helm upgrade --set "
    "defaultSettings.defaultReplicaCount=2 leaves it)",
)
def setting_replicas_2(ctx: DriftContext, node: str | None) -> str:
    # longhorn-manager resets a setting named in ConfigMap longhorn-default-setting to the
    # ConfigMap's value, so the drift changes both, as a helm upgrade with that value does.
    cm_rt = ctx.rt("", "v1", "configmaps")
    cm = ctx.get(cm_rt, NAMESPACE, DEFAULT_SETTING_CM, "longhorn.setting_replicas_2")
    text = str((cm.get("data") or {}).get("default-setting.yaml") or "")
    parsed = yaml.safe_load(text) if text else None
    settings = parsed if isinstance(parsed, dict) else {}
    settings["default-replica-count"] = 2
    new_text = "\n".join(f"{key}: {value}" for key, value in settings.items())
    ctx.merge_patch(
        cm_rt, NAMESPACE, DEFAULT_SETTING_CM, {"data": {"default-setting.yaml": new_text}}
    )
    rt = ctx.rt(GROUP, VERSION, "settings")
    ctx.get(rt, NAMESPACE, "default-replica-count", "longhorn.setting_replicas_2")
    ctx.merge_patch(rt, NAMESPACE, "default-replica-count", {"value": "2"})
    return (
        f'Longhorn setting default-replica-count set to "2" (and in ConfigMap '
        f"{NAMESPACE}/{DEFAULT_SETTING_CM})"
    )


@drift(
    "longhorn.storageclass_replicas_2",
    controls=("LH-04",),
    description=f"ConfigMap {NAMESPACE}/{STORAGECLASS_CM} gives StorageClass longhorn "
    'numberOfReplicas: "2"',
)
def storageclass_replicas_2(ctx: DriftContext, node: str | None) -> str:
    def change(doc: dict[str, Any]) -> None:
        doc.setdefault("parameters", {})["numberOfReplicas"] = "2"

    _edit_class_text(ctx, "longhorn.storageclass_replicas_2", change)
    return f'{STORAGECLASS_CM}: StorageClass longhorn numberOfReplicas set to "2"'


@drift(
    "longhorn.volume_replicas_2",
    controls=("LH-04", "LH-06"),
    description="one Longhorn volume (the first by name) has numberOfReplicas 2",
)
def volume_replicas_2(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt(GROUP, VERSION, "volumes")
    volumes = ctx.store.list(rt, NAMESPACE)["items"]
    if not volumes:
        raise DriftError(
            "drift longhorn.volume_replicas_2 needs a Longhorn volume, but the simulated "
            "cluster has none (create a PVC on StorageClass longhorn first)"
        )
    name = sorted(v["metadata"]["name"] for v in volumes)[0]
    ctx.merge_patch(rt, NAMESPACE, name, {"spec": {"numberOfReplicas": 2}})
    return f"Longhorn volume {name}: numberOfReplicas set to 2"


@drift(
    "longhorn.remove_default_annotation",
    controls=("LH-05",),
    description="StorageClass longhorn is no longer the default class",
)
def remove_default_annotation(ctx: DriftContext, node: str | None) -> str:
    def change(doc: dict[str, Any]) -> None:
        annotations = doc.setdefault("metadata", {}).get("annotations") or {}
        annotations.pop(DEFAULT_ANNOTATION, None)
        doc["metadata"]["annotations"] = annotations

    _edit_class_text(ctx, "longhorn.remove_default_annotation", change)
    rt = ctx.rt("storage.k8s.io", "v1", "storageclasses")
    try:
        ctx.store.get(rt, "", "longhorn")
    except ApiError as exc:
        if exc.code != 404:  # absent: the manager creates it later from the ConfigMap
            raise
    else:
        patch = {"metadata": {"annotations": {DEFAULT_ANNOTATION: None}}}
        ctx.merge_patch(rt, "", "longhorn", patch)
    return f"StorageClass longhorn: annotation {DEFAULT_ANNOTATION} removed"


@drift(
    "longhorn.second_default_class",
    controls=("LH-05",),
    description="a second StorageClass, local-path, is also marked default",
)
def second_default_class(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("longhorn.second_default_class")
    ctx.store.create(
        ctx.rt("storage.k8s.io", "v1", "storageclasses"),
        "",
        {
            "metadata": {"name": "local-path", "annotations": {DEFAULT_ANNOTATION: "true"}},
            "provisioner": "rancher.io/local-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    )
    return "StorageClass local-path created, marked default"


@drift(
    "longhorn.remove_extension",
    controls=("LH-01",),
    description=f"a node (--node, default the first) runs an installer without {EXTENSION}",
    takes_node=True,
)
def remove_extension(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.machine(node)
    extensions = ctx.site.schematics.get(machine.schematic)
    if not extensions or not any(_is_iscsi(e) for e in extensions):
        raise DriftError(
            f"drift longhorn.remove_extension needs {machine.name} to run {EXTENSION}, "
            "but its installer does not carry it (is it provisioned?)"
        )
    kept = [e for e in extensions if not _is_iscsi(e)]
    # A new Image Factory schematic: ids are content hashes of the customization.
    official = [e if "/" in e else f"siderolabs/{e}" for e in kept]
    new_id = schematic.schematic_id(
        {"customization": {"systemExtensions": {"officialExtensions": official}}}
    )
    ctx.site.schematics[new_id] = kept
    machine.schematic = new_id
    machine.image = f"factory.talos.dev/installer/{new_id}:{machine.talos_version}"
    machine.generation += 1
    ctx.save_site()
    return f"{machine.name}: now runs {machine.image}, without {EXTENSION}"


# -- LH-02 / LH-03: the data path on the nodes --------------------------------------------------


def _data_path(ctx: DriftContext) -> str:
    """Where Longhorn keeps replicas: its ``default-data-path`` Setting, without the slash."""
    rt = ctx.rt(GROUP, VERSION, "settings")
    try:
        setting = ctx.store.get(rt, NAMESPACE, DATA_PATH_SETTING)
    except ApiError as exc:
        if exc.code != 404:
            raise
        setting = {}
    return str(setting.get("value") or DEFAULT_DATA_PATH).rstrip("/") or "/"


def _at(path: object, wanted: str) -> bool:
    return str(path or "").rstrip("/") == wanted


@drift(
    "longhorn.drop_data_disk",
    controls=("LH-02", "LH-03"),
    description="a storage node (--node, default node04) was re-configured without the "
    "machine.disks entry of its Longhorn SSD and Talos released the volume: nothing is mounted "
    "at the data path, so its Longhorn disk is not ready",
    takes_node=True,
)
def drop_data_disk(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.drop_data_disk"
    machine = ctx.configured(node or "node04", name)
    path = _data_path(ctx)
    dropped: list[str] = []
    with edit_config(machine) as docs:
        config = v1alpha1(docs, machine)["machine"]
        kept = []
        for disk in config.get("disks") or []:
            partitions = [
                p for p in disk.get("partitions") or [] if not _at(p.get("mountpoint"), path)
            ]
            if len(partitions) == len(disk.get("partitions") or []):
                kept.append(disk)
                continue
            dropped.append(str(disk.get("device")))
            if partitions:
                kept.append({**disk, "partitions": partitions})
        if not dropped:
            raise DriftError(
                f"drift {name} needs a machine.disks partition mounted at {path} on "
                f"{machine.name}, but its config has none (is it a storage node?)"
            )
        if kept:
            config["disks"] = kept
        else:
            config.pop("disks")
    # Talos's user-disk controller acts on the new config at boot: the volume is released.
    convergence.converge(ctx.site)
    ctx.save_site()
    return f"{machine.name}: machine.disks no longer mounts {', '.join(dropped)} at {path}"


@drift(
    "longhorn.drop_kubelet_bind",
    controls=("LH-02",),
    description="a storage node (--node, default node03) lost the kubelet extraMount that binds "
    "the Longhorn data path rshared (a config re-applied without patches/longhorn-storage.yaml's "
    "kubelet part)",
    takes_node=True,
)
def drop_kubelet_bind(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.drop_kubelet_bind"
    machine = ctx.configured(node or "node03", name)
    path = _data_path(ctx)
    with edit_config(machine) as docs:
        kubelet = v1alpha1(docs, machine)["machine"].get("kubelet") or {}
        mounts = kubelet.get("extraMounts") or []
        kept = [m for m in mounts if not _at(m.get("destination"), path)]
        if len(kept) == len(mounts):
            raise DriftError(
                f"drift {name} needs a kubelet extraMount for {path} on {machine.name}, "
                "but its config has none (is it a storage node?)"
            )
        if kept:
            kubelet["extraMounts"] = kept
        else:
            kubelet.pop("extraMounts")
    ctx.save_site()
    return f"{machine.name}: kubelet extraMount for {path} removed"


def _longhorn_node(ctx: DriftContext, node: str, drift_name: str) -> tuple[str, dict[str, Any]]:
    machine = ctx.machine(node)
    hostname = hostname_of(machine) or machine.name
    found = ctx.get(ctx.rt(GROUP, VERSION, "nodes"), NAMESPACE, hostname, drift_name)
    return hostname, found


@drift(
    "longhorn.node_scheduling_disabled",
    controls=("LH-03",),
    description="an operator disabled scheduling on the Longhorn Node of a storage node "
    "(--node, default node04) in the Longhorn UI: spec.allowScheduling is false",
    takes_node=True,
)
def node_scheduling_disabled(ctx: DriftContext, node: str | None) -> str:
    hostname, _ = _longhorn_node(ctx, node or "node04", "longhorn.node_scheduling_disabled")
    ctx.merge_patch(
        ctx.rt(GROUP, VERSION, "nodes"), NAMESPACE, hostname, {"spec": {"allowScheduling": False}}
    )
    return f"Longhorn Node {NAMESPACE}/{hostname}: allowScheduling set to false"


@drift(
    "longhorn.disk_scheduling_disabled",
    controls=("LH-03",),
    description="an operator disabled scheduling on the data-path disk of a storage node's "
    "Longhorn Node (--node, default node05) in the Longhorn UI",
    takes_node=True,
)
def disk_scheduling_disabled(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.disk_scheduling_disabled"
    hostname, found = _longhorn_node(ctx, node or "node05", name)
    path = _data_path(ctx)
    disks = (found.get("spec") or {}).get("disks") or {}
    at_path = sorted(d for d, spec in disks.items() if _at(spec.get("path"), path))
    if not at_path:
        raise DriftError(
            f"drift {name} needs a Longhorn disk at {path} on Node {hostname}, which has "
            f"none (is it a storage node?)"
        )
    patch = {"spec": {"disks": {d: {"allowScheduling": False} for d in at_path}}}
    ctx.merge_patch(ctx.rt(GROUP, VERSION, "nodes"), NAMESPACE, hostname, patch)
    return f"Longhorn Node {NAMESPACE}/{hostname}: scheduling disabled on disk {', '.join(at_path)}"


# -- LH-07: the release -------------------------------------------------------------------------

_HELM_LABEL = "app.kubernetes.io/managed-by"
_HELM_NOTES = {"meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": NAMESPACE}


def _older(value: Any, replacements: Mapping[str, str]) -> Any:
    """*value* with every version string of the declared chart replaced by the older one."""
    if isinstance(value, str):
        for new, old in replacements.items():
            value = value.replace(new, old)
        return value
    if isinstance(value, list):
        return [_older(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _older(v, replacements) for k, v in value.items()}
    return value


def _apply_rendered(ctx: DriftContext, obj: Mapping[str, Any]) -> None:
    """What ``helm upgrade`` does to one rendered object: create it, or replace it, owned."""
    rt = ctx.store.registry.by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
    if rt is None:
        return
    namespace = NAMESPACE if rt.namespaced else ""
    body = copy.deepcopy(dict(obj))
    meta = body.setdefault("metadata", {})
    meta.setdefault("labels", {})[_HELM_LABEL] = "Helm"
    meta.setdefault("annotations", {}).update(_HELM_NOTES)
    try:
        current = ctx.store.get(rt, namespace, meta["name"])
    except ApiError as exc:
        if exc.code != 404:
            raise
        ctx.store.create(rt, namespace, body)
        return
    meta["resourceVersion"] = current["metadata"]["resourceVersion"]
    ctx.store.replace(rt, namespace, meta["name"], body)


@drift(
    "longhorn.release_rolled_back",
    controls=("LH-07",),
    description=f"the longhorn release was rolled back to chart {OLDER_CHART} (helm upgrade "
    f"--version {OLDER_CHART} --no-hooks, keeping its values): its manager, driver and UI run "
    f"v{OLDER_CHART} images",
)
def release_rolled_back(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.release_rolled_back"
    ctx.require_provisioned(name)
    secrets = ctx.rt("", "v1", "secrets")
    history: list[Release] = []
    for secret in ctx.store.list(secrets, NAMESPACE, label_selector=f"owner=helm,name={RELEASE}")[
        "items"
    ]:
        try:
            history.append(releases.from_secret(secret))
        except ValueError:
            continue
    history.sort(key=lambda r: r.version)
    if not history or history[-1].status != "deployed":
        raise DriftError(
            f"drift {name} needs a deployed helm release {RELEASE} in {NAMESPACE}, which the "
            "simulated cluster does not have (is it provisioned?)"
        )
    latest = history[-1]
    chart = catalogue()[RELEASE]
    replacements = {
        f"{chart.name}-{chart.version}": f"{chart.name}-{OLDER_CHART}",
        chart.app_version: f"v{OLDER_CHART}",
    }
    defaults = _older(dict(chart.defaults), replacements)
    # The older chart's templates are taken to be the declared one's (only 1.8.1 is modelled);
    # its version strings -- image tags, chart labels -- are the older release's.
    rendered = chart.render(
        values.coalesce(defaults, latest.config),
        release=RELEASE,
        namespace=NAMESPACE,
        version=chart.version,
    )
    objects = [_older(obj, replacements) for obj in rendered]
    # The CRDs' schema of the older chart is not modelled: they are left as they are.
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            _apply_rendered(ctx, obj)
    modified = int(time.time())
    previous = latest.with_status("superseded")
    ctx.store.replace(
        secrets,
        NAMESPACE,
        releases.secret_name(RELEASE, previous.version),
        releases.to_secret(previous, modified),
    )
    rolled = Release(
        name=RELEASE,
        namespace=NAMESPACE,
        version=latest.version + 1,
        status="deployed",
        chart_name=chart.name,
        chart_version=OLDER_CHART,
        app_version=f"v{OLDER_CHART}",
        config=dict(latest.config),
        manifest=manifest_text(objects),
        first_deployed=latest.first_deployed,
        last_deployed=releases.now(),
        description="Upgrade complete",
        chart_values=defaults,
    )
    ctx.store.create(secrets, NAMESPACE, releases.to_secret(rolled, modified))
    return (
        f"helm release {NAMESPACE}/{RELEASE}: revision {rolled.version} runs chart "
        f"{chart.name}-{OLDER_CHART} (images v{OLDER_CHART}); revision {latest.version} superseded"
    )


# -- more ways: the other extension, eviction, classes, placement, images --------------------

UTIL_LINUX = "util-linux-tools"


@drift(
    "longhorn.remove_util_linux_tools",
    controls=("LH-01",),
    description=f"a node (--node, default the first) runs an installer without {UTIL_LINUX} "
    "(a schematic rebuilt with iscsi-tools only)",
    takes_node=True,
)
def remove_util_linux_tools(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.remove_util_linux_tools"
    machine = ctx.machine(node)
    extensions = ctx.site.schematics.get(machine.schematic)
    if not extensions or not any(e.rsplit("/", 1)[-1] == UTIL_LINUX for e in extensions):
        raise DriftError(
            f"drift {name} needs {machine.name} to run {UTIL_LINUX}, but its installer does "
            "not carry it (is it provisioned?)"
        )
    kept = [e for e in extensions if e.rsplit("/", 1)[-1] != UTIL_LINUX]
    official = [e if "/" in e else f"siderolabs/{e}" for e in kept]
    new_id = schematic.schematic_id(
        {"customization": {"systemExtensions": {"officialExtensions": official}}}
    )
    ctx.site.schematics[new_id] = kept
    machine.schematic = new_id
    machine.image = f"factory.talos.dev/installer/{new_id}:{machine.talos_version}"
    machine.generation += 1
    ctx.save_site()
    return f"{machine.name}: now runs {machine.image}, without {UTIL_LINUX}"


@drift(
    "longhorn.node_eviction_requested",
    controls=("LH-03",),
    description="an operator requested eviction of a storage node's Longhorn Node (--node, "
    "default node03) in the Longhorn UI: spec.evictionRequested is true",
    takes_node=True,
)
def node_eviction_requested(ctx: DriftContext, node: str | None) -> str:
    hostname, _ = _longhorn_node(ctx, node or "node03", "longhorn.node_eviction_requested")
    ctx.merge_patch(
        ctx.rt(GROUP, VERSION, "nodes"), NAMESPACE, hostname, {"spec": {"evictionRequested": True}}
    )
    return f"Longhorn Node {NAMESPACE}/{hostname}: evictionRequested set to true"


def _apply_new(ctx: DriftContext, rt: Any, namespace: str, body: dict[str, Any]) -> None:
    """Create *body* unless an object of its name exists already."""
    try:
        ctx.store.create(rt, namespace, body)
    except ApiError as exc:
        if exc.code != 409:
            raise


SINGLE_CLASS = "longhorn-single"
SCRATCH_CLAIM = "scratch"


@drift(
    "longhorn.single_replica_class",
    controls=("LH-04", "LH-06"),
    description=f"kubectl apply of a StorageClass {SINGLE_CLASS} (driver.longhorn.io, "
    f'numberOfReplicas "1") and a claim default/{SCRATCH_CLAIM} on it: Longhorn makes a '
    "one-replica volume",
)
def single_replica_class(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("longhorn.single_replica_class")
    # As `kubectl apply`: applying the same two objects again changes nothing.
    _apply_new(
        ctx,
        ctx.rt("storage.k8s.io", "v1", "storageclasses"),
        "",
        {
            "metadata": {"name": SINGLE_CLASS},
            "provisioner": "driver.longhorn.io",
            "parameters": {"numberOfReplicas": "1", "staleReplicaTimeout": "30"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": True,
        },
    )
    _apply_new(
        ctx,
        ctx.rt("", "v1", "persistentvolumeclaims"),
        "default",
        {
            "metadata": {"name": SCRATCH_CLAIM, "namespace": "default"},
            "spec": {
                "storageClassName": SINGLE_CLASS,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    return f"StorageClass {SINGLE_CLASS} (1 replica) and PVC default/{SCRATCH_CLAIM} on it created"


@drift(
    "longhorn.beta_default_class",
    controls=("LH-05",),
    description="a second StorageClass, nfs-client, is marked default with the beta "
    "annotation storageclass.beta.kubernetes.io/is-default-class (still honoured)",
)
def beta_default_class(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("longhorn.beta_default_class")
    ctx.store.create(
        ctx.rt("storage.k8s.io", "v1", "storageclasses"),
        "",
        {
            "metadata": {
                "name": "nfs-client",
                "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "cluster.local/nfs-subdir-external-provisioner",
            "reclaimPolicy": "Delete",
        },
    )
    return "StorageClass nfs-client created, marked default by the beta annotation"


LOOK_ALIKE_MANAGER = "docker.io/lh-mirror/longhorn-manager"


@drift(
    "longhorn.manager_image_look_alike",
    controls=("LH-07",),
    description="the manager DaemonSet's image set to a look-alike repository with the "
    f"declared tag (kubectl set image daemonset/longhorn-manager "
    f"longhorn-manager={LOOK_ALIKE_MANAGER}:<tag>)",
)
def manager_image_look_alike(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.manager_image_look_alike"
    rt = ctx.rt("apps", "v1", "daemonsets")
    daemonset = ctx.get(rt, NAMESPACE, "longhorn-manager", name)
    spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        if container.get("name") == "longhorn-manager":
            tag = str(container.get("image") or "").split("@", 1)[0].rsplit(":", 1)[-1]
            container["image"] = f"{LOOK_ALIKE_MANAGER}:{tag}"
            ctx.store.replace(rt, NAMESPACE, "longhorn-manager", daemonset)
            return f"DaemonSet {NAMESPACE}/longhorn-manager runs {container['image']}"
    raise DriftError(f"drift {name}: DaemonSet {NAMESPACE}/longhorn-manager has no manager")


@drift(
    "longhorn.cordon_storage_nodes",
    controls=("LH-03", "LH-06"),
    description="scheduling disabled in the Longhorn UI on every storage node's Longhorn Node "
    "but the first two (a maintenance left half-done): fewer schedulable nodes than replicas",
)
def cordon_storage_nodes(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.cordon_storage_nodes"
    storage = [n for n in ctx.cluster.nodes if n.is_storage]
    if len(storage) < 3:
        raise DriftError(f"drift {name} needs three storage nodes, the definition has fewer")
    cordoned = []
    for declared in storage[2:]:
        hostname, _ = _longhorn_node(ctx, declared.name, name)
        ctx.merge_patch(
            ctx.rt(GROUP, VERSION, "nodes"),
            NAMESPACE,
            hostname,
            {"spec": {"allowScheduling": False}},
        )
        cordoned.append(hostname)
    return f"Longhorn Nodes {', '.join(cordoned)}: allowScheduling set to false"


SOFT_SETTING = "replica-soft-anti-affinity"


@drift(
    "longhorn.soft_anti_affinity",
    controls=("LH-06",),
    description=f"Longhorn setting {SOFT_SETTING} is true (helm upgrade --set "
    "defaultSettings.replicaSoftAntiAffinity=true): replicas may share a node when nodes "
    "are short",
)
def soft_anti_affinity(ctx: DriftContext, node: str | None) -> str:
    name = "longhorn.soft_anti_affinity"
    cm_rt = ctx.rt("", "v1", "configmaps")
    cm = ctx.get(cm_rt, NAMESPACE, DEFAULT_SETTING_CM, name)
    text = str((cm.get("data") or {}).get("default-setting.yaml") or "")
    parsed = yaml.safe_load(text) if text else None
    settings = parsed if isinstance(parsed, dict) else {}
    settings[SOFT_SETTING] = "true"
    new_text = "\n".join(f"{key}: {value}" for key, value in settings.items())
    ctx.merge_patch(
        cm_rt, NAMESPACE, DEFAULT_SETTING_CM, {"data": {"default-setting.yaml": new_text}}
    )
    rt = ctx.rt(GROUP, VERSION, "settings")
    try:
        ctx.store.get(rt, NAMESPACE, SOFT_SETTING)
    except ApiError as exc:
        if exc.code != 404:
            raise
        body = {"metadata": {"name": SOFT_SETTING, "namespace": NAMESPACE}, "value": "true"}
        ctx.store.create(rt, NAMESPACE, body)
    else:
        ctx.merge_patch(rt, NAMESPACE, SOFT_SETTING, {"value": "true"})
    return f'Longhorn setting {SOFT_SETTING} set to "true" (and in ConfigMap {DEFAULT_SETTING_CM})'
