"""Topology controls (TOP-01..04): the nodes the inventory names, as Kubernetes sees them.

The inventory is the source of every expected value: which nodes exist (by
hostname, which is the Kubernetes node name), their roles, their CPU and
memory, the Talos and Kubernetes versions.  What is judged is observed state:
Node objects (conditions, labels, taints, capacity, kubelet version), the
Talos version each node reports and the API server's ``/version``.

Nodes the inventory does not name are not judged: a simulated 1000-node
cluster (or a real one with extra workers joined by hand) is still conformant
for the nodes the definition owns.  A node that is registered but whose data
could not be read makes the control unobservable for that node -- findings on
the other nodes still fail it, but it never passes with a node unread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import Finding, NodeFinding, Unobservable, verdict
from checks.snapshot import KubeObject, Snapshot
from provisioning.definition import inventory

NODE_STATUS_DOC = "https://kubernetes.io/docs/reference/node/node-status/#condition"
CAPACITY_DOC = "https://kubernetes.io/docs/reference/node/node-status/#capacity"
SCHEDULING_DOC = (
    "https://docs.siderolabs.com/talos/v1.12/reference/configuration/v1alpha1/config"
    "#Config.cluster.allowSchedulingOnControlPlanes"
)
SUPPORT_MATRIX_DOC = "https://docs.siderolabs.com/talos/v1.12/getting-started/support-matrix"

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
# Taints the node lifecycle controller sets from the Ready condition (and a
# cordon's own taint is judged through spec.unschedulable): readiness is
# TOP-01's property, so TOP-02 does not fail a second time for a node that is
# down.
_CONDITION_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})

GIB = 1024**3
# The kubelet reports capacity.memory as the kernel's MemTotal, which leaves out
# what firmware reserves, the kernel image and its early allocations (and an
# integrated GPU's stolen memory): a few percent below the installed size, so
# an 8 GiB machine shows about 7.6-7.8 GiB.  Below 90 % is a missing DIMM or a
# wrong inventory; above 100 % means more RAM than declared, also a wrong
# inventory.
MEMORY_LOWER_FRACTION = Decimal("0.90")

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIXES: Mapping[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def label(node: inventory.Node) -> str:
    """How a finding names a node: inventory name and Kubernetes name."""
    return f"{node.name} ({node.hostname})"


def quantity(text: object) -> Decimal | None:
    """A Kubernetes resource quantity (``4``, ``3500m``, ``8388608Ki``) as a number."""
    match = _QUANTITY.match(str(text).strip()) if text is not None else None
    if match is None or match.group(2) not in _SUFFIXES:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        return None


def bare_version(version: str) -> str:
    """``v1.35.2`` and ``1.35.2`` compare equal: the inventory writes either form."""
    return version.strip().removeprefix("v")


def _nodes_by_name(snapshot: Snapshot) -> dict[str, KubeObject]:
    return {
        str((obj.get("metadata") or {}).get("name")): obj
        for obj in snapshot.objects(snapshot_module.NODES)
    }


def _ready_condition(obj: KubeObject) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return cond
    return None


@judged.judges(nodes=judged.nodes)
def nodes_registered_and_ready(snapshot: Snapshot) -> list[Finding]:
    """Every inventory node is a Kubernetes Node (named by its hostname) with Ready=True.

    Observed: the Node's ``Ready`` condition as the kubelet and the node
    lifecycle controller maintain it (``Unknown`` when the kubelet stopped
    posting status, e.g. a powered-off machine).  Extra nodes are not judged.
    """
    nodes = _nodes_by_name(snapshot)
    findings: list[Finding] = []
    for node in snapshot.definition.nodes:
        obj = nodes.get(node.hostname)
        if obj is None:
            findings.append(
                Finding(label(node), "a registered Node, Ready", "not registered", NODE_STATUS_DOC)
            )
            continue
        cond = _ready_condition(obj)
        if cond is None:
            findings.append(
                Finding(label(node), "Ready=True", "no Ready condition reported", NODE_STATUS_DOC)
            )
        elif cond.get("status") != "True":
            reason = cond.get("reason") or "no reason"
            message = cond.get("message") or ""
            findings.append(
                Finding(
                    label(node),
                    "Ready=True",
                    f"Ready={cond.get('status')} ({reason}{': ' + message if message else ''})",
                    NODE_STATUS_DOC,
                )
            )
    return findings


@dataclass(frozen=True)
class NodeTainted(NodeFinding):
    """The Node carries *taints* (``key[=value]:Effect``) that keep workloads off it."""

    taints: tuple[str, ...] = ()
    keys: tuple[tuple[str, str], ...] = ()  # (key, effect) of each blocking taint


@dataclass(frozen=True)
class NodeCordoned(NodeFinding):
    """The Node is cordoned (``spec.unschedulable``)."""


@dataclass(frozen=True)
class NoControlPlaneLabel(NodeFinding):
    """A declared control-plane node's Node lacks the control-plane role label."""


