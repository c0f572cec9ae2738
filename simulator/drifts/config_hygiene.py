"""Config-hygiene drifts: a node renamed (HYG-05), a conflicting hostname config refused,
an expired kubeconfig (HYG-06), and nodes no longer running their rendered config
(HYG-07: a patched config, another installer, a dropped patch, an extra kernel argument
or sysctl; see the section at the end).

A config with a ``HostnameConfig`` document *and* ``machine.network.hostname``
is rejected by Talos v1.12 (``static hostname is already set in v1alpha1
config``, talos facts §2.3) on apply and at boot, so the node never runs it:
the drift sends it through the simulated machine API, which rejects it, and
records the rejection on the machine (``last_error``) while the node keeps
running its previous config -- what an operator finds after such an apply.

A stray patch that *renames* a node is accepted (one hostname source, a new
value): Talos applies a hostname change without a reboot, so the node's
HostnameStatus follows at once, and with it the kubelet's node name.  Talos's
kubelet service finds its client certificate (``system:node:<old>``) no longer
matches the expected node name, drops it and re-bootstraps, so the kubelet
registers a *new* Node under the new name; the old Node is left behind, its
kubelet silent, and the node lifecycle controller marks it Ready=Unknown
(``KubeletServiceController.refreshKubeletCerts``, Talos v1.12).  The
simulator's Node reconcile does both from the edited config.  The node's etcd
member keeps the name it joined with (the simulator renames no member; etcd
publishes a new ``--name`` only when the member restarts, and whether Talos
restarts etcd on a hostname change was not confirmed upstream).

The kubeconfig drift rewrites ``DIR/kubeconfig`` with a client certificate
that expired yesterday, signed by the same cluster CA, so only its validity
period is wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from simulator import apiserver
from simulator.drifts import DriftContext, DriftError, drift, edit_config, hostname_of, v1alpha1
from simulator.pki import ClusterCA, write_kubeconfig
from simulator.statedir import StatePaths, simulator_ca
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle

HOSTNAME_NAME = "config_hygiene.hostname_conflict"
RENAME_NAME = "config_hygiene.rename_node"
RENAMED_SUFFIX = "-renamed"


@drift(
    HOSTNAME_NAME,
    # No control fails: Talos v1.12 refuses the config, so the running cluster never shows
    # both hostname sources; HYG-04 catches them in the definition, before any apply.
    controls=(),
    description="a node (--node, default the first) is sent a config with both HostnameConfig "
    "and machine.network.hostname; Talos rejects it and the node keeps its old config "
    "(no control fails: HYG-04 judges the definition before apply)",
    takes_node=True,
)
def hostname_conflict(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, HOSTNAME_NAME)
    hostname = hostname_of(machine) or machine.name
    docs: list[dict[str, Any]] = [
        d for d in yaml.safe_load_all(machine.config or "") if isinstance(d, dict)
    ]
    if not any(d.get("kind") == "HostnameConfig" for d in docs):
        docs.append({"apiVersion": "v1alpha1", "kind": "HostnameConfig", "hostname": hostname})
    for doc in docs:
        if doc.get("version") == "v1alpha1" and "machine" in doc:
            doc["machine"].setdefault("network", {})["hostname"] = hostname
    text = yaml.safe_dump_all(docs, sort_keys=False)
    try:
        Lifecycle(ctx.site).apply_config(machine.ip, text)
    except TalosError as exc:
        machine.last_error = exc.message
        ctx.save_site()
        return (
            f"{machine.name}: config with both hostname sources rejected "
            f"({exc.message.strip()}); the node keeps running its previous config"
        )
    raise DriftError(f"{machine.name} accepted a config with two hostname sources")


@drift(
    RENAME_NAME,
    # The declared Node loses its kubelet: Ready=Unknown (TOP-01), its Cilium agent pod is
    # not Ready (CIL-03), its Longhorn node goes down (LH-03).
    # Its config is no longer the rendered one (HYG-07).
    controls=("HYG-05", "HYG-07", "TOP-01", "CIL-03", "LH-03"),
    description="a stray patch renamed a node (--node, default the first): its applied "
    "config's hostname is now <hostname>-renamed; the kubelet registered a new Node under "
    "that name and the declared Node, its Cilium agent and Longhorn node went down",
    takes_node=True,
)
def rename_node(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(RENAME_NAME)
    machine = ctx.configured(node, RENAME_NAME)
    old = hostname_of(machine)
    if not old:
        raise DriftError(f"drift {RENAME_NAME} needs a static hostname, {machine.name} has none")
    new = old + RENAMED_SUFFIX
    with edit_config(machine) as docs:
        # Whichever source the config uses: adding the other would be rejected (talos §2.3).
        sources = [d for d in docs if d.get("kind") == "HostnameConfig" and d.get("hostname")]
        if sources:
            sources[0]["hostname"] = new
        else:
            v1alpha1(docs, machine)["machine"]["network"]["hostname"] = new
    ctx.save_site()
    return f"{machine.name}: hostname {old} -> {new} (config applied, no reboot)"


def _cluster_ca(ctx: DriftContext) -> ClusterCA:
    serving = apiserver.serving_machine(ctx.site)
    if serving is not None:
        ca = apiserver.kubernetes_ca(serving[1])
        if ca is not None:
            return ca
    # The running simulator signs with this one when the config has no usable cluster.ca.
    return simulator_ca(StatePaths(ctx.state_dir))


@drift(
    "config_hygiene.expire_kubeconfig",
    controls=("HYG-06",),
    description="DIR/kubeconfig's client certificate expired a day ago (same CA, same server)",
)
def expire_kubeconfig(ctx: DriftContext, node: str | None) -> str:
    path = StatePaths(ctx.state_dir).kubeconfig
    try:
        current = yaml.safe_load(path.read_text(encoding="utf-8"))
        cluster = current["clusters"][0]
        server, cluster_name = str(cluster["cluster"]["server"]), str(cluster["name"])
        proxy = cluster["cluster"].get("proxy-url")
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        raise DriftError(
            f"drift config_hygiene.expire_kubeconfig needs {path} from a provisioned cluster"
        ) from None
    ca = _cluster_ca(ctx)
    now = dt.datetime.now(dt.UTC)
    issued = ca.issue_client_cert(
        apiserver.ADMIN_USER,
        apiserver.ADMIN_GROUPS,
        not_before=now - dt.timedelta(days=366),
        not_after=now - dt.timedelta(days=1),
    )
    write_kubeconfig(
        path,
        server,
        ca.cert_pem,
        issued.cert_pem,
        issued.key_pem,
        cluster_name,
        proxy_url=str(proxy) if proxy else None,
    )
    return f"{path}: client certificate replaced by one that expired a day ago"


# -- HYG-07: a node no longer runs what the definition renders ------------------------------
#
# Each of these changes one node's running config through the machine API, the way
# ``talosctl patch machineconfig`` does (https://github.com/siderolabs/talos/blob/v1.12.5/
# cmd/talosctl/cmd/talos/patch.go: read the active MachineConfig,
# patch it locally, send it with ApplyConfiguration in ``auto`` mode): the lifecycle
# applies it without a reboot where Talos's CanApplyImmediate allows, and reboots the node
# into it otherwise, so what ``talosctl get machineconfig`` shows afterwards is what Talos
# would show.

PATCH_NAME = "config_hygiene.patch_machineconfig"
INSTALLER_NAME = "config_hygiene.other_installer"
DROP_PATCH_NAME = "config_hygiene.drop_node_patch"
KERNEL_ARG_NAME = "config_hygiene.extra_kernel_arg"
SYSCTL_NAME = "config_hygiene.extra_sysctl"

PATCHED_ENV = ("HTTPS_PROXY", "http://10.10.20.250:3128")
OTHER_INSTALLER = "ghcr.io/siderolabs/installer:v1.12.5"
DROPPED_PATCH = "patches/allow-scheduling-cp.yaml"
EXTRA_KERNEL_ARG = "talos.dashboard.disabled=1"
EXTRA_SYSCTL = ("vm.max_map_count", "1048576")


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    """Strategic merge for the shapes these drifts send: maps merge, lists append."""
    for key, value in patch.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        else:
            into[key] = value


def _patch_and_apply(ctx: DriftContext, node: str | None, name: str, patch: dict[str, Any]) -> str:
    """Patch the node's v1alpha1 document and send the result (``talosctl patch mc``)."""
    machine = ctx.configured(node, name)
    docs = [d for d in yaml.safe_load_all(machine.config or "") if isinstance(d, dict)]
    _merge(v1alpha1(docs, machine), patch)
    return _apply(ctx, machine.name, machine.ip, docs)


