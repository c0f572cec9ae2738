"""What each provisioning step does: its "already true" probe and its change, through drivers.

Kept apart from :mod:`provisioning.plan` (which orders and runs steps)
because this is the part that encodes how Talos, Helm and the API server
behave, and so the part that changes with them.  The drivers are taken as
protocols so unit tests drive the plan with fakes; nothing here knows
whether the target is simulated.

Behaviour encoded here (facts/talos.md §4, §7.4):

* a node in maintenance answers ``get machinestatus --insecure``; a
  configured node refuses ``--insecure`` and answers with the talosconfig;
* the config is sent the way the article does it: the base with secrets
  (a private 0600 temp file, removed afterwards) plus ``--config-patch @f``
  per patch of the node's stack, ``--insecure`` because the node is in
  maintenance;
* old disk signatures are read from ``get discoveredvolumes`` (a whole-disk
  entry with a ``name`` is a filesystem/LVM/Ceph signature) and wiped only
  with ``--allow-destructive``; a target that does not serve that type is
  reported as "not checked" there, and the same disks are caught after
  apply-config by the "storage disks" step, from the user volume that waits
  with Talos's ``… have wrong format`` message;
* ``talosctl kubeconfig --force`` always rewrites the file (lesson 6).

The backup step takes the first encrypted etcd snapshot; the daily schedule
is installed by the operator from ``deploy/backup/`` (systemd timer or cron),
not by the plan.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from provisioning import inventory, render
from provisioning.agestore import resolve_recipient
from provisioning.backup import create_backup
from provisioning.backup_files import list_backups
from provisioning.drivers import Target, errors
from provisioning.drivers.helm import HelmRelease
from provisioning.drivers.talosctl import EtcdMemberRow, SnapshotInfo
from provisioning.problems import DefinitionError, Problem
from provisioning.secrets import MachineSecrets

# The official chart repositories, by the repository part of ``chart: repo/name``.
CHART_REPOSITORIES: Mapping[str, str] = {
    "cilium": "https://helm.cilium.io",
    "longhorn": "https://charts.longhorn.io",
}
NODES: tuple[str, str, str] = ("", "v1", "nodes")


class PlanError(Exception):
    """A step cannot be done; the message names the node, disk, file or release and why."""


class TalosOps(Protocol):
    def get(
        self,
        resource: str,
        nodes: Sequence[str],
        *,
        namespace: str | None = None,
        id: str | None = None,
        insecure: bool = False,
    ) -> list[dict[str, Any]]: ...

    def apply_config(
        self,
        node: str,
        config_file: Path,
        *,
        patches: Sequence[Path] = (),
        insecure: bool = False,
        mode: str = "auto",
        dry_run: bool = False,
    ) -> str: ...

    def bootstrap(self, node: str) -> None: ...

    def kubeconfig(self, path: Path, node: str, *, force: bool = True) -> None: ...

    def etcd_members(self, node: str) -> list[EtcdMemberRow]: ...

    def etcd_snapshot(self, node: str, path: Path) -> SnapshotInfo: ...

    def wipe_disk(self, node: str, devices: Sequence[str], *, insecure: bool = False) -> None: ...


class HelmOps(Protocol):
    def repo_add(self, name: str, url: str) -> None: ...

    def list(self, namespace: str | None = None) -> list[HelmRelease]: ...

    def get_values(self, release: str, namespace: str) -> dict[str, Any]: ...

    def upgrade_install(
        self,
        release: str,
        chart: str,
        *,
        namespace: str,
        version: str,
        values_files: Sequence[Path],
        create_namespace: bool = True,
    ) -> str: ...


class KubeOps(Protocol):
    def list(
        self,
        kind: tuple[str, str, str],
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def get(
        self, kind: tuple[str, str, str], name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    def apply_manifest(
        self, docs: Iterable[Mapping[str, Any]]
    ) -> builtins.list[dict[str, Any]]: ...


class SecretSource(Protocol):
    def load_or_create(self) -> MachineSecrets: ...


@dataclass(frozen=True)
class Timeouts:
    """Bounds, in seconds, on waiting for the cluster to converge."""

    configured: float = 180.0  # a node leaving maintenance after apply-config
    etcd: float = 300.0
    nodes: float = 300.0
    poll: float = 1.0


@dataclass
class StepContext:
    cluster: inventory.Cluster
    target: Target
    talos: TalosOps
    helm: HelmOps
    kube: Callable[[], KubeOps]
    secrets: SecretSource
    allow_destructive: bool
    log: Callable[[str], None]
    timeouts: Timeouts
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    configured: dict[str, bool] = field(default_factory=dict)
    _kube: KubeOps | None = field(default=None, repr=False)

    def api(self) -> KubeOps:
        if self._kube is None:
            self._kube = self.kube()
        return self._kube


@dataclass(frozen=True)
class StepSpec:
    name: str
    summary: str
    is_done: Callable[[], bool]
    apply: Callable[[], None]


def _who(node: inventory.Node) -> str:
    return f"{node.name} ({node.ip})"


# -- node state ------------------------------------------------------------------------


def _probe(ctx: StepContext, ips: Sequence[str], *, insecure: bool) -> errors.DriverError | None:
    """None when every node in *ips* answers ``get machinestatus`` this way, else the error."""
    try:
        ctx.talos.get("machinestatus", ips, insecure=insecure)
    except errors.ToolMissing:
        raise
    except errors.DriverError as exc:
        return exc
    return None


def node_state(ctx: StepContext, node: inventory.Node) -> str:
    """``maintenance`` or ``configured``; :class:`PlanError` if the node answers neither way.

    A configured node never returns to maintenance during a run, so that
    answer is remembered; a maintenance answer is asked again each time.
    """
    if ctx.configured.get(node.name):
        return "configured"
    ip = str(node.ip)
    insecure_error = _probe(ctx, [ip], insecure=True)
    if insecure_error is None:
        return "maintenance"
    secure_error = _probe(ctx, [ip], insecure=False)
    if secure_error is not None:
        raise PlanError(
            f"node {_who(node)} does not answer: not in maintenance "
            f"({_last_line(insecure_error)}) and not configured ({_last_line(secure_error)})"
        )
    ctx.configured[node.name] = True
    return "configured"


def node_states(ctx: StepContext) -> dict[str, str]:
    """Every node's state; one talosctl call per state when all nodes agree."""
    ips = [str(n.ip) for n in ctx.cluster.nodes]
    if _probe(ctx, ips, insecure=True) is None:
        return {n.name: "maintenance" for n in ctx.cluster.nodes}
    if _probe(ctx, ips, insecure=False) is None:
        ctx.configured.update({n.name: True for n in ctx.cluster.nodes})
        return {n.name: "configured" for n in ctx.cluster.nodes}
    return {n.name: node_state(ctx, n) for n in ctx.cluster.nodes}