def _taint_text(taint: Mapping[str, Any]) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


@judged.judges(control_plane_nodes=judged.control_planes)
def control_plane_nodes_schedulable(snapshot: Snapshot) -> list[Finding]:
    """Control-plane nodes carry the control-plane label, and no node refuses workloads.

    The definition runs every node as control plane *and* worker
    (``cluster.allowSchedulingOnControlPlanes``); without it Talos taints
    control planes ``node-role.kubernetes.io/control-plane:NoSchedule``.
    Observed: labels, every taint with effect NoSchedule or NoExecute
    whatever its key or who set it (Talos, ``kubectl taint``, a controller),
    and ``spec.unschedulable`` (a cordon).  The not-ready/unreachable taints
    the node lifecycle controller derives from readiness are left to TOP-01.
    """
    nodes = _nodes_by_name(snapshot)
    findings: list[Finding] = []
    unread: list[str] = []
    for node in snapshot.definition.nodes:
        obj = nodes.get(node.hostname)
        if obj is None:
            unread.append(f"{label(node)} is not registered")
            continue
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if node.is_control_plane and CONTROL_PLANE_LABEL not in labels:
            findings.append(
                NoControlPlaneLabel(
                    label(node),
                    f"label {CONTROL_PLANE_LABEL} (a control-plane node)",
                    "no control-plane label",
                    SCHEDULING_DOC,
                    node=node.name,
                )
            )
        spec = obj.get("spec") or {}
        blocking = [
            t
            for t in spec.get("taints") or []
            if isinstance(t, Mapping)
            and t.get("effect") in _BLOCKING_EFFECTS
            and t.get("key") not in _CONDITION_TAINTS
            and t.get("key") != "node.kubernetes.io/unschedulable"
        ]
        if blocking:
            findings.append(
                NodeTainted(
                    label(node),
                    "schedulable: no NoSchedule/NoExecute taint",
                    "tainted " + ", ".join(_taint_text(t) for t in blocking),
                    SCHEDULING_DOC,
                    node=node.name,
                    taints=tuple(_taint_text(t) for t in blocking),
                    keys=tuple((str(t.get("key")), str(t.get("effect"))) for t in blocking),
                )
            )
        if spec.get("unschedulable"):
            findings.append(
                NodeCordoned(
                    label(node),
                    "schedulable",
                    "cordoned (spec.unschedulable)",
                    SCHEDULING_DOC,
                    node=node.name,
                )
            )
    return verdict(findings, unread)


@dataclass(frozen=True)
class TalosVersionDrift(NodeFinding):
    """The node's Talos is not the declared version (an upgrade fixes it)."""


@dataclass(frozen=True)
class KubeletVersionDrift(NodeFinding):
    """The node's kubelet is not the declared Kubernetes version."""


@dataclass(frozen=True)
class ApiServerVersionDrift(Finding):
    """The API server is not the declared Kubernetes version."""


