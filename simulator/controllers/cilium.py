"""What the Cilium operator and agents write to the API: CRDs, CiliumNodes, policy status.

What belongs here: the cilium.io CustomResourceDefinitions (facts §1.5 --
the *operator* installs them, not Helm, so they appear only once an
operator pod runs), one CiliumNode per Node (facts §1.4.5) and the ``Valid``
condition on CiliumNetworkPolicies (facts §1.6).  Workload objects (the
DaemonSet, the Deployment) come from the chart renderer in
:mod:`simulator.helm.charts`; their pods from :mod:`.workloads`.

Policy validity follows the CRD validation of 1.19 (``anyOf`` one of
ingress/ingressDeny/egress/egressDeny, ``oneOf`` endpointSelector or
nodeSelector) and is reported as a condition, not as a 422 at write time:
the simulator's API server does not evaluate CRD schemas.  The selector
messages are those of Cilium's ``Rule.Sanitize``; the anyOf message is the
API server's wording for a failed ``anyOf``.  Deviations: CRD schemas are
``x-kubernetes-preserve-unknown-fields``; CiliumNode carries addresses only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.controllers import workloads
from simulator.kube.objects import ObjectStore

Obj = dict[str, Any]
GROUP = "cilium.io"
_DIRECTIONS = ("ingress", "ingressDeny", "egress", "egressDeny")
_SCHEMA = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


def _version(
    name: str, *, storage: bool, deprecated: bool = False, columns: Sequence[Obj] = ()
) -> Obj:
    version: Obj = {
        "name": name,
        "served": True,
        "storage": storage,
        "schema": _SCHEMA,
        "subresources": {"status": {}},
    }
    if deprecated:
        version["deprecated"] = True
    if columns:
        version["additionalPrinterColumns"] = list(columns)
    return version


def _crd(
    kind: str, plural: str, scope: str, short: Sequence[str], versions: list[Obj], **names: Any
) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"io.cilium.k8s.crd.schema.version": "1.32.0"},
        },
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": list(short),
                **names,
            },
            "versions": versions,
        },
    }


_AGE = {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}
_VALID = {
    "jsonPath": ".status.conditions[?(@.type=='Valid')].status",
    "name": "Valid",
    "type": "string",
}


def crds() -> list[Obj]:
    """The cilium.io CRDs the 1.19 operator registers (facts §1.5)."""
    policy = [_version("v2", storage=True, columns=[_AGE, _VALID])]
    return [
        _crd(
            "CiliumNetworkPolicy",
            "ciliumnetworkpolicies",
            "Namespaced",
            ("cnp", "ciliumnp"),
            policy,
            categories=["cilium", "ciliumpolicy"],
        ),
        _crd(
            "CiliumClusterwideNetworkPolicy",
            "ciliumclusterwidenetworkpolicies",
            "Cluster",
            ("ccnp",),
            policy,
            categories=["cilium", "ciliumpolicy"],
        ),
        _crd(
            "CiliumNode",
            "ciliumnodes",
            "Cluster",
            ("cn", "ciliumn"),
            [
                _version(
                    "v2",
                    storage=True,
                    columns=[
                        {
                            "jsonPath": ".spec.addresses[?(@.type=='CiliumInternalIP')].ip",
                            "name": "CiliumInternalIP",
                            "type": "string",
                        },
                        {
                            "jsonPath": ".spec.addresses[?(@.type=='InternalIP')].ip",
                            "name": "InternalIP",
                            "type": "string",
                        },
                        _AGE,
                    ],
                )
            ],
            categories=["cilium"],
        ),
        _crd(
            "CiliumLoadBalancerIPPool",
            "ciliumloadbalancerippools",
            "Cluster",
            ("ippools", "ippool", "lbippool", "lbippools"),
            [_version("v2", storage=True), _version("v2alpha1", storage=False, deprecated=True)],
            categories=["cilium"],
        ),
        _crd(
            "CiliumL2AnnouncementPolicy",
            "ciliuml2announcementpolicies",
            "Cluster",
            ("l2announcement",),
            [_version("v2alpha1", storage=True)],
            categories=["cilium"],
        ),
    ]


def policy_problem(spec: object) -> str | None:
    """Why a CiliumNetworkPolicy rule is invalid, or None."""
    if not isinstance(spec, Mapping):
        return "spec: Invalid value: must be an object"
    if not any(spec.get(d) is not None for d in _DIRECTIONS):
        return (
            'spec: Invalid value: "object": must validate at least one schema (anyOf): '
            "one of ingress, ingressDeny, egress, egressDeny is required"
        )
    has_endpoints = spec.get("endpointSelector") is not None
    has_nodes = spec.get("nodeSelector") is not None
    if not has_endpoints and not has_nodes:
        return "rule must have one of EndpointSelector or NodeSelector"
    if has_endpoints and has_nodes:
        return "rule cannot have both EndpointSelector and NodeSelector"
    return None


def _policy_status(policy: Mapping[str, Any], now: str) -> Obj:
    rules: list[object] = []
    if "spec" in policy:
        rules.append(policy["spec"])
    rules.extend(policy.get("specs") or [])
    problems = [p for p in (policy_problem(r) for r in rules) if p]
    if not rules:
        problems.append("empty policy: spec or specs is required")
    condition = {
        "type": "Valid",
        "status": "False" if problems else "True",
        "message": "; ".join(problems) if problems else "Policy validation succeeded",
        "lastTransitionTime": now,
    }
    old = (policy.get("status") or {}).get("conditions") or []
    status = dict(policy.get("status") or {})
    status["conditions"] = workloads.merge_conditions(old, [condition], now)
    return status


def operator_running(store: ObjectStore) -> bool:
    pods = workloads.items(store, workloads.kind(store, "", "pods"))
    return any(
        (p["metadata"].get("labels") or {}).get("io.cilium/app") == "operator"
        and (p.get("status") or {}).get("phase") == "Running"
        for p in pods
    )


def reconcile_cilium(store: ObjectStore, nodes: Mapping[str, Obj], now: dt.datetime) -> None:
    """CRDs once the operator runs; then CiliumNodes and policy validity."""
    if not operator_running(store):
        return
    crd_rt = workloads.kind(store, "apiextensions.k8s.io", "customresourcedefinitions")
    for crd in crds():
        if workloads.get_or_none(store, crd_rt, "", crd["metadata"]["name"]) is None:
            store.create(crd_rt, "", crd)
    cn_rt = workloads.kind(store, GROUP, "ciliumnodes", "v2")
    existing = {c["metadata"]["name"]: c for c in workloads.items(store, cn_rt)}
    for name, node in sorted(nodes.items()):
        addresses = [
            {"type": a["type"], "ip": a["address"]}
            for a in node.get("status", {}).get("addresses") or []
            if a.get("type") == "InternalIP"
        ]
        current = existing.get(name)
        if current is None:
            store.create(
                cn_rt,
                "",
                {
                    "metadata": {
                        "name": name,
                        "ownerReferences": [workloads.owner_ref(node) | {"controller": False}],
                    },
                    "spec": {"addresses": addresses},
                },
            )
        elif current.get("spec", {}).get("addresses") != addresses:
            body = dict(current)
            body["spec"] = {**current.get("spec", {}), "addresses": addresses}
            store.replace(cn_rt, "", name, body)
    for name in existing:
        if name not in nodes:
            store.delete(cn_rt, "", name)
    stamp = workloads.ts(now)
    for plural in ("ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies"):
        rt = workloads.kind(store, GROUP, plural, "v2")
        for policy in workloads.items(store, rt):
            workloads.write_status(store, rt, policy, _policy_status(policy, stamp))