def _last_line(exc: errors.DriverError) -> str:
    text = exc.stderr.strip() or str(exc)
    return text.splitlines()[-1]


# -- preflight -------------------------------------------------------------------------

Signature = tuple[inventory.Node, str, str, bool]  # node, device, signature, insecure


def _by_node(items: list[dict[str, Any]], ip: str, single: bool) -> list[dict[str, Any]]:
    # With several nodes, each object carries its node (talosctl get -o json).
    return items if single else [i for i in items if str(i.get("node", "")) == ip]


def _device_of(node: inventory.Node, disks: list[dict[str, Any]]) -> str:
    """Kernel name (``sdb``) of *node*'s storage disk, matched by its by-id symlink."""
    for disk in disks:
        spec = disk.get("spec") or {}
        if node.storage_disk in (spec.get("symlinks") or []) or spec.get("dev_path") == (
            node.storage_disk
        ):
            return str((disk.get("metadata") or {}).get("id", ""))
    raise PlanError(
        f"node {_who(node)}: storage disk {node.storage_disk} (cluster.yaml nodes[].storageDisk) "
        "is not among the node's disks"
    )


def old_signatures(ctx: StepContext, states: Mapping[str, str]) -> list[Signature] | None:
    """Storage disks carrying an old signature; None when the target cannot say."""
    found: list[Signature] = []
    for insecure in (True, False):
        nodes = [
            n
            for n in ctx.cluster.storage_nodes
            if n.storage_disk and (states[n.name] == "maintenance") == insecure
        ]
        if not nodes:
            continue
        ips = [str(n.ip) for n in nodes]
        try:
            volumes = ctx.talos.get("discoveredvolumes", ips, insecure=insecure)
        except errors.ToolMissing:
            raise
        except errors.DriverError:
            return None  # the target does not serve DiscoveredVolumes: not checked
        disks = ctx.talos.get("disks", ips, insecure=insecure)
        for node in nodes:
            device = _device_of(node, _by_node(disks, str(node.ip), len(nodes) == 1))
            for volume in _by_node(volumes, str(node.ip), len(nodes) == 1):
                if (volume.get("metadata") or {}).get("id") != device:
                    continue
                name = str((volume.get("spec") or {}).get("name") or "")
                if name:
                    found.append((node, device, name, insecure))
    return found


