"""Reading JSON-shaped pods the way Go decodes them, and phrasing like upstream.

What belongs here: the small readers and phrase builders every Pod Security
Standards check shares (:mod:`.psa_checks`, :mod:`.psa_restricted`), so the
checks read like upstream's ``policy/check_*.go`` and agree on two things:

* shape tolerance -- pods arrive as plain mappings the API layer may not have
  type-checked; a field of the wrong type counts as unset (as a nil pointer
  would), strings are stringified rather than ignored so a mistyped value
  cannot slip past a check, and nothing here raises;
* wording -- ``pluralize``, ``joinQuote`` and container phrases exactly as
  upstream's ``policy/helpers.go`` prints them.

Containers are visited as upstream's ``visitContainers`` does: init
containers, then containers, then ephemeral containers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

Violation = tuple[str, str] | None
"""``(forbidden_reason, forbidden_detail)`` when the check fails, else ``None``."""

CheckFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Violation]
"""A check revision: ``(pod metadata, pod spec) -> violation``."""

_EMPTY: Mapping[str, Any] = {}


def mapping(value: object) -> Mapping[str, Any]:
    """*value* if it is a mapping; absent, null or mistyped count as empty."""
    return value if isinstance(value, Mapping) else _EMPTY


def items(value: object) -> list[Mapping[str, Any]]:
    """The mapping entries of a list field (non-mapping entries are skipped)."""
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def text(value: object) -> str:
    """A string field as Go sees it: unset is ``""``; a mistyped value is stringified."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def is_true(value: object) -> bool:
    """A ``*bool`` that is set and true (only JSON ``true``)."""
    return value is True


def is_int(value: object) -> bool:
    """A JSON integer (``bool`` is an ``int`` in Python, not in JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init containers, containers, ephemeral containers, in upstream's order."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from items(spec.get(key))


def security_context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    """A container's (or pod's) ``securityContext``, empty when unset."""
    return mapping(container.get("securityContext"))


def name_of(container: Mapping[str, Any]) -> str:
    """A container's or volume's name as printed in messages."""
    return text(container.get("name"))


def pluralize(singular: str, plural: str, count: int) -> str:
    """Upstream's ``pluralize``: singular only for exactly one."""
    return singular if count == 1 else plural


def join_quote(values: list[str]) -> str:
    """Upstream's ``joinQuote``: ``"a", "b"`` (no escaping, as upstream)."""
    if not values:
        return ""
    return '"' + '", "'.join(values) + '"'


def containers_phrase(names: list[str]) -> str:
    """``container "a"`` or ``containers "a", "b"``."""
    return f"{pluralize('container', 'containers', len(names))} {join_quote(names)}"


def is_windows(spec: Mapping[str, Any]) -> bool:
    """``spec.os.name == windows``: restricted checks exempt such pods from 1.25."""
    return mapping(spec.get("os")).get("name") == "windows"


def in_user_namespace(spec: Mapping[str, Any]) -> bool:
    """``hostUsers: false`` -- 1.35 relaxes some checks for such pods."""
    return spec.get("hostUsers") is False
