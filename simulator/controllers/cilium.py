"""What the Cilium operator and agents write to the API: CRDs, CiliumNodes, policy status.

What belongs here: the cilium.io CustomResourceDefinitions (facts §1.5 --
the *operator* installs them, not Helm, so they appear only once an
operator pod runs), one CiliumNode per Node (facts §1.4.5) and the ``Valid``
condition on CiliumNetworkPolicies (facts §1.6), and the agents' reach of the
API server: an agent configured (``KUBERNETES_SERVICE_HOST``/``_PORT`` in its
pod, from the chart's ``k8sServiceHost``/``k8sServicePort``) to reach it on
the node's own loopback -- KubePrism, in the reference cluster -- cannot when
that node's Talos config does not run KubePrism on that port; the agent
exits at start-up and crash-loops (a :class:`~.podstatus.Crash` of its own)
until KubePrism is back, when the kubelet's next restart of it succeeds.
Workload objects (the DaemonSet, the Deployment) come from the chart
renderer in :mod:`simulator.helm.charts`; their pods from :mod:`.workloads`.

Policy validity follows the CRD validation of 1.19 (``anyOf`` one of
ingress/ingressDeny/egress/egressDeny, ``oneOf`` endpointSelector or
nodeSelector) and is reported as a condition, not as a 422 at write time:
the simulator's API server does not evaluate CRD schemas.  The selector
messages are those of Cilium's ``Rule.Sanitize``; the anyOf message is the
API server's wording for a failed ``anyOf``.  Deviations: CRD schemas are
``x-kubernetes-preserve-unknown-fields``; CiliumNode carries addresses only;
an agent cut off from the API crash-loops in its main container (a real one
fails first in its ``config`` init container, which dials the API too); the
operator, which takes the same endpoint, is not cut off.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.controllers import nodes as node_model
from simulator.controllers import podstatus, workloads
from simulator.kube.objects import ObjectStore
from simulator.state.machines import Site, Stage
from simulator.talos.configview import ConfigError, ConfigView

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


# -- the agent's API endpoint -----------------------------------------------------------------

AGENT_CONTAINER = "cilium-agent"
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
_UNREACHABLE = 'level=fatal msg="Unable to contact k8s api-server"'


@functools.lru_cache(maxsize=128)
def _kubeprism(config: str) -> tuple[bool, int] | None:
    # Every pass looks at every machine's config; parse each text once.
    try:
        return ConfigView.parse(config).kubeprism
    except ConfigError:
        return None


def _env(container: Mapping[str, Any], name: str) -> str | None:
    for var in container.get("env") or []:
        if isinstance(var, Mapping) and var.get("name") == name and "value" in var:
            return str(var["value"])
    return None


def agent_endpoint(pod: Mapping[str, Any]) -> tuple[str, int] | None:
    """(host, port) the pod's Cilium agent dials for the API, or None for in-cluster config.

    Without ``KUBERNETES_SERVICE_HOST`` in its spec the agent takes what the
    kubelet injects (the ``kubernetes`` Service), which does not depend on
    the node's KubePrism.  An unset or unparsable port is the client's 443.
    """
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") != AGENT_CONTAINER:
            continue
        host = _env(container, "KUBERNETES_SERVICE_HOST")
        if not host:
            return None
        port = _env(container, "KUBERNETES_SERVICE_PORT") or ""
        return host, int(port) if port.isdigit() else 443
    return None


def _loopback_listeners(site: Site) -> dict[str, int | None]:
    """Per running node's name, the port KubePrism listens on there (None: no KubePrism).

    A node whose machine is down starts no container, so it is left out: its
    agent's crash record, if any, waits for the machine to come back.
    """
    found: dict[str, int | None] = {}
    for kubelet in node_model.kubelets(site):
        machine = site.machines[kubelet.machine]
        if machine.stage is not Stage.RUNNING:
            continue
        prism = None if machine.config is None else _kubeprism(machine.config)
        found[kubelet.node_name] = prism[1] if prism is not None and prism[0] else None
    return found


def _unreachable_message(host: str, port: int) -> str:
    """What the agent logs before exiting (logfmt, as cilium-agent writes it)."""
    dial = "[::1]" if host in ("localhost", "::1", "[::1]") else host
    url = f"https://{host}:{port}"
    return (
        f'{_UNREACHABLE} error="Get \\"{url}/api/v1/namespaces/kube-system\\": '
        f'dial tcp {dial}:{port}: connect: connection refused" ipAddr="{url}" subsys=k8s-client'
    )


def reconcile_agent_api(site: Site, store: ObjectStore, now: dt.datetime) -> None:
    """Crash the agents whose loopback API endpoint has no KubePrism behind it; heal the rest.

    Only this controller's own crash records (the API message) are removed
    when KubePrism is back: a crash another cause recorded stays, and one is
    never overwritten.  The record is keyed by the pod's uid like any crash,
    so a recreated pod is judged afresh.
    """
    listeners = _loopback_listeners(site)
    pods = workloads.items(store, workloads.kind(store, "", "pods"), "kube-system")
    for pod in pods:
        endpoint = agent_endpoint(pod)
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if endpoint is None or node not in listeners:
            continue
        key = podstatus.crash_key(pod["metadata"]["uid"])
        entry = store.kv.get(key)
        current = None if entry is None else podstatus.Crash.from_bytes(entry.value)
        host, port = endpoint
        cut_off = host in _LOOPBACK and listeners[node] != port
        mine = current is not None and current.message.startswith(_UNREACHABLE)
        if cut_off and entry is None:
            crash = podstatus.Crash(
                AGENT_CONTAINER, _unreachable_message(host, port), workloads.ts(now)
            )
            store.kv.put(key, crash.to_bytes())
        elif not cut_off and mine:
            store.kv.delete(key)