def _apply(ctx: DriftContext, name: str, ip: str, docs: list[dict[str, Any]]) -> str:
    text = yaml.safe_dump_all(docs, sort_keys=False)
    try:
        lines = Lifecycle(ctx.site).apply_config(ip, text, mode="auto")
    except TalosError as exc:
        raise DriftError(f"{name} refused the patched config: {exc.message.strip()}") from None
    ctx.save_site()
    said = "; ".join(line.splitlines()[0] for line in lines if line) or "applied"
    return f"patched MachineConfigs.config.talos.dev/v1alpha1 at the node {ip} ({name}): {said}"


@drift(
    PATCH_NAME,
    controls=("HYG-07",),
    description="talosctl patch machineconfig on one node (--node, default the first) set "
    f"machine.env.{PATCHED_ENV[0]}; Talos applies it with a reboot",
    takes_node=True,
)
def patch_machineconfig(ctx: DriftContext, node: str | None) -> str:
    return _patch_and_apply(ctx, node, PATCH_NAME, {"machine": {"env": dict([PATCHED_ENV])}})


@drift(
    INSTALLER_NAME,
    controls=("HYG-07",),
    description="one node's (--node) machine.install.image is the vanilla installer "
    f"{OTHER_INSTALLER} instead of the schematic's (applied without a reboot; the next "
    "upgrade would drop the extensions)",
    takes_node=True,
)
def other_installer(ctx: DriftContext, node: str | None) -> str:
    return _patch_and_apply(
        ctx, node, INSTALLER_NAME, {"machine": {"install": {"image": OTHER_INSTALLER}}}
    )