def preflight(ctx: StepContext) -> StepSpec:
    found: list[Signature] = []

    def is_done() -> bool:
        states = node_states(ctx)
        ctx.log("preflight: " + ", ".join(f"{k} {v}" for k, v in states.items()))
        signatures = old_signatures(ctx, states)
        if signatures is None:
            ctx.log("preflight: old disk signatures not checked (no discoveredvolumes here)")
            return True
        for node, device, name, _ in signatures:
            ctx.log(f"preflight: {_who(node)} disk /dev/{device} carries an old {name} signature")
        found[:] = signatures
        return not signatures

    def apply() -> None:
        if not ctx.allow_destructive:
            listed = "; ".join(f"node {_who(n)} disk /dev/{d} ({s})" for n, d, s, _ in found)
            raise PlanError(
                f"old disk signatures would block storage volumes: {listed}; "
                "wipe them with --allow-destructive (all data on those disks is lost)"
            )
        for node, device, _, insecure in found:
            ctx.talos.wipe_disk(str(node.ip), [device], insecure=insecure)
            ctx.log(f"preflight: wiped {_who(node)} disk /dev/{device}")

    return StepSpec("preflight", "every node answers; old disk signatures", is_done, apply)


# -- machine config --------------------------------------------------------------------


def _wait(ctx: StepContext, timeout: float, missing: Callable[[], list[str]], what: str) -> None:
    deadline = ctx.clock() + timeout
    while True:
        left = missing()
        if not left:
            return
        if ctx.clock() >= deadline:
            raise PlanError(f"timed out after {timeout:g}s waiting for {what}: {', '.join(left)}")
        ctx.sleep(ctx.timeouts.poll)


def apply_config(ctx: StepContext, node: inventory.Node) -> StepSpec:
    def is_done() -> bool:
        return node_state(ctx, node) == "configured"

    def apply() -> None:
        machine_secrets = ctx.secrets.load_or_create()
        # Render first: a definition error is reported before any node is touched.
        render.render_node(ctx.cluster, node, machine_secrets)
        base = render.load_base(ctx.cluster, machine_secrets)
        descriptor, name = tempfile.mkstemp(prefix="base-", suffix=".yaml")
        path = Path(name)
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(base.to_yaml())
            ctx.talos.apply_config(
                str(node.ip), path, patches=[ref.path for ref in node.patches], insecure=True
            )
        finally:
            path.unlink(missing_ok=True)
        _wait(
            ctx,
            ctx.timeouts.configured,
            lambda: [] if node_state(ctx, node) == "configured" else [_who(node)],
            "the node to leave maintenance mode after apply-config",
        )

    return StepSpec(
        f"apply-config {node.name}", f"send the rendered config to {node.ip}", is_done, apply
    )


# -- bootstrap, etcd, kubeconfig, nodes ------------------------------------------------


def _first_cp(ctx: StepContext) -> inventory.Node:
    nodes = ctx.cluster.control_plane_nodes
    if not nodes:
        raise PlanError(f"{ctx.cluster.file}: nodes: no node has the controlplane role")
    return nodes[0]


def _members(ctx: StepContext) -> list[EtcdMemberRow]:
    try:
        return ctx.talos.etcd_members(str(_first_cp(ctx).ip))
    except errors.ToolMissing:
        raise
    except errors.DriverError:
        return []  # etcd not running yet


def bootstrap(ctx: StepContext) -> StepSpec:
    node = _first_cp(ctx)
    return StepSpec(
        f"bootstrap {node.name}",
        "start etcd on the first control-plane node",
        lambda: bool(_members(ctx)),
        lambda: ctx.talos.bootstrap(str(node.ip)),
    )


