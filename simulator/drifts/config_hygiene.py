"""Config-hygiene drifts: a node renamed (HYG-05), a conflicting hostname config refused,
an expired kubeconfig (HYG-06), commits to the definition that break it before any apply
(HYG-01..04: an invalid hostname stack, a vanilla installer, secret material), and nodes no
longer running their rendered config (HYG-07: a patched config, another installer, a dropped
patch, an extra kernel argument or sysctl; see the section at the end).

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

import base64
import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provisioning.definition import inventory
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
    "machine.install.extraKernelArgs (grubUseUKICmdline off, as Talos requires)",
    takes_node=True,
)
def extra_kernel_arg(ctx: DriftContext, node: str | None) -> str:
    return _patch_and_apply(
        ctx,
        node,
        KERNEL_ARG_NAME,
        # Talos v1.12 refuses extraKernelArgs while the UKI command line is in use (the default):
        # an operator adding one turns grubUseUKICmdline off in the same patch.
        {
            "machine": {
                "install": {"extraKernelArgs": [EXTRA_KERNEL_ARG], "grubUseUKICmdline": False}
            }
        },
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


# -- the definition in git (HYG-01..04) ------------------------------------------------
#
# These drifts edit the copy's definition directory, as an operator's commit would: a node
# patch changed, a patch added to a node's stack in cluster.yaml, a file added beside them.
# The cluster itself is not touched (the controls judge the definition before any apply).


def _definition(ctx: DriftContext, drift_name: str) -> Path:
    if ctx.cluster_dir is None:
        raise DriftError(f"drift {drift_name} edits the cluster definition: pass --cluster DIR")
    return ctx.cluster_dir


def _node(ctx: DriftContext, node: str | None, drift_name: str) -> inventory.Node:
    _definition(ctx, drift_name)
    nodes = ctx.cluster.nodes
    wanted = node or nodes[0].name
    for found in nodes:
        if wanted in (found.name, found.hostname):
            return found
    valid = ", ".join(n.name for n in nodes)
    raise DriftError(f"unknown node {wanted!r}; valid nodes: {valid}", exit_code=2)


def _add_patch(ctx: DriftContext, node: inventory.Node, name: str, text: str, why: str) -> str:
    """Write ``patches/<name>`` and append it to *node*'s stack in cluster.yaml (applied last)."""
    root = _definition(ctx, why)
    (root / "patches" / name).write_text(text, encoding="utf-8")
    inventory_file = root / "cluster.yaml"
    lines = inventory_file.read_text(encoding="utf-8").splitlines(keepends=True)
    own = node.patches[0].display
    for index, line in enumerate(lines):
        if "patches:" in line and own in line and line.rstrip().endswith("]"):
            lines[index] = line.rstrip()[:-1] + f", patches/{name}]\n"
            inventory_file.write_text("".join(lines), encoding="utf-8")
            return f"patches/{name}"
    raise DriftError(f"drift {why}: no one-line `patches: [{own}, ...]` entry in cluster.yaml")


def _patch_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]


@drift(
    "config_hygiene.hostname_beside_hostname_config",
    controls=("HYG-01", "HYG-04"),
    description="a patch added to a node's stack (--node, default the first) sets "
    "machine.network.hostname, the article's form, beside the node's HostnameConfig: "
    "Talos v1.12 rejects the rendered config",
    takes_node=True,
)
def hostname_beside_hostname_config(ctx: DriftContext, node: str | None) -> str:
    name = "config_hygiene.hostname_beside_hostname_config"
    target = _node(ctx, node, name)
    text = f"machine:\n    network:\n        hostname: {target.hostname}\n"
    added = _add_patch(ctx, target, f"{target.name}-legacy-hostname.yaml", text, name)
    return f"{target.name}: {added} sets machine.network.hostname beside its HostnameConfig"


@drift(
    "config_hygiene.hostname_config_auto_dropped",
    controls=("HYG-01",),
    description="a node's own patch (--node, default the first) keeps `hostname:` in its "
    "HostnameConfig but drops `auto: off`, so it merges into gen config's `auto: stable`: "
    "'auto' and 'hostname' cannot be set at the same time",
    takes_node=True,
)
def hostname_config_auto_dropped(ctx: DriftContext, node: str | None) -> str:
    name = "config_hygiene.hostname_config_auto_dropped"
    target = _node(ctx, node, name)
    path = target.patches[0].path
    docs = _patch_documents(path)
    found = [d for d in docs if d.get("kind") == "HostnameConfig" and "auto" in d]
    if not found:
        raise DriftError(f"{target.patches[0].display} has no HostnameConfig with `auto` to drop")
    del found[0]["auto"]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return f"{target.patches[0].display}: HostnameConfig without auto: off"