@drift(
    KERNEL_ARG_NAME,
    controls=("HYG-07",),
    description=f"one node (--node) has the extra kernel argument {EXTRA_KERNEL_ARG} in "
    "machine.install.extraKernelArgs",
    takes_node=True,
)
def extra_kernel_arg(ctx: DriftContext, node: str | None) -> str:
    return _patch_and_apply(
        ctx,
        node,
        KERNEL_ARG_NAME,
        {"machine": {"install": {"extraKernelArgs": [EXTRA_KERNEL_ARG]}}},
    )


@drift(
    SYSCTL_NAME,
    controls=("HYG-07",),
    description=f"one node (--node) sets the extra sysctl {EXTRA_SYSCTL[0]}={EXTRA_SYSCTL[1]}",
    takes_node=True,
)
def extra_sysctl(ctx: DriftContext, node: str | None) -> str:
    return _patch_and_apply(ctx, node, SYSCTL_NAME, {"machine": {"sysctls": dict([EXTRA_SYSCTL])}})


def _without(doc: dict[str, Any], patch: dict[str, Any]) -> bool:
    """Remove from *doc* every scalar leaf *patch* sets; whether anything was removed."""
    removed = False
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            removed = _without(doc[key], value) or removed
            if not doc[key]:
                del doc[key]
        elif key in doc and not isinstance(value, (dict, list)) and doc[key] == value:
            del doc[key]
            removed = True
    return removed


@drift(
    DROP_PATCH_NAME,
    controls=("HYG-07",),
    description=f"one node (--node) was last configured without {DROPPED_PATCH} in its "
    "patch stack (its cluster.allowSchedulingOnControlPlanes is gone)",
    takes_node=True,
)
def drop_node_patch(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, DROP_PATCH_NAME)
    path = ctx.cluster.root / DROPPED_PATCH
    try:
        patch = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DriftError(f"drift {DROP_PATCH_NAME} needs {path}: {exc}") from None
    if not isinstance(patch, dict):
        raise DriftError(f"drift {DROP_PATCH_NAME}: {path} is not a single-document patch")
    docs = [d for d in yaml.safe_load_all(machine.config or "") if isinstance(d, dict)]
    if not _without(v1alpha1(docs, machine), patch):
        raise DriftError(f"{machine.name}'s config holds nothing of {DROPPED_PATCH}")
    return _apply(ctx, machine.name, machine.ip, docs)