def wait_etcd(ctx: StepContext) -> StepSpec:
    expected = {n.hostname: n for n in ctx.cluster.control_plane_nodes}

    def missing() -> list[str]:
        have = {m.hostname for m in _members(ctx) if not m.is_learner}
        return [_who(n) for h, n in expected.items() if h not in have]

    return StepSpec(
        "wait etcd",
        f"etcd has {len(expected)} voting members",
        lambda: not missing(),
        lambda: _wait(ctx, ctx.timeouts.etcd, missing, "etcd members"),
    )


def kubeconfig(ctx: StepContext) -> StepSpec:
    path = ctx.target.kubeconfig
    node = _first_cp(ctx)

    def is_done() -> bool:
        if path is None or not path.is_file():
            return False
        try:
            ctx.api().list(NODES)
        except errors.DriverError:
            ctx._kube = None
            return False
        return True

    def apply() -> None:
        if path is None:
            raise PlanError(f"target {ctx.target.name} names no kubeconfig file to write")
        ctx._kube = None
        ctx.talos.kubeconfig(path, str(node.ip), force=True)

    return StepSpec("kubeconfig", f"talosctl kubeconfig --force into {path}", is_done, apply)


def wait_nodes(ctx: StepContext) -> StepSpec:
    def missing() -> list[str]:
        names = {str(n["metadata"]["name"]) for n in ctx.api().list(NODES)}
        return [f"{n.hostname} ({n.ip})" for n in ctx.cluster.nodes if n.hostname not in names]

    return StepSpec(
        "wait kubernetes nodes",
        f"{len(ctx.cluster.nodes)} Kubernetes nodes registered",
        lambda: not missing(),
        lambda: _wait(ctx, ctx.timeouts.nodes, missing, "Kubernetes nodes"),
    )


def blocked_storage(ctx: StepContext) -> list[inventory.Node]:
    """Storage nodes whose user volume waits on a disk of the "wrong format" (old signature).

    The after-the-fact view of the preflight check, for targets that do not
    serve DiscoveredVolumes: Talos reports ``no disks matched for volume ...
    1 have wrong format`` on the waiting volume (volumes/locate.go).
    """
    nodes = [n for n in ctx.cluster.storage_nodes if n.storage_disk]
    if not nodes:
        return []
    volumes = ctx.talos.get("volumestatus", [str(n.ip) for n in nodes])
    blocked: list[inventory.Node] = []
    for node in nodes:
        for volume in _by_node(volumes, str(node.ip), len(nodes) == 1):
            spec = volume.get("spec") or {}
            message = str(spec.get("errorMessage") or "")
            if spec.get("phase") == "waiting" and "wrong format" in message:
                blocked.append(node)
                break
    return blocked


def storage_disks(ctx: StepContext) -> StepSpec:
    def apply() -> None:
        blocked = blocked_storage(ctx)
        if not ctx.allow_destructive:
            listed = "; ".join(f"node {_who(n)} disk {n.storage_disk}" for n in blocked)
            raise PlanError(
                f"storage volumes wait on disks with old signatures: {listed}; "
                "wipe them with --allow-destructive (all data on those disks is lost)"
            )
        ips = [str(n.ip) for n in blocked]
        disks = ctx.talos.get("disks", ips)
        for node in blocked:
            device = _device_of(node, _by_node(disks, str(node.ip), len(blocked) == 1))
            ctx.talos.wipe_disk(str(node.ip), [device])
            ctx.log(f"storage: wiped {_who(node)} disk /dev/{device}")
        _wait(
            ctx,
            ctx.timeouts.configured,
            lambda: [_who(n) for n in blocked_storage(ctx)],
            "storage volumes after the wipe",
        )

    return StepSpec(
        "storage disks",
        "no storage volume waits on a disk with an old signature",
        lambda: not blocked_storage(ctx),
        apply,
    )


# -- helm, manifests, backup -----------------------------------------------------------


