"""The simulated API server's model: object store, selectors, patches, errors, routes.

In-process and network-free (MemoryKV); the HTTP front is exercised through the real
clients in test_kube_client.py and test_kube_kubectl.py.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.kube import errors, patching
from simulator.kube.hooks import AdmissionRequest, Hooks, Operation, RequestContext, WatchEvent
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType, builtin_registry
from simulator.kube.routes import Endpoint, ResourceRoute, route
from simulator.kube.selectors import SelectorError, parse_field_selector, parse_label_selector
from simulator.kube.tables import human_duration, jsonpath
from simulator.store.kv import MemoryKV

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
            "categories": ["all"],
        },
        "versions": [
            {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}
        ],
    },
}


@pytest.fixture
def store() -> ObjectStore:
    fixed = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    s = ObjectStore(MemoryKV(), builtin_registry(), now=lambda: fixed)
    s.create(_rt(s, "", "namespaces"), "", {"metadata": {"name": "default"}})
    return s


def _rt(store: ObjectStore, group: str, plural: str, version: str = "v1") -> ResourceType:
    found = store.registry.lookup(group, version, plural)
    assert found is not None, f"{group}/{version}/{plural} not registered"
    return found


def _api_error(excinfo: pytest.ExceptionInfo[errors.ApiError]) -> dict[str, Any]:
    return excinfo.value.status()


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


# -- create / get


def test_create_fills_server_fields_and_key_layout(store: ObjectStore) -> None:
    cms = _rt(store, "", "configmaps")
    created = store.create(cms, "default", _cm("a"))
    meta = created["metadata"]
    entry = store.kv.get("/registry/configmaps/default/a")
    assert entry is not None
    assert meta["resourceVersion"] == str(entry.mod_revision)
    assert meta["creationTimestamp"] == "2026-01-02T03:04:05Z"
    assert meta["generation"] == 1
    assert len(meta["uid"]) == 36
    assert "resourceVersion" not in json.loads(entry.value)["metadata"]
    assert store.get(cms, "default", "a") == created


def test_generate_name(store: ObjectStore) -> None:
    created = store.create(
        _rt(store, "", "configmaps"), "default", {"metadata": {"generateName": "x-"}}
    )
    name = created["metadata"]["name"]
    assert name.startswith("x-")
    assert len(name) == 7


def test_create_in_missing_namespace_is_namespace_not_found(store: ObjectStore) -> None:
    with pytest.raises(errors.ApiError) as excinfo:
        store.create(_rt(store, "", "configmaps"), "nope", _cm("a"))
    status = _api_error(excinfo)
    assert (status["code"], status["reason"]) == (404, "NotFound")
    assert status["message"] == 'namespaces "nope" not found'
    assert status["details"] == {"name": "nope", "kind": "namespaces"}


def test_already_exists(store: ObjectStore) -> None:
    deploys = _rt(store, "apps", "deployments")
    store.create(deploys, "default", {"metadata": {"name": "d"}, "spec": {}})
    with pytest.raises(errors.ApiError) as excinfo:
        store.create(deploys, "default", {"metadata": {"name": "d"}, "spec": {}})
    status = _api_error(excinfo)
    assert (status["code"], status["reason"]) == (409, "AlreadyExists")
    assert status["message"] == 'deployments.apps "d" already exists'
    assert status["details"] == {"name": "d", "group": "apps", "kind": "deployments"}


def test_invalid_name_is_422_with_cause(store: ObjectStore) -> None:
    with pytest.raises(errors.ApiError) as excinfo:
        store.create(_rt(store, "", "configmaps"), "default", _cm("Bad_Name"))
    status = _api_error(excinfo)
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: ')
    assert status["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_missing_name_is_required_value(store: ObjectStore) -> None:
    with pytest.raises(errors.ApiError) as excinfo:
        store.create(_rt(store, "", "configmaps"), "default", {"metadata": {}})
    assert _api_error(excinfo)["message"] == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )


def test_get_missing_is_not_found_with_group(store: ObjectStore) -> None:
    with pytest.raises(errors.ApiError) as excinfo:
        store.get(_rt(store, "storage.k8s.io", "storageclasses"), "", "longhorn")
    assert _api_error(excinfo)["message"] == 'storageclasses.storage.k8s.io "longhorn" not found'


def test_namespace_defaults(store: ObjectStore) -> None:
    ns = store.get(_rt(store, "", "namespaces"), "", "default")
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}
    assert ns["status"] == {"phase": "Active"}


# -- list / selectors


def test_list_filters_by_labels_and_fields(store: ObjectStore) -> None:
    cms = _rt(store, "", "configmaps")
    store.create(cms, "default", _cm("a", app="web", tier="fe"))
    store.create(cms, "default", _cm("b", app="db"))
    store.create(cms, "default", _cm("c"))

    def names(**kwargs: Any) -> list[str]:
        return [i["metadata"]["name"] for i in store.list(cms, "default", **kwargs)["items"]]

    assert names(label_selector="app in (web,db)") == ["a", "b"]
    assert names(label_selector="app notin (web)") == ["b", "c"]
    assert names(label_selector="!app") == ["c"]
    assert names(label_selector="app,tier=fe") == ["a"]
    assert names(label_selector="app!=web") == ["b", "c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]


def test_list_shape_and_pagination(store: ObjectStore) -> None:
    cms = _rt(store, "", "configmaps")
    for name in "abc":
        store.create(cms, "default", _cm(name))
    first = store.list(cms, "default", limit=2)
    assert first["kind"] == "ConfigMapList"
    assert first["metadata"]["resourceVersion"] == str(store.kv.revision())
    assert first["metadata"]["remainingItemCount"] == 1
    assert [i["metadata"]["name"] for i in first["items"]] == ["a", "b"]
    rest = store.list(cms, "default", limit=2, continue_token=first["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in rest["items"]] == ["c"]
    assert "continue" not in rest["metadata"]


def test_pod_field_selectors_and_unknown_fields(store: ObjectStore) -> None:
    pods = _rt(store, "", "pods")
    store.create(pods, "default", {"metadata": {"name": "p"}, "spec": {"nodeName": "node01"}})
    listed = store.list(pods, "", field_selector="spec.nodeName=node01,status.phase=Pending")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["p"]
    with pytest.raises(errors.ApiError) as excinfo:
        store.list(pods, "", field_selector="spec.foo=x")
    assert _api_error(excinfo)["message"] == "field label not supported: spec.foo"
    with pytest.raises(errors.ApiError) as excinfo:
        store.list(_rt(store, "", "configmaps"), "", field_selector="data.k=v")
    assert _api_error(excinfo)["message"] == (
        '"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


def test_bad_label_selector_is_bad_request(store: ObjectStore) -> None:
    with pytest.raises(errors.ApiError) as excinfo:
        store.list(_rt(store, "", "configmaps"), "", label_selector="a in (b")
    assert _api_error(excinfo)["reason"] == "BadRequest"


_label = st.sampled_from(["a", "b", "c"])
_labels = st.dictionaries(_label, st.sampled_from(["x", "y", "z"]), max_size=3)


@settings(max_examples=60, deadline=None)
@given(labels=_labels, key=_label, values=st.sets(st.sampled_from(["x", "y", "z"]), min_size=1))
def test_in_and_notin_partition_objects(labels: dict[str, str], key: str, values: set[str]) -> None:
    listed = ",".join(sorted(values))
    has = parse_label_selector(f"{key} in ({listed})").matches(labels)
    lacks = parse_label_selector(f"{key} notin ({listed})").matches(labels)
    assert has != lacks  # notin also matches objects without the key
    assert parse_label_selector(key).matches(labels) == (key in labels)
    assert parse_label_selector(f"!{key}").matches(labels) == (key not in labels)


@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet="ab=!,() in", max_size=12))
def test_label_parser_never_crashes(text: str) -> None:
    try:
        parse_label_selector(text)
    except SelectorError as exc:
        assert str(exc)


def test_field_selector_escapes() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b")
    assert selector.matches({"metadata": {"name": "a,b"}})
    assert not selector.matches({"metadata": {"name": "a"}})


# -- update / patch


def test_replace_with_stale_resource_version_is_conflict(store: ObjectStore) -> None:
    pods = _rt(store, "", "pods")
    created = store.create(pods, "default", {"metadata": {"name": "x"}, "spec": {}})
    store.patch(pods, "default", "x", b'{"metadata":{"labels":{"a":"b"}}}', patching.MERGE_PATCH)
    with pytest.raises(errors.ApiError) as excinfo:
        store.replace(pods, "default", "x", created)
    status = _api_error(excinfo)
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["message"] == (
        'Operation cannot be fulfilled on pods "x": the object has been modified; please apply '
        "your changes to the latest version and try again"
    )


def test_generation_and_status_subresource(store: ObjectStore) -> None:
    deploys = _rt(store, "apps", "deployments")
    store.create(deploys, "default", {"metadata": {"name": "d"}, "spec": {"replicas": 1}})
    body = store.get(deploys, "default", "d")
    body["spec"]["replicas"] = 2
    body["status"] = {"replicas": 9}
    updated = store.replace(deploys, "default", "d", body)
    assert updated["metadata"]["generation"] == 2
    assert "status" not in updated  # the main resource ignores status
    updated["status"] = {"replicas": 2}
    updated["spec"]["replicas"] = 5
    status = store.replace(deploys, "default", "d", updated, subresource="status")
    assert status["status"] == {"replicas": 2}
    assert status["spec"]["replicas"] == 2  # the status subresource ignores spec
    assert status["metadata"]["generation"] == 2


def test_noop_update_keeps_resource_version(store: ObjectStore) -> None:
    cms = _rt(store, "", "configmaps")
    created = store.create(cms, "default", _cm("a"))
    again = store.replace(cms, "default", "a", created)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_json_patch_test_failure_is_422(store: ObjectStore) -> None:
    cms = _rt(store, "", "configmaps")
    store.create(cms, "default", _cm("a"))
    ops = json.dumps([{"op": "test", "path": "/data/k", "value": "other"}]).encode()
    with pytest.raises(errors.ApiError) as excinfo:
        store.patch(cms, "default", "a", ops, patching.JSON_PATCH)
    assert _api_error(excinfo)["code"] == 422


def test_strategic_merge_on_custom_resource_is_415(store: ObjectStore) -> None:
    store.create(_rt(store, "apiextensions.k8s.io", "customresourcedefinitions"), "", CRD)
    widgets = _rt(store, "example.com", "widgets")
    store.create(widgets, "default", {"metadata": {"name": "w"}, "spec": {"size": 1}})
    with pytest.raises(errors.ApiError) as excinfo:
        store.patch(widgets, "default", "w", b"{}", patching.STRATEGIC_MERGE_PATCH)
    status = _api_error(excinfo)
    assert (status["code"], status["reason"]) == (415, "UnsupportedMediaType")
    assert status["message"].startswith(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json"
    )


def test_strategic_merge_by_merge_keys() -> None:
    pod = {
        "spec": {
            "containers": [
                {"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
                {"name": "b", "image": "1", "ports": [{"containerPort": 80}]},
            ],
            "tolerations": [{"key": "t1"}],
        }
    }
    patch = {
        "spec": {
            "containers": [
                {"name": "a", "env": [{"name": "Y", "value": "2"}]},
                {"name": "b", "$patch": "delete"},
                {"name": "c", "image": "3"},
            ],
            "tolerations": [{"key": "t2"}],
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
        }
    }
    result = patching.strategic_merge_patch(pod, patch)
    containers = result["spec"]["containers"]
    assert [c["name"] for c in containers] == ["c", "a"]
    assert containers[1]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert containers[1]["image"] == "1"
    assert result["spec"]["tolerations"] == [{"key": "t2"}]  # replaced, no merge key


def test_strategic_merge_directives() -> None:
    original = {"a": {"x": 1, "y": 2}, "b": {"keep": 1, "drop": 2}, "c": 1}
    patch = {"a": {"$patch": "replace", "z": 3}, "b": {"$retainKeys": ["keep"]}, "c": None}
    assert patching.strategic_merge_patch(original, patch) == {"a": {"z": 3}, "b": {"keep": 1}}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(target=st.dictionaries(st.text(max_size=3), _json, max_size=4), patch=_json)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: Any) -> None:
    once = patching.merge_patch(target, patch)
    assert patching.merge_patch(once, patch) == once


@settings(max_examples=60, deadline=None)
@given(target=st.dictionaries(st.text(max_size=3), _json, max_size=4))
def test_empty_patches_change_nothing(target: dict[str, Any]) -> None:
    assert patching.merge_patch(target, {}) == target
    assert patching.strategic_merge_patch(target, {}) == target


# -- delete


def test_delete_answers_status_or_object(store: ObjectStore) -> None:
    cms, pods = _rt(store, "", "configmaps"), _rt(store, "", "pods")
    created = store.create(cms, "default", _cm("a"))
    status = store.delete(cms, "default", "a")
    assert status["status"] == "Success"
    assert status["details"] == {
        "name": "a",
        "kind": "configmaps",
        "uid": created["metadata"]["uid"],
    }
    store.create(pods, "default", {"metadata": {"name": "p"}, "spec": {}})
    assert store.delete(pods, "default", "p")["kind"] == "Pod"
    with pytest.raises(errors.ApiError):
        store.get(pods, "default", "p")


def test_finalizers_hold_deletion_until_removed(store: ObjectStore) -> None:
    cms = _rt(store, "", "configmaps")
    body = _cm("a")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    store.create(cms, "default", body)
    pending = store.delete(cms, "default", "a")
    assert pending["metadata"]["deletionTimestamp"] == "2026-01-02T03:04:05Z"
    assert store.get(cms, "default", "a")["metadata"]["finalizers"] == ["example.com/hold"]
    store.patch(cms, "default", "a", b'{"metadata":{"finalizers":null}}', patching.MERGE_PATCH)
    with pytest.raises(errors.ApiError) as excinfo:
        store.get(cms, "default", "a")
    assert excinfo.value.code == 404


def test_namespace_deletion_removes_its_objects(store: ObjectStore) -> None:
    namespaces, cms = _rt(store, "", "namespaces"), _rt(store, "", "configmaps")
    store.create(namespaces, "", {"metadata": {"name": "team"}})
    store.create(cms, "team", _cm("a"))
    store.create(cms, "default", _cm("b"))
    store.delete(namespaces, "", "team")
    assert [i["metadata"]["name"] for i in store.list(cms)["items"]] == ["b"]


def test_delete_collection_by_label(store: ObjectStore) -> None:
    cms = _rt(store, "", "configmaps")
    store.create(cms, "default", _cm("a", run="1"))
    store.create(cms, "default", _cm("b"))
    deleted = store.delete_collection(cms, "default", label_selector="run=1")
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["a"]
    assert [i["metadata"]["name"] for i in store.list(cms)["items"]] == ["b"]


# -- dry run, hooks, CRDs


def test_dry_run_admits_but_stores_nothing(store: ObjectStore) -> None:
    seen: list[tuple[Operation, bool]] = []

    def hook(request: AdmissionRequest) -> None:
        seen.append((request.operation, request.dry_run))

    store.hooks.admission.append(hook)
    cms = _rt(store, "", "configmaps")
    revision = store.kv.revision()
    store.create(cms, "default", _cm("a"), RequestContext(dry_run=True))
    assert store.kv.revision() == revision
    assert seen == [(Operation.CREATE, True)]
    with pytest.raises(errors.ApiError):
        store.get(cms, "default", "a")


def test_admission_can_deny_and_mutate(store: ObjectStore) -> None:
    def hook(request: AdmissionRequest) -> None:
        assert request.object is not None
        if request.object["metadata"]["name"] == "bad":
            raise errors.forbidden("configmaps", "", "bad", "denied by test")
        request.object["metadata"].setdefault("labels", {})["mutated"] = "yes"
        request.warn("careful")

    store.hooks.admission.append(hook)
    cms = _rt(store, "", "configmaps")
    context = RequestContext()
    created = store.create(cms, "default", _cm("good"), context)
    assert created["metadata"]["labels"]["mutated"] == "yes"
    assert context.warnings == ["careful"]
    with pytest.raises(errors.ApiError) as excinfo:
        store.create(cms, "default", _cm("bad"))
    assert _api_error(excinfo)["message"] == 'configmaps "bad" is forbidden: denied by test'


def test_after_write_sees_every_change(store: ObjectStore) -> None:
    events: list[tuple[str, str]] = []

    def hook(event: WatchEvent) -> None:
        events.append((event.type, event.object["metadata"]["name"]))

    store.hooks = Hooks(after_write=[hook])
    cms = _rt(store, "", "configmaps")
    store.create(cms, "default", _cm("a"))
    store.patch(cms, "default", "a", b'{"data":{"k":"w"}}', patching.MERGE_PATCH)
    store.delete(cms, "default", "a")
    assert events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_crd_registers_and_unregisters(store: ObjectStore) -> None:
    crds = _rt(store, "apiextensions.k8s.io", "customresourcedefinitions")
    created = store.create(crds, "", CRD)
    established = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert established["Established"] == "True"
    widgets = _rt(store, "example.com", "widgets")
    assert (widgets.kind, widgets.namespaced, widgets.short_names) == ("Widget", True, ("wd",))
    store.create(widgets, "default", {"metadata": {"name": "w"}, "spec": {}})
    assert store.kv.get("/registry/example.com/widgets/default/w") is not None
    body = store.get(widgets, "default", "w")
    body["metadata"].pop("resourceVersion")
    with pytest.raises(errors.ApiError) as excinfo:
        store.replace(widgets, "default", "w", body)
    assert _api_error(excinfo)["message"] == (
        'Widget.example.com "w" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
        "must be specified for an update"
    )
    store.delete(crds, "", "widgets.example.com")
    assert store.registry.lookup("example.com", "v1", "widgets") is None
    assert store.kv.get("/registry/example.com/widgets/default/w") is None


def test_crd_with_wrong_name_is_invalid(store: ObjectStore) -> None:
    crd = json.loads(json.dumps(CRD))
    crd["metadata"]["name"] = "wrong"
    with pytest.raises(errors.ApiError) as excinfo:
        store.create(_rt(store, "apiextensions.k8s.io", "customresourcedefinitions"), "", crd)
    assert _api_error(excinfo)["message"] == (
        'CustomResourceDefinition.apiextensions.k8s.io "wrong" is invalid: metadata.name: '
        'Invalid value: "wrong": must be spec.names.plural+"."+spec.group'
    )


def test_reopened_store_serves_persisted_crds(store: ObjectStore) -> None:
    store.create(_rt(store, "apiextensions.k8s.io", "customresourcedefinitions"), "", CRD)
    reopened = ObjectStore(store.kv, builtin_registry())
    assert reopened.registry.lookup("example.com", "v1", "widgets") is not None


# -- errors, routes, tables


def test_error_texts() -> None:
    assert errors.method_not_supported("pods", "", "watch").status()["message"] == (
        'watch is not supported on resources of kind "pods"'
    )
    assert errors.unauthorized().status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    many = errors.invalid(
        "Pod", "", "p", [errors.required("spec.containers"), errors.invalid_value("x", 3)]
    )
    assert (
        many.message == 'Pod "p" is invalid: [spec.containers: Required value, x: Invalid value: 3]'
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/namespaces/default/pods/x", ResourceRoute("", "v1", "pods", "default", "x")),
        ("/api/v1/namespaces/default", ResourceRoute("", "v1", "namespaces", "", "default")),
        (
            "/api/v1/namespaces/default/status",
            ResourceRoute("", "v1", "namespaces", "", "default", "status"),
        ),
        (
            "/api/v1/nodes/n1/proxy/configz",
            ResourceRoute("", "v1", "nodes", "", "n1", "proxy", "configz"),
        ),
        ("/apis/apps/v1/deployments", ResourceRoute("apps", "v1", "deployments")),
        ("/api/v1/watch/pods", ResourceRoute("", "v1", "pods", watch=True)),
        ("/apis/apps", Endpoint("group", "apps")),
        ("/openapi/v3/api/v1", Endpoint("openapi_v3_gv", "", "v1")),
        ("/openapi/v3/apis/apps/v1", Endpoint("openapi_v3_gv", "apps", "v1")),
        ("/nothing", None),
    ],
)
def test_routes(path: str, expected: object) -> None:
    assert route(path) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (900, "15m"),
        (4 * 3600 + 60, "4h1m"),
        (86400 * 3, "3d"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_jsonpath_filters() -> None:
    obj = {
        "status": {"conditions": [{"type": "A", "status": "F"}, {"type": "Valid", "status": "T"}]}
    }
    assert jsonpath(obj, ".status.conditions[?(@.type=='Valid')].status") == "T"
    assert jsonpath(obj, ".status.conditions[0].type") == "A"
    assert jsonpath(obj, ".spec.missing") is None
