"""What the kubelet reports for a pod: phase, IPs, conditions and container statuses.

What belongs here: the status a bound (or unschedulable) pod gets from the
Node it is on and whether that Node's kubelet runs, and :func:`is_ready`,
the Ready-condition test used for pods and Nodes alike.  Kept apart from the
controllers because it computes a status from its inputs without touching
the store; the caller writes it.

Deviations from upstream: pod IPs of non-host-network pods are made up from
the pod's uid, containers never restart, and probes are not run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from simulator.controllers.store_access import Obj, merge_conditions


def _pod_ip(pod: Mapping[str, Any], host_ip: str) -> str:
    if pod["spec"].get("hostNetwork"):
        return host_ip
    digest = hashlib.sha256(pod["metadata"]["uid"].encode()).digest()
    return f"10.244.{digest[0]}.{digest[1] % 254 + 1}"


def _internal_ip(node: Mapping[str, Any]) -> str:
    for address in node.get("status", {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address", ""))
    return ""


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Whether a Node's or Pod's ``Ready`` condition is True."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def pod_status(pod: Obj, node: Obj | None, kubelet_up: bool, message: str, now: str) -> Obj:
    old = pod.get("status") or {}
    status: Obj = {
        "phase": old.get("phase", "Pending"),
        "qosClass": old.get("qosClass", "BestEffort"),
    }
    if node is None:
        status["conditions"] = merge_conditions(
            old.get("conditions") or [],
            [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                }
            ],
            now,
        )
        return status
    host_ip = _internal_ip(node)
    host_network = bool(pod["spec"].get("hostNetwork"))
    starts = kubelet_up and (host_network or is_ready(node))
    if starts:
        status["phase"] = "Running"
    ready = starts and status["phase"] == "Running"
    state = "True" if ready else "False"
    running = status["phase"] == "Running"
    status.update(
        {
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "startTime": old.get("startTime", now),
        }
    )
    if running:
        status["podIP"] = old.get("podIP") or _pod_ip(pod, host_ip)
        status["podIPs"] = [{"ip": status["podIP"]}]
    conditions: list[Obj] = [
        {"type": "PodReadyToStartContainers", "status": "True" if running else "False"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": state},
        {"type": "ContainersReady", "status": state},
        {"type": "PodScheduled", "status": "True"},
    ]
    for cond in conditions:
        cond["lastProbeTime"] = None
        cond["lastTransitionTime"] = now
    status["conditions"] = merge_conditions(old.get("conditions") or [], conditions, now)
    started = old.get("startTime", now)
    status["containerStatuses"] = [
        {
            "name": c.get("name", ""),
            "image": c.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": running,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}}
            if running
            else {"waiting": {"reason": "ContainerCreating"}},
        }
        for c in pod["spec"].get("containers") or []
    ]
    return status
