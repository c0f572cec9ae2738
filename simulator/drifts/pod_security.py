"""PodSecurity drifts (PSA-01..03): the admission plugin or an exemption removed, a
namespace labelled privileged, a username exempted.

Talos configures kube-apiserver's admission plugins from
``cluster.apiServer.admissionControl`` of every control-plane node, so the
drift edits that list on all of them -- what a patch applied cluster-wide does.
A namespace label is an object edit, as ``kubectl label`` makes it.
"""

from __future__ import annotations

from typing import Any

from simulator.drifts import (
    DriftContext,
    DriftError,
    control_planes,
    drift,
    edit_config,
    v1alpha1,
)

EXEMPT = "longhorn-system"


def _admission(doc: dict[str, Any]) -> list[Any]:
    api_server = (doc.get("cluster") or {}).get("apiServer") or {}
    plugins = api_server.get("admissionControl") or []
    return plugins if isinstance(plugins, list) else []


@drift(
    "pod_security.drop_admission",
    controls=("PSA-01", "PSA-03"),
    description="the PodSecurity admission plugin is removed from "
    "cluster.apiServer.admissionControl on every control-plane node",
)
def drop_admission(ctx: DriftContext, node: str | None) -> str:
    changed = []
    for machine in control_planes(ctx, "pod_security.drop_admission"):
        with edit_config(machine) as docs:
            doc = v1alpha1(docs, machine)
            plugins = _admission(doc)
            kept = [
                p for p in plugins if not (isinstance(p, dict) and p.get("name") == "PodSecurity")
            ]
            if len(kept) != len(plugins):
                doc["cluster"]["apiServer"]["admissionControl"] = kept
                changed.append(machine.name)
    if not changed:
        raise DriftError("no control-plane node configures the PodSecurity admission plugin")
    ctx.save_site()
    return f"PodSecurity admission removed from the config of {', '.join(changed)}"


@drift(
    "pod_security.drop_exemption",
    controls=("PSA-02",),
    description=f"{EXEMPT} is removed from the PodSecurity exemptions on every control-plane node",
)
def drop_exemption(ctx: DriftContext, node: str | None) -> str:
    changed = []
    for machine in control_planes(ctx, "pod_security.drop_exemption"):
        with edit_config(machine) as docs:
            for plugin in _admission(v1alpha1(docs, machine)):
                if not (isinstance(plugin, dict) and plugin.get("name") == "PodSecurity"):
                    continue
                exemptions = (plugin.get("configuration") or {}).get("exemptions") or {}
                namespaces = exemptions.get("namespaces") or []
                if EXEMPT in namespaces:
                    exemptions["namespaces"] = [n for n in namespaces if n != EXEMPT]
                    changed.append(machine.name)
    if not changed:
        raise DriftError(f"no control-plane node exempts {EXEMPT} from PodSecurity")
    ctx.save_site()
    return f"{EXEMPT} removed from the PodSecurity exemptions of {', '.join(changed)}"


ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"


@drift(
    "pod_security.label_namespace_privileged",
    controls=("PSA-01", "PSA-03"),
    description="namespace default labelled pod-security.kubernetes.io/enforce=privileged "
    "(kubectl label namespace default ...): privileged pods admitted there",
)
def label_namespace_privileged(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("pod_security.label_namespace_privileged")
    rt = ctx.rt("", "v1", "namespaces")
    ctx.get(rt, "", "default", "pod_security.label_namespace_privileged")
    ctx.merge_patch(rt, "", "default", {"metadata": {"labels": {ENFORCE_LABEL: "privileged"}}})
    return f"Namespace default labelled {ENFORCE_LABEL}=privileged"


USERNAME = "system:serviceaccount:ci:deployer"


@drift(
    "pod_security.exempt_username",
    controls=("PSA-02",),
    description=f"the PodSecurity exemptions of every control-plane node gain usernames "
    f"[{USERNAME}] (a patch to cluster.apiServer.admissionControl): its pods are never checked",
)
def exempt_username(ctx: DriftContext, node: str | None) -> str:
    changed = []
    for machine in control_planes(ctx, "pod_security.exempt_username"):
        with edit_config(machine) as docs:
            for plugin in _admission(v1alpha1(docs, machine)):
                if not (isinstance(plugin, dict) and plugin.get("name") == "PodSecurity"):
                    continue
                configuration = plugin.setdefault("configuration", {})
                exemptions = configuration.setdefault("exemptions", {})
                exemptions["usernames"] = [*(exemptions.get("usernames") or []), USERNAME]
                changed.append(machine.name)
    if not changed:
        raise DriftError("no control-plane node configures the PodSecurity admission plugin")
    ctx.save_site()
    return f"{USERNAME} exempted from PodSecurity on {', '.join(changed)}"


def _plugin_entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in _admission(doc) if isinstance(p, dict) and p.get("name") == "PodSecurity"]