@judged.judges(nodes=judged.nodes)
def versions_as_declared(snapshot: Snapshot) -> list[Finding]:
    """Talos on every node, every kubelet and the API server run the declared versions.

    Observed: the Talos version each node's machine API reports, the Node's
    ``status.nodeInfo.kubeletVersion`` and the API server's ``/version``
    ``gitVersion``.  Versions compare without a leading ``v``.
    """
    expected = snapshot.definition.versions
    findings: list[Finding] = []
    unread: list[str] = []

    try:
        snapshot.require(snapshot_module.TALOS_VERSION)
    except Unobservable as exc:
        unread.append(f"Talos versions: {exc.reason}")
    else:
        for node in snapshot.definition.nodes:
            seen = snapshot.talos_versions.get(node.name)
            if seen is None:
                key = snapshot_module.on_node(snapshot_module.TALOS_VERSION, node.name)
                reason = snapshot.missing.get(key, "its Talos version was not read")
                unread.append(f"{label(node)}: {reason}")
            elif bare_version(seen) != bare_version(expected.talos):
                findings.append(
                    TalosVersionDrift(
                        label(node), f"Talos {expected.talos}", seen, SUPPORT_MATRIX_DOC, node.name
                    )
                )

    try:
        nodes = _nodes_by_name(snapshot)
    except Unobservable as exc:
        unread.append(f"kubelet versions: {exc.reason}")
    else:
        for node in snapshot.definition.nodes:
            obj = nodes.get(node.hostname)
            kubelet = (
                None
                if obj is None
                else ((obj.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion")
            )
            if not kubelet:
                unread.append(f"{label(node)} reports no kubelet version")
            elif bare_version(str(kubelet)) != bare_version(expected.kubernetes):
                findings.append(
                    KubeletVersionDrift(
                        f"{label(node)} kubelet",
                        f"Kubernetes v{bare_version(expected.kubernetes)}",
                        str(kubelet),
                        SUPPORT_MATRIX_DOC,
                        node.name,
                    )
                )

    try:
        snapshot.require(snapshot_module.KUBERNETES_VERSION)
        if snapshot.kubernetes_version is None:
            raise Unobservable("the API server's version was not read")
    except Unobservable as exc:
        unread.append(f"API server version: {exc.reason}")
    else:
        if bare_version(snapshot.kubernetes_version) != bare_version(expected.kubernetes):
            findings.append(
                ApiServerVersionDrift(
                    "Kubernetes API server",
                    f"Kubernetes v{bare_version(expected.kubernetes)}",
                    snapshot.kubernetes_version,
                    SUPPORT_MATRIX_DOC,
                )
            )
    return verdict(findings, unread)


def _gib(value: Decimal) -> str:
    return f"{value / GIB:.2f} GiB"


@judged.judges(nodes=judged.nodes)
def capacity_as_declared(snapshot: Snapshot) -> list[Finding]:
    """Each node's kubelet-reported CPU and memory capacity matches the inventory.

    CPU: ``status.capacity.cpu`` (logical CPUs) equals the inventory's ``cpu``.
    Memory: ``status.capacity.memory`` lies between 90 % and 100 % of
    ``memoryGiB`` (see :data:`MEMORY_LOWER_FRACTION` for why not equal).
    """
    nodes = _nodes_by_name(snapshot)
    findings: list[Finding] = []
    unread: list[str] = []
    for node in snapshot.definition.nodes:
        obj = nodes.get(node.hostname)
        capacity = None if obj is None else (obj.get("status") or {}).get("capacity")
        if not isinstance(capacity, Mapping):
            unread.append(f"{label(node)} reports no capacity")
            continue
        cpu = quantity(capacity.get("cpu"))
        if cpu is None or cpu != node.cpu:
            findings.append(
                Finding(
                    label(node),
                    f"{node.cpu} CPUs",
                    f"{capacity.get('cpu', 'no cpu capacity')} CPUs",
                    CAPACITY_DOC,
                )
            )
        memory = quantity(capacity.get("memory"))
        declared = Decimal(node.memory_gib * GIB)
        if memory is None:
            findings.append(
                Finding(
                    label(node),
                    f"{node.memory_gib} GiB of memory",
                    f"unreadable memory capacity {capacity.get('memory')!r}",
                    CAPACITY_DOC,
                )
            )
        elif not declared * MEMORY_LOWER_FRACTION <= memory <= declared:
            findings.append(
                Finding(
                    label(node),
                    f"{node.memory_gib} GiB of memory (kubelet: 90-100 % of it)",
                    f"{_gib(memory)} ({capacity.get('memory')})",
                    CAPACITY_DOC,
                )
            )
    return verdict(findings, unread)
