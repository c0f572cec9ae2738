"""Command line: ``python -m provisioning validate|render|diff|backup|nightly|readdress``.

Every failure an operator can cause -- a bad definition, an unreadable file,
a missing identity -- is printed as one line per problem (file, field, line,
message) on stderr with exit status 1; argument mistakes exit 2 with usage,
as argparse does.  Tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from provisioning.config import render, secrets
from provisioning.definition import inventory, waivers
from provisioning.definition.problems import DefinitionError, Problem, printable
from provisioning.operations import backup, diff, nightly, readdress


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(str(problem), file=sys.stderr)


def _load(directory: str) -> inventory.Cluster:
    cluster = inventory.load_cluster(Path(directory), display=directory)
    _print_problems(cluster.warnings)
    return cluster


def _secrets_of(cluster: inventory.Cluster) -> secrets.MachineSecrets:
    store = secrets.SecretStore(
        cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
    )
    return store.load_or_create()


def cmd_validate(args: argparse.Namespace) -> int:
    cluster = _load(args.cluster)
    rendered = render.render_cluster(cluster)
    _print_problems(render.warnings_of(rendered))
    roles = {
        "control plane": len(cluster.control_plane_nodes),
        "storage": len(cluster.storage_nodes),
    }
    counts = ", ".join(f"{n} {role}" for role, n in roles.items())
    print(f"{cluster.name}: definition is valid: {len(cluster.nodes)} nodes ({counts})")
    _validate_waivers(cluster, args)
    return 0


def _validate_waivers(cluster: inventory.Cluster, args: argparse.Namespace) -> None:
    """Load the waivers file (errors raise) and print its warnings and a count."""
    if args.waivers:
        path, display = Path(args.waivers), args.waivers
    else:
        path = cluster.root / waivers.FILE_NAME
        display = f"{args.cluster.rstrip('/')}/{waivers.FILE_NAME}"
        if not path.is_file():
            return
    loaded = waivers.load_waivers(path, display)
    nodes = [n for node in cluster.nodes for n in (node.name, node.hostname)]
    features = Path(__file__).resolve().parents[1] / "features"
    _print_problems(
        waivers.lint(loaded, waivers.known_controls(features), nodes, datetime.now(UTC).date())
    )
    print(f"{display}: {len(loaded)} waiver(s)")


def _output_file(out: Path, name: str) -> Path:
    """``<out>/<name>.yaml``, refused unless it is a plain file name directly in *out*.

    Node names are validated as DNS labels when the definition loads; this is
    the last guard, at the one place that writes, that ``render`` never
    writes outside ``--out``.
    """
    target = out / f"{name}.yaml"
    if os.sep in name or name in ("", ".", "..") or target.parent != out:
        problem = Problem("--out", "", f"node name {name!r} is not a file name; nothing written")
        raise DefinitionError([problem])
    return target


def cmd_render(args: argparse.Namespace) -> int:
    cluster = _load(args.cluster)
    machine_secrets = _secrets_of(cluster) if args.with_secrets else None
    rendered = render.render_cluster(cluster, machine_secrets)
    _print_problems(render.warnings_of(rendered))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, result in rendered.items():
        target = _output_file(out, name)
        text = result.to_yaml()
        # Files holding real secrets are created private, before anything is written;
        # O_NOFOLLOW: a symlink planted at out/<node>.yaml must not redirect the write.
        mode = 0o600 if machine_secrets is not None else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
        print(f"rendered {target}")
    if machine_secrets is None:
        print(
            "secrets are shown as <redacted> (base64-encoded in certificates and keys); "
            "use --with-secrets to render applyable configs"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning",
        description="Validate and render a Talos cluster definition (base + patches).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check the definition; exit 1 on errors")
    validate.add_argument("--cluster", default="cluster", help="definition directory")
    validate.add_argument(
        "--waivers",
        default=None,
        help="waivers file to check (default: waivers.yaml in the definition directory)",
    )
    validate.set_defaults(func=cmd_validate)
    rendering = commands.add_parser("render", help="write each node's final machine config")
    rendering.add_argument("--cluster", default="cluster", help="definition directory")
    rendering.add_argument("--out", required=True, help="directory for <node>.yaml files")
    rendering.add_argument(
        "--with-secrets",
        action="store_true",
        help="merge the real machine secrets (generated and encrypted on first use)",
    )
    rendering.set_defaults(func=cmd_render)
    diff.add_diff_command(commands)
    backup.add_backup_command(commands)
    nightly.add_nightly_command(commands)
    readdress.add_readdress_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except DefinitionError as exc:
        _print_problems(exc.problems)
        print(f"{len(exc.problems)} problem(s); nothing was changed", file=sys.stderr)
        return 1
    except OSError as exc:
        where = exc.filename if exc.filename else "output"
        why = "is a symlink; refusing to write through it" if exc.errno == errno.ELOOP else None
        print(printable(f"{where}: {why or exc.strerror or exc}"), file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