@drift(
    "config_hygiene.installer_vanilla",
    controls=("HYG-01", "HYG-03"),
    description="a patch added last to a node's stack (--node, default the first) installs "
    "the vanilla ghcr.io/siderolabs/installer, built from no schematic: the extensions "
    "Longhorn needs are gone at the next upgrade",
    takes_node=True,
)
def installer_vanilla(ctx: DriftContext, node: str | None) -> str:
    name = "config_hygiene.installer_vanilla"
    target = _node(ctx, node, name)
    image = f"ghcr.io/siderolabs/installer:{ctx.cluster.versions.talos}"
    text = f"machine:\n    install:\n        image: {image}\n"
    added = _add_patch(ctx, target, f"{target.name}-installer.yaml", text, name)
    return f"{target.name}: {added} installs {image}"


def _pem_key() -> str:
    """A freshly made EC private key in PEM: real key material, made for this copy only."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _random_b64(size: int = 32) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode()


def _talosconfig(ctx: DriftContext) -> str:
    contexts = {
        ctx.cluster.name: {
            "endpoints": [str(n.ip) for n in ctx.cluster.control_plane_nodes],
            "ca": _b64("-----BEGIN CERTIFICATE-----\n"),
            "crt": _b64("-----BEGIN CERTIFICATE-----\n"),
            "key": _b64(_pem_key()),
        }
    }
    return yaml.safe_dump({"context": ctx.cluster.name, "contexts": contexts}, sort_keys=False)


def _age_identity(ctx: DriftContext) -> str:
    alphabet = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"  # bech32
    body = "".join(secrets.choice(alphabet) for _ in range(58))
    return f"# created: by an operator, then committed\nAGE-SECRET-KEY-1{body}\n"


def _secrets_bundle(ctx: DriftContext) -> str:
    token = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(22))
    bundle = {
        "cluster": {"id": _random_b64(), "secret": _random_b64()},
        "secrets": {
            "bootstraptoken": f"{token[:6]}.{token[6:]}",
            "secretboxencryptionsecret": _random_b64(),
        },
        "certs": {"os": {"crt": _b64("-----BEGIN CERTIFICATE-----\n"), "key": _b64(_pem_key())}},
    }
    return yaml.safe_dump(bundle, sort_keys=False)


def _luks_passphrase(ctx: DriftContext) -> str:
    docs = [
        {
            "apiVersion": "v1alpha1",
            "kind": "VolumeConfig",
            "name": "EPHEMERAL",
            "encryption": {
                "provider": "luks2",
                "keys": [
                    {"slot": 0, "nodeID": {}},
                    {"slot": 1, "static": {"passphrase": secrets.token_urlsafe(12)}},
                ],
            },
        }
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


# (drift suffix, file written, what it is, builder, added to a node's stack?)
_LEAKS: tuple[tuple[str, str, str, Callable[[DriftContext], str], bool], ...] = (
    (
        "talosconfig",
        "talosconfig",
        "the operator's talosconfig (os:admin key)",
        _talosconfig,
        False,
    ),
    (
        "age_identity",
        "age-identity.txt",
        "the age identity of the secrets store",
        _age_identity,
        False,
    ),
    ("secrets_bundle", "secrets.yaml", "`talosctl gen secrets` output", _secrets_bundle, False),
    (
        "luks_passphrase",
        "luks-recovery.yaml",
        "a static LUKS passphrase for EPHEMERAL",
        _luks_passphrase,
        True,
    ),
)


def _register_leak(
    suffix: str, file: str, what: str, build: Callable[[DriftContext], str], stacked: bool
) -> None:
    name = f"config_hygiene.commit_{suffix}"

    def commit(ctx: DriftContext, node: str | None) -> str:
        root = _definition(ctx, name)
        if stacked:
            target = _node(ctx, node, name)
            added = _add_patch(ctx, target, f"{target.name}-{file}", build(ctx), name)
            return f"{added} ({what}) added to {target.name}'s stack"
        (root / file).write_text(build(ctx), encoding="utf-8")
        return f"{file} ({what}) added to the definition"

    description = f"{what} is committed to the definition as {file}" + (
        " in a node's stack (--node, default the first)" if stacked else ""
    )
    drift(name, controls=("HYG-02",), description=description, takes_node=stacked)(commit)


for _leak in _LEAKS:
    _register_leak(*_leak)
