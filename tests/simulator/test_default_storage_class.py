"""The simulated API server's DefaultStorageClass admission: the class is set on create.

kube-apiserver's plugin gives a claim without ``storageClassName`` the
default class as it is admitted, so a client's first read already shows it
(LH-06's probe decides early from that); a claim naming a class, or ``""``,
is left alone, and with no default the claim stays without a class.
"""

from __future__ import annotations

from typing import Any

from simulator import apiserver
from simulator.kube.hooks import Hooks
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType, builtin_registry
from simulator.store.kv import MemoryKV

DEFAULT = "storageclass.kubernetes.io/is-default-class"


def _rt(store: ObjectStore, group: str, plural: str) -> ResourceType:
    found = store.registry.lookup(group, "v1", plural)
    assert found is not None
    return found


def _store(*classes: tuple[str, bool]) -> ObjectStore:
    hooks = Hooks()
    store = ObjectStore(MemoryKV(), builtin_registry(), hooks)
    classes_rt = _rt(store, "storage.k8s.io", "storageclasses")
    hooks.admission.append(
        apiserver.default_storage_class_admission(lambda: store.list(classes_rt)["items"])
    )
    store.create(_rt(store, "", "namespaces"), "", {"metadata": {"name": "apps"}})
    for name, default in classes:
        annotations = {DEFAULT: "true"} if default else {}
        body = {"metadata": {"name": name, "annotations": annotations}, "provisioner": "x"}
        store.create(classes_rt, "", body)
    return store


def _claim(store: ObjectStore, name: str, **spec: Any) -> dict[str, Any]:
    body = {"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"], **spec}}
    created: dict[str, Any] = store.create(_rt(store, "", "persistentvolumeclaims"), "apps", body)
    return created


def test_a_claim_without_a_class_gets_the_default_on_create() -> None:
    store = _store(("local", False), ("longhorn", True))
    assert _claim(store, "a")["spec"]["storageClassName"] == "longhorn"


def test_a_named_class_or_the_empty_class_is_left_alone() -> None:
    store = _store(("local", False), ("longhorn", True))
    assert _claim(store, "a", storageClassName="local")["spec"]["storageClassName"] == "local"
    assert _claim(store, "b", storageClassName="")["spec"]["storageClassName"] == ""


def test_without_a_default_class_the_claim_has_none() -> None:
    store = _store(("local", False))
    assert "storageClassName" not in _claim(store, "a")["spec"]
