"""PodSecurity drifts (PSA-01, PSA-02): the admission plugin or an exemption removed.

Talos configures kube-apiserver's admission plugins from
``cluster.apiServer.admissionControl`` of every control-plane node, so the
drift edits that list on all of them -- what a patch applied cluster-wide does.
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
