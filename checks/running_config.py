"""HYG-07: every node runs the config the definition renders for it.

Why a control of its own: the other controls each judge one property a
feature names (the VIP, KubePrism, seccomp ...); a config hand-edited on one
node (``talosctl edit``/``patch machineconfig``), a different installer
image, a per-node patch left out or an extra kernel argument or sysctl
touches none of them and would go unnoticed.  This compares the node's
running config (the snapshot's ``MachineConfig``, secrets redacted) with
the one rendered from the definition without secrets, by meaning
(:mod:`provisioning.configdiff`: Talos's reordering, dropped comments and
omitted empty fields are no difference).

What it cannot judge: the secret fields themselves.  Both sides hold
``<redacted>`` there (the rendered side has no secrets, the snapshot keeps
none), so a rotated key is not seen here; ``python -m provisioning diff``,
which loads the secrets, reports it as changed.

Each finding carries whether applying the rendered config needs a reboot,
by Talos's ``CanApplyImmediate`` rules, so the plan can class the re-apply
as safe or disruptive without asking the node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import DetailedNodeFinding, Finding, Unobservable
from checks.snapshot import Snapshot
from provisioning import configdiff

DOC = "https://docs.siderolabs.com/talos/v1.12/configure-your-talos-cluster/system-configuration/patching"
MAX_PATHS_SHOWN = 5

RenderedDocuments = Mapping[str, Sequence[Mapping[str, Any]]]
"""Inventory node name -> its rendered config's documents (secrets as placeholders)."""


@dataclass(frozen=True)
class RunningConfigDiffers(DetailedNodeFinding):
    """The node's running config differs from its rendered one at *paths*.

    *needs_reboot*: Talos cannot apply the rendered config without a reboot
    (a changed path outside CanApplyImmediate's live subtrees).
    """

    paths: tuple[str, ...] = ()
    needs_reboot: bool = False


def _summary(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:MAX_PATHS_SHOWN])
    more = len(paths) - MAX_PATHS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _rendered(snapshot: Snapshot, rendered: RenderedDocuments, **_: object) -> int:
    return sum(1 for node in snapshot.definition.nodes if node.name in rendered)


@judged.judges(nodes=_rendered)
def runs_rendered_config(snapshot: Snapshot, rendered: RenderedDocuments) -> list[Finding]:
    """Every node runs the config rendered from the definition (by meaning, secrets aside)."""
    findings: list[Finding] = []
    unread: list[str] = []
    snapshot.resources(snapshot_module.MACHINE_CONFIG)  # unread everywhere: one reason
    for node in snapshot.definition.nodes:
        expected = rendered.get(node.name)
        if expected is None:
            unread.append(f"{node.name}: its config does not render (see HYG-01)")
            continue
        try:
            observed = snapshot.machine_config(node.name)
        except Unobservable as exc:
            unread.append(f"{node.name}: {exc.reason}")
            continue
        changes = configdiff.diff_documents(expected, observed)
        if not changes:
            continue
        paths = tuple(c.where for c in changes)
        reboot = bool(configdiff.reboot_paths(changes))
        detail = "\n".join(c.describe() for c in changes)
        findings.append(
            RunningConfigDiffers(
                f"{node.name} ({node.ip})",
                "the config rendered from the definition",
                f"{len(changes)} difference(s): {_summary(paths)}",
                DOC,
                node=node.name,
                detail=f"{node.name} ({node.ip}): running config vs rendered config\n"
                + detail
                + "\n",
                paths=paths,
                needs_reboot=reboot,
            )
        )
    if findings or not unread:
        return findings
    raise Unobservable("; ".join(unread))
