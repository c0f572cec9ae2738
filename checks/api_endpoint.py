"""API-endpoint controls (API-01..05): the shared VIP, the control-plane endpoint, KubePrism.

Clients reach the Kubernetes API through one address, the control-plane VIP
that Talos moves between control-plane nodes through an etcd election
(https://docs.siderolabs.com/talos/v1.12/networking/advanced/vip).  These
controls judge the configured half (every control-plane config carries the
VIP; every config names it as ``cluster.controlPlane.endpoint``) and the
observed half (exactly one healthy node holds it, the API answers promptly,
KubePrism's local load balancer is healthy, and the API answers on the VIP
with a certificate valid for it).

Expected values all come from the definition's ``controlPlane`` section.
The VIP probe's result type lives here, beside the check that judges it,
because checks may not import fixtures; the fixture that dials is
:mod:`fixtures.probe_api_endpoint`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from checks import judged
from checks import snapshot as snapshot_module
from checks.control_plane_config import control_plane_configs, v1alpha1
from checks.findings import Finding, NodeFinding, Unobservable, verdict
from checks.snapshot import KubeObject, Snapshot, dotted
from provisioning.definition import inventory

VIP_DOC = "https://docs.siderolabs.com/talos/v1.12/networking/advanced/vip"
ENDPOINT_DOC = (
    "https://docs.siderolabs.com/talos/v1.12/getting-started/prodnotes"
    "#decide-the-kubernetes-endpoint"
)
KUBEPRISM_DOC = (
    "https://docs.siderolabs.com/talos/v1.12/kubernetes-guides/advanced-guides/kubeprism"
)
CERT_DOC = "https://docs.siderolabs.com/talos/v1.12/security/cert-management"

# The longest the collector's first request (GET /version) may take for the
# API to count as answering promptly; kubectl's own discovery feels broken
# well before this, and a healthy API answers in milliseconds.
PROMPT_SECONDS = 2.0


@dataclass(frozen=True)
class VipProbe:
    """What dialling the API on the VIP found (made by :mod:`fixtures.probe_api_endpoint`).

    *skipped* is the reason the probe was not run (a simulated target, no
    route from this machine); otherwise *connected* says whether a TLS
    handshake completed and *verified* whether the served certificate chains
    to the kubeconfig's CA and is valid for the dialled address.  *sans* are
    the certificate's subject alternative names, for the evidence.
    """

    address: str
    skipped: str | None = None
    connected: bool = False
    verified: bool = False
    error: str | None = None
    sans: tuple[str, ...] = ()


def label(node: inventory.Node) -> str:
    return f"{node.name} ({node.hostname})"


ADDRESSES = snapshot_module.ADDRESS_STATUS
KUBEPRISM = snapshot_module.KUBEPRISM_STATUS


def _unread_reason(snapshot: Snapshot, source: str, node: inventory.Node) -> str:
    return snapshot.missing.get(
        snapshot_module.on_node(source, node.name), f"{source} were not read from it"
    )


def configured_vips(docs: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(link, VIP) pairs a config asks for.

    Both v1.12 forms count: the legacy ``machine.network.interfaces[].vip.ip``
    (also on ``vlans[]``) and a ``Layer2VIPConfig`` document, whose name is
    the VIP itself.
    """
    found: list[tuple[str, str]] = []
    interfaces = dotted(v1alpha1(docs), "machine.network.interfaces") or []
    for iface in interfaces if isinstance(interfaces, list) else []:
        if not isinstance(iface, Mapping):
            continue
        link = str(iface.get("interface") or iface.get("deviceSelector") or "?")
        if dotted(iface, "vip.ip"):
            found.append((link, str(dotted(iface, "vip.ip"))))
        found.extend(
            (f"{link}.{vlan.get('vlanId')}", str(dotted(vlan, "vip.ip")))
            for vlan in iface.get("vlans") or []
            if isinstance(vlan, Mapping) and dotted(vlan, "vip.ip")
        )
    found.extend(
        (str(doc.get("link") or "?"), str(doc["name"]))
        for doc in docs
        if isinstance(doc, Mapping) and doc.get("kind") == "Layer2VIPConfig" and doc.get("name")
    )
    return found


