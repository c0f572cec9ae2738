"""Label selectors and kube-scheduler's placement of one pod on a Node.

What belongs here: the predicates a pod spec is checked against on a Node
(``nodeSelector``, taints and tolerations, required pod anti-affinity), the
LabelSelector matcher they use, and :func:`schedule` -- the fewest-pods-first
choice among the Nodes that pass, or the scheduler's own "0/N nodes are
available" message.  Kept apart from the controllers because it is pure
(no store access) and the DaemonSet controller reuses the predicates.

Deviations from upstream: no node affinity (``nodeSelector`` only), no
preferred terms, no preemption (the message says it is not helpful).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from simulator.controllers.store_access import Obj


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector against *labels* (a missing selector matches nothing)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and (not present or labels[key] not in values))
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def untolerated_taint(spec: Mapping[str, Any], node: Mapping[str, Any]) -> Obj | None:
    """The first NoSchedule/NoExecute taint of *node* the pod spec does not tolerate."""
    tolerations = spec.get("tolerations") or []
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            tolerations, taint
        ):
            return dict(taint)
    return None


def selector_fits(spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in (spec.get("nodeSelector") or {}).items())


def _anti_affinity_terms(pod: Obj) -> list[Mapping[str, Any]]:
    terms: list[Mapping[str, Any]] = (
        pod["spec"]
        .get("affinity", {})
        .get("podAntiAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
        or []
    )
    return terms


def _occupied(pod: Obj, nodes: Mapping[str, Obj], pods: list[Obj]) -> list[tuple[str, set[str]]]:
    """Per anti-affinity term: its topology key and the values taken by pods it repels.

    Computed once per pod to schedule, so checking a node is a set lookup
    instead of a scan of every pod (quadratic with a thousand nodes).
    """
    taken: list[tuple[str, set[str]]] = []
    for term in _anti_affinity_terms(pod):
        key = term.get("topologyKey", "")
        namespaces = term.get("namespaces") or [pod["metadata"]["namespace"]]
        values: set[str] = set()
        for other in pods:
            other_node = nodes.get(other["spec"].get("nodeName", ""))
            if (
                other is not pod
                and other_node is not None
                and other["metadata"]["namespace"] in namespaces
                and selector_matches(
                    term.get("labelSelector"), other["metadata"].get("labels") or {}
                )
            ):
                value = (other_node["metadata"].get("labels") or {}).get(key)
                if value is not None:
                    values.add(value)
        taken.append((key, values))
    return taken


def _anti_affinity_conflict(node: Obj, taken: list[tuple[str, set[str]]]) -> bool:
    labels = node["metadata"].get("labels") or {}
    return any(labels.get(key) in values for key, values in taken if key in labels)


def schedule(pod: Obj, nodes: Mapping[str, Obj], pods: list[Obj]) -> tuple[str | None, str]:
    """The node for *pod* (fewest pods first), or None and the scheduler's message."""
    reasons: dict[str, int] = {}
    fits: list[str] = []
    taken = _occupied(pod, nodes, pods)
    for name, node in sorted(nodes.items()):
        taint = untolerated_taint(pod["spec"], node)
        if node.get("spec", {}).get("unschedulable"):
            reason = "node(s) were unschedulable"
        elif not selector_fits(pod["spec"], node):
            reason = "node(s) didn't match Pod's node affinity/selector"
        elif taint is not None:
            reason = (
                f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
            )
        elif _anti_affinity_conflict(node, taken):
            reason = "node(s) didn't match pod anti-affinity rules"
        else:
            fits.append(name)
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
    if fits:
        load = Counter(p["spec"].get("nodeName") for p in pods)
        return min(fits, key=lambda n: (load[n], n)), ""
    total = len(nodes)
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    message = f"0/{total} nodes are available: {detail}." if detail else "no nodes available"
    message += (
        f" preemption: 0/{total} nodes are available: "
        f"{total} Preemption is not helpful for scheduling."
    )
    return None, message
