"""Cilium controls (CIL-01..06): Cilium is the CNI and the kube-proxy, as the definition declares.

The reference cluster boots Talos with no CNI and no kube-proxy and lets the
Cilium Helm release replace both (``patches/cilium-cni.yaml``,
``helm/cilium-values.yaml``).  Each check here judges one link of that chain
on the observed snapshot: the machine configs, the absence of kube-proxy, the
agent on every node, the agent's running configuration, the operator's
replicas and the image version.

Expected values come from the definition: the ``cilium`` Helm release (its
namespace and its values file, read with the chart's defaults for keys the
file leaves out), ``versions.cilium`` and ``controlPlane.kubePrismPort``.
Object names (``cilium``, ``cilium-operator``, ``cilium-config``) and the
ConfigMap keys are the chart's, from the facts sheet (k8s-stack.md §1.2-1.3).

A node or object that could not be read is never reported as wrong: checks
that look at several of them return the definite findings, and only when
there are none raise :class:`Unobservable` naming what was not seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snap
from checks.findings import Finding, NodeFinding, Unobservable, verdict
from checks.snapshot import KubeObject, Snapshot, dotted, named
from provisioning.definition import inventory, yamlfiles
from provisioning.definition.problems import DefinitionError

TALOS_CILIUM_DOC = "https://docs.siderolabs.com/kubernetes-guides/cni/deploying-cilium"
KUBEPRISM_DOC = "https://docs.siderolabs.com/kubernetes-guides/advanced-guides/kubeprism"
KPR_DOC = "https://docs.cilium.io/en/v1.19/network/kubernetes/kubeproxy-free/"
L2_DOC = "https://docs.cilium.io/en/v1.19/network/l2-announcements/"
HUBBLE_DOC = "https://docs.cilium.io/en/v1.19/observability/hubble/setup/"
COMPONENTS_DOC = "https://docs.cilium.io/en/v1.19/overview/component-overview/"
HELM_DOC = "https://docs.cilium.io/en/v1.19/helm-reference/"
UPGRADE_DOC = "https://docs.cilium.io/en/v1.19/operations/upgrade/"

RELEASE = "cilium"  # the Helm release (and ``versions`` field) this module judges
AGENT_DAEMONSET = "cilium"
AGENT_CONTAINER = "cilium-agent"
AGENT_LABEL = ("k8s-app", "cilium")
OPERATOR_DEPLOYMENT = "cilium-operator"
OPERATOR_CONTAINER = "cilium-operator"
CONFIG_MAP = "cilium-config"
KUBE_PROXY = "kube-proxy"
KUBE_PROXY_LABEL = ("k8s-app", "kube-proxy")

# What chart 1.19 uses for a value the values file leaves out (cilium/values.yaml).
CHART_DEFAULTS: Mapping[str, Any] = {
    "kubeProxyReplacement": "false",
    "l2announcements.enabled": False,
    "hubble.enabled": True,
    "operator.replicas": 2,
    "hubble.relay.enabled": False,
    "hubble.ui.enabled": False,
    "image.repository": "quay.io/cilium/cilium",
    "operator.image.repository": "quay.io/cilium/operator",
    "hubble.relay.image.repository": "quay.io/cilium/hubble-relay",
}

# KubePrism listens on the node's loopback only; any of these names reaches it.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


# -- the declared release --------------------------------------------------------------


def _release(definition: inventory.Cluster) -> inventory.HelmRelease:
    release = definition.helm.get(RELEASE)
    if release is None:
        raise Unobservable(
            f"{definition.file}: helm has no `{RELEASE}` release, so the definition "
            "does not say how Cilium should be installed"
        )
    return release


def declared_values(definition: inventory.Cluster) -> Mapping[str, Any]:
    """The ``cilium`` release's Helm values as the definition's values file holds them."""
    release = _release(definition)
    try:
        loaded = yamlfiles.load_one(release.values)
    except DefinitionError as exc:
        raise Unobservable(f"cannot read the Cilium Helm values: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise Unobservable(f"{release.values}: the Cilium Helm values are not a mapping")
    return loaded


def _value(values: Mapping[str, Any], path: str) -> Any:
    """A Helm value by dotted *path*, the chart default when the file leaves it out."""
    return dotted(values, path, CHART_DEFAULTS.get(path))


def _flag(value: Any) -> bool:
    """A Helm boolean as the chart's templates read it (``true`` or the string ``"true"``)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _values_field(release: inventory.HelmRelease, path: str) -> str:
    return f"{path} in {release.values.name}"