def _same_ip(text: str, ip: ipaddress.IPv4Address) -> bool:
    try:
        return ipaddress.ip_interface(text.strip()).ip == ip
    except ValueError:
        return False


def _own_links(snapshot: Snapshot, node: inventory.Node) -> set[str]:
    """Links that carry *node*'s declared address, from its AddressStatuses; empty if unread."""
    try:
        resources = snapshot.node_resources(ADDRESSES, node.name)
    except Unobservable:
        return set()
    return {
        str(dotted(r, "spec.linkName"))
        for r in resources
        if dotted(r, "spec.linkName") and _same_ip(str(dotted(r, "spec.address", "")), node.ip)
    }


def _named_link(link: str) -> bool:
    """Whether *link* is an interface name (not a device selector the config matched by)."""
    return bool(link) and link != "?" and "{" not in link and ":" not in link


@dataclass(frozen=True)
class VipNotConfigured(NodeFinding):
    """A control-plane node's applied config lacks the VIP on the link of its address."""


@judged.judges(control_plane_nodes=judged.control_planes)
def vip_configured_on_control_planes(snapshot: Snapshot) -> list[Finding]:
    """Every control-plane node's applied config carries the declared VIP on its own link.

    Configured, from the applied machine config: a node without it never
    campaigns for the VIP, so one node fewer can take over when the holder
    fails.  Every source counts (``interfaces[].vip``, ``vlans[].vip``,
    ``Layer2VIPConfig``), and the VIP must be on the link that carries the
    node's own address (from its AddressStatuses): Talos announces the VIP
    with gratuitous ARP on the configured link only, so a VIP on another NIC
    is not reachable on the cluster subnet.  Where the node's addresses were
    not read, or the config names the link by a device selector, the link is
    not judged (the IP still is).  Non-control-plane nodes are not judged
    (Talos rejects a VIP there).
    """
    vip = snapshot.definition.control_plane.vip
    findings: list[Finding] = []
    configs, unread = control_plane_configs(snapshot)  # unread on every node: one reason
    for config in configs:
        vips = configured_vips(config.documents)
        ours = [link for link, v in vips if _same_ip(v, vip)]
        own = _own_links(snapshot, config.node)
        on_own = [link for link in ours if not _named_link(link) or not own or link in own]
        if ours and on_own:
            continue
        observed = "VIP " + ", ".join(f"{v} on {link}" for link, v in vips) if vips else "no VIP"
        if ours and own:
            observed += f" (the node's address {config.node.ip} is on {', '.join(sorted(own))})"
        findings.append(
            VipNotConfigured(
                label(config.node),
                f"VIP {vip} on the link of the node's address "
                "(interfaces[].vip.ip or Layer2VIPConfig)",
                observed,
                VIP_DOC,
                node=config.node.name,
            )
        )
    return verdict(findings, [f"{node}: {why}" for node, why in unread.items()])


def _ready(obj: KubeObject | None) -> str:
    if obj is None:
        return "not registered"
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return f"Ready={cond.get('status')}"
    return "no Ready condition"


def _holders(snapshot: Snapshot, vip: ipaddress.IPv4Address) -> tuple[list[str], list[str]]:
    """(inventory names holding *vip*, reasons nodes went unread) from AddressStatuses."""
    per_node = snapshot.resources(ADDRESSES)
    holders: list[str] = []
    unread: list[str] = []
    for node in snapshot.definition.nodes:
        if node.name not in per_node:
            unread.append(f"{label(node)}: {_unread_reason(snapshot, ADDRESSES, node)}")
            continue
        if any(_same_ip(str(dotted(r, "spec.address", "")), vip) for r in per_node[node.name]):
            holders.append(node.name)
    return holders, unread


