"""``python -m provisioning diff``: what each node runs against what the definition renders.

Operators of Talos clusters ask "what would apply-config change on this
node?" before they touch it.  For each node this reads the running config
(``talosctl get machineconfig``, the active ``v1alpha1`` resource), renders
the node's config from the definition with the cluster's machine secrets,
and prints the difference in meaning (:mod:`provisioning.configdiff`: per
document and path, secrets as ``<redacted>``), then asks Talos itself what
applying the rendered config would do: ``talosctl apply-config --mode auto
--dry-run``, whose summary's first line is Talos's own verdict --
``Applied configuration without a reboot`` / ``with a reboot`` / ``Staged
configuration ...`` followed by ``(skipped in dry-run)``
(``ApplyConfiguration`` in siderolabs/talos v1.12.5
``internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go``).
Only that line is kept: the summary's unified ``Config diff`` is Talos's
text diff, which would print secrets.

Exit status: 0 when no node differs, 1 when one does (or could not be
read: not knowing is never "no difference"), 2 for usage mistakes.

The secrets are loaded, never created: a diff against freshly generated
secrets would report every key as changed and leave a new store behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from provisioning import configdiff
from provisioning.config import render, secrets
from provisioning.definition import inventory, yamlfiles
from provisioning.definition.problems import DefinitionError, printable
from provisioning.drivers import Target, errors

ACTIVE_ID = "v1alpha1"
PERSISTENT_ID = "persistent"
# ApplyConfiguration's mode details (v1.12.5) -> the verdict in operator words.
APPLY_VERDICTS = (
    ("Applied configuration without a reboot", "no reboot"),
    ("Applied configuration with a reboot", "reboot"),
    ("Staged configuration to be applied after the next reboot", "staged"),
)
DRY_RUN_HEAD = "Dry run summary:"


class DiffOps(Protocol):
    """The talosctl calls the diff needs (:class:`~provisioning.drivers.talosctl.TalosDriver`)."""

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


class UsageError(Exception):
    """A command-line mistake (exit 2); the message names the option."""


@dataclass(frozen=True)
class NodeDiff:
    """One node's difference; *error* when its running config could not be read."""

    node: str
    address: str
    changes: tuple[configdiff.Change, ...] = ()
    apply: str | None = None  # "no reboot" | "reboot" | "staged"; None: nothing to apply
    apply_details: str = ""
    error: str | None = None
    # A config applied with --mode staged waits for the next reboot (persistent != active).
    staged_pending: bool = False

    @property
    def differs(self) -> bool:
        return bool(self.changes) or self.error is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "address": self.address,
            "differs": self.differs,
            "changes": [c.as_dict() for c in self.changes],
            "apply": self.apply,
            "applyDetails": self.apply_details,
            "stagedPending": self.staged_pending,
            "error": self.error,
        }


@dataclass
class DiffReport:
    nodes: list[NodeDiff] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return any(n.differs for n in self.nodes)


