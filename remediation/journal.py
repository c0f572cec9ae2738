"""The plan being applied, journaled in the cluster before each step: a killed run continues.

Why a journal: a run killed half-way through a destructive action (SIGKILL,
power loss, an OOM kill) leaves the cluster in a state no check recognises
as a fault of its own -- a node reset into maintenance mode, out of etcd --
and the next run, observing that, would plan nothing for it.  So the run
writes, before every action and every step of a multi-step action, which
plan it applies and how far it got.  The next ``--remediate`` reads it,
reports the interrupted action, and continues the *same* plan from there
(the steps probe what is already true, so repeating the interrupted one is
safe); if the definition changed since, it drops the plan and says so.

It lives in the cluster, beside the run's Lease (ConfigMap
``kube-system/talos-conformance-remediation-journal``): like the Lease,
the cluster is the only place every run (nightly timer, an operator's
laptop) can see.  It is written only by the Lease holder and deleted when
the plan ends -- applied, or failed with the run alive to report it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.definition import inventory
from provisioning.drivers import errors
from remediation import actions as changes
from remediation import lease
from remediation.actions import Action, Plan, Risk

CONFIGMAPS: tuple[str, str, str] = ("", "v1", "configmaps")
NAMESPACE = "kube-system"
NAME = "talos-conformance-remediation-journal"
KEY = "journal.json"

_CHANGES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        changes.PatchObject,
        changes.CreateObject,
        changes.DeleteObject,
        changes.ApplyConfig,
        changes.HelmUpgrade,
        changes.UpgradeNode,
        changes.RebuildNode,
        changes.TakeBackup,
        changes.PruneBackups,
        changes.RegenerateKubeconfig,
    )
}


# The journal is one ConfigMap read and written with the Lease's four object calls.
JournalOps = lease.LeaseOps


class JournalUnreadable(Exception):
    """The journal exists but cannot be understood; the message says why."""


def encode_action(action: Action) -> dict[str, Any]:
    change = {f.name: getattr(action.change, f.name) for f in dataclasses.fields(action.change)}
    return {
        "control": action.control,
        "target": action.target,
        "summary": action.summary,
        "risk": action.risk.value,
        "node": action.node,
        "change": {"type": type(action.change).__name__, **change},
    }


def decode_action(data: Mapping[str, Any]) -> Action:
    raw = dict(data["change"])
    cls = _CHANGES[raw.pop("type")]
    if isinstance(raw.get("kind"), list):
        raw["kind"] = tuple(raw["kind"])
    return Action(
        str(data["control"]),
        str(data["target"]),
        str(data["summary"]),
        cls(**raw),
        Risk(data["risk"]),
        node=data.get("node"),
    )


def fingerprint(cluster: inventory.Cluster) -> str:
    """What the journaled plan was made from: the definition's index file, hashed.

    A plan made from another definition (a node renamed, an address moved)
    is not continued: its actions may name what no longer exists.
    """
    try:
        return hashlib.sha256(cluster.file.read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


@dataclass
class Entry:
    """One journaled plan: its actions, the one in progress, and its step."""

    holder: str
    control: str
    actions: list[Action]
    definition: str
    current: int = 0  # the action started last (or about to start)
    step: int | None = None  # its step in progress, for multi-step actions
    finished: bool = False  # the action at `current` ended (the run stopped between actions)
    notes: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> list[Action]:
        return self.actions[self.current + (1 if self.finished else 0) :]

    def describe(self) -> str:
        total = len(self.actions)
        if self.finished or not self.actions:
            return (
                f"{self.control}: stopped between actions by {self.holder}: "
                f"{len(self.remaining)} of {total} action(s) left"
            )
        action = self.actions[self.current]
        step = f", step {self.step + 1}" if self.step is not None else ""
        return (
            f"{self.control}: action {self.current + 1} of {total}{step} was interrupted "
            f"({self.holder}): {action.describe()}"
        )

    def plan(self) -> Plan:
        return Plan(self.control, tuple(self.remaining))

    def to_json(self) -> str:
        return json.dumps(
            {
                "holder": self.holder,
                "control": self.control,
                "definition": self.definition,
                "current": self.current,
                "step": self.step,
                "finished": self.finished,
                "actions": [encode_action(a) for a in self.actions],
            },
            sort_keys=True,
            default=_plain,
        )

    @classmethod
    def from_json(cls, text: str) -> Entry:
        try:
            data = json.loads(text)
            return cls(
                holder=str(data["holder"]),
                control=str(data["control"]),
                actions=[decode_action(a) for a in data["actions"]],
                definition=str(data["definition"]),
                current=int(data["current"]),
                step=None if data.get("step") is None else int(data["step"]),
                finished=bool(data.get("finished")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalUnreadable(
                f"ConfigMap {NAMESPACE}/{NAME} does not hold a journal this suite wrote "
                f"({type(exc).__name__}: {exc}); delete it after checking the cluster by hand"
            ) from None


def _plain(value: object) -> object:
    """JSON for the read-only containers changes hold (MappingProxyType, tuples)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, frozenset, set)):
        return list(value)
    raise TypeError(f"cannot journal a {type(value).__name__}")


def read(kube: JournalOps) -> Entry | None:
    """The journal in the cluster, or None when no plan was left unfinished."""
    try:
        found = kube.get(CONFIGMAPS, NAME, NAMESPACE)
    except errors.NotFound:
        return None
    text = (found.get("data") or {}).get(KEY)
    if not isinstance(text, str):
        raise JournalUnreadable(f"ConfigMap {NAMESPACE}/{NAME} has no {KEY}")
    return Entry.from_json(text)


def write(kube: JournalOps, entry: Entry) -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "talos-conformance"},
        },
        "data": {KEY: entry.to_json()},
    }
    try:
        kube.create(CONFIGMAPS, body, NAMESPACE)
        return
    except errors.AlreadyExists:
        pass
    current = kube.get(CONFIGMAPS, NAME, NAMESPACE)
    body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
    kube.replace(CONFIGMAPS, NAME, body, NAMESPACE)


def clear(kube: JournalOps, holder: str | None = None) -> None:
    """Delete the journal (only *holder*'s, when given: never another run's)."""
    if holder is not None:
        try:
            found = read(kube)
        except JournalUnreadable:
            return
        if found is None or found.holder != holder:
            return
    with contextlib.suppress(errors.NotFound):
        kube.delete(CONFIGMAPS, NAME, NAMESPACE)
