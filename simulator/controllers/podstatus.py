"""What the kubelet reports for a pod: phase, IPs, conditions and container statuses.

What belongs here: the status a bound (or unschedulable) pod gets from the
Node it is on and whether that Node's kubelet runs, and :func:`is_ready`,
the Ready-condition test used for pods and Nodes alike.  Kept apart from the
controllers because it computes a status from its inputs without touching
the store; the caller writes it.

A container can crash-loop: the container runtime's side of a pod (what
runs inside it, which the API never holds) is a :class:`Crash` record in the
KV under :data:`CRASH_PREFIX` keyed by the pod's uid, so it belongs to that
pod alone -- a fresh pod (new uid) starts clean, as deleting a stuck pod does
on a real node.  The kubelet then reports the pod Running but not Ready, the
container waiting in ``CrashLoopBackOff`` with its restarts counted along
the kubelet's back-off (10s doubling to 5m).

Containers can be slow to start: with a *start delay* (``simulator serve
--pod-start-delay SECONDS``), a pod bound to a node stays ``Pending`` with
its containers ``ContainerCreating`` until that long after its
``startTime`` -- image pulls and readiness probes on a busy node, the reason
a real cluster's add-ons take minutes to come up after ``helm install``.
Its default, 0, starts containers at once.

Deviations from upstream: pod IPs of non-host-network pods are made up from
the pod's uid, containers restart only when a :class:`Crash` says so, and
probes are not run (the start delay stands in for image pulls and probes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.controllers.store_access import Obj, merge_conditions

# Outside /talos-sim/ (SiteStore prunes its prefix) and outside the object store's keys.
CRASH_PREFIX = "/sim-faults/containers/"
_BACKOFF_START, _BACKOFF_CAP = 10, 300  # kubelet's crash-loop back-off, in seconds


@dataclass(frozen=True)
class Crash:
    """One container of one pod that exits at every start, and since when."""

    container: str
    message: str  # what the container prints before exiting
    since: str  # RFC 3339, when it first crashed

    def to_bytes(self) -> bytes:
        body = {"container": self.container, "message": self.message, "since": self.since}
        return json.dumps(body).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Crash | None:
        """The record, or None for one that does not parse (ignored, as unknown state)."""
        try:
            body = json.loads(raw)
            _parse(str(body["since"]))
            return cls(str(body["container"]), str(body["message"]), str(body["since"]))
        except (ValueError, KeyError, TypeError):
            return None


def crash_key(pod_uid: str) -> str:
    return f"{CRASH_PREFIX}{pod_uid}"


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _go_duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def _restarts(crash: Crash, now: str) -> tuple[int, int, dt.datetime]:
    """(restarts so far, current back-off seconds, when the last run ended)."""
    start = _parse(crash.since)
    elapsed = max(0.0, (_parse(now) - start).total_seconds())
    restarts, delay, at = 0, _BACKOFF_START, 0
    while at + delay <= elapsed:
        at += delay
        restarts += 1
        delay = min(delay * 2, _BACKOFF_CAP)
    return restarts, delay, start + dt.timedelta(seconds=at)


def _crashed_status(pod: Obj, container: Obj, crash: Crash, now: str) -> Obj:
    restarts, delay, ended = _restarts(crash, now)
    meta = pod["metadata"]
    stamp = ended.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "name": container.get("name", ""),
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {_go_duration(delay)} restarting failed "
                f"container={crash.container} pod={meta['name']}_{meta['namespace']}"
                f"({meta['uid']})",
            }
        },
        "lastState": {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "message": crash.message,
                "startedAt": stamp,
                "finishedAt": stamp,
            }
        },
    }


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


def _started_long_enough(old: Mapping[str, Any], now: str, start_delay: float) -> bool:
    """Whether *start_delay* seconds have passed since the kubelet first saw the pod."""
    if start_delay <= 0:
        return True
    since = old.get("startTime")
    if not since:
        return False
    try:
        return (_parse(now) - _parse(str(since))).total_seconds() >= start_delay
    except ValueError:
        return True


def pod_status(
    pod: Obj,
    node: Obj | None,
    kubelet_up: bool,
    message: str,
    now: str,
    crash: Crash | None = None,
    start_delay: float = 0.0,
) -> Obj:
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
    if old.get("phase") != "Running" and not _started_long_enough(old, now, start_delay):
        starts = False  # still pulling images / waiting for the first probe
    if starts:
        status["phase"] = "Running"
    names = {c.get("name") for c in pod["spec"].get("containers") or []}
    crashing = crash if starts and crash is not None and crash.container in names else None
    containers_ready = starts and status["phase"] == "Running"
    ready = containers_ready and crashing is None
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
        _crashed_status(pod, c, crashing, now)
        if crashing is not None and c.get("name") == crashing.container
        else {
            "name": c.get("name", ""),
            "image": c.get("image", ""),
            "imageID": "",
            "ready": containers_ready,
            "started": running,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}}
            if running
            else {"waiting": {"reason": "ContainerCreating"}},
        }
        for c in pod["spec"].get("containers") or []
    ]
    return status
