"""PodSecurity controls (PSA-01..03): configured by Talos, then shown to bite.

The claim (mission): Pod Security *baseline* is enforced cluster-wide, with
only the declared namespaces exempt.  Talos hands kube-apiserver its
admission configuration from ``cluster.apiServer.admissionControl`` of each
control-plane node's machine config (Talos merges the entries by ``name``;
the API does not expose the resulting file, k8s-stack.md §3.1), so PSA-01 and
PSA-02 judge that config node by node: a node whose API server runs with a
different config is the one that lets a pod through when it serves.

Configuration is not behaviour, so PSA-03 judges a probe: a privileged pod
submitted as a server-side dry run (the full admission chain runs, nothing
is persisted) must be rejected with PodSecurity's own message in a regular
namespace and admitted in every exempt one.  The probe's result type lives
here because a check may only import downwards; the probe itself is
:mod:`fixtures.probe_pod_security`.

Expected values come from the definition (``security.pod_security_enforce``,
``security.exempt_namespaces``); only the probe's regular namespace is a
literal of the feature file.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snap
from checks.control_plane_config import api_server_configs, node_label, verdict
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot, dotted
from provisioning.definition import inventory

TALOS_PSA_DOC = "https://docs.siderolabs.com/kubernetes-guides/security/pod-security"
PSA_CONFIG_DOC = "https://kubernetes.io/docs/tasks/configure-pod-container/enforce-standards-admission-controller/"
PSA_DOC = "https://kubernetes.io/docs/concepts/security/pod-security-admission/"

PLUGIN = "PodSecurity"
# An omitted mode level means privileged (pod-security-admission api/v1/defaults.go).
PRIVILEGED = "privileged"
# Loosest first (pod-security-admission api/constants.go).
LEVELS = (PRIVILEGED, "baseline", "restricted")
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
# The policy version the checks run at unless pinned; a pin (``v1.N``) evaluates that
# release's checks, which lack every check added since (pod-security-admission
# policy/registry.go), e.g. hostProbesAndHostLifecycle before v1.34.
LATEST = "latest"
_PINNED = re.compile(r"^v1\.(0|[1-9][0-9]*)$")
# The three ways an exemption is granted (pod-security-admission api/v1 PodSecurityExemptions).
EXEMPTION_KINDS = ("namespaces", "usernames", "runtimeClasses")
# Talos writes admissionControl to this file and passes it to kube-apiserver; extraArgs may
# point the flag elsewhere (siderolabs/talos control_plane_static_pod.go does not deny it).
CONFIG_FILE_FLAG = "admission-control-config-file"
TALOS_CONFIG_FILE = "/system/config/kubernetes/kube-apiserver/admission-control-config.yaml"


@dataclass(frozen=True)
class NamespaceLevelLoosened(Finding):
    """A namespace whose enforce label is looser than the declared level, typed for the planner."""

    namespace: str = ""
    level: str = ""


def namespace_levels(snapshot: Snapshot) -> list[Finding]:
    """Every non-exempt namespace whose ``enforce`` label loosens the declared level.

    PodSecurity evaluates a namespace's labels over the admission config's
    defaults (pod-security-admission ``api.PolicyToEvaluate``), so a label
    ``enforce: privileged`` admits privileged pods there whatever the API
    server's default.  A label that does not parse is evaluated as
    ``restricted`` (same function), never looser, so it is not a finding here.

    :raises Unobservable: the namespaces were not listed.
    """
    expected_level = snapshot.definition.security.pod_security_enforce
    if expected_level not in LEVELS:
        return []
    exempt = set(snapshot.definition.security.exempt_namespaces)
    findings: list[Finding] = []
    for namespace in snapshot.objects(snap.NAMESPACES):
        meta = namespace.get("metadata") or {}
        name = str(meta.get("name") or "")
        label = (meta.get("labels") or {}).get(ENFORCE_LABEL)
        if name in exempt:
            continue
        version = (meta.get("labels") or {}).get(VERSION_LABEL)
        # An unparsable version label means latest (api.PolicyToEvaluate): not a pin.
        if isinstance(version, str) and _PINNED.match(version):
            findings.append(
                NamespaceVersionPinned(
                    f"Namespace {name}",
                    f"PodSecurity enforcing the {LATEST!r} checks (no {VERSION_LABEL} pin)",
                    f"label {VERSION_LABEL}={version}: only the checks of Kubernetes "
                    f"{version} run, none added since",
                    PSA_DOC,
                    namespace=name,
                    version=version,
                )
            )
        if label not in LEVELS:
            continue
        if LEVELS.index(label) < LEVELS.index(expected_level):
            findings.append(
                NamespaceLevelLoosened(
                    f"Namespace {name}",
                    f"PodSecurity enforcing at least {expected_level!r} "
                    f"(not an exempt namespace: no looser {ENFORCE_LABEL} label)",
                    f"label {ENFORCE_LABEL}={label}, which overrides the API server default",
                    PSA_DOC,
                    namespace=name,
                    level=str(label),
                )
            )
    return findings


@dataclass(frozen=True)
class NamespaceVersionPinned(Finding):
    """A namespace whose ``enforce-version`` label pins an older check set, for the planner."""

    namespace: str = ""
    version: str = ""


@dataclass(frozen=True)
class PluginConfig:
    """One control-plane node's PodSecurity entry, as its machine config holds it."""

    node: inventory.Node
    configuration: Mapping[str, Any] | None  # None: no PodSecurity entry at all
    disabled_by_flag: bool  # extraArgs disable-admission-plugins names PodSecurity
    config_file: str | None = None  # extraArgs admission-control-config-file, when overridden