@judged.judges(nodes=judged.nodes)
def single_healthy_vip_holder(snapshot: Snapshot) -> list[Finding]:
    """Exactly one node holds the VIP, and it is a Ready control-plane node.

    Observed: AddressStatus resources (the elected node shows
    ``<link>/<vip>/32``).  A node whose addresses were not read may hold the
    VIP too (two holders is the failure this control exists for), so with any
    node unread the control is unobservable unless what was read already
    fails it (no holder is never concluded: the VIP may be on that node).
    """
    definition = snapshot.definition
    vip = definition.control_plane.vip
    holders, unread = _holders(snapshot, vip)
    target = f"VIP {vip}"
    expected = "held by exactly one Ready control-plane node"
    if not holders:
        if unread:
            raise Unobservable("no node that answered holds the VIP; " + "; ".join(unread))
        return [Finding(target, expected, "held by no node", VIP_DOC)]
    nodes = {n.name: n for n in definition.nodes}
    if len(holders) > 1:
        names = ", ".join(label(nodes[h]) for h in holders)
        return [Finding(target, expected, f"held by {len(holders)} nodes: {names}", VIP_DOC)]
    holder = nodes[holders[0]]
    findings: list[Finding] = []
    if not holder.is_control_plane:
        findings.append(
            Finding(target, expected, f"held by {label(holder)}, not a control plane", VIP_DOC)
        )
    try:
        kube_nodes = {
            str((o.get("metadata") or {}).get("name")): o
            for o in snapshot.objects(snapshot_module.NODES)
        }
    except Unobservable as exc:
        return verdict(findings, [f"whether {label(holder)} is Ready: {exc.reason}"])
    readiness = _ready(kube_nodes.get(holder.hostname))
    if readiness != "Ready=True":
        findings.append(Finding(target, expected, f"held by {label(holder)}, {readiness}", VIP_DOC))
    if unread and not findings:
        raise Unobservable(
            f"{label(holder)} holds the VIP; whether another node does too is unknown: "
            + "; ".join(unread)
        )
    return findings


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and parts.scheme == "https":
        port = 443
    return (parts.hostname or "", port)


@judged.judges(nodes=judged.nodes)
def endpoint_is_vip_and_answers(
    snapshot: Snapshot, max_seconds: float = PROMPT_SECONDS
) -> list[Finding]:
    """Every node's config names the declared endpoint, and the API answers promptly.

    Configured: ``cluster.controlPlane.endpoint`` of each node's applied
    config equals the definition's endpoint (the VIP URL).  Observed: the
    API answered the collector's first request within *max_seconds*.

    The kubeconfig's server must be the declared endpoint too: clients that
    name a node instead lose the API with that node.
    """
    definition = snapshot.definition
    endpoint = definition.control_plane.endpoint
    findings: list[Finding] = []
    unread: list[str] = []
    try:
        snapshot.resources(snapshot_module.MACHINE_CONFIG)
    except Unobservable as exc:
        unread.append(f"machine configs: {exc.reason}")
        config_nodes: tuple[inventory.Node, ...] = ()
    else:
        config_nodes = definition.nodes
    for node in config_nodes:
        try:
            docs = snapshot.machine_config(node.name)
        except Unobservable as exc:
            unread.append(f"{label(node)}: {exc.reason}")
            continue
        seen = dotted(v1alpha1(docs), "cluster.controlPlane.endpoint")
        if seen is None or _host_port(str(seen)) != _host_port(endpoint):
            findings.append(
                Finding(
                    f"{label(node)} cluster.controlPlane.endpoint",
                    endpoint,
                    str(seen) if seen is not None else "not set",
                    ENDPOINT_DOC,
                )
            )
    api = snapshot.api
    if api is None:
        unread.append("the Kubernetes API was not asked")
    else:
        if _host_port(api.server) != _host_port(endpoint):
            findings.append(
                Finding("kubeconfig server", endpoint, api.server or "not set", ENDPOINT_DOC)
            )
        if not api.answered:
            findings.append(
                Finding(
                    f"Kubernetes API at {api.server}",
                    f"answers within {max_seconds:g} s",
                    f"no answer ({api.error or 'no error recorded'})",
                    ENDPOINT_DOC,
                )
            )
        elif api.seconds > max_seconds:
            findings.append(
                Finding(
                    f"Kubernetes API at {api.server}",
                    f"answers within {max_seconds:g} s",
                    f"answered after {api.seconds:.1f} s",
                    ENDPOINT_DOC,
                )
            )
    return verdict(findings, unread)


