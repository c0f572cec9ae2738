"""Longhorn drifts (LH-01, LH-04, LH-05): replicas lowered, default class lost or doubled,
a storage extension gone.

The StorageClass drifts edit ConfigMap ``longhorn-storageclass`` (what
``helm upgrade --set persistence...`` changes), because longhorn-manager
rewrites StorageClass ``longhorn`` from that ConfigMap: an edit of the
StorageClass alone would be reverted, on a real cluster and in the model.
"""

from __future__ import annotations

from typing import Any

import yaml

from provisioning import schematic
from simulator.drifts import DriftContext, DriftError, drift
from simulator.kube.errors import ApiError

NAMESPACE = "longhorn-system"
STORAGECLASS_CM = "longhorn-storageclass"
DEFAULT_SETTING_CM = "longhorn-default-setting"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
GROUP, VERSION = "longhorn.io", "v1beta2"
EXTENSION = "iscsi-tools"


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
