"""The remediation journal: a plan survives the run that wrote it, exactly.

Why exact: the next run continues the *same* plan from the journal, so every
kind of change must come back equal to what was planned; and the journal is
written before each action, so a run killed at action *i* leaves *i* as the
one in progress.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from provisioning.drivers import errors
from remediation import journal
from remediation.actions import (
    Action,
    ApplyConfig,
    CreateObject,
    DeleteObject,
    HelmUpgrade,
    PatchObject,
    Plan,
    PruneBackups,
    RebuildNode,
    RegenerateKubeconfig,
    Risk,
    TakeBackup,
    UpgradeNode,
)
from remediation.execute import allowed_risks, execute

CM = ("", "v1", "configmaps")

EVERY_CHANGE = [
    PatchObject(("apps", "v1", "daemonsets"), "x", "kube-system", {"spec": {"a": [1]}}, "json"),
    CreateObject(CM, "ns", MappingProxyType({"kind": "ConfigMap", "metadata": {"name": "a"}})),
    DeleteObject(("", "v1", "pods"), "p", None),
    ApplyConfig("node01", "reboot"),
    HelmUpgrade("cilium"),
    UpgradeNode("node02", "factory.talos.dev/installer/abc:v1.12.5"),
    RebuildNode("node03", "10.10.20.18"),
    TakeBackup(),
    PruneBackups(),
    RegenerateKubeconfig(),
]


def test_the_change_union_is_covered() -> None:
    assert {type(c).__name__ for c in EVERY_CHANGE} == set(journal._CHANGES)


@pytest.mark.parametrize("change", EVERY_CHANGE, ids=lambda c: type(c).__name__)
def test_every_change_round_trips(change: Any) -> None:
    action = Action("ENC-01", "node03 (k8s-node03)", "rebuild", change, Risk.DESTRUCTIVE, "node03")
    entry = journal.Entry("me@host:1:ab", "ENC-01", [action], "f00d", current=0, step=2)
    back = journal.Entry.from_json(entry.to_json())
    assert back.actions[0].describe() == action.describe()
    assert back.actions[0].change == journal.decode_action(journal.encode_action(action)).change
    assert (back.holder, back.current, back.step, back.definition) == ("me@host:1:ab", 0, 2, "f00d")


def _rebuild(node: str) -> Action:
    change = RebuildNode(node, "10.10.20.1")
    return Action("ENC-01", node, "rebuild", change, Risk.DESTRUCTIVE, node=node)


def test_remaining_and_description_say_where_it_stopped() -> None:
    actions = [_rebuild("node01"), _rebuild("node02"), _rebuild("node03")]
    entry = journal.Entry("run-a", "ENC-01", actions, "f", current=1, step=1)
    assert entry.remaining == actions[1:]
    assert "action 2 of 3, step 2 was interrupted (run-a)" in entry.describe()
    entry.finished = True
    assert entry.remaining == actions[2:]
    assert entry.plan() == Plan("ENC-01", tuple(actions[2:]))
    assert "stopped between actions by run-a: 1 of 3 action(s) left" in entry.describe()


def test_garbage_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(journal.JournalUnreadable, match="does not hold a journal this suite"):
        journal.Entry.from_json('{"holder": 1}')


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0

    def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        if name not in self.objects:
            raise errors.NotFound("gone", code=404, reason="NotFound", request="get")
        return self.objects[name]

    def create(
        self, kind: Any, body: Any, namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if name in self.objects:
            raise errors.AlreadyExists("exists", code=409, reason="AlreadyExists", request="c")
        self.version += 1
        self.objects[name] = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
        return self.objects[name]

    def replace(
        self, kind: Any, name: str, body: Any, namespace: str | None = None
    ) -> dict[str, Any]:
        self.objects[name] = dict(body)
        return self.objects[name]

    def delete(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        if name not in self.objects:
            raise errors.NotFound("gone", code=404, reason="NotFound", request="delete")
        return self.objects.pop(name)


@pytest.mark.parametrize("killed_at", [0, 1, 2])
def test_execute_journals_each_action_before_it_runs(killed_at: int) -> None:
    """A run dying inside action *killed_at* leaves exactly that action in progress."""
    kube = FakeKube()
    actions = (_rebuild("node01"), _rebuild("node02"), _rebuild("node03"))
    entry = journal.Entry("run-a", "ENC-01", list(actions), "f")

    class Dies(BaseException):
        pass

    class Ops:
        def run(self, action: Action) -> None:
            if action is actions[killed_at]:
                raise Dies  # like SIGKILL: nothing after this line of the run happens

        def wait_healthy(self, node: str) -> None:
            pass

    def before(index: int) -> None:
        entry.current = index
        journal.write(kube, entry)

    with pytest.raises(Dies):
        execute(
            Plan("ENC-01", actions),
            Ops(),
            allowed_risks(disruptive=True, destructive=True),
            lambda _line: None,
            journal=before,
        )
    found = journal.read(kube)
    assert found is not None
    assert found.current == killed_at
    assert found.remaining == list(actions[killed_at:])


def test_clear_leaves_another_runs_journal_alone() -> None:
    kube = FakeKube()
    journal.write(kube, journal.Entry("run-b", "ENC-01", [_rebuild("node01")], "f"))
    journal.clear(kube, "run-a")
    assert journal.read(kube) is not None
    journal.clear(kube, "run-b")
    assert journal.read(kube) is None