# -- small shared helpers --------------------------------------------------------------


def _node_label(definition: inventory.Cluster, hostname: str) -> str:
    """``node03 (k8s-node03)`` for an inventory node, the bare Kubernetes name otherwise."""
    for node in definition.nodes:
        if node.hostname == hostname:
            return f"{node.name} ({hostname})"
    return hostname


def _ref(kind: str, obj: KubeObject) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _labels(obj: KubeObject) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _containers(obj: KubeObject) -> list[Mapping[str, Any]]:
    """Init containers then containers of a workload's pod template."""
    spec = dotted(obj, "spec.template.spec", {}) or {}
    return [c for key in ("initContainers", "containers") for c in spec.get(key) or []]


def _main_container(obj: KubeObject, name: str) -> Mapping[str, Any] | None:
    containers = dotted(obj, "spec.template.spec.containers", []) or []
    for container in containers:
        if container.get("name") == name:
            return container  # type: ignore[no-any-return]
    return None


def _verdict(findings: list[Finding], unseen: Sequence[tuple[str, str]]) -> list[Finding]:
    """:func:`checks.findings.verdict`, things unseen for one reason named together.

    So a source that failed on every node reads as one sentence, not six copies of it.
    """
    by_reason: dict[str, list[str]] = {}
    for what, why in unseen:
        by_reason.setdefault(why, []).append(what)
    return verdict(findings, [f"{', '.join(w)}: {why}" for why, w in by_reason.items()])


# -- CIL-01 ----------------------------------------------------------------------------


