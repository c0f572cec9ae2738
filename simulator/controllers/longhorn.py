"""The Longhorn 1.8.1 manager of the simulated cluster: settings and the StorageClass.

What belongs here: :func:`reconcile_longhorn` (the entry the cluster
controller calls after every change), the Setting and StorageClass passes,
and the small write primitives the node and volume passes
(:mod:`simulator.controllers.longhorn_nodes`,
:mod:`simulator.controllers.longhorn_volumes`) share.  Everything is
derived from state -- the chart's ConfigMaps, the Kubernetes Nodes and PVCs,
the Talos machines -- so a reconcile can run any number of times; one that
finds nothing to change writes nothing (each write goes through
:meth:`ObjectStore.replace`, which skips no-op updates).

Behaviour read from longhorn/longhorn-manager v1.8.1 (facts/k8s-stack.md §2):

* Nothing happens until longhorn-manager has a Running pod (label
  ``app=longhorn-manager`` in the chart's namespace) and the ``longhorn.io``
  CRDs are served.
* Settings (``datastore/longhorn.go UpdateCustomizedSettings``): a missing
  Setting is created with its default, where a value in ConfigMap
  ``longhorn-default-setting`` replaces the built-in default.  A setting the
  ConfigMap names is **re-synced to the ConfigMap's value** whenever its value
  or its ``longhorn.io/configmap-resource-version`` annotation differs
  (``shouldApplyCustomizedSettingValue``/``createOrUpdateSetting``), so an
  API edit of such a setting is reverted; a setting the ConfigMap does not
  name keeps an edited value.  ``status.applied`` is set true.
* StorageClass (``controller/kubernetes_configmap_controller.go``): decoded
  from ConfigMap ``longhorn-storageclass`` key ``storageclass.yaml``, and
  deleted then recreated whenever the text differs from the SC's
  ``longhorn.io/last-applied-configmap`` annotation (parameters are
  immutable, so an update would be refused).

* ``current-longhorn-version`` (``upgrade/util CreateOrUpdateLonghornVersionSetting``):
  a manager that starts writes its own version (``meta.Version``) there,
  after ``CheckUpgradePathSupported`` refused any downgrade -- so the value
  follows the version of the running ``longhorn-manager`` image upwards and
  never moves down.

The CSI driver and the engine-image DaemonSet the manager and the driver
deployer create at runtime are :mod:`simulator.controllers.longhorn_components`'s.

Deviations: only the settings of facts §2.4 plus those the ConfigMap names
are created (upstream creates all ~80); values are not validated; a
malformed ``storageclass.yaml`` leaves the SC alone (upstream logs an error);
a manager older than ``current-longhorn-version`` keeps running (upstream
exits, refusing the downgrade) but does not lower the setting.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import yaml

from simulator.controllers import store_access
from simulator.helm.charts import longhorn as chart
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType
from simulator.state.machines import Site

GROUP = "longhorn.io"
VERSION = "v1beta2"
NAMESPACE = "longhorn-system"
PROVISIONER = "driver.longhorn.io"
MANAGER_LABEL = "app=longhorn-manager"
DEFAULT_SETTING_CM = "longhorn-default-setting"
STORAGECLASS_CM = "longhorn-storageclass"
CM_VERSION_ANNOTATION = "longhorn.io/configmap-resource-version"
LAST_APPLIED_ANNOTATION = "longhorn.io/last-applied-configmap"
VERSION_SETTING = "current-longhorn-version"
MANAGER_CONTAINER = "longhorn-manager"

# types/setting.go @v1.8.1 defaults of the settings the suite and the model read.
SETTING_DEFAULTS: Mapping[str, str] = {
    "default-replica-count": "3",
    "default-data-path": "/var/lib/longhorn/",
    "replica-soft-anti-affinity": "false",
    "replica-zone-soft-anti-affinity": "true",
    "replica-disk-soft-anti-affinity": "true",
    "replica-replenishment-wait-interval": "600",
    "storage-over-provisioning-percentage": "100",
    "storage-minimal-available-percentage": "25",
    "storage-reserved-percentage-for-default-disk": "30",
    "create-default-disk-labeled-nodes": "false",
    "replica-auto-balance": "disabled",
}
_KNOWN_SETTINGS = frozenset(SETTING_DEFAULTS) | {name for name, _ in chart.SETTINGS}


def resource(store: ObjectStore, group: str, plural: str, version: str = "v1") -> ResourceType:
    """A served type; the built-ins always are, CRD types only once their CRD exists."""
    found = store.registry.lookup(group, version, plural)
    if found is None:
        raise LookupError(f"{group or 'core'}/{version}/{plural} is not served")
    return found


def longhorn_type(store: ObjectStore, plural: str) -> ResourceType | None:
    return store.registry.lookup(GROUP, VERSION, plural)


def items(
    store: ObjectStore, rt: ResourceType, namespace: str = "", *, label_selector: str = ""
) -> list[Any]:
    found: list[Any] = store.list(rt, namespace, label_selector=label_selector)["items"]
    return found


def ensure(
    store: ObjectStore,
    rt: ResourceType,
    namespace: str,
    name: str,
    build: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    *,
    listed: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """Create or update one object to what *build* makes of its current form.

    *build* gets the current object (None when absent) and returns the whole
    wanted object, or None to leave things as they are; its ``status`` goes
    through the status subresource when the type has one.  Unchanged objects
    are not written (nor even sent to the store).  *listed* -- the objects of
    this type by name, listed once by a caller that ensures many -- replaces
    the read of each one (a stale one makes the write conflict: 409, retried
    by the cluster controller).
    """
    if listed is not None:
        current = listed.get(name)
    else:
        current = store_access.get_or_none(store, rt, namespace, name)
    wanted = build(copy.deepcopy(current) if current is not None else None)
    if wanted is None:
        return None
    status = wanted.pop("status", None)
    if current is None:
        created = store.create(rt, namespace, wanted)
        if status is None or not rt.has_status:
            return created
        created["status"] = status
        return store.replace(rt, namespace, name, created, subresource="status")
    wanted.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
    if rt.has_status:
        wanted["status"] = current.get("status")
        if wanted.get("status") is None:
            wanted.pop("status")
    updated = current if wanted == current else store.replace(rt, namespace, name, wanted)
    if status is not None and rt.has_status and status != updated.get("status"):
        updated["status"] = status
        updated = store.replace(rt, namespace, name, updated, subresource="status")
    return updated


def condition(
    previous: list[Any] | None, kind: str, status: bool, reason: str, message: str, now: str
) -> dict[str, Any]:
    """A Longhorn condition; ``lastTransitionTime`` moves only when the status flips."""
    text = "True" if status else "False"
    for old in previous or []:
        if isinstance(old, dict) and old.get("type") == kind:
            if old.get("status") == text:
                since = str(old.get("lastTransitionTime") or now)
                break
            since = now
            break
    else:
        since = now
    return {
        "type": kind,
        "status": text,
        "reason": reason if not status else "",
        "message": message if not status else "",
        "lastProbeTime": "",
        "lastTransitionTime": since,
    }


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def manager_running(store: ObjectStore) -> bool:
    pods = items(store, resource(store, "", "pods"), NAMESPACE, label_selector=MANAGER_LABEL)
    return any((p.get("status") or {}).get("phase") == "Running" for p in pods)


# -- settings ---------------------------------------------------------------------------------


def configmap_settings(store: ObjectStore) -> tuple[dict[str, str], str]:
    """(setting id -> value, ConfigMap resourceVersion) of ``longhorn-default-setting``."""
    cm = store_access.get_or_none(
        store, resource(store, "", "configmaps"), NAMESPACE, DEFAULT_SETTING_CM
    )
    if cm is None:
        return {}, ""
    text = str((cm.get("data") or {}).get("default-setting.yaml") or "")
    try:
        parsed = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    values = {
        str(k): "" if v is None else _setting_text(v)
        for k, v in parsed.items()
        if str(k) in _KNOWN_SETTINGS
    }
    return values, str(cm["metadata"]["resourceVersion"])


def _setting_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def reconcile_settings(store: ObjectStore, rt: ResourceType) -> dict[str, str]:
    """Create missing Settings, re-sync ConfigMap-named ones; the effective values."""
    customized, cm_version = configmap_settings(store)
    effective: dict[str, str] = {}
    for name in sorted(set(SETTING_DEFAULTS) | set(customized)):
        current = store_access.get_or_none(store, rt, NAMESPACE, name)
        if current is not None and name not in customized:
            effective[name] = str(current.get("value", ""))
            if (current.get("status") or {}).get("applied") is not True:
                _write_setting(store, rt, name, effective[name], current, None)
            continue
        value = customized.get(name, SETTING_DEFAULTS.get(name, ""))
        effective[name] = value
        _write_setting(store, rt, name, value, current, cm_version)
    return effective


def _write_setting(
    store: ObjectStore,
    rt: ResourceType,
    name: str,
    value: str,
    current: dict[str, Any] | None,
    cm_version: str | None,
) -> None:
    def build(old: dict[str, Any] | None) -> dict[str, Any]:
        obj = old or {"metadata": {"name": name, "namespace": NAMESPACE}}
        if cm_version is not None:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[CM_VERSION_ANNOTATION] = cm_version
        obj["value"] = value
        obj["status"] = {"applied": True}
        return obj

    del current  # ensure() reads the object afresh under the store's optimistic locking
    ensure(store, rt, NAMESPACE, name, build)


def _version_key(version: str) -> tuple[int, int, int] | None:
    """``v1.8.1`` -> (1, 8, 1); None for anything else (pre-releases are not compared)."""
    found = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", version)
    if found is None:
        return None
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def _image_tag(image: str) -> str:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def running_manager_version(store: ObjectStore) -> str | None:
    """The newest version a Running longhorn-manager pod runs (its image tag), if any."""
    pods = items(store, resource(store, "", "pods"), NAMESPACE, label_selector=MANAGER_LABEL)
    found: dict[tuple[int, int, int], str] = {}
    for pod in pods:
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            if container.get("name") != MANAGER_CONTAINER:
                continue
            tag = _image_tag(str(container.get("image") or ""))
            key = _version_key(tag)
            if key is not None:
                found[key] = tag
    return found[max(found)] if found else None


def reconcile_version_setting(store: ObjectStore, rt: ResourceType) -> None:
    """``current-longhorn-version`` follows the running manager up, never down."""
    running = running_manager_version(store)
    if running is None:
        return
    current = store_access.get_or_none(store, rt, NAMESPACE, VERSION_SETTING)
    if current is not None:
        recorded = _version_key(str(current.get("value") or ""))
        wanted = _version_key(running)
        if recorded is not None and wanted is not None and recorded > wanted:
            return  # a downgrade: upstream's manager refuses it and writes nothing
    _write_setting(store, rt, VERSION_SETTING, running, current, None)


# -- StorageClass -------------------------------------------------------------------------------


def reconcile_storageclass(store: ObjectStore) -> None:
    """Make StorageClass ``longhorn`` follow ConfigMap ``longhorn-storageclass``."""
    cm = store_access.get_or_none(
        store, resource(store, "", "configmaps"), NAMESPACE, STORAGECLASS_CM
    )
    if cm is None:
        return
    text = str((cm.get("data") or {}).get("storageclass.yaml") or "")
    try:
        decoded = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    if not isinstance(decoded, dict) or not (decoded.get("metadata") or {}).get("name"):
        return
    rt = resource(store, "storage.k8s.io", "storageclasses")
    name = str(decoded["metadata"]["name"])
    current = store_access.get_or_none(store, rt, "", name)
    if current is not None:
        applied = (current["metadata"].get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
        if applied == text:
            return
        store.delete(rt, "", name)
    body = json.loads(json.dumps(decoded))  # YAML scalars -> plain JSON types
    body.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED_ANNOTATION] = text
    store.create(rt, "", body)


# -- entry --------------------------------------------------------------------------------------


def reconcile_longhorn(site: Site, store: ObjectStore, *, now: datetime) -> None:
    """Bring every Longhorn-derived object in line with the current state (idempotent).

    :param site: the Talos side (machines' mounts, extensions, stages).
    :param now: the simulator clock, stamped into conditions that change.
    """
    # The node and volume passes build on the primitives above.
    from simulator.controllers import longhorn_components, longhorn_nodes, longhorn_volumes

    settings_rt = longhorn_type(store, "settings")
    if settings_rt is None or not manager_running(store):
        return
    longhorn_components.reconcile_components(store)
    settings = reconcile_settings(store, settings_rt)
    reconcile_version_setting(store, settings_rt)
    reconcile_storageclass(store)
    stamp = timestamp(now)
    longhorn_nodes.reconcile_nodes(site, store, settings, stamp)
    longhorn_volumes.reconcile_volumes(store, settings, stamp)
    # Disk usage on the Node CRs follows the replicas just placed.
    longhorn_nodes.reconcile_nodes(site, store, settings, stamp)
