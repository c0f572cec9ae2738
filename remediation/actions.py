"""What a remediation proposes: actions with a target, an exact change and a risk class.

Why plans and not fixes: an operator who sees drift at 02:00 must be able to
read exactly what the suite would change before anything changes (Terraform's
plan/apply).  An :class:`Action` therefore carries the concrete change -- the
object patch, the talosctl or helm command -- as data that can be printed,
attached to the report and executed later by :mod:`remediation.execute`,
which alone decides, from the :class:`Risk` and the run's allowances, whether
it may run.

Risk classes follow the issue's definitions: ``safe`` = a config re-apply
without reboot or an object patch/create/delete; ``disruptive`` = reboots,
rolling upgrades, pod restarts; ``destructive`` = wipes, resets, anything that
loses a volume's data.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class Risk(enum.Enum):
    SAFE = "safe"
    DISRUPTIVE = "disruptive"
    DESTRUCTIVE = "destructive"

    @property
    def flag(self) -> str:
        """The command-line switch that allows this class (safe needs only --remediate)."""
        return {
            Risk.SAFE: "--remediate",
            Risk.DISRUPTIVE: "--allow-disruptive",
            Risk.DESTRUCTIVE: "--allow-destructive",
        }[self]


KindPath = tuple[str, str, str]


@dataclass(frozen=True)
class PatchObject:
    kind: KindPath
    name: str
    namespace: str | None
    patch: Any
    patch_type: str = "merge"  # merge | strategic | json

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        body = json.dumps(self.patch, sort_keys=True)
        return f"patch ({self.patch_type}) {self.kind[2]} {where}{self.name}: {body}"


@dataclass(frozen=True)
class CreateObject:
    kind: KindPath
    namespace: str | None
    body: Mapping[str, Any]

    def describe(self) -> str:
        meta = self.body.get("metadata") or {}
        where = f"{self.namespace}/" if self.namespace else ""
        return f"create {self.body.get('kind', self.kind[2])} {where}{meta.get('name', '?')}"


@dataclass(frozen=True)
class DeleteObject:
    kind: KindPath
    name: str
    namespace: str | None

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"delete {self.kind[2]} {where}{self.name}"


@dataclass(frozen=True)
class ApplyConfig:
    """Send *node*'s rendered config with talosctl apply-config (*mode*: Talos's modes)."""

    node: str
    mode: str = "no-reboot"

    def describe(self) -> str:
        return f"talosctl apply-config --nodes <{self.node}> --mode {self.mode} (rendered config)"


@dataclass(frozen=True)
class HelmUpgrade:
    release: str  # the inventory's helm release key (cilium, longhorn)

    def describe(self) -> str:
        return f"helm upgrade --install {self.release} with the declared version and values"


@dataclass(frozen=True)
class UpgradeNode:
    """``talosctl upgrade --image`` to the schematic's installer (extensions, Talos version)."""

    node: str
    image: str

    def describe(self) -> str:
        return f"talosctl upgrade --nodes <{self.node}> --image {self.image}"


@dataclass(frozen=True)
class RebuildNode:
    """The etcd member procedure: remove member, reset STATE+EPHEMERAL, re-apply config."""

    node: str
    address: str  # where the node answers today

    def describe(self) -> str:
        return (
            f"etcd remove-member <{self.node}>; talosctl reset --graceful=false --reboot "
            f"--system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL at {self.address}; "
            "apply-config --insecure (rendered config); wait for the etcd member"
        )


@dataclass(frozen=True)
class TakeBackup:
    def describe(self) -> str:
        return "python -m provisioning backup (take an encrypted etcd snapshot, prune)"


@dataclass(frozen=True)
class PruneBackups:
    def describe(self) -> str:
        return "remove backups older than the retention"


@dataclass(frozen=True)
class RegenerateKubeconfig:
    def describe(self) -> str:
        return "talosctl kubeconfig --force (a fresh admin client certificate)"


Change = (
    PatchObject
    | CreateObject
    | DeleteObject
    | ApplyConfig
    | HelmUpgrade
    | UpgradeNode
    | RebuildNode
    | TakeBackup
    | PruneBackups
    | RegenerateKubeconfig
)


@dataclass(frozen=True)
class Action:
    """One change to one node or object; *node* set when the action is rolled per node."""

    control: str
    target: str
    summary: str
    change: Change
    risk: Risk
    node: str | None = None

    def describe(self) -> str:
        return f"[{self.risk.value}] {self.target}: {self.summary} -- {self.change.describe()}"


@dataclass(frozen=True)
class Plan:
    """The actions for one control's findings; *manual* explains what no action can fix."""

    control: str
    actions: tuple[Action, ...] = ()
    manual: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        lines = [f"remediation plan for {self.control}:"]
        lines += [f"  - {a.describe()}" for a in self.actions]
        lines += [f"  - [manual] {m}" for m in self.manual]
        if len(lines) == 1:
            lines.append("  (nothing to do)")
        return "\n".join(lines)

    def needs(self, allowed: Sequence[Risk]) -> list[Risk]:
        """Risk classes this plan uses that *allowed* does not cover, most severe last."""
        order = list(Risk)
        missing = {a.risk for a in self.actions if a.risk not in allowed}
        return sorted(missing, key=order.index)
