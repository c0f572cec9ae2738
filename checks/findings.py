"""What a check returns: typed findings, or the reason it could not look.

A finding names the node or object that is wrong, what the definition
expects and what was observed, and the upstream document explaining the
requirement, so a failed control reads as an instruction.  An empty list means
the property holds.  A check that cannot observe what it needs raises
:class:`Unobservable`; the suite reports that as not verified with the
reason (pytest: skipped; the run exits 6), never as passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One thing that does not conform."""

    target: str
    expected: str
    observed: str
    doc: str = ""

    def __str__(self) -> str:
        return f"{self.target}: expected {self.expected}; observed {self.observed}"


@dataclass(frozen=True)
class NodeFinding(Finding):
    """A finding about one declared node; *node* is its inventory name.

    Typed so planners act on the node named here, never on words found in
    the target or observed text.
    """

    node: str = ""


@dataclass(frozen=True)
class DetailedNodeFinding(NodeFinding):
    """A node finding with a longer, already redacted text for the report (one per node).

    The one-line ``observed`` keeps the failure message readable; *detail*
    (a whole config diff, say) becomes the node's own report attachment.
    """

    detail: str = ""


@dataclass(frozen=True)
class NodeUnread(NodeFinding):
    """The node's data for this control was not read: it is not known to be wrong.

    Listed beside real findings so a control with other problems still shows
    it, but never a planner's target for a change.
    """


class Unobservable(Exception):
    """The check could not see what it needs; the reason is shown to the operator."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def verdict(findings: list[Finding], unread: Iterable[str], *, source: str = "") -> list[Finding]:
    """*findings*, unless there are none and part of the cluster went unread: then Unobservable.

    Why one rule for every check: a finding on what was read is certain
    whatever the unread part holds, so it is reported; a pass needs all of it,
    so silence with nothing found is never a pass.  *unread* are phrases
    ("node03: connection refused"), *source* what could not be read.
    """
    missing = list(unread)
    if findings or not missing:
        return findings
    raise Unobservable(source + "; ".join(missing))


def unread_phrases(unread: Mapping[str, str]) -> list[str]:
    """``{what: why}`` as sorted ``"what: why"`` phrases for :func:`verdict`."""
    return [f"{what}: {why}" for what, why in sorted(unread.items())]
