"""Seccomp drift (SEC-01): a node's kubelet no longer defaults to RuntimeDefault."""

from __future__ import annotations

from simulator.drifts import DriftContext, drift, edit_config, v1alpha1

NAME = "seccomp.disable_default"


@drift(
    NAME,
    controls=("SEC-01",),
    description="a node's applied config (--node, default the first) sets "
    "machine.kubelet.defaultRuntimeSeccompProfileEnabled: false",
    takes_node=True,
)
def disable_default(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, NAME)
    with edit_config(machine) as docs:
        kubelet = v1alpha1(docs, machine)["machine"].setdefault("kubelet", {})
        kubelet["defaultRuntimeSeccompProfileEnabled"] = False
    ctx.save_site()
    return f"{machine.name}: machine.kubelet.defaultRuntimeSeccompProfileEnabled set to false"


OMIT = "seccomp.omit_default"


@drift(
    OMIT,
    controls=("SEC-01",),
    description="a node's applied config (--node, default the first) no longer sets "
    "machine.kubelet.defaultRuntimeSeccompProfileEnabled: the kubelet's default, false, applies",
    takes_node=True,
)
def omit_default(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, OMIT)
    with edit_config(machine) as docs:
        kubelet = v1alpha1(docs, machine)["machine"].setdefault("kubelet", {})
        kubelet.pop("defaultRuntimeSeccompProfileEnabled", None)
    ctx.save_site()
    return f"{machine.name}: machine.kubelet.defaultRuntimeSeccompProfileEnabled removed"