def _cluster_document(docs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The v1alpha1 document (the one without a ``kind``) of a multi-document config."""
    for doc in docs:
        if isinstance(doc, Mapping) and (
            doc.get("version") == "v1alpha1" or ("machine" in doc and "kind" not in doc)
        ):
            return doc
    return None


@dataclass(frozen=True)
class CniOrProxyInstalled(NodeFinding):
    """A node's applied config lets Talos install a CNI or kube-proxy beside Cilium."""


@judged.judges(nodes=judged.nodes)
def cni_and_proxy_left_to_cilium(snapshot: Snapshot) -> list[Finding]:
    """Every node's applied config installs no CNI and no kube-proxy.

    Talos installs flannel and kube-proxy unless ``cluster.network.cni.name``
    is ``none`` and ``cluster.proxy.disabled`` is true; either would fight
    Cilium for pod networking or Service load balancing.
    """
    expected = "cluster.network.cni.name none and cluster.proxy.disabled true"
    snapshot.resources(snap.MACHINE_CONFIG)  # unread everywhere: one reason, not one per node
    findings: list[Finding] = []
    unseen: list[tuple[str, str]] = []
    for node in snapshot.definition.nodes:
        try:
            docs = snapshot.machine_config(node.name)
        except Unobservable as exc:
            unseen.append((node.name, exc.reason))
            continue
        target = f"{node.name} ({node.hostname})"
        doc = _cluster_document(docs)
        if doc is None:
            findings.append(
                CniOrProxyInstalled(
                    target,
                    expected,
                    "no v1alpha1 document, so Talos defaults (flannel and kube-proxy)",
                    TALOS_CILIUM_DOC,
                    node=node.name,
                )
            )
            continue
        problems = []
        cni = dotted(doc, "cluster.network.cni.name")
        if cni != "none":
            problems.append(f"CNI {cni or 'unset (Talos default: flannel)'}")
        disabled = dotted(doc, "cluster.proxy.disabled")
        if disabled is not True:
            problems.append(f"kube-proxy enabled (cluster.proxy.disabled {disabled!r})")
        if problems:
            findings.append(
                CniOrProxyInstalled(
                    target, expected, "; ".join(problems), TALOS_CILIUM_DOC, node=node.name
                )
            )
    return _verdict(findings, unseen)


# -- CIL-02 ----------------------------------------------------------------------------


MIRROR_ANNOTATION = "kubernetes.io/config.mirror"  # kubelet's mark on a static pod's mirror


@dataclass(frozen=True)
class KubeProxyRunning(Finding):
    """A workload or pod that runs kube-proxy, typed for the planner.

    *kind*/*namespace*/*name* are the object found; for a pod, *owner_kind*
    and *owner_name* are its controller (``""`` for a bare pod, ``Node`` for
    a static pod's mirror, whose source is a file on the node).
    """

    kind: str = ""
    namespace: str = ""
    name: str = ""
    owner_kind: str = ""
    owner_name: str = ""
    node: str = ""


def image_repository(image: str) -> str:
    """The last path element of an image's repository: ``kube-proxy`` for any registry/tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _runs_kube_proxy(container: Mapping[str, Any]) -> str | None:
    """Why *container* is kube-proxy (its image repository or its command), else None."""
    image = str(container.get("image") or "")
    if image_repository(image) == KUBE_PROXY:
        return f"image {image}"
    words = [
        word
        for part in [*(container.get("command") or []), *(container.get("args") or [])]
        for word in str(part).split()
    ]
    if any(word.rsplit("/", 1)[-1] == KUBE_PROXY for word in words):
        return f"command {' '.join(str(p) for p in container.get('command') or [])}".rstrip()
    return None


def _kube_proxy_containers(spec: Mapping[str, Any]) -> list[str]:
    """``container <name> (<why>)`` for every container of a pod spec that is kube-proxy."""
    found = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            why = _runs_kube_proxy(container)
            if why is not None:
                found.append(f"container {container.get('name', '?')} ({why})")
    return found


def _controller(pod: KubeObject) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return "Node", str(dotted(pod, "spec.nodeName") or "")
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind") or ""), str(ref.get("name") or "")
    return "", ""


@judged.judges(
    daemonsets=judged.kube_objects(snap.DAEMONSETS),
    deployments=judged.kube_objects(snap.DEPLOYMENTS),
    pods=judged.kube_objects(snap.PODS),
)
def no_kube_proxy(snapshot: Snapshot) -> list[Finding]:
    """No kube-proxy runs anywhere, whatever runs it: Cilium's eBPF replaces it.

    A kube-proxy beside kube-proxy replacement programs the same Services
    twice; Talos does not delete one left over from before ``proxy.disabled``.
    kube-proxy is recognised by what runs, not by names or labels: a
    container whose image repository is ``kube-proxy`` (any registry, any
    tag or digest) or whose command runs ``kube-proxy``, in every DaemonSet,
    Deployment and Pod of every namespace (static pods, bare pods and pods of
    any other controller are seen as pods).
    """
    key, value = KUBE_PROXY_LABEL
    expected = "no kube-proxy (Cilium replaces it)"
    findings: list[Finding] = []
    for kind, source in (("DaemonSet", snap.DAEMONSETS), ("Deployment", snap.DEPLOYMENTS)):
        for workload in snapshot.objects(source):
            meta = workload.get("metadata") or {}
            what = _kube_proxy_containers(dotted(workload, "spec.template.spec", {}) or {})
            if kind == "DaemonSet" and (
                meta.get("name") == KUBE_PROXY or _labels(workload).get(key) == value
            ):
                what = what or [f"named or labelled {KUBE_PROXY}"]
            if not what:
                continue
            if kind == "DaemonSet":
                count = f"{dotted(workload, 'status.desiredNumberScheduled', 0)} pod(s) desired"
            else:
                count = f"{dotted(workload, 'spec.replicas', 1)} replica(s)"
            findings.append(
                KubeProxyRunning(
                    _ref(kind, workload),
                    expected,
                    f"present ({count}): {'; '.join(what)}",
                    KPR_DOC,
                    kind=kind,
                    namespace=str(meta.get("namespace") or ""),
                    name=str(meta.get("name") or ""),
                )
            )
    for pod in snapshot.objects(snap.PODS):
        what = _kube_proxy_containers(pod.get("spec") or {})
        if _labels(pod).get(key) == value:
            what = what or [f"labelled {key}={value}"]
        if not what:
            continue
        meta = pod.get("metadata") or {}
        node = str(dotted(pod, "spec.nodeName") or "")
        phase = dotted(pod, "status.phase") or "unknown phase"
        owner_kind, owner_name = _controller(pod)
        owner = {"": "bare pod", "Node": "static pod"}.get(
            owner_kind, f"of {owner_kind} {owner_name}"
        )
        where = _node_label(snapshot.definition, node) if node else "no node"
        findings.append(
            KubeProxyRunning(
                _ref("Pod", pod),
                expected,
                f"present on {where} ({phase}, {owner}): {'; '.join(what)}",
                KPR_DOC,
                kind="Pod",
                namespace=str(meta.get("namespace") or ""),
                name=str(meta.get("name") or ""),
                owner_kind=owner_kind,
                owner_name=owner_name,
                node=node,
            )
        )
    return findings


# -- CIL-03 ----------------------------------------------------------------------------


def _ready(pod: KubeObject) -> bool:
    conditions = dotted(pod, "status.conditions", []) or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass(frozen=True)
class AgentDaemonSetAbsent(Finding):
    """The agent DaemonSet itself is missing: the release, not a pod, needs fixing."""


@dataclass(frozen=True)
class AgentNotReady(Finding):
    """No Ready agent pod on the Kubernetes node *hostname*; *node* is its inventory name
    (``""`` for a node the definition does not declare); *pods* the not-Ready agents seen."""

    hostname: str = ""
    node: str = ""
    pods: tuple[str, ...] = ()


def _agent_hosts(snapshot: Snapshot) -> set[str]:
    """The Kubernetes node names CIL-03 judges: every registered node and every declared one."""
    registered = {
        str((n.get("metadata") or {}).get("name", "?")) for n in snapshot.objects(snap.NODES)
    }
    return registered | {n.hostname for n in snapshot.definition.nodes}


@judged.judges(nodes=lambda s, **_: len(_agent_hosts(s)))
def agent_ready_on_every_node(snapshot: Snapshot) -> list[Finding]:
    """Every declared node, and every other Kubernetes node, runs a Ready Cilium agent.

    Without its agent a node has no pod networking, no Services and no
    policy enforcement; the DaemonSet's counters alone do not say which node.
    A declared node judged from the definition, not only from the Node
    objects: a node that never registered has no agent either, and must not
    make the control pass by its absence.
    """
    namespace = _release(snapshot.definition).namespace
    nodes = snapshot.objects(snap.NODES)
    pods = snapshot.objects(snap.PODS)
    daemonsets = snapshot.objects(snap.DAEMONSETS)
    findings: list[Finding] = []
    if not named(daemonsets, AGENT_DAEMONSET, namespace):
        findings.append(
            AgentDaemonSetAbsent(
                f"DaemonSet {namespace}/{AGENT_DAEMONSET}",
                "present (the Cilium agent)",
                "absent",
                COMPONENTS_DOC,
            )
        )
    key, value = AGENT_LABEL
    agents: dict[str, list[KubeObject]] = {}
    for pod in snap.in_namespace(pods, namespace):
        if _labels(pod).get(key) == value and dotted(pod, "spec.nodeName"):
            agents.setdefault(str(dotted(pod, "spec.nodeName")), []).append(pod)
    expected = f"a Ready Cilium agent pod ({key}={value} in {namespace})"
    registered = {str((n.get("metadata") or {}).get("name", "?")) for n in nodes}
    declared = {n.hostname: n.name for n in snapshot.definition.nodes}
    for hostname in sorted(_agent_hosts(snapshot)):
        on_node = agents.get(hostname, [])
        if any(_ready(pod) for pod in on_node):
            continue
        if on_node:
            observed = ", ".join(
                f"{(p.get('metadata') or {}).get('name')} not Ready "
                f"({dotted(p, 'status.phase') or 'unknown phase'})"
                for p in on_node
            )
        elif hostname not in registered:
            observed = "no agent pod (no Node object: the node never registered)"
        else:
            observed = "no agent pod"
        findings.append(
            AgentNotReady(
                _node_label(snapshot.definition, hostname),
                expected,
                observed,
                COMPONENTS_DOC,
                hostname=hostname,
                node=declared.get(hostname, ""),
                pods=tuple(str((p.get("metadata") or {}).get("name")) for p in on_node),
            )
        )
    return findings


# -- CIL-04 ----------------------------------------------------------------------------


def _env(container: Mapping[str, Any], name: str) -> str:
    """How *container* sets env var *name*, in words when not a plain value."""
    for var in container.get("env") or []:
        if var.get("name") == name:
            if "value" in var:
                return str(var.get("value"))
            return f"set from {sorted((var.get('valueFrom') or {}).keys())}"
    return "unset"


def _quoted(value: str | None) -> str:
    return "absent" if value is None else f'"{value}"'


# The workloads that talk to the API server: (kind as named in findings, kind, name, container).
_API_CLIENTS: tuple[tuple[str, snap.Kind, str, str], ...] = (
    ("DaemonSet", snap.DAEMONSETS, AGENT_DAEMONSET, AGENT_CONTAINER),
    ("Deployment", snap.DEPLOYMENTS, OPERATOR_DEPLOYMENT, OPERATOR_CONTAINER),
)


def _kubeprism_findings(snapshot: Snapshot, namespace: str) -> list[Finding]:
    port = str(snapshot.definition.control_plane.kubeprism_port)
    expected = f"the API through KubePrism: KUBERNETES_SERVICE_HOST localhost, PORT {port}"
    findings: list[Finding] = []
    for kind_name, kind, name, container_name in _API_CLIENTS:
        obj = named(snapshot.objects(kind), name, namespace)
        target = f"{kind_name} {namespace}/{name}"
        if not obj:
            findings.append(Finding(target, expected, "absent", KUBEPRISM_DOC))
            continue
        container = _main_container(obj, container_name)
        if container is None:
            findings.append(
                Finding(target, expected, f"no container {container_name}", KUBEPRISM_DOC)
            )
            continue
        host = _env(container, "KUBERNETES_SERVICE_HOST")
        observed_port = _env(container, "KUBERNETES_SERVICE_PORT")
        if host not in LOOPBACK_HOSTS or observed_port != port:
            findings.append(
                Finding(
                    f"{target} container {container_name}",
                    expected,
                    f"KUBERNETES_SERVICE_HOST {host}, KUBERNETES_SERVICE_PORT {observed_port}",
                    KUBEPRISM_DOC,
                )
            )
    return findings


# Hubble's Deployments the chart renders when their value is on (templates/hubble-relay,
# templates/hubble-ui): (value path, Deployment name).
_HUBBLE_DEPLOYMENTS = (("hubble.relay.enabled", "hubble-relay"), ("hubble.ui.enabled", "hubble-ui"))


def _hubble_findings(snapshot: Snapshot, values: Mapping[str, Any]) -> list[Finding]:
    """Hubble relay and UI run, every replica Ready, when the values enable them."""
    release = _release(snapshot.definition)
    namespace = release.namespace
    findings: list[Finding] = []
    for path, name in _HUBBLE_DEPLOYMENTS:
        if not (_flag(_value(values, "hubble.enabled")) and _flag(_value(values, path))):
            continue
        target = f"Deployment {namespace}/{name}"
        field = _values_field(release, path)
        deployment = named(snapshot.objects(snap.DEPLOYMENTS), name, namespace)
        if not deployment:
            findings.append(
                HubbleNotRunning(target, f"present, Ready ({field})", "absent", HUBBLE_DOC)
            )
            continue
        replicas = dotted(deployment, "spec.replicas", 1)
        ready = dotted(deployment, "status.readyReplicas", 0) or 0
        if not isinstance(replicas, int) or replicas < 1 or ready < replicas:
            findings.append(
                HubbleNotRunning(
                    target,
                    f"at least 1 replica, every replica Ready ({field})",
                    f"{replicas} replicas, {ready} Ready",
                    HUBBLE_DOC,
                )
            )
    return findings


# The kinds of the definition's manifests that carry L2 announcements: the policy saying
# which Services are answered by ARP, and the pool their LoadBalancer IPs come from.
L2_KINDS: Mapping[str, snap.Kind] = {
    "CiliumL2AnnouncementPolicy": snap.CILIUM_L2_POLICIES,
    "CiliumLoadBalancerIPPool": snap.CILIUM_LB_POOLS,
}


def declared_l2_objects(definition: inventory.Cluster) -> list[Mapping[str, Any]]:
    """The L2 policy and IP pool documents of the definition's manifests folder."""
    directory = definition.manifests
    found: list[Mapping[str, Any]] = []
    try:
        for path in sorted(directory.glob("*.yaml")):
            for doc in yamlfiles.load_documents(
                path, str(path), within=directory, loader=yamlfiles.KubeLoader
            ):
                value = doc.value
                if isinstance(value, Mapping) and value.get("kind") in L2_KINDS:
                    found.append(value)
    except DefinitionError as exc:
        raise Unobservable(f"cannot read the manifests: {exc}") from None
    return found


def _contains(have: Any, want: Any) -> bool:
    """*want* is a subset of *have* (the API server adds defaults and status)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(_contains(have.get(k), v) for k, v in want.items())
    return bool(have == want)


def _l2_findings(snapshot: Snapshot, values: Mapping[str, Any]) -> list[Finding]:
    """Each declared L2 policy and LB IP pool exists with its declared spec, not disabled."""
    if not _flag(_value(values, "l2announcements.enabled")):
        return []
    findings: list[Finding] = []
    for doc in declared_l2_objects(snapshot.definition):
        kind = str(doc.get("kind"))
        name = str((doc.get("metadata") or {}).get("name", "?"))
        target = f"{kind} {name}"
        expected = f"as declared in {snapshot.definition.manifests.name}/"
        live = named(snapshot.objects(L2_KINDS[kind]), name)
        if not live:
            observed = "absent"
        elif not _contains(live.get("spec"), doc.get("spec") or {}):
            observed = f"spec differs: {dict(live.get('spec') or {})}"
        elif dotted(live, "spec.disabled") is True:
            observed = "spec.disabled: true"
        else:
            continue
        findings.append(L2ObjectWrong(target, expected, observed, L2_DOC, kind=kind, name=name))
    return findings


@dataclass(frozen=True)
class HubbleNotRunning(Finding):
    """Hubble relay or UI, enabled in the values, is absent or not Ready."""


@dataclass(frozen=True)
class L2ObjectWrong(Finding):
    """A declared L2 announcement policy or LB IP pool is absent, changed or disabled."""

    kind: str = ""
    name: str = ""


def _l2_count(snapshot: Snapshot, **_: object) -> int:
    try:
        values = declared_values(snapshot.definition)
    except Unobservable:
        return 0
    if not _flag(_value(values, "l2announcements.enabled")):
        return 0
    return len(declared_l2_objects(snapshot.definition))


@judged.judges(config_maps=judged.one, l2_objects=_l2_count)
def running_config_as_declared(snapshot: Snapshot) -> list[Finding]:
    """The agent runs with kube-proxy replacement, L2 announcements and Hubble as declared.

    The running configuration is ``cilium-config`` (the chart writes every
    value as a string; ``enable-l2-announcements`` is absent when off) plus
    the API address in the agent's and operator's environment, which must be
    KubePrism: with kube-proxy gone, the ``kubernetes`` Service only works
    once Cilium does.  Hubble relay and UI, when the values enable them, run
    with every replica Ready; with L2 announcements on, every
    CiliumL2AnnouncementPolicy and CiliumLoadBalancerIPPool of the
    definition's manifests exists with its declared spec and is not disabled
    (without them no LoadBalancer IP is assigned or answered).
    """
    release = _release(snapshot.definition)
    values = declared_values(snapshot.definition)
    namespace = release.namespace
    wanted: list[tuple[str, str | None, str, str]] = [
        (
            "kube-proxy-replacement",
            "true" if _flag(_value(values, "kubeProxyReplacement")) else "false",
            "kubeProxyReplacement",
            KPR_DOC,
        ),
        (
            "enable-l2-announcements",
            "true" if _flag(_value(values, "l2announcements.enabled")) else None,
            "l2announcements.enabled",
            L2_DOC,
        ),
        (
            "enable-hubble",
            "true" if _flag(_value(values, "hubble.enabled")) else "false",
            "hubble.enabled",
            HUBBLE_DOC,
        ),
    ]
    findings: list[Finding] = []
    config = named(snapshot.objects(snap.CONFIGMAPS), CONFIG_MAP, namespace)
    target = f"ConfigMap {namespace}/{CONFIG_MAP}"
    if not config:
        findings.append(Finding(target, "present (Cilium's running config)", "absent", HELM_DOC))
    else:
        data = config.get("data") or {}
        for key, expected, field, doc in wanted:
            observed = data.get(key)
            if observed != expected:
                findings.append(
                    Finding(
                        f"{target} key {key}",
                        f"{_quoted(expected)} ({_values_field(release, field)})",
                        _quoted(observed),
                        doc,
                    )
                )
    findings += _kubeprism_findings(snapshot, namespace)
    findings += _hubble_findings(snapshot, values)
    findings += _l2_findings(snapshot, values)
    return findings


# -- CIL-05 ----------------------------------------------------------------------------


@judged.judges(deployments=judged.one)
def operator_replicas_ready(snapshot: Snapshot) -> list[Finding]:
    """The Cilium operator runs the declared number of replicas, all Ready.

    Two operators keep IPAM, CRD and L2-lease work going when a node is
    down; the chart's required anti-affinity puts them on distinct nodes.
    """
    release = _release(snapshot.definition)
    values = declared_values(snapshot.definition)
    declared = _value(values, "operator.replicas")
    if isinstance(declared, bool) or not isinstance(declared, int) or declared < 0:
        raise Unobservable(
            f"{release.values}: operator.replicas must be a whole number, not {declared!r}"
        )
    namespace = release.namespace
    target = f"Deployment {namespace}/{OPERATOR_DEPLOYMENT}"
    expected = (
        f"{declared} replicas, {declared} Ready ({_values_field(release, 'operator.replicas')})"
    )
    deployment = named(snapshot.objects(snap.DEPLOYMENTS), OPERATOR_DEPLOYMENT, namespace)
    if not deployment:
        return [Finding(target, expected, "absent", HELM_DOC)]
    replicas = dotted(deployment, "spec.replicas", 1)
    ready = dotted(deployment, "status.readyReplicas", 0) or 0
    if replicas == declared and ready == declared:
        return []
    return [Finding(target, expected, f"{replicas} replicas, {ready} Ready", HELM_DOC)]


# -- CIL-06 ----------------------------------------------------------------------------


def image_tag(image: str) -> str | None:
    """The tag of an image reference, ignoring any ``@sha256:`` digest and registry port."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_name(image: str) -> str:
    """The repository of an image reference: registry and path, no tag or digest."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


# The release's workloads and which value names their image repository: (kind name, kind,
# object name, value path, the value that enables it or None).  The chart appends a suffix
# to the operator's repository for the IPAM flavour (``-generic`` here), so the operator's
# repository is judged by its declared prefix.
_VERSIONED: tuple[tuple[str, snap.Kind, str, str, str | None], ...] = (
    ("DaemonSet", snap.DAEMONSETS, AGENT_DAEMONSET, "image.repository", None),
    ("Deployment", snap.DEPLOYMENTS, OPERATOR_DEPLOYMENT, "operator.image.repository", None),
    ("Deployment", snap.DEPLOYMENTS, "hubble-relay", "hubble.relay.image.repository", "relay"),
)


def _versioned(snapshot: Snapshot) -> list[tuple[str, snap.Kind, str, str]]:
    values = declared_values(snapshot.definition)
    relay = _flag(_value(values, "hubble.enabled")) and _flag(
        _value(values, "hubble.relay.enabled")
    )
    return [
        (kind_name, kind, name, str(_value(values, path)))
        for kind_name, kind, name, path, needs in _VERSIONED
        if needs is None or relay
    ]


def _repository_ok(observed: str, declared: str, is_operator: bool) -> bool:
    return observed.startswith(declared) if is_operator else observed == declared


@judged.judges(workloads=lambda s, **_: len(_versioned(s)))
def version_as_declared(snapshot: Snapshot) -> list[Finding]:
    """The agent, operator and Hubble relay run the declared Cilium version and images.

    Agent and operator must be of one release; an image left behind by a
    failed upgrade shows up here even when everything is Ready.  Each
    container's image is judged by repository and tag: the tag must be the
    declared version, the repository the one the values name (chart default
    ``quay.io/cilium/...``), so a ``kubectl set image`` to a look-alike
    repository with the right tag is caught.
    """
    namespace = _release(snapshot.definition).namespace
    version = snapshot.definition.versions.cilium
    expected = f"v{version.removeprefix('v')}"
    findings: list[Finding] = []
    unseen: list[tuple[str, str]] = []
    for kind_name, kind, name, repository in _versioned(snapshot):
        target = f"{kind_name} {namespace}/{name}"
        obj = named(snapshot.objects(kind), name, namespace)
        if not obj:
            findings.append(Finding(target, f"present, images {expected}", "absent", UPGRADE_DOC))
            continue
        is_operator = name == OPERATOR_DEPLOYMENT
        wanted = f"{repository}{'-*' if is_operator else ''}:{expected}"
        for container in _containers(obj):
            image = str(container.get("image") or "")
            tag = image_tag(image)
            where = f"{target} container {container.get('name')}"
            if not _repository_ok(image_name(image), repository, is_operator):
                findings.append(Finding(where, f"image {wanted}", image, UPGRADE_DOC))
                continue
            if tag is None:
                unseen.append((f"{where} image {image or '(none)'}", "no tag to read a version"))
            elif tag != expected:
                findings.append(Finding(where, f"image {wanted}", image, UPGRADE_DOC))
    return _verdict(findings, unseen)