def plugin_configs(snapshot: Snapshot) -> tuple[list[PluginConfig], dict[str, str]]:
    """The PodSecurity entry of every control-plane node whose config was read.

    Also returns node -> reason for the nodes whose config was not read.

    :raises Unobservable: no machine config was read at all.
    """
    found: list[PluginConfig] = []
    configs, unread = api_server_configs(snapshot)
    for config in configs:
        plugins = config.section.get("admissionControl")
        entry: Mapping[str, Any] | None = None
        for plugin in plugins if isinstance(plugins, list) else []:
            if isinstance(plugin, Mapping) and plugin.get("name") == PLUGIN:
                configuration = plugin.get("configuration")
                entry = configuration if isinstance(configuration, Mapping) else {}
        disabled = str(dotted(config.section, "extraArgs.disable-admission-plugins", "") or "")
        config_file = dotted(config.section, f"extraArgs.{CONFIG_FILE_FLAG}")
        found.append(
            PluginConfig(
                node=config.node,
                configuration=entry,
                disabled_by_flag=PLUGIN in [p.strip() for p in disabled.split(",")],
                config_file=(
                    str(config_file)
                    if config_file is not None and str(config_file) != TALOS_CONFIG_FILE
                    else None
                ),
            )
        )
    return found, unread


@judged.judges(
    control_plane_nodes=judged.control_planes, namespaces=judged.kube_objects(snap.NAMESPACES)
)
def baseline_enforced(snapshot: Snapshot) -> list[Finding]:
    """Every API server enforces the declared level by default, and no namespace loosens it.

    Configured, not observed: ``defaults.enforce`` of the PodSecurity entry
    in ``cluster.apiServer.admissionControl`` (an omitted level means
    ``privileged``), and the plugin not switched off with
    ``disable-admission-plugins``.  The enforce *version* is shown but not
    judged: the definition declares a level, not a version.  Then every
    namespace outside the declared exemptions: its ``enforce`` label, which
    overrides the default (:func:`namespace_levels`).
    """
    label_findings: list[Finding] = []
    labels_unseen = ""
    try:
        label_findings = namespace_levels(snapshot)
    except Unobservable as exc:
        labels_unseen = exc.reason
    try:
        findings = _defaults_enforced(snapshot) + label_findings
    except Unobservable:
        if label_findings:
            return label_findings
        raise
    if labels_unseen and not findings:
        raise Unobservable(labels_unseen)
    return findings