def _edit_exemptions(ctx: DriftContext, name: str, kind: str, value: str) -> str:
    """Append *value* to ``exemptions.<kind>`` on every control-plane node, as a patch would."""
    changed = []
    for machine in control_planes(ctx, name):
        with edit_config(machine) as docs:
            for plugin in _plugin_entries(v1alpha1(docs, machine)):
                configuration = plugin.setdefault("configuration", {})
                exemptions = configuration.setdefault("exemptions", {})
                if value not in (exemptions.get(kind) or []):
                    exemptions[kind] = [*(exemptions.get(kind) or []), value]
                    changed.append(machine.name)
    if not changed:
        raise DriftError("no control-plane node configures the PodSecurity admission plugin")
    ctx.save_site()
    return f"exemptions.{kind} gained {value} on {', '.join(changed)}"


EXTRA_EXEMPT = "kube-public"


@drift(
    "pod_security.exempt_namespace",
    controls=("PSA-02", "PSA-03"),
    description=f"the PodSecurity exemptions of every control-plane node gain namespaces "
    f"[{EXTRA_EXEMPT}] (a patch to cluster.apiServer.admissionControl)",
)
def exempt_namespace(ctx: DriftContext, node: str | None) -> str:
    return _edit_exemptions(ctx, "pod_security.exempt_namespace", "namespaces", EXTRA_EXEMPT)


RUNTIME_CLASS = "kata"


@drift(
    "pod_security.exempt_runtime_class",
    controls=("PSA-02",),
    description=f"the PodSecurity exemptions of every control-plane node gain runtimeClasses "
    f"[{RUNTIME_CLASS}]: every pod naming that runtime class is never checked",
)
def exempt_runtime_class(ctx: DriftContext, node: str | None) -> str:
    return _edit_exemptions(
        ctx, "pod_security.exempt_runtime_class", "runtimeClasses", RUNTIME_CLASS
    )


PRIVILEGED_NAMESPACE = "ci"


@drift(
    "pod_security.privileged_namespace",
    controls=("PSA-01", "PSA-03"),
    description=f"a new namespace {PRIVILEGED_NAMESPACE} labelled {ENFORCE_LABEL}=privileged "
    "(kubectl create namespace, kubectl label): privileged pods admitted there",
)
def privileged_namespace(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("pod_security.privileged_namespace")
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": PRIVILEGED_NAMESPACE, "labels": {ENFORCE_LABEL: "privileged"}},
    }
    ctx.store.create(ctx.rt("", "v1", "namespaces"), "", body)
    return f"Namespace {PRIVILEGED_NAMESPACE} created with {ENFORCE_LABEL}=privileged"


VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
PINNED_NAMESPACE = "kube-node-lease"
PINNED_VERSION = "v1.20"


