"""Config-hygiene drifts: a conflicting hostname config refused, an expired kubeconfig (HYG-06).

A config with a ``HostnameConfig`` document *and* ``machine.network.hostname``
is rejected by Talos v1.12 (``static hostname is already set in v1alpha1
config``, talos facts §2.3) on apply and at boot, so the node never runs it:
the drift sends it through the simulated machine API, which rejects it, and
records the rejection on the machine (``last_error``) while the node keeps
running its previous config -- what an operator finds after such an apply.

The kubeconfig drift rewrites ``DIR/kubeconfig`` with a client certificate
that expired yesterday, signed by the same cluster CA, so only its validity
period is wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from simulator import apiserver
from simulator.drifts import DriftContext, DriftError, drift, hostname_of
from simulator.pki import ClusterCA, write_kubeconfig
from simulator.statedir import StatePaths, simulator_ca
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle

HOSTNAME_NAME = "config_hygiene.hostname_conflict"


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
    write_kubeconfig(path, server, ca.cert_pem, issued.cert_pem, issued.key_pem, cluster_name)
    return f"{path}: client certificate replaced by one that expired a day ago"
