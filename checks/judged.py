"""How many items a passing check judged: nodes, namespaces, volumes, files.

Why: "no findings" says nothing about how much was looked at.  A check that
walked zero namespaces passes as quietly as one that walked thirty, so a
pass must say what it covered, and a pass over nothing where things must
exist is not a pass at all (issue #14: unverified is never a pass).

Each check declares what it judges with :func:`judges`, one counter per kind
of item, computed from the same state the check read (``nodes=declared``:
the definition's nodes, which the node checks walk one by one and make
unobservable when one is unread).  Counters are called only after the check
returned without raising :class:`~checks.findings.Unobservable`, so the data
they count was there.  ``fixtures.verify`` puts the counts in the evidence
and reports a check that judged nothing as not verified; a check without a
declaration is a bug (a test guards that every check the steps call has one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from checks import snapshot as snap
from checks.findings import Unobservable
from checks.snapshot import Snapshot

Counter = Callable[..., int]
"""``(state, **params) -> int``: how many items of one kind the check judged."""

F = TypeVar("F", bound=Callable[..., Any])

_DECLARED: dict[Callable[..., Any], Mapping[str, Counter]] = {}
_MAY_BE_EMPTY: set[Callable[..., Any]] = set()


def judges(*, may_be_empty: bool = False, **counters: Counter) -> Callable[[F], F]:
    """Declare what the decorated check judges, ``kind=counter`` (kinds are plural nouns).

    *may_be_empty* for a check whose items need not exist (Longhorn volumes on
    a cluster without claims): judging none of them is then a pass, said so.
    """
    if not counters:
        raise ValueError("a check judges at least one kind of item")

    def declare(check: F) -> F:
        _DECLARED[check] = dict(counters)
        if may_be_empty:
            _MAY_BE_EMPTY.add(check)
        return check

    return declare


def _declaring(check: Callable[..., Any]) -> Callable[..., Any]:
    """The declared check behind *check*'s ``functools.wraps`` wrappers (a waiver filter)."""
    seen = check
    while seen not in _DECLARED:
        inner = getattr(seen, "__wrapped__", None)
        if not callable(inner):
            break
        seen = inner
    return seen


def may_be_empty(check: Callable[..., Any]) -> bool:
    return _declaring(check) in _MAY_BE_EMPTY


def counts(check: Callable[..., Any], state: Any, params: Mapping[str, Any]) -> dict[str, int]:
    """What *check* judged on *state*; :class:`LookupError` when it declared nothing."""
    counters = _DECLARED.get(_declaring(check))
    if counters is None:
        name = getattr(check, "__qualname__", repr(check))
        raise LookupError(f"{name} does not declare what it judges (checks.judged.judges)")
    return {kind: int(counter(state, **params)) for kind, counter in counters.items()}


def passed(check: Callable[..., Any], state: Any, params: Mapping[str, Any]) -> str:
    """The evidence line of a check that found nothing: ``judged 6 nodes``.

    Raises :class:`~checks.findings.Unobservable` when it judged nothing at
    all (unless its items may legitimately be absent): a pass over nothing
    is not a pass.
    """
    judged = counts(check, state, params)
    if not any(judged.values()):
        kinds = " or ".join(k.replace("_", " ") for k in judged)
        if not may_be_empty(check):
            raise Unobservable(f"it judged no {kinds}: there was nothing to verify")
        return f"judged no {kinds} (none exist; the property holds for none)"
    return f"judged {describe(judged)}"


def describe(judged: Mapping[str, int]) -> str:
    """``6 nodes, 2 namespaces``."""
    return ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in judged.items())


def declared(check: Callable[..., Any]) -> bool:
    return _declaring(check) in _DECLARED


# -- counters shared by several areas -----------------------------------------------------


def one(_state: Any, **_params: Any) -> int:
    """A check of one thing (the endpoint, the kubeconfig certificate, a DaemonSet)."""
    return 1


def nodes(state: Snapshot, **_params: Any) -> int:
    """Every node of the definition."""
    return len(state.definition.nodes)


def control_planes(state: Snapshot, **_params: Any) -> int:
    return len(state.definition.control_plane_nodes)


def kube_objects(kind: snap.Kind) -> Counter:
    """Every observed object of *kind* (the check walks the whole LIST)."""

    def count(state: Snapshot, **_params: Any) -> int:
        return len(state.objects(kind))

    return count


def backup_files(state: Snapshot, **_params: Any) -> int:
    return len(state.backups.files) if state.backups is not None else 0
