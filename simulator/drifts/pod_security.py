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