def _kubeprism_statuses(resources: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for res in resources:
        spec = res.get("spec")
        if isinstance(spec, Mapping):
            yield spec


@dataclass(frozen=True)
class KubePrismUnhealthy(NodeFinding):
    """KubePrism is not running, not healthy, or not on the declared port on a node."""


@judged.judges(nodes=judged.nodes)
def kubeprism_healthy(snapshot: Snapshot) -> list[Finding]:
    """KubePrism listens on ``127.0.0.1:<declared port>`` and is healthy on every node.

    Observed: each node's KubePrismStatus (``host``, ``healthy``); Talos has
    none when ``machine.features.kubePrism`` is disabled.
    """
    port = snapshot.definition.control_plane.kubeprism_port
    expected = f"KubePrism on 127.0.0.1:{port}, healthy"
    per_node = snapshot.resources(KUBEPRISM)
    findings: list[Finding] = []
    unread: list[str] = []
    for node in snapshot.definition.nodes:
        if node.name not in per_node:
            unread.append(f"{label(node)}: {_unread_reason(snapshot, KUBEPRISM, node)}")
            continue
        statuses = list(_kubeprism_statuses(per_node[node.name]))
        if not statuses:
            findings.append(
                KubePrismUnhealthy(
                    label(node), expected, "KubePrism not running", KUBEPRISM_DOC, node=node.name
                )
            )
            continue
        for status in statuses:
            host = str(status.get("host") or "")
            problems = []
            if _host_port(f"tcp://{host}") != ("127.0.0.1", port):
                problems.append(f"listening on {host or 'no address'}")
            if status.get("healthy") is not True:
                problems.append("not healthy")
            if problems:
                findings.append(
                    KubePrismUnhealthy(
                        label(node), expected, ", ".join(problems), KUBEPRISM_DOC, node=node.name
                    )
                )
    return verdict(findings, unread)


@judged.judges(certificates=judged.one)
def vip_serves_valid_certificate(snapshot: Snapshot, probe: VipProbe) -> list[Finding]:
    """The API answers on the VIP with a certificate from the cluster CA valid for the VIP.

    Observed by a probe (TLS handshake to the VIP at the endpoint's port,
    verified against the kubeconfig's CA with the VIP as the expected IP
    SAN); unobservable when the probe could not run (no route to the VIP).
    """
    if probe.skipped is not None:
        raise Unobservable(probe.skipped)
    vip = snapshot.definition.control_plane.vip
    target = f"Kubernetes API at {probe.address}"
    expected = f"a TLS certificate signed by the cluster CA, valid for {vip}"
    if not probe.connected:
        return [Finding(target, expected, f"no TLS answer ({probe.error})", VIP_DOC)]
    sans = ", ".join(probe.sans) or "none"
    if not probe.verified:
        return [Finding(target, expected, f"{probe.error} (SANs: {sans})", CERT_DOC)]
    if not any(_same_ip(s.removeprefix("IP:"), vip) for s in probe.sans):
        return [Finding(target, expected, f"SANs: {sans}", CERT_DOC)]
    return []