def verdict(output: str) -> tuple[str | None, str]:
    """(verdict, Talos's mode line) from ``apply-config --dry-run`` output.

    The line after ``Dry run summary:`` is ``<mode details> (skipped in
    dry-run).``; anything else (an older talosctl, a node in maintenance)
    gives no verdict, and the first line is kept as the reason.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line == DRY_RUN_HEAD and index + 1 < len(lines):
            details = lines[index + 1]
            for text, word in APPLY_VERDICTS:
                if details.startswith(text):
                    return word, details
            return None, details
    return None, lines[0] if lines else "talosctl printed nothing"


def running_documents(
    resources: Sequence[Mapping[str, Any]], node: str, resource_id: str = ACTIVE_ID
) -> list[dict[str, Any]]:
    """One machine config's documents out of ``get machineconfig -o json``.

    *resource_id*: ``v1alpha1`` (active) or ``persistent`` (stored: differs
    after a ``staged`` or ``try`` apply).

    :raises ValueError: no such config, or its text is not YAML documents
        (the message never quotes the text: it holds secrets).
    """
    found = [r for r in resources if str((r.get("metadata") or {}).get("id") or "") == resource_id]
    if not found and resource_id == ACTIVE_ID:
        found = [r for r in resources if not (r.get("metadata") or {}).get("id")]
    if not found:
        raise ValueError(f"{node} has no MachineConfig {resource_id} (not configured yet?)")
    spec = found[0].get("spec")
    if isinstance(spec, list):
        return [dict(d) for d in spec if isinstance(d, Mapping)]
    if not isinstance(spec, str):
        raise ValueError(f"{node}: MachineConfig spec is {type(spec).__name__}, not YAML text")
    try:
        parsed = yamlfiles.parse_documents(spec, f"{node} MachineConfig {resource_id}")
    except DefinitionError:
        raise ValueError(f"{node}: the running MachineConfig is not YAML documents") from None
    return [dict(d.value) for d in parsed if isinstance(d.value, Mapping)]


def staged_pending(resources: Sequence[Mapping[str, Any]], node: str) -> bool:
    """Whether a stored config differs in meaning from the active one (applied ``staged``)."""
    try:
        stored = running_documents(resources, node, PERSISTENT_ID)
        active = running_documents(resources, node)
    except ValueError:
        return False
    return bool(configdiff.diff_documents(stored, active))


def _dry_run(talos: DiffOps, address: str, text: str) -> str:
    """``apply-config --mode auto --dry-run`` with *text* in a private temporary file."""
    descriptor, name = tempfile.mkstemp(prefix="rendered-", suffix=".yaml")
    path = Path(name)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return talos.apply_config(address, path, mode="auto", dry_run=True)
    finally:
        path.unlink(missing_ok=True)


def diff_node(talos: DiffOps, node: inventory.Node, rendered: render.RenderedNode) -> NodeDiff:
    address = str(node.ip)
    text = rendered.to_yaml()
    expected = [
        dict(d.value)
        for d in yamlfiles.parse_documents(text, f"{node.name} (rendered config)")
        if isinstance(d.value, Mapping)
    ]
    try:
        resources = talos.get("machineconfig", [address])
        observed = running_documents(resources, node.name)
    except errors.ToolMissing:
        raise
    except errors.DriverError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return NodeDiff(node.name, address, error=f"running config not read: {reason}")
    except ValueError as exc:
        return NodeDiff(node.name, address, error=str(exc))
    changes = tuple(configdiff.diff_documents(expected, observed))
    staged = staged_pending(resources, node.name)
    if not changes:
        return NodeDiff(node.name, address, staged_pending=staged)
    try:
        word, details = verdict(_dry_run(talos, address, text))
    except errors.ToolMissing:
        raise
    except errors.DriverError as exc:
        word, details = None, f"apply-config --dry-run failed: {str(exc).splitlines()[0]}"
    return NodeDiff(node.name, address, changes, word, details, staged_pending=staged)


def diff_cluster(
    cluster: inventory.Cluster,
    talos: DiffOps,
    machine_secrets: secrets.MachineSecrets,
    nodes: Sequence[inventory.Node] | None = None,
) -> DiffReport:
    chosen = list(nodes) if nodes is not None else list(cluster.nodes)
    rendered = render.render_cluster(cluster, machine_secrets, chosen)
    return DiffReport([diff_node(talos, node, rendered[node.name]) for node in chosen])


def format_text(report: DiffReport) -> str:
    lines: list[str] = []
    for node in report.nodes:
        if node.staged_pending:
            lines.append(
                f"{node.node} ({node.address}): a staged config (MachineConfig persistent) "
                "waits for the next reboot; the comparison below is with the active one"
            )
        if node.error is not None:
            lines.append(f"{node.node} ({node.address}): not compared: {node.error}")
            continue
        if not node.changes:
            lines.append(f"{node.node} ({node.address}): runs the rendered config")
            continue
        apply = node.apply or "unknown"
        lines.append(
            f"{node.node} ({node.address}): {len(node.changes)} difference(s); "
            f"applying the rendered config: {apply} ({node.apply_details})"
        )
        lines += [f"  {c.describe()}" for c in node.changes]
    unread = sum(1 for n in report.nodes if n.error)
    differing = sum(1 for n in report.nodes if n.differs and not n.error)
    summary = f"{differing} of {len(report.nodes)} node(s) differ from the rendered config"
    lines.append(summary + (f"; {unread} not compared" if unread else ""))
    return "\n".join(printable(line) for line in lines)


# -- command line ----------------------------------------------------------------------


def target_of(args: argparse.Namespace) -> Target:
    """The cluster to read: ``--live`` files, else the simulator's state directory."""
    if args.live:
        if args.sim_state is not None:
            raise UsageError("--live and --sim-state name two different targets; give one")
        if not args.talosconfig:
            raise UsageError("--live needs --talosconfig")
        files: dict[str, Path | None] = {"--kubeconfig": None, "--talosconfig": None}
        for option, value in (
            ("--kubeconfig", args.kubeconfig),
            ("--talosconfig", args.talosconfig),
        ):
            if not value:
                continue
            path = Path(value).expanduser()
            if not path.is_file():
                raise UsageError(f"{option} {value}: no such file")
            try:
                loaded = yamlfiles.load_one(path, f"{option} {value}")
            except DefinitionError as exc:
                raise UsageError(str(exc)) from None
            if not isinstance(loaded, dict):
                raise UsageError(f"{option} {value}: must be a YAML mapping")
            files[option] = path.absolute()
        return Target("live", files["--kubeconfig"], files["--talosconfig"], None)
    if args.kubeconfig or args.talosconfig:
        raise UsageError("--kubeconfig and --talosconfig are for --live")
    state = Path(args.sim_state or ".sim").absolute()
    talosconfig = state / "talosconfig"
    if not talosconfig.is_file():
        raise UsageError(
            f"--sim-state {args.sim_state or '.sim'}: no talosconfig in it; serve and provision "
            "the embedded cluster there first (README: The embedded cluster by hand)"
        )
    return Target(f"simulated:{state}", state / "kubeconfig", talosconfig, state / "bin")