@drift(
    "pod_security.pin_namespace_version",
    controls=("PSA-01",),
    description=f"namespace {PINNED_NAMESPACE} labelled {VERSION_LABEL}={PINNED_VERSION} "
    "(kubectl label): only the checks of Kubernetes 1.20 are enforced there",
)
def pin_namespace_version(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("pod_security.pin_namespace_version")
    rt = ctx.rt("", "v1", "namespaces")
    ctx.get(rt, "", PINNED_NAMESPACE, "pod_security.pin_namespace_version")
    patch = {"metadata": {"labels": {VERSION_LABEL: PINNED_VERSION}}}
    ctx.merge_patch(rt, "", PINNED_NAMESPACE, patch)
    return f"Namespace {PINNED_NAMESPACE} labelled {VERSION_LABEL}={PINNED_VERSION}"


def _edit_defaults(
    ctx: DriftContext, node: str | None, name: str, key: str, value: str | None
) -> str:
    """Set (or, with None, delete) ``defaults.<key>`` of one node's PodSecurity entry."""
    machine = ctx.configured(node, name)
    with edit_config(machine) as docs:
        entries = _plugin_entries(v1alpha1(docs, machine))
        if not entries:
            raise DriftError(f"{machine.name} does not configure the PodSecurity admission plugin")
        for plugin in entries:
            defaults = plugin.setdefault("configuration", {}).setdefault("defaults", {})
            if value is None:
                defaults.pop(key, None)
            else:
                defaults[key] = value
    ctx.save_site()
    what = "removed" if value is None else f"set to {value}"
    return f"{machine.name}: PodSecurity defaults.{key} {what}"


@drift(
    "pod_security.lower_default",
    controls=("PSA-01", "PSA-03"),
    description="one control-plane node's (--node, default the first) PodSecurity "
    "defaults.enforce set to privileged (talosctl patch machineconfig)",
    takes_node=True,
)
def lower_default(ctx: DriftContext, node: str | None) -> str:
    return _edit_defaults(ctx, node, "pod_security.lower_default", "enforce", "privileged")


@drift(
    "pod_security.omit_default",
    controls=("PSA-01", "PSA-03"),
    description="one control-plane node's (--node, default the first) PodSecurity "
    "defaults.enforce removed: the plugin's default, privileged, applies",
    takes_node=True,
)
def omit_default(ctx: DriftContext, node: str | None) -> str:
    return _edit_defaults(ctx, node, "pod_security.omit_default", "enforce", None)


@drift(
    "pod_security.pin_default_version",
    controls=("PSA-01",),
    description=f"one control-plane node's (--node, default the first) PodSecurity "
    f"defaults.enforce-version pinned to {PINNED_VERSION}",
    takes_node=True,
)
def pin_default_version(ctx: DriftContext, node: str | None) -> str:
    return _edit_defaults(
        ctx, node, "pod_security.pin_default_version", "enforce-version", PINNED_VERSION
    )


@drift(
    "pod_security.disable_plugin",
    controls=("PSA-01", "PSA-03"),
    description="one control-plane node's (--node, default the first) cluster.apiServer."
    "extraArgs disable-admission-plugins names PodSecurity: that API server never runs it",
    takes_node=True,
)
def disable_plugin(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "pod_security.disable_plugin")
    with edit_config(machine) as docs:
        cluster = v1alpha1(docs, machine).setdefault("cluster", {})
        extra = cluster.setdefault("apiServer", {}).setdefault("extraArgs", {})
        extra["disable-admission-plugins"] = "PodSecurity"
    ctx.save_site()
    return f"{machine.name}: kube-apiserver disable-admission-plugins=PodSecurity"


OTHER_CONFIG_FILE = "/var/lib/admission/config.yaml"


@drift(
    "pod_security.other_config_file",
    controls=("PSA-01",),
    description="one control-plane node's (--node, default the first) cluster.apiServer."
    f"extraArgs admission-control-config-file={OTHER_CONFIG_FILE}: that API server does not "
    "read the admission configuration Talos writes (the simulator models no such file, so "
    "use a node that does not serve the API)",
    takes_node=True,
)
def other_config_file(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "pod_security.other_config_file")
    with edit_config(machine) as docs:
        cluster = v1alpha1(docs, machine).setdefault("cluster", {})
        extra = cluster.setdefault("apiServer", {}).setdefault("extraArgs", {})
        extra["admission-control-config-file"] = OTHER_CONFIG_FILE
    ctx.save_site()
    return f"{machine.name}: kube-apiserver admission-control-config-file={OTHER_CONFIG_FILE}"