def _values(release: inventory.HelmRelease) -> dict[str, Any]:
    display = str(release.values)
    try:
        loaded = yaml.safe_load(release.values.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError([Problem(display, "", f"cannot read helm values: {exc}")]) from None
    return loaded if isinstance(loaded, dict) else {}


def helm_release(ctx: StepContext, name: str, release: inventory.HelmRelease) -> StepSpec:
    version = getattr(ctx.cluster.versions, name, None)
    repo, _, chart_name = release.chart.rpartition("/")

    def is_done() -> bool:
        if version is None:
            return False
        rows = ctx.helm.list(release.namespace)
        row = next((r for r in rows if r["name"] == name), None)
        if row is None or row["status"] != "deployed":
            return False
        if row["chart"] != f"{chart_name}-{version}":
            return False
        return ctx.helm.get_values(name, release.namespace) == _values(release)

    def apply() -> None:
        if version is None:
            raise DefinitionError(
                [Problem(str(ctx.cluster.file), f"versions.{name}", "no chart version set")]
            )
        url = CHART_REPOSITORIES.get(repo)
        if url is None:
            raise DefinitionError(
                [
                    Problem(
                        str(ctx.cluster.file),
                        f"helm.{name}.chart",
                        f"unknown chart repository {repo!r} (known: "
                        f"{', '.join(sorted(CHART_REPOSITORIES))})",
                    )
                ]
            )
        ctx.helm.repo_add(repo, url)
        ctx.helm.upgrade_install(
            name,
            release.chart,
            namespace=release.namespace,
            version=str(version),
            values_files=[release.values],
        )

    return StepSpec(
        f"helm {name}", f"{release.chart} {version} in {release.namespace}", is_done, apply
    )


def manifest_documents(directory: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError) as exc:
            raise DefinitionError(
                [Problem(str(path), "", f"cannot read manifest: {exc}")]
            ) from None
        docs += [d for d in loaded if isinstance(d, dict)]
    return docs


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def _contains(have: Any, want: Any) -> bool:
    """*want* is a subset of *have*: server defaults and status are ignored."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_contains(have.get(k), v) for k, v in want.items())
    return bool(have == want)


def _identical(api: KubeOps, doc: Mapping[str, Any]) -> bool:
    # The plural is guessed from the kind; a wrong guess only means re-applying.
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    meta = doc.get("metadata") or {}
    kind = (group, version, _plural(str(doc.get("kind", ""))))
    try:
        live = api.get(kind, str(meta.get("name", "")), meta.get("namespace"))
    except errors.DriverError:
        return False
    body = {k: v for k, v in doc.items() if k not in ("metadata", "status")}
    labels = {k: meta.get(k) for k in ("labels", "annotations") if meta.get(k)}
    return _contains(live, body) and _contains(live.get("metadata") or {}, labels)


def manifests(ctx: StepContext) -> StepSpec:
    directory = ctx.cluster.manifests

    def is_done() -> bool:
        api = ctx.api()
        return all(_identical(api, doc) for doc in manifest_documents(directory))

    def apply() -> None:
        ctx.api().apply_manifest(manifest_documents(directory))

    return StepSpec("manifests", f"create or replace {directory}", is_done, apply)


def backup(ctx: StepContext) -> StepSpec:
    settings = ctx.cluster.backup
    node = ctx.cluster.node(settings.snapshot_node)

    def apply() -> None:
        recipient = settings.age_recipient
        if recipient == "auto":
            recipient = resolve_recipient(
                ctx.cluster.secrets.recipient, ctx.cluster.secrets.identity_file
            )

        def take(snapshot: Path) -> None:
            ctx.talos.etcd_snapshot(str(node.ip), snapshot)

        path = create_backup(settings.directory, recipient, take)
        ctx.log(f"backup: wrote {path}")

    return StepSpec(
        "first backup",
        f"an encrypted etcd snapshot in {settings.directory}",
        lambda: list_backups(settings.directory).newest is not None,
        apply,
    )


def steps_for(ctx: StepContext) -> list[StepSpec]:
    steps = [preflight(ctx)]
    steps += [apply_config(ctx, node) for node in ctx.cluster.nodes]
    steps += [bootstrap(ctx), wait_etcd(ctx), kubeconfig(ctx), wait_nodes(ctx)]
    steps.append(storage_disks(ctx))
    steps += [helm_release(ctx, name, r) for name, r in ctx.cluster.helm.items()]
    steps += [manifests(ctx), backup(ctx)]
    return steps
