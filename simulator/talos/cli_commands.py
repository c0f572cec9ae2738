"""The ``talosctl`` shim's subcommands: talosctl v1.12 flags in, talosctl's output out.

Each function is one subcommand (``cmd/talosctl/cmd/talos/<name>.go``): it
checks what talosctl checks client-side, calls the machine API through a
:class:`~simulator.talos.cli_session.Session`, and prints what talosctl
prints, on the stream talosctl uses (apply-config and health messages go to
stderr, tables and resources to stdout).  Errors are raised as
:class:`CliError` carrying talosctl's wrapping (``error applying new
configuration: ...``); :mod:`simulator.talos.cli` prints them and exits 1.

Imports are deliberately narrow: every suite call of ``talosctl`` starts a
Python process, so what only one subcommand needs (YAML for a kubeconfig
merge, config patching, the etcd snapshot reader) is imported inside that
subcommand, and ``get`` loads only the resource catalogue and the printers.

Deviations: ``--wait`` progress trackers (reboot, reset, upgrade, shutdown)
are not drawn -- the call returns once the simulated node has settled and
errors use the ``--wait=false`` wording.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.state.machines import TALOS_VERSION
from simulator.talos.cli_session import (
    CliError,
    GlobalArgs,
    Session,
    connect,
    multierror,
    split_list,
    warn,
)
from simulator.talos.errors import TalosError

if TYPE_CHECKING:
    from simulator.talos import resources

CLIENT_TAG = TALOS_VERSION
DEFAULT_INSTALLER = f"ghcr.io/siderolabs/installer:{TALOS_VERSION}"
_SHA256_SIZE = 32


def _open(api_url: str, flags: GlobalArgs, insecure: bool = False) -> Session:
    return connect(api_url, flags, insecure=insecure)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


# -- version / get ---------------------------------------------------------------


def version(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    from simulator.talos import output

    client = output.version(CLIENT_TAG, [])
    if ns.short:
        client = f"Client:\nTalos {CLIENT_TAG}\n"
    sys.stdout.write(client)
    if ns.client:
        return
    sys.stdout.write("Server:\n")
    sys.stdout.flush()
    session = _open(api_url, flags, ns.insecure)
    answers = session.each("version", {}, prefix="error getting version: ", partial_ok=True)
    for node, answer in answers:
        # output.version() repeats "Server:" per node; talosctl prints it once
        block = output.version(CLIENT_TAG, [(node, str(answer["tag"]))]).split("Server:\n", 1)[1]
        sys.stdout.write(block)


def _older_than_client(session: Session) -> None:
    """``ClientVersionCheck``: warn about nodes running an older Talos (errors ignored)."""
    warnings = []
    for node in session.nodes if not session.insecure else ():
        try:
            tag = str(session.call(node, "version", {})["tag"])
        except (TalosError, CliError, KeyError):
            continue
        if _semver(tag) < _semver(CLIENT_TAG):
            warnings.append(
                f"{node}: server version {tag.lstrip('v')} is older than client version "
                f"{CLIENT_TAG.lstrip('v')}"
            )
    if warnings:
        warn("WARNING: " + ", ".join(warnings))


def _semver(tag: str) -> tuple[int, ...]:
    core = tag.lstrip("v").split("-", 1)[0]
    try:
        return tuple(int(part) for part in core.split("."))
    except ValueError:
        return ()


def get(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    """``helpers.ForEachResource``: resolve the type on the first node, then list node by node.

    The type is resolved by listing the first node's ResourceDefinitions, so
    a first node that does not answer ends the command before anything is
    printed -- not even the table header -- whatever the other nodes hold.
    After that a node's failure is collected and the command goes on; the
    errors (without a node prefix: each is a one-to-one COSI call) end it
    with exit 1 once every node's resources are printed.
    """
    from simulator.talos import output

    fmt = ns.output
    template = None
    if fmt not in ("table", "yaml", "json"):
        if not fmt.startswith("jsonpath="):
            raise CliError(f'output format "{fmt}" is not supported')
        from simulator.talos import jsonpath

        try:
            template = jsonpath.parse(fmt.removeprefix("jsonpath="))
        except ValueError as exc:
            raise CliError(f"error parsing jsonpath: {exc}") from None
    from simulator.talos import resources

    session = _open(api_url, flags, ns.insecure)
    _older_than_client(session)
    nodes = [""] if session.insecure else session.nodes
    args = {"type": ns.type, "id": ns.id or "", "namespace": ns.namespace or ""}
    first: dict[str, Any] | TalosError
    try:
        first = session.call(session.nodes[0], "get", args)
    except TalosError as exc:
        if exc.code == "Unavailable":  # ResolveResourceKind could not list the RDs
            raise CliError(exc.rpc_text()) from None
        first = exc
    try:
        typedef = resources.resolve_type(ns.type)
    except TalosError as exc:
        raise CliError(exc.rpc_text()) from None
    writer = output.Writer(fmt, typedef, template)
    failures: list[str] = []
    for index, node in enumerate(nodes):
        try:
            answer = first if index == 0 else session.call(node, "get", args)
            if isinstance(answer, TalosError):
                raise answer
        except TalosError as exc:
            failures.append(exc.rpc_text())
            continue
        try:
            writer.write(node, [_resource(typedef, raw) for raw in answer.get("resources", [])])
        except ValueError as exc:  # a jsonpath that finds nothing: talosctl stops there
            sys.stdout.flush()
            raise CliError(f"error finding result for jsonpath: {exc}") from None
    writer.flush()
    if failures:
        sys.stdout.flush()
        raise CliError(multierror(failures))


def _resource(typedef: resources.TypeDef, raw: dict[str, Any]) -> resources.Resource:
    from simulator.talos import resources

    return resources.Resource(
        typedef=typedef,
        id=str(raw["id"]),
        version=int(raw["version"]),
        owner=str(raw.get("owner", "")),
        spec=raw.get("spec"),
        created=float(raw.get("created", 0.0)),
        updated=float(raw.get("updated", 0.0)),
        labels=dict(raw.get("labels") or {}),
    )


# -- apply-config ---------------------------------------------------------------


def apply_config(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    if not ns.file:
        raise CliError("no filename supplied for configuration")
    try:
        data = Path(ns.file).read_bytes()
    except OSError as exc:
        raise CliError(
            f'failed to read configuration from "{ns.file}": open {ns.file}: '
            f"{(exc.strerror or str(exc)).lower()}"
        ) from None
    if not data:
        raise CliError("no configuration data read")
    text = data.decode("utf-8", "replace")
    if ns.config_patch:
        text = _patched(text, ns.file, ns.config_patch)
    session = _open(api_url, flags, ns.insecure)
    args = {"config": text, "mode": ns.mode, "dry_run": ns.dry_run}
    for _, answer in session.each(
        "apply_config", args, prefix="error applying new configuration: "
    ):
        for line in answer.get("lines", []):
            _err(line)


def _patched(text: str, display: str, values: Sequence[str]) -> str:
    """The config with ``--config-patch`` values applied locally, in order (configpatcher).

    All patches are classified by one helper process and applied by another.
    """
    from provisioning.config import patches
    from provisioning.config.machineconfig import MachineConfig
    from provisioning.definition import yamlfiles
    from provisioning.definition.problems import DefinitionError

    try:
        texts: list[tuple[str, str]] = []
        for value in values:
            path = _patch_file(value)
            if path is None:
                texts.append((value, "inline patch"))
            else:
                texts.append((yamlfiles.read_text(Path(path), path), path))
        loaded = patches.parse_patches(texts)
        config = MachineConfig.parse(text, display)
        return patches.apply_patches(config, loaded, display).to_yaml()
    except DefinitionError as exc:
        raise CliError(str(exc)) from None


def _patch_file(value: str) -> str | None:
    """The file a ``--config-patch`` value names (``@file`` or a bare filename), else None."""
    if value.startswith("@"):
        return value[1:]
    if not any(c.isspace() for c in value) and not value.startswith(("[", "{")):
        return value
    return None


# -- single-call commands -----------------------------------------------------------


def bootstrap(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    session = _open(api_url, flags)
    if len(session.nodes) > 1:
        raise CliError('command "bootstrap" is not supported with multiple nodes')
    session.each("bootstrap", {}, prefix="error executing bootstrap: ")


def reboot(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    if ns.mode not in ("default", "powercycle", "force"):
        raise CliError(f'invalid reboot mode: "{ns.mode}"')
    _open(api_url, flags).each("reboot", {}, prefix="error executing reboot: ")


def shutdown(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    _open(api_url, flags).each("shutdown", {}, prefix="error executing shutdown: ")


def reset(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    if ns.wait and ns.insecure:
        raise CliError("cannot use --wait and --insecure together")
    if ns.user_disks_to_wipe:
        raise CliError("--user-disks-to-wipe is not supported by the simulator")
    args = {
        "graceful": ns.graceful,
        "reboot": ns.reboot,
        "labels": list(split_list(ns.system_labels_to_wipe)),
    }
    _open(api_url, flags, ns.insecure).each("reset", args, prefix="error executing reset: ")


def upgrade(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    from simulator.talos import output

    if ns.wait and ns.insecure:
        raise CliError("cannot use --wait and --insecure together")
    if ns.reboot_mode not in ("default", "powercycle"):
        raise CliError(f"invalid reboot mode: {ns.reboot_mode}")
    session = _open(api_url, flags, ns.insecure)
    answers = session.each(
        "upgrade", {"image": ns.image, "force": ns.force}, prefix="error performing upgrade: "
    )
    if not ns.wait:
        now = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S.%f %z %Z")
        rows = [["NODE", "ACK", "STARTED"]]
        rows += [[node, "Upgrade request received", now] for node, _ in answers]
        sys.stdout.write(output.tabwriter([[*row, ""] for row in rows]))


def wipe_disk(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    if ns.method not in ("FAST", "ZEROES"):
        raise CliError(f'invalid wipe method "{ns.method}"')
    session = _open(api_url, flags, ns.insecure)
    session.each("wipe_disk", {"devices": list(ns.devices)}, prefix="")


def read(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    session = _open(api_url, flags)
    session.single("read")
    [(_, answer)] = session.each("read", {"path": ns.path}, prefix="error reading file: ")
    sys.stdout.buffer.write(base64.b64decode(answer["data"]))


def health(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    session = _open(api_url, flags)
    session.single("health")
    [(_, report)] = session.each("health", {}, prefix="")
    discovered = list(split_list(ns.control_plane_nodes) + split_list(ns.worker_nodes))
    shown = discovered or list(report["discovered"])
    _err("discovered nodes: [" + " ".join(f'"{n}"' for n in shown) + "]")
    for name, outcome in report["checks"]:
        _err(f"waiting for {name}: ...")
        if outcome != "OK":
            raise CliError(f"healthcheck error: {outcome}")
        _err(f"waiting for {name}: OK")


# -- etcd ---------------------------------------------------------------------


def etcd_members(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    from simulator.talos import output

    session = _open(api_url, flags)
    answers = session.each("etcd_members", {}, prefix="error getting members: ", partial_ok=True)
    rows = [
        (node, int(m["id"]), m["hostname"], m["peer_urls"], m["client_urls"], bool(m["learner"]))
        for node, answer in answers
        for m in answer["members"]
    ]
    if rows:
        sys.stdout.write(output.etcd_members(rows))


def _etcd_alarms(flags: GlobalArgs, api_url: str, op: str) -> None:
    """``etcd alarm list|disarm``: a NODE MEMBER ALARM row per alarm, the header only when
    there is one; a node that failed is reported after the rows (``error from node``)."""
    from simulator.talos import output

    session = _open(api_url, flags)
    rows: list[tuple[str, int, str]] = []
    failures: list[str] = []
    for node in session.nodes:
        try:
            answer = session.call(node, op, {})
        except TalosError as exc:
            failures.append(f"error from node {node}: {exc.rpc_text()}")
            continue
        rows += [(node, int(a["member_id"]), str(a["alarm"])) for a in answer["alarms"]]
    if rows:
        sys.stdout.write(output.etcd_alarms(rows))
    if failures:
        raise CliError("\n".join(failures))


def etcd_alarm_list(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    _etcd_alarms(flags, api_url, "etcd_alarm_list")


def etcd_alarm_disarm(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    _etcd_alarms(flags, api_url, "etcd_alarm_disarm")


def etcd_leave(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    session = _open(api_url, flags)
    session.single("etcd leave")
    session.each("etcd_leave", {}, prefix="")


def etcd_remove_member(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    session = _open(api_url, flags)
    try:
        member_id = int(ns.member_id, 16)
        if member_id < 0 or member_id >= 2**64:
            raise ValueError
    except ValueError:
        raise CliError(
            f'error parsing member ID: strconv.ParseUint: parsing "{ns.member_id}": invalid syntax'
        ) from None
    session.each("etcd_remove_member", {"id": member_id}, prefix="")


def etcd_snapshot(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    from simulator.store.errors import DatastoreError
    from simulator.store.snapshots import snapshot_status

    session = _open(api_url, flags)
    session.single("etcd snapshot")
    db_path = Path(ns.path)
    part = Path(f"{ns.path}.part")
    try:
        [(_, answer)] = session.each("etcd_snapshot", {}, prefix="error reading file: ")
        data = base64.b64decode(answer["data"])
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise CliError(f"error creating temporary file: {exc.strerror or exc}") from None
        if len(data) % 512 != _SHA256_SIZE:
            raise CliError(f"sha256 checksum not found (size {len(data)})")
        part.replace(db_path)
    finally:
        part.unlink(missing_ok=True)
    sys.stdout.write(f'etcd snapshot saved to "{db_path}" ({len(data)} bytes)\n')
    sys.stdout.flush()
    try:
        status = snapshot_status(db_path)
    except DatastoreError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.write(
        f"snapshot info: hash {status.hash:08x}, revision {status.revision}, "
        f"total keys {status.total_keys}, total size {status.total_size}\n"
    )


def etcd_status(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    """One row per answering node; failed nodes become a ``WARNING:`` (etcd.go)."""
    from simulator.talos import output

    session = _open(api_url, flags)
    answers = session.each("etcd_status", {}, prefix="error getting status: ", partial_ok=True)
    if answers:
        sys.stdout.write(output.etcd_status([{"node": n, **a} for n, a in answers]))


# -- kubeconfig -------------------------------------------------------------------


def kubeconfig(ns: argparse.Namespace, flags: GlobalArgs, api_url: str) -> None:
    session = _open(api_url, flags)
    session.single("kubeconfig")
    [(_, answer)] = session.each("kubeconfig", {}, prefix="error copying: ")
    data = base64.b64decode(answer["data"])
    target = _kubeconfig_path(ns.local_path, merge=ns.merge)
    if target is None:
        sys.stdout.buffer.write(data)
        return
    exists = target.exists()
    if exists and not ns.merge and not ns.force:
        raise CliError(f'kubeconfig file already exists, use --force to overwrite: "{target}"')
    if exists and ns.merge:
        data = _merged(target, data, force=ns.force, context_name=ns.force_context_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _kubeconfig_path(local: str | None, *, merge: bool) -> Path | None:
    if local == "-" and not merge:
        return None
    if not local:
        if not merge:
            return Path.cwd() / "kubeconfig"
        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        return Path(env) if env else Path.home() / ".kube" / "config"
    path = Path(local)
    return path / "kubeconfig" if path.is_dir() else path


def _merged(target: Path, new: bytes, *, force: bool, context_name: str) -> bytes:
    """Merge the new admin kubeconfig into *target* (clusters, users, contexts by name).

    On a name clash ``--force`` overwrites; otherwise the new entry is
    renamed with a ``-1``, ``-2`` ... suffix (talosctl's non-TTY rename; its
    exact naming is an open question in the facts sheet).
    """
    import yaml

    try:
        old = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
        fresh = yaml.safe_load(new) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f'error merging kubeconfig "{target}": {exc}') from None
    if not isinstance(old, dict) or not isinstance(fresh, dict):
        raise CliError(f'error merging kubeconfig "{target}": not a kubeconfig mapping')
    current = context_name or str(fresh.get("current-context", ""))
    for section in ("clusters", "users", "contexts"):
        existing = [e for e in old.get(section) or [] if isinstance(e, dict)]
        names = {str(e.get("name")) for e in existing}
        for entry in fresh.get(section) or []:
            name = context_name if section == "contexts" and context_name else entry["name"]
            if name in names and force:
                existing = [e for e in existing if e.get("name") != name]
            elif name in names:
                suffix = 1
                while f"{name}-{suffix}" in names:
                    suffix += 1
                name = f"{name}-{suffix}"
                if section == "contexts":
                    current = name
            existing.append({**entry, "name": name})
        old[section] = existing
    old["current-context"] = current
    return yaml.safe_dump(old, sort_keys=False).encode()
