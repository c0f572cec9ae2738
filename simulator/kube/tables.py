"""Server-side printing: ``meta.k8s.io/v1 Table`` responses for ``kubectl get``.

What belongs here: turning objects into the Table kubectl asks for with
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` -- column
definitions, one row per object with a ``PartialObjectMetadata`` (or the
full object, per ``includeObject``), and the human ages kubectl shows.

Columns: Pods ``Name Ready Status Restarts Age``; Nodes ``Name Status Roles
Age Version``; Namespaces ``Name Status Age``; Deployments ``Name Ready
Up-to-date Available Age``; custom resources ``Name`` + their
``additionalPrinterColumns`` (or ``Name Age`` without any); everything else
``Name Age``.  Deviation: upstream prints more columns for many built-ins
(``-o wide`` ones included), and CRD column JSONPaths are evaluated for the
simple forms only (``.a.b``, ``[n]``, ``[?(@.k=='v')]``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from simulator.kube.registry import ResourceType

Column = tuple[str, str, str]  # name, type, description


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    total = int(seconds)
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(value: Any, now: dt.datetime) -> str:
    if not isinstance(value, str) or not value:
        return "<unknown>"
    try:
        moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


_STEP = re.compile(
    r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_\-]+)==['\"]([^'\"]*)['\"]\)\]"
)


def jsonpath(obj: Any, path: str) -> Any:
    """The simple JSONPath forms CRD printer columns use; None where nothing matches."""
    current = obj
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            return None
        field, index, key, value = match.groups()
        if field is not None:
            current = current.get(field) if isinstance(current, Mapping) else None
        elif index is not None:
            number = int(index)
            current = (
                current[number] if isinstance(current, list) and number < len(current) else None
            )
        else:
            found = [
                i for i in current or [] if isinstance(i, Mapping) and str(i.get(key)) == value
            ]
            current = found[0] if found else None
        if current is None:
            return None
        position = match.end()
    return current


def _pod_cells(obj: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    statuses = _get(obj, "status", "containerStatuses") or []
    containers = _get(obj, "spec", "containers") or []
    ready = sum(1 for s in statuses if isinstance(s, Mapping) and s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses if isinstance(s, Mapping))
    phase = _get(obj, "status", "reason") or _get(obj, "status", "phase") or "Unknown"
    if _get(obj, "metadata", "deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{len(containers)}", phase, restarts]


def _node_cells(obj: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    conditions = _get(obj, "status", "conditions") or []
    ready = next(
        (
            c.get("status")
            for c in conditions
            if isinstance(c, Mapping) and c.get("type") == "Ready"
        ),
        None,
    )
    status = {"True": "Ready", "False": "NotReady"}.get(str(ready), "Unknown")
    if _get(obj, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    labels = _get(obj, "metadata", "labels") or {}
    roles = sorted(
        k.removeprefix("node-role.kubernetes.io/")
        for k in labels
        if k.startswith("node-role.kubernetes.io/")
    )
    version = _get(obj, "status", "nodeInfo", "kubeletVersion") or ""
    return [status, ",".join(r for r in roles if r) or "<none>", version]


def _deployment_cells(obj: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    wanted = _get(obj, "spec", "replicas")
    wanted = 1 if wanted is None else wanted
    ready = _get(obj, "status", "readyReplicas") or 0
    updated = _get(obj, "status", "updatedReplicas") or 0
    available = _get(obj, "status", "availableReplicas") or 0
    return [f"{ready}/{wanted}", updated, available]


# kind -> (columns between Name and Age, cells, columns after Age)
_BUILTIN: dict[
    str, tuple[Sequence[Column], Callable[[Mapping[str, Any], dt.datetime], list[Any]], int]
] = {
    "Pod": (
        (
            ("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
            ("Status", "string", "The aggregate status of the containers in this pod."),
            (
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted.",
            ),
        ),
        _pod_cells,
        0,
    ),
    "Node": (
        (
            ("Status", "string", "The status of the node"),
            ("Roles", "string", "The roles of the node"),
            ("Version", "string", "Kubelet Version reported by the node."),
        ),
        _node_cells,
        1,
    ),
    "Namespace": (
        (("Status", "string", "The status of the namespace"),),
        lambda obj, now: [_get(obj, "status", "phase") or ""],
        0,
    ),
    "Deployment": (
        (
            ("Ready", "string", "Number of the pod with ready state"),
            (
                "Up-to-date",
                "string",
                "Total number of non-terminated pods targeted by this deployment that have the "
                "desired template spec.",
            ),
            (
                "Available",
                "string",
                "Total number of available pods (ready for at least minReadySeconds) targeted by "
                "this deployment.",
            ),
        ),
        _deployment_cells,
        0,
    ),
}
_NAME: Column = ("Name", "string", "Name must be unique within a namespace.")
_AGE: Column = (
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def _definition(column: Column) -> dict[str, Any]:
    name, kind, description = column
    out = {"name": name, "type": kind, "format": "", "description": description, "priority": 0}
    if name == "Name":
        out["format"] = "name"
    return out


def _row_object(obj: Mapping[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return dict(obj)
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(_get(obj, "metadata") or {}),
    }


def _cells(
    rt: ResourceType, obj: Mapping[str, Any], now: dt.datetime
) -> tuple[list[Column], list[Any]]:
    name = _get(obj, "metadata", "name") or ""
    age = _age(_get(obj, "metadata", "creationTimestamp"), now)
    if rt.is_custom and rt.printer_columns:
        columns: list[Column] = [_NAME]
        cells: list[Any] = [name]
        for title, kind, path in rt.printer_columns:
            columns.append((title, kind, ""))
            value = jsonpath(obj, path)
            if kind == "date":
                cells.append(_age(value, now) if value is not None else "<unknown>")
            else:
                cells.append("" if value is None else value)
        return columns, cells
    spec = _BUILTIN.get(rt.kind) if not rt.is_custom else None
    if spec is None:
        return [_NAME, _AGE], [name, age]
    extra, compute, after_age = spec
    values = compute(obj, now)
    split = len(extra) - after_age
    columns = [_NAME, *extra[:split], _AGE, *extra[split:]]
    return columns, [name, *values[:split], age, *values[split:]]


def table(
    rt: ResourceType,
    objects: Sequence[Mapping[str, Any]],
    *,
    resource_version: str,
    include_object: str = "Metadata",
    now: dt.datetime | None = None,
    list_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``Table`` for *objects* (one for GET, many for LIST)."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    columns, _ = _cells(rt, {}, moment)
    rows = []
    for obj in objects:
        _, cells = _cells(rt, obj, moment)
        row: dict[str, Any] = {"cells": cells}
        partial = _row_object(obj, include_object)
        if partial is not None:
            row["object"] = partial
        rows.append(row)
    metadata = dict(list_metadata or {})
    metadata["resourceVersion"] = resource_version
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [_definition(c) for c in columns],
        "rows": rows,
    }
