"""Config-hygiene drifts: a node renamed (HYG-05), a conflicting hostname config refused,
an expired kubeconfig (HYG-06).

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
    controls=("HYG-05", "TOP-01", "CIL-03", "LH-03"),
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
