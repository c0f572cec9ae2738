"""The API server's node proxy dials the Node's address, not its name.

Why this matters: ``config_hygiene.rename_node`` leaves the old Node object
behind while the renamed kubelet registers a new one.  kube-apiserver
proxies ``nodes/<old>/proxy/configz`` to the old Node's InternalIP, where the
renamed kubelet still answers, so SEC-01 can judge that Node.  A proxy that
looked kubelets up by name would answer 503 and hide it.  These tests go
through the real handlers (routing, the Node lookup) and the simulator's
kubelet answer, without sockets.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from simulator import apiserver
from simulator.controllers import cluster as core
from simulator.drifts import edit_config
from simulator.kube.handlers import ApiHandlers, Request, kubelet_address
from simulator.kube.hooks import UserInfo
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.state.machines import Site, Stage
from simulator.store.kv import MemoryKV
from tests.simulator import talos_site

ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def cluster() -> tuple[Site, ObjectStore, ApiHandlers]:
    site = talos_site.running_cluster(2).site
    store = ObjectStore(MemoryKV(), builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW)
    return site, store, ApiHandlers(store, node_proxy=apiserver.node_proxy(lambda: site))


def _get(handlers: ApiHandlers, path: str) -> tuple[int, Any]:
    response = handlers.handle(Request("GET", path, {}, {}, b"", ADMIN))
    try:
        return response.status, json.loads(response.body)
    except ValueError:
        return response.status, response.body.decode()


def _rename(site: Site, store: ObjectStore, machine: str, hostname: str) -> None:
    with edit_config(site.machines[machine]) as docs:
        for doc in docs:
            if doc.get("kind") == "HostnameConfig":
                doc["hostname"] = hostname
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=5))


def test_a_renamed_kubelet_still_answers_for_its_old_node(
    cluster: tuple[Site, ObjectStore, ApiHandlers],
) -> None:
    site, store, handlers = cluster
    _rename(site, store, "node02", "k8s-node02-renamed")
    nodes = store.registry.lookup("", "v1", "nodes")
    assert nodes is not None
    names = sorted(n["metadata"]["name"] for n in store.list(nodes, "")["items"])
    assert names == ["k8s-node01", "k8s-node02", "k8s-node02-renamed"]
    old = store.get(nodes, "", "k8s-node02")
    assert kubelet_address(old) == talos_site.ip(2)

    for name in ("k8s-node02", "k8s-node02-renamed"):
        status, body = _get(handlers, f"/api/v1/nodes/{name}/proxy/configz")
        assert status == 200, body
        assert "kubeletconfig" in body
    assert _get(handlers, "/api/v1/nodes/k8s-node02/proxy/pods")[0] == 404


def test_a_node_whose_address_runs_no_kubelet_answers_503_and_an_unknown_node_404(
    cluster: tuple[Site, ObjectStore, ApiHandlers],
) -> None:
    site, _, handlers = cluster
    site.machines["node02"].stage = Stage.POWERED_OFF
    status, body = _get(handlers, "/api/v1/nodes/k8s-node02/proxy/configz")
    assert status == 503
    assert f"dial tcp {talos_site.ip(2)}:10250: connect: connection refused" in body["message"]
    assert _get(handlers, "/api/v1/nodes/k8s-node01/proxy/configz")[0] == 200
    assert _get(handlers, "/api/v1/nodes/k8s-node99/proxy/configz")[0] == 404


def test_the_proxy_dials_the_internal_ip_before_the_hostname() -> None:
    node = {
        "metadata": {"name": "n1"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.9"},
            ]
        },
    }
    assert kubelet_address(node) == "10.0.0.9"
    assert kubelet_address({"metadata": {"name": "n1"}, "status": {}}) == "n1"
    site = talos_site.running_cluster(1).site
    status, body = apiserver.node_proxy(lambda: site)("10.0.0.9", "/configz")
    assert status == 503
    assert "dial tcp 10.0.0.9:10250" in json.loads(body)["message"]