def _defaults_enforced(snapshot: Snapshot) -> list[Finding]:
    expected_level = snapshot.definition.security.pod_security_enforce
    expected = f"PodSecurity admission enforcing {expected_level!r} by default"
    findings: list[Finding] = []
    configs, unread = plugin_configs(snapshot)
    for config in configs:
        target = node_label(config.node)
        if config.disabled_by_flag:
            findings.append(
                Finding(
                    target,
                    expected,
                    "PodSecurity listed in cluster.apiServer.extraArgs disable-admission-plugins",
                    PSA_CONFIG_DOC,
                )
            )
            continue
        if config.config_file is not None:
            findings.append(
                Finding(
                    target,
                    expected,
                    f"cluster.apiServer.extraArgs {CONFIG_FILE_FLAG}={config.config_file}: "
                    "kube-apiserver reads another admission configuration than the one Talos "
                    "writes from admissionControl",
                    PSA_CONFIG_DOC,
                )
            )
            continue
        if config.configuration is None:
            findings.append(
                Finding(
                    target,
                    expected,
                    "no PodSecurity entry in cluster.apiServer.admissionControl "
                    "(the plugin's built-in default enforces privileged)",
                    TALOS_PSA_DOC,
                )
            )
            continue
        defaults = config.configuration.get("defaults")
        defaults = defaults if isinstance(defaults, Mapping) else {}
        level = str(defaults.get("enforce") or PRIVILEGED)
        version = str(defaults.get("enforce-version") or LATEST)
        omitted = "" if defaults.get("enforce") else " (omitted: the plugin's default)"
        if level != expected_level:
            findings.append(
                Finding(
                    target,
                    expected,
                    f"defaults.enforce {level!r}{omitted} (enforce-version {version!r})",
                    TALOS_PSA_DOC,
                )
            )
        elif version != LATEST:
            findings.append(
                Finding(
                    target,
                    f"{expected} at enforce-version {LATEST!r}",
                    f"defaults.enforce-version {version!r}: only the checks of Kubernetes "
                    f"{version} run, none added since",
                    TALOS_PSA_DOC,
                )
            )
    return verdict(findings, unread)


@judged.judges(control_plane_nodes=judged.control_planes)
def exemptions_as_declared(snapshot: Snapshot) -> list[Finding]:
    """The PodSecurity exemptions are exactly the declared ones on every node.

    All three kinds: namespaces, and usernames and runtimeClasses, which
    exempt a requesting user's or a runtime class's pods as completely as a
    namespace exempts its own (pod-security-admission ``admission.go``
    ``exemptUser``/``exemptRuntimeClass``).  The definition declares only
    namespaces, so any username or runtime class is not declared.  Compared
    as sets (order does not matter to the plugin); the finding names what is
    missing and what is extra.  A node without a PodSecurity entry has no
    exemptions to judge -- PSA-01 reports it -- so it is left out; when no
    node has one, the control is unobservable.
    """
    declared = {
        "namespaces": sorted(snapshot.definition.security.exempt_namespaces),
        "usernames": [],
        "runtimeClasses": [],
    }
    expected = ", ".join(f"exemptions.{kind} {declared[kind]}" for kind in EXEMPTION_KINDS)
    findings: list[Finding] = []
    configs, unread = plugin_configs(snapshot)
    judged = [(c.node, c.configuration) for c in configs if c.configuration is not None]
    if not judged and not unread:
        nodes = ", ".join(node_label(c.node) for c in configs) or "no control-plane node"
        raise Unobservable(
            f"no PodSecurity admission configuration to judge exemptions on ({nodes}); "
            "PSA-01 reports the missing plugin configuration"
        )
    for node, configuration in judged:
        parts = []
        for kind in EXEMPTION_KINDS:
            raw = dotted(configuration, f"exemptions.{kind}", [])
            observed = sorted(str(n) for n in raw) if isinstance(raw, list) else []
            missing = sorted(set(declared[kind]) - set(observed))
            extra = sorted(set(observed) - set(declared[kind]))
            if missing or extra:
                parts.append(f"exemptions.{kind} {observed}")
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"not declared {', '.join(extra)}")
        if parts:
            findings.append(Finding(node_label(node), expected, "; ".join(parts), TALOS_PSA_DOC))
    return verdict(findings, unread)


