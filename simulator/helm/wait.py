"""``helm upgrade --install --wait``: poll a release's objects until Helm would call them ready.

What belongs here: the readiness rules of Helm 3's waiter (``pkg/kube/wait.go``
and ``ready.go`` in helm/helm, the legacy "watcher-less" strategy that v3 uses
and v4 keeps as ``--wait=legacy``), the ``--timeout`` duration parser, and the
poll loop.  Kept apart from :mod:`simulator.helm.actions` because it reads
live status, not the release record.

The rules, per kind of rendered object (every other kind is ready at once):

* Deployment: not paused; its new ReplicaSet (the one whose pod template is
  the Deployment's) exists and has ``readyReplicas >= replicas -
  maxUnavailable``; ``status.observedGeneration`` is the object's generation.
  ``maxUnavailable`` is deploymentutil's: a RollingUpdate's value (percent
  rounded down, 25% when unset; 1 when it and ``maxSurge`` are both 0), 0 for
  Recreate.  So a two-replica operator with ``maxUnavailable: 50%`` counts as
  ready with one Ready pod -- as real Helm does.
* DaemonSet: observed generation current; for RollingUpdate (the API
  default, ``maxUnavailable`` 1 when unset), ``updatedNumberScheduled ==
  desiredNumberScheduled`` and ``numberReady >= desired - maxUnavailable``
  (percent rounded up).  Longhorn's manager, ``maxUnavailable: 100%``, is
  therefore ready with no Ready pod at all -- which is why provisioning waits
  for Longhorn by the controls' own definition after Helm returns.
* StatefulSet: observed generation; RollingUpdate: ``updatedReplicas >=
  replicas - partition`` and ``readyReplicas == replicas``.
* Pod: condition Ready True.  PersistentVolumeClaim: phase Bound.  Service:
  a cluster IP unless ExternalName; a LoadBalancer needs an ingress or
  external IPs.  CustomResourceDefinition: Established (or names refused).

Helm polls every 2 s until everything is ready or ``--timeout`` (default
5m0s) passes, then fails the release with ``context deadline exceeded``.
Deviation: Jobs are never waited for (``--wait-for-jobs`` is not offered).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from simulator.helm.kubeapi import Cluster, Ref

POLL_SECONDS = 2.0
DEADLINE_EXCEEDED = "context deadline exceeded"

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class DurationError(ValueError):
    """A ``--timeout`` value Go's ``time.ParseDuration`` would refuse."""


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (``5m0s``, ``90s``, ``1h``), in seconds.

    :raises DurationError: worded as Go's parser, e.g. ``time: missing unit in
        duration "300"``.
    """
    body = text.lstrip("+-")
    if body in ("0", ""):
        if body == "0":
            return 0.0
        raise DurationError(f'time: invalid duration "{text}"')
    total, at = 0.0, 0
    while at < len(body):
        match = _PART.match(body, at)
        if match is None:
            if re.fullmatch(r"[\d.]+", body[at:]):
                raise DurationError(f'time: missing unit in duration "{text}"')
            raise DurationError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        at = match.end()
    return -total if text.startswith("-") else total


def _scaled(value: Any, total: int, *, round_up: bool, default: Any) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int, or a percent of *total*."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            return total  # invalid: Helm treats it as "all may be unavailable"
    try:
        share = float(text[:-1]) * total / 100
    except ValueError:
        return total
    return math.ceil(share) if round_up else math.floor(share)


def _generation_current(obj: Mapping[str, Any]) -> bool:
    observed = (obj.get("status") or {}).get("observedGeneration")
    return observed == (obj.get("metadata") or {}).get("generation", observed)


def _deployment_max_unavailable(deploy: Mapping[str, Any]) -> int:
    spec = deploy.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or replicas == 0:
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge"), replicas, round_up=True, default="25%")
    unavailable = _scaled(rolling.get("maxUnavailable"), replicas, round_up=False, default="25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return min(unavailable, replicas)


def _template_without_hash(template: Mapping[str, Any]) -> Any:
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
    meta["labels"] = labels
    return {**template, "metadata": meta}


def _new_replica_set(cluster: Cluster, deploy: Mapping[str, Any]) -> Mapping[str, Any] | None:
    meta = deploy.get("metadata") or {}
    wanted = _template_without_hash((deploy.get("spec") or {}).get("template") or {})
    for rs in cluster.list("ReplicaSet", str(meta.get("namespace")), ""):
        owners = (rs.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("uid") == meta.get("uid") for o in owners):
            continue
        template = (rs.get("spec") or {}).get("template") or {}
        if _template_without_hash(template) == wanted:
            return rs
    return None


def _deployment(cluster: Cluster, deploy: Mapping[str, Any]) -> str | None:
    spec = deploy.get("spec") or {}
    if spec.get("paused"):
        return None  # Helm 3 skips a paused Deployment
    rs = _new_replica_set(cluster, deploy)
    if rs is None:
        return "no new ReplicaSet yet"
    if not _generation_current(deploy):
        return "observedGeneration does not match spec generation"
    expected = int(spec.get("replicas", 1)) - _deployment_max_unavailable(deploy)
    ready = int((rs.get("status") or {}).get("readyReplicas") or 0)
    if ready < expected:
        return f"{ready} out of {expected} expected pods are ready"
    return None


def _daemonset(ds: Mapping[str, Any]) -> str | None:
    if not _generation_current(ds):
        return "observedGeneration does not match spec generation"
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    status = ds.get("status") or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    if updated != desired:
        return f"{updated} out of {desired} expected pods have been scheduled"
    rolling = strategy.get("rollingUpdate") or {}
    unavailable = _scaled(rolling.get("maxUnavailable"), desired, round_up=True, default=1)
    expected = desired - unavailable
    ready = int(status.get("numberReady") or 0)
    if ready < expected:
        return f"{ready} out of {expected} expected pods are ready"
    return None


def _statefulset(sts: Mapping[str, Any]) -> str | None:
    if not _generation_current(sts):
        return "observedGeneration does not match spec generation"
    spec = sts.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    replicas = int(spec.get("replicas", 1))
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    status = sts.get("status") or {}
    if int(status.get("updatedReplicas") or 0) < replicas - partition:
        return "not every updated pod has been scheduled"
    if int(status.get("readyReplicas") or 0) != replicas:
        return f"{status.get('readyReplicas') or 0} out of {replicas} pods are ready"
    return None


def _condition(obj: Mapping[str, Any], kind: str) -> str | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def _service(svc: Mapping[str, Any]) -> str | None:
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    if not spec.get("clusterIP"):
        return "no cluster IP"
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if spec.get("type") == "LoadBalancer" and not spec.get("externalIPs") and not ingress:
        return "no load balancer ingress"
    return None


def not_ready(cluster: Cluster, ref: Ref) -> str | None:
    """Why the live object at *ref* is not ready by Helm's rules, or None when it is."""
    if ref.kind not in (
        "Deployment",
        "DaemonSet",
        "StatefulSet",
        "Pod",
        "PersistentVolumeClaim",
        "Service",
        "CustomResourceDefinition",
    ):
        return None
    live = cluster.get(ref)
    if live is None:
        return "not found"
    if ref.kind == "Deployment":
        return _deployment(cluster, live)
    if ref.kind == "DaemonSet":
        return _daemonset(live)
    if ref.kind == "StatefulSet":
        return _statefulset(live)
    if ref.kind == "Pod":
        return None if _condition(live, "Ready") == "True" else "not Ready"
    if ref.kind == "PersistentVolumeClaim":
        phase = (live.get("status") or {}).get("phase")
        return None if phase == "Bound" else f"phase {phase}"
    if ref.kind == "Service":
        return _service(live)
    if _condition(live, "Established") == "True" or _condition(live, "NamesAccepted") == "False":
        return None
    return "not Established"


def wait_ready(
    cluster: Cluster,
    refs: Sequence[Ref],
    timeout: float,
    *,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Poll until every object in *refs* is ready; what is still not ready after *timeout*.

    An empty list means ready.  Like Helm, the first check is immediate and
    the last happens no later than the deadline.
    """
    deadline = clock() + timeout
    while True:
        waiting = [
            f"{ref.describe()}: {why}"
            for ref in refs
            if (why := not_ready(cluster, ref)) is not None
        ]
        if not waiting:
            return []
        left = deadline - clock()
        if left <= 0:
            return waiting
        sleep(min(poll, left))
