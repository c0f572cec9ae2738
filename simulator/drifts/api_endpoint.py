"""API-endpoint drifts: the Kubernetes API server slow or unavailable (API-03), a VIP dropped
from a node's config (API-01) or from every control plane, so that nobody serves it (API-05,
and API-01..03 beside it: clients of the endpoint lose the API), the VIP answered by two nodes
(API-02), KubePrism disabled on a node (API-04, and CIL-03 for the Cilium agent that reaches the
API through it).

A fault is a flag in the simulator's KV (:data:`simulator.drifts.FAULT_KEY`,
JSON ``{"mode": "slow"|"unavailable", "delaySeconds": n}``) that the running
simulator reads and hands to its API server (``KubeApiServer.set_fault``);
set on a stopped state directory it takes effect at the next ``serve``.
:class:`FaultWatcher` is the running simulator's reader of that flag.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from simulator.drifts import (
    FAULT_KEY,
    DriftContext,
    DriftError,
    config_documents,
    control_planes,
    drift,
    edit_config,
    v1alpha1,
)
from simulator.store.kv import KV

log = logging.getLogger(__name__)

SLOW_SECONDS = 5.0


def _set(ctx: DriftContext, mode: str, delay: float = 0.0) -> None:
    ctx.kv.put(FAULT_KEY, json.dumps({"mode": mode, "delaySeconds": delay}).encode())


@drift(
    "api_endpoint.slow",
    controls=("API-03",),
    description=f"the Kubernetes API server answers every request {SLOW_SECONDS:g} s late",
)
def slow(ctx: DriftContext, node: str | None) -> str:
    _set(ctx, "slow", SLOW_SECONDS)
    return f"Kubernetes API server now answers {SLOW_SECONDS:g} s late"


@drift(
    "api_endpoint.unavailable",
    controls=("API-03",),
    description="the Kubernetes API server answers every request with 503",
)
def unavailable(ctx: DriftContext, node: str | None) -> str:
    _set(ctx, "unavailable")
    return "Kubernetes API server now answers 503 ServiceUnavailable"


def read_fault(kv: KV) -> tuple[str | None, float]:
    """The API-server fault the KV asks for: (mode, delay seconds); (None, 0) when healthy."""
    entry = kv.get(FAULT_KEY)
    if entry is None:
        return None, 0.0
    try:
        data = json.loads(entry.value)
        mode, delay = data.get("mode"), float(data.get("delaySeconds", 0.0))
    except (ValueError, TypeError, AttributeError):
        log.warning("ignoring unreadable API-server fault flag at %s", FAULT_KEY)
        return None, 0.0
    return (mode, delay) if mode in ("slow", "unavailable") else (None, 0.0)


class FaultWatcher:
    """Polls the fault flag for a running simulator and reports each change to *apply*.

    Polling, not watching: the KV protocol has no watch, and a drift applied
    from another process only changes etcd.  Its own KV connection keeps it
    off the simulator's.
    """

    def __init__(
        self,
        make_kv: Callable[[], KV],
        apply: Callable[[str | None, float], None],
        *,
        interval: float = 0.5,
    ) -> None:
        self._make_kv = make_kv
        self._apply = apply
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fault-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        kv = self._make_kv()
        seen: tuple[str | None, float] = (None, 0.0)
        while not self._stop.is_set():
            try:
                fault = read_fault(kv)
            except Exception:  # etcd hiccup: keep the last fault, try again
                log.debug("reading the API-server fault flag failed", exc_info=True)
            else:
                if fault != seen:
                    seen = fault
                    self._apply(*fault)
            self._stop.wait(self._interval)
        close = getattr(kv, "close", None)  # EtcdKV holds a connection; MemoryKV nothing
        if callable(close):
            close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@drift(
    "api_endpoint.drop_vip",
    controls=("API-01",),
    description="a control-plane node's applied config (--node, default the first) no longer "
    "carries the VIP on its interface",
    takes_node=True,
)
def drop_vip(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "api_endpoint.drop_vip")
    with edit_config(machine) as docs:
        network = v1alpha1(docs, machine)["machine"].get("network") or {}
        dropped = 0
        for iface in network.get("interfaces") or []:
            if isinstance(iface, dict) and iface.pop("vip", None) is not None:
                dropped += 1
    if not dropped:
        raise DriftError(f"{machine.name}'s config carries no VIP to drop")
    ctx.save_site()
    return f"{machine.name}: VIP removed from its interface config"


@drift(
    "api_endpoint.vip_unserved",
    controls=("API-05",),
    description="no control-plane config carries the VIP any more, so no node holds or serves "
    "it (API-01..03 fail beside API-05; with the endpoint unserved no fix can take the "
    "remediation Lease, so none is attempted)",
)
def vip_unserved(ctx: DriftContext, node: str | None) -> str:
    dropped: list[str] = []
    for machine in control_planes(ctx, "api_endpoint.vip_unserved"):
        with edit_config(machine) as docs:
            network = v1alpha1(docs, machine)["machine"].get("network") or {}
            dropped.extend(
                machine.name
                for iface in network.get("interfaces") or []
                if isinstance(iface, dict) and iface.pop("vip", None) is not None
            )
    if not dropped:
        raise DriftError("no control-plane config carries a VIP to drop")
    ctx.save_site()
    return f"VIP removed from the interface config of {', '.join(sorted(set(dropped)))}"


def _vip_interface(docs: list[dict[str, Any]], machine_name: str) -> tuple[dict[str, Any], str]:
    """The legacy ``interfaces[]`` entry that carries the VIP, and the VIP."""
    for doc in docs:
        network = (doc.get("machine") or {}).get("network") or {}
        for iface in network.get("interfaces") or []:
            if isinstance(iface, dict) and (iface.get("vip") or {}).get("ip"):
                return iface, str(iface["vip"]["ip"])
    raise DriftError(f"{machine_name}'s config carries no VIP on an interface (interfaces[].vip)")


@drift(
    "api_endpoint.vip_static_address",
    controls=("API-02",),
    description="the VIP was also written as a static address on a second control-plane "
    "node's interface (--node, default the first that does not hold it): two nodes answer "
    "for it, a split brain",
    takes_node=True,
)
def vip_static_address(ctx: DriftContext, node: str | None) -> str:
    """An operator mistake Talos accepts: ``addresses: [<vip>/32]`` beside ``vip: {ip: <vip>}``.

    Talos validates neither against the other, so the node configures the
    address as a plain static one and keeps it whatever the etcd election
    says, while the elected holder carries it too.  The node's first address
    (the one the simulator and the kubelet take as the node's) is kept first.
    """
    name = "api_endpoint.vip_static_address"
    ctx.require_provisioned(name)
    if node is None:
        holders = set(ctx.site.vip_holders.values())
        spare = [m for m in control_planes(ctx, name) if m.name not in holders]
        if not spare:
            raise DriftError(f"drift {name}: every control-plane node already holds a VIP")
        machine = spare[0]
    else:
        machine = ctx.configured(node, name)
    _, vip = _vip_interface(config_documents(machine.config), machine.name)
    if ctx.site.vip_holders.get(vip) == machine.name:
        raise DriftError(
            f"{machine.name} is the elected holder of VIP {vip}: a static copy there changes "
            "nothing; name another control-plane node"
        )
    with edit_config(machine) as docs:
        iface, _ = _vip_interface(docs, machine.name)
        addresses = iface.setdefault("addresses", [])
        if f"{vip}/32" in addresses:
            raise DriftError(f"{machine.name} already carries VIP {vip} as a static address")
        addresses.append(f"{vip}/32")
    ctx.save_site()
    holder = ctx.site.vip_holders.get(vip, "no node")
    return f"{machine.name}: VIP {vip}/32 added as a static address (elected holder: {holder})"


@drift(
    "api_endpoint.disable_kubeprism",
    controls=("API-04", "CIL-03"),
    description="a node's applied config (--node, default the first) has KubePrism disabled "
    "(machine.features.kubePrism.enabled: false), so its local API load balancer is gone and "
    "the Cilium agent there, which reaches the API server through it (localhost:7445), "
    "crash-loops",
    takes_node=True,
)
def disable_kubeprism(ctx: DriftContext, node: str | None) -> str:
    """The node's KubePrismStatus follows its config (simulator.talos.resources): none left.

    The Cilium agent on that node follows too (simulator.controllers.cilium):
    the reference values point it at ``localhost:7445`` (``k8sServiceHost``,
    ``k8sServicePort``), where nothing listens now, so it exits at start-up
    and is not Ready until KubePrism is back.
    """
    name = "api_endpoint.disable_kubeprism"
    machine = ctx.configured(node, name)
    with edit_config(machine) as docs:
        features = v1alpha1(docs, machine)["machine"].setdefault("features", {})
        prism = features.setdefault("kubePrism", {})
        if prism.get("enabled") is not True:
            raise DriftError(f"{machine.name} does not run KubePrism: nothing to disable")
        prism["enabled"] = False
    ctx.save_site()
    return f"{machine.name}: KubePrism disabled in its config"


@drift(
    "api_endpoint.endpoint_to_node",
    controls=("API-03",),
    description="a node's applied config (--node, default the first) names its own address as "
    "cluster.controlPlane.endpoint instead of the VIP, so its kubelet and KubePrism lose the "
    "API with that node",
    takes_node=True,
)
def endpoint_to_node(ctx: DriftContext, node: str | None) -> str:
    """``talosctl patch machineconfig`` with ``cluster.controlPlane.endpoint: https://<ip>:6443``."""
    machine = ctx.configured(node, "api_endpoint.endpoint_to_node")
    endpoint = f"https://{machine.ip}:6443"
    with edit_config(machine) as docs:
        cluster = v1alpha1(docs, machine).setdefault("cluster", {})
        cluster.setdefault("controlPlane", {})["endpoint"] = endpoint
    ctx.save_site()
    return f"{machine.name}: cluster.controlPlane.endpoint is now {endpoint}"


@drift(
    "api_endpoint.kubeprism_port",
    controls=("API-04",),
    description="a node's applied config (--node, default the first) moves KubePrism to port "
    "7446 (machine.features.kubePrism.port), where nothing that expects 7445 reaches it",
    takes_node=True,
)
def kubeprism_port(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "api_endpoint.kubeprism_port")
    with edit_config(machine) as docs:
        features = v1alpha1(docs, machine)["machine"].setdefault("features", {})
        features.setdefault("kubePrism", {"enabled": True})["port"] = 7446
    ctx.save_site()
    return f"{machine.name}: KubePrism now listens on port 7446"


@drift(
    "api_endpoint.vip_wrong_link",
    controls=("API-01",),
    description="a control-plane node's VIP (--node, default the first) moved from its uplink "
    "to a Layer2VIPConfig on a second NIC (enp2s0) that does not carry the node's address",
    takes_node=True,
)
def vip_wrong_link(ctx: DriftContext, node: str | None) -> str:
    """The legacy ``interfaces[].vip`` removed and a v1.12 ``Layer2VIPConfig`` added instead."""
    name = "api_endpoint.vip_wrong_link"
    machine = ctx.configured(node, name)
    with edit_config(machine) as docs:
        iface, vip = _vip_interface(docs, machine.name)
        iface.pop("vip")
        docs.append(
            {"apiVersion": "v1alpha1", "kind": "Layer2VIPConfig", "name": vip, "link": "enp2s0"}
        )
    ctx.save_site()
    return f"{machine.name}: VIP {vip} now configured on enp2s0 (Layer2VIPConfig)"