# -- PSA-03: the behavioural probe ----------------------------------------------------------


class Verdict(enum.Enum):
    """What the API server did with the dry-run pod."""

    ADMITTED = "admitted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class AdmissionOutcome:
    """The answer to one server-side dry-run create of a privileged pod.

    *verdict* None means no admission decision was observed (API down,
    namespace missing, the credentials may not create pods); *message* then
    says why.  For a rejection it is the ``Status`` message.
    """

    namespace: str
    exempt: bool  # whether the definition declares the namespace exempt
    verdict: Verdict | None
    message: str = ""


@dataclass(frozen=True)
class AdmissionProbe:
    """Every dry-run the PSA-03 probe made, and the level the definition declares."""

    enforce_level: str
    outcomes: tuple[AdmissionOutcome, ...]


def rejection_marker(level: str) -> str:
    """The start of PodSecurity's enforce message for *level* (admission.go EvaluatePod)."""
    return f'violates PodSecurity "{level}:'


def rejected_at_least(message: str, level: str) -> bool:
    """Whether *message* is PodSecurity's refusal at *level* or a stricter one.

    A namespace may tighten the default with its own label (or an unparsable
    one, evaluated as ``restricted``); that refusal still enforces *level*.
    """
    stricter = LEVELS[LEVELS.index(level) :] if level in LEVELS else (level,)
    return any(rejection_marker(lv) in message for lv in stricter)


@judged.judges(namespaces=lambda probe, **_: len(probe.outcomes))
def privileged_pod_admission(probe: AdmissionProbe) -> list[Finding]:
    """A privileged pod is refused by PodSecurity outside the exemptions, admitted inside.

    The probe runs in every namespace the API server lists (a namespace label
    or an exemption loosens PodSecurity for one namespace only, so probing one
    regular namespace would miss it) and in every declared exempt one.  A
    probe with no regular namespace judged nothing a regular namespace needs,
    so it is unobservable.

    Observed behaviour: the rejection must be PodSecurity's own 403
    (``violates PodSecurity "<level>:<version>"``), not some other policy's.
    With a declared level of ``privileged`` the pod is expected everywhere.
    Outcomes with no verdict make the control unobservable unless another
    outcome already shows a violation.
    """
    level = probe.enforce_level
    marker = rejection_marker(level)
    findings: list[Finding] = []
    unknown: list[str] = []
    for outcome in probe.outcomes:
        target = f"privileged Pod dry run in namespace {outcome.namespace}"
        if outcome.verdict is None:
            unknown.append(f"namespace {outcome.namespace}: {outcome.message}")
            continue
        must_reject = not outcome.exempt and level != PRIVILEGED
        if must_reject and (
            outcome.verdict is not Verdict.REJECTED or not rejected_at_least(outcome.message, level)
        ):
            observed = (
                "admitted"
                if outcome.verdict is Verdict.ADMITTED
                else f"rejected by something else: {outcome.message}"
            )
            findings.append(
                Finding(target, f'rejected: {marker}<version>": ...', observed, PSA_DOC)
            )
        elif not must_reject and outcome.verdict is Verdict.REJECTED:
            why = "exempt namespace" if outcome.exempt else f"declared level {level}"
            findings.append(
                Finding(target, f"admitted ({why})", f"rejected: {outcome.message}", PSA_DOC)
            )
    if not probe.outcomes:
        raise Unobservable("the admission probe made no dry run")
    if not findings and not any(not o.exempt for o in probe.outcomes):
        raise Unobservable("the admission probe found no namespace outside the exemptions")
    if unknown and not findings:
        raise Unobservable("no admission decision observed for " + "; ".join(unknown))
    return findings
