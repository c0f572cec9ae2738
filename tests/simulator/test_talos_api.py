"""The machine API's protocol: JSON in, result or Talos error out, state saved in the KV."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from simulator.state.machines import SiteStore, Stage
from simulator.store.kv import MemoryKV, RevisionConflict
from simulator.talos import tls
from simulator.talos.api import MachineApi, health_report
from tests.simulator import talos_site

IP1 = talos_site.ip(1)


def _post(
    api: MachineApi, body: Any, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, Any]]:
    """One call with an os:admin client certificate unless *context* says otherwise."""
    parts = urlsplit(api.url)
    assert parts.hostname == "127.0.0.1"
    conn = http.client.HTTPSConnection(
        parts.hostname, parts.port, timeout=30, context=context or talos_site.client_tls()
    )
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", "/v1/call", raw, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def kv() -> MemoryKV:
    store = MemoryKV()
    SiteStore(store).save(talos_site.running_cluster(3).site)
    return store


@pytest.fixture
def api(kv: MemoryKV) -> Iterator[MachineApi]:
    with MachineApi(
        kv,
        file_reader=lambda name, path: b"audit\n" if name == "node01" else None,
        tls=talos_site.serving_tls(),
    ) as m:
        yield m


def test_malformed_requests_get_400(api: MachineApi) -> None:
    assert _post(api, b"{not json")[0] == 400
    assert _post(api, [1, 2])[0] == 400
    status, body = _post(api, {"node": IP1, "op": "format-disk", "args": {}})
    assert (status, body) == (400, {"malformed": "unknown operation 'format-disk'"})
    status, body = _post(api, {"node": IP1, "op": "apply_config", "args": {"mode": "auto"}})
    assert (status, body) == (400, {"malformed": "argument 'config' is required"})


def test_talos_errors_are_answers_and_successes_are_saved(api: MachineApi, kv: MemoryKV) -> None:
    status, body = _post(api, {"node": IP1, "op": "bootstrap", "args": {}})
    assert (status, body) == (
        200,
        {"error": {"code": "AlreadyExists", "message": "etcd data directory is not empty"}},
    )
    healthy = health_report(SiteStore(kv).load())
    assert healthy["ok"] is True
    assert len(healthy["checks"]) == 5
    status, body = _post(api, {"node": "node02", "op": "shutdown", "args": {}})
    assert (status, body) == (200, {"result": {"lines": []}})
    assert SiteStore(kv).load().machines["node02"].stage is Stage.POWERED_OFF
    report = health_report(SiteStore(kv).load())
    assert report["ok"] is False
    assert report["checks"] == [("etcd to be healthy", "k8s-node02: etcd member is not healthy")]


def test_hooks_answer_read_and_kubeconfig(api: MachineApi) -> None:
    status, body = _post(api, {"node": IP1, "op": "read", "args": {"path": "/var/log/x"}})
    assert (status, body) == (200, {"result": {"data": "YXVkaXQK"}})
    _, missing = _post(api, {"node": talos_site.ip(2), "op": "read", "args": {"path": "/x"}})
    assert missing["error"]["message"] == "open /x: no such file or directory"
    _, kubeconfig = _post(api, {"node": IP1, "op": "kubeconfig", "args": {}})
    assert kubeconfig["error"]["code"] == "Unavailable"
    assert "Kubernetes API is not running" in kubeconfig["error"]["message"]


def test_get_filters_by_id_and_namespace(api: MachineApi) -> None:
    _, state = _post(
        api, {"node": IP1, "op": "get", "args": {"type": "volumestatus", "id": "STATE"}}
    )
    [resource] = state["result"]["resources"]
    assert (resource["type"], resource["id"]) == ("VolumeStatuses.block.talos.dev", "STATE")
    _, other_ns = _post(
        api, {"node": IP1, "op": "get", "args": {"type": "vs", "namespace": "network"}}
    )
    assert other_ns == {"result": {"resources": []}}
    _, absent = _post(api, {"node": IP1, "op": "get", "args": {"type": "vs", "id": "NOPE"}})
    assert absent["error"] == {
        "code": "NotFound",
        "message": "resource VolumeStatuses.block.talos.dev(runtime/NOPE@undefined) doesn't exist",
    }


class _ConflictOnce(MemoryKV):
    """A KV where another writer wins the first conditional write."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.conflicts = 0

    def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        if self.armed and expect_mod_revision is not None and "machines/" in key:
            self.armed = False
            self.conflicts += 1
            raise RevisionConflict(key, expect_mod_revision, expect_mod_revision + 1)
        return super().put(key, value, expect_mod_revision=expect_mod_revision)


def test_a_revision_conflict_is_retried_once() -> None:
    store = _ConflictOnce()
    SiteStore(store).save(talos_site.site(1))
    store.armed = True
    config = talos_site.config(1)
    with MachineApi(store, tls=talos_site.serving_tls()) as api:
        args = {"config": config, "insecure": True}
        call = {"node": IP1, "op": "apply_config", "args": args}
        status, body = _post(api, call, tls.insecure_context())
    assert (status, body) == (200, {"result": {"lines": []}})
    assert store.conflicts == 1
    assert SiteStore(store).load().machines["node01"].stage is Stage.RUNNING


def test_snapshot_without_a_snapshot_capable_store_is_a_talos_error(
    api: MachineApi, tmp_path: Path
) -> None:
    _, body = _post(api, {"node": IP1, "op": "etcd_snapshot", "args": {}})
    assert body["error"]["code"] == "Unknown"
    assert body["error"]["message"].startswith("failed reading etcd snapshot: ")