def _chosen(cluster: inventory.Cluster, names: Sequence[str] | None) -> list[inventory.Node]:
    if not names:
        return list(cluster.nodes)
    known = {n.name: n for n in cluster.nodes}
    unknown = [n for n in names if n not in known]
    if unknown:
        have = ", ".join(known)
        raise UsageError(f"--node {', '.join(unknown)}: not a node of {cluster.file} (have {have})")
    return [known[n] for n in dict.fromkeys(names)]


def cmd_diff(args: argparse.Namespace) -> int:
    from provisioning.drivers.talosctl import TalosDriver  # the command line's concrete driver

    try:
        target = target_of(args)
        cluster = inventory.load_cluster(Path(args.cluster), display=args.cluster)
        nodes = _chosen(cluster, args.node)
    except UsageError as exc:
        print(f"python -m provisioning diff: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    store = secrets.SecretStore(
        cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
    )
    machine_secrets = store.load()  # DefinitionError (exit 1) when missing: never created here
    try:
        report = diff_cluster(cluster, TalosDriver(target), machine_secrets, nodes)
    except errors.ToolMissing as exc:
        print(printable(f"diff: {exc}"), file=sys.stderr)  # noqa: T201
        return 1
    if args.json:
        print(json.dumps({"nodes": [n.as_dict() for n in report.nodes]}, indent=2, default=str))  # noqa: T201
    else:
        print(format_text(report))  # noqa: T201
    return 1 if report.differs else 0


def add_diff_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "diff",
        help="compare each node's running config with the one the definition renders",
        description=(
            "For each node: the difference in meaning between its rendered config and its "
            "running config (talosctl get machineconfig), per document and path, secrets "
            "redacted, and what applying the rendered config would do (talosctl apply-config "
            "--dry-run). Exit 0 when no node differs, 1 otherwise."
        ),
    )
    parser.add_argument("--cluster", default="cluster", help="definition directory")
    parser.add_argument(
        "--node", action="append", help="inventory node name (repeat for several; default all)"
    )
    parser.add_argument("--live", action="store_true", help="read a real cluster")
    parser.add_argument("--kubeconfig", help="kubeconfig of the live cluster (with --live)")
    parser.add_argument("--talosconfig", help="talosconfig of the live cluster (with --live)")
    parser.add_argument(
        "--sim-state", default=None, help="state directory of the embedded cluster (default .sim)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=cmd_diff)
