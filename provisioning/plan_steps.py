"""What each provisioning step does, in plan order: :func:`steps_for` and the step vocabulary.

What belongs here: the order of the steps and the names other code imports
(:mod:`provisioning.plan`, ``fixtures.provision``), re-exported so importers
keep one stable module.  The steps themselves live in small modules named for
what they hold, split because together they outgrew one readable file:

* :mod:`provisioning.plan_context` -- driver protocols, context, step record;
* :mod:`provisioning.plan_nodes` -- node state, preflight, apply-config;
* :mod:`provisioning.plan_cluster` -- bootstrap, waits, kubeconfig, storage disks;
* :mod:`provisioning.plan_addons` -- Helm releases, manifests, first backup.

Kept apart from :mod:`provisioning.plan` (which orders and runs steps)
because this is the part that encodes how Talos, Helm and the API server
behave, and so the part that changes with them.  Nothing here knows whether
the target is simulated.
"""

from __future__ import annotations

from provisioning.plan_addons import (
    CHART_REPOSITORIES,
    backup,
    helm_release,
    manifest_documents,
    manifests,
    release_ready,
)
from provisioning.plan_cluster import (
    blocked_storage,
    bootstrap,
    kubeconfig,
    storage_disks,
    wait_etcd,
    wait_nodes,
    wait_nodes_ready,
)
from provisioning.plan_context import (
    NODES,
    HelmOps,
    KubeOps,
    PlanError,
    Readiness,
    SecretSource,
    StepContext,
    StepSpec,
    TalosOps,
    Timeouts,
)
from provisioning.plan_nodes import (
    Signature,
    apply_config,
    node_state,
    node_states,
    old_signatures,
    preflight,
)

__all__ = [
    "CHART_REPOSITORIES",
    "NODES",
    "HelmOps",
    "KubeOps",
    "PlanError",
    "Readiness",
    "SecretSource",
    "Signature",
    "StepContext",
    "StepSpec",
    "TalosOps",
    "Timeouts",
    "apply_config",
    "backup",
    "blocked_storage",
    "bootstrap",
    "helm_release",
    "kubeconfig",
    "manifest_documents",
    "manifests",
    "node_state",
    "node_states",
    "old_signatures",
    "preflight",
    "release_ready",
    "steps_for",
    "storage_disks",
    "wait_etcd",
    "wait_nodes",
    "wait_nodes_ready",
]

# The Helm releases that are a CNI: nodes turn Ready only once one runs.  The plan
# installs charts only from CHART_REPOSITORIES, whose one CNI is Cilium.
CNI_RELEASES = frozenset({"cilium"})


def steps_for(ctx: StepContext) -> list[StepSpec]:
    """The plan; each Helm release is followed by ``wait <release>`` when a judge knows it.

    With a judge that knows ``nodes``, ``wait nodes ready`` follows the CNI
    release (and its wait), or the node registration when no CNI release is
    declared: Node Ready is waited for whether or not Cilium is installed.
    """
    steps = [preflight(ctx)]
    steps += [apply_config(ctx, node) for node in ctx.cluster.nodes]
    steps += [bootstrap(ctx), wait_etcd(ctx), kubeconfig(ctx), wait_nodes(ctx)]
    steps.append(storage_disks(ctx))
    known = ctx.readiness.stages() if ctx.readiness is not None else frozenset()
    cni = [name for name in ctx.cluster.helm if name in CNI_RELEASES]
    if "nodes" in known and not cni:
        steps.append(wait_nodes_ready(ctx))
    for name, release in ctx.cluster.helm.items():
        steps.append(helm_release(ctx, name, release))
        if name in known:
            steps.append(release_ready(ctx, name))
        if "nodes" in known and cni and name == cni[-1]:
            steps.append(wait_nodes_ready(ctx))
    steps += [manifests(ctx), backup(ctx)]
    return steps
