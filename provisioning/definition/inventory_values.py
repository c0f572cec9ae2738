"""Turning one untyped YAML value from ``cluster.yaml`` into a typed one, or saying why not.

Each converter takes whatever the YAML parser produced and returns the typed
value (an IPv4 address, a bounded integer, a cron schedule, an age recipient)
or raises :class:`Bad` with the sentence the operator reads.  They know nothing
of where the value sits in the file: :class:`~provisioning.definition.inventory_reader.Reader`
adds the file, field and line.  Kept apart from the reader and the cross-field
rules so each converter can be tested (and reused for a new field) alone.  A
converter of a secrets-related value (the age recipient) never echoes it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping

import pyrage
from pyrage import x25519

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_LABEL_RULE = (
    "a DNS label (RFC 1123: lowercase letters, digits and '-', at most 63 characters, "
    "starting and ending with a letter or digit)"
)
_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"))


class Bad(ValueError):
    """A value of the wrong shape; the message is what the operator reads."""


def kind_of(value: object) -> str:
    """How a YAML value reads to an operator: 'a list', 'a string', ..."""
    if value is None:
        return "empty"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return next((name for t, name in _KINDS if isinstance(value, t)), type(value).__name__)


def shown(value: object) -> str:
    """A value quoted for a message, cut short so a pasted blob cannot flood it."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text(found: object) -> str:
    if not isinstance(found, str):
        raise Bad(f"must be a string, not {kind_of(found)}")
    if not found.strip():
        raise Bad("must not be empty")
    return found


def matching(pattern: re.Pattern[str], expect: str) -> Callable[[object], str]:
    def convert(found: object) -> str:
        if not pattern.fullmatch(value := text(found)):
            raise Bad(f"{shown(value)} is not {expect}")
        return value

    return convert


def integer(low: int, high: int | None = None) -> Callable[[object], int]:
    def convert(found: object) -> int:
        if isinstance(found, bool) or not isinstance(found, int):
            raise Bad(f"must be an integer, not {kind_of(found)}")
        if found < low or (high is not None and found > high):
            allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise Bad(f"must be {allowed}, not {found}")
        return found

    return convert


def ipv4(found: object) -> ipaddress.IPv4Address:
    value = text(found)
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise Bad(f"{shown(value)} is not an IPv4 address") from None


def subnet(found: object) -> ipaddress.IPv4Network:
    value = text(found)
    try:
        loose = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise Bad(f"{shown(value)} is not an IPv4 network such as 10.10.20.0/24") from None
    if "/" not in value:
        raise Bad(f"{shown(value)} has no prefix length, e.g. 10.10.20.0/24")
    try:
        return ipaddress.IPv4Network(value)
    except ValueError:
        raise Bad(f"{shown(value)} has host bits set; the network is {loose}") from None


def recipient(found: object) -> str:
    """``auto`` or an age X25519 recipient, normalised; the value is never echoed."""
    value = text(found).strip()
    if value == "auto":
        return value
    if value.upper().startswith("AGE-SECRET-KEY-"):
        raise Bad(
            "holds an age identity (a private key), not a recipient: remove it from this "
            "file and from git history, and put its public recipient (age1...) here"
        )
    try:
        return str(x25519.Recipient.from_str(value))
    except pyrage.RecipientError:
        raise Bad("must be `auto` or an age X25519 recipient (age1 and 58 characters)") from None


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def _cron_value(word: str, low: int, names: tuple[str, ...]) -> int | None:
    if word.isascii() and word.isdigit():
        return int(word)
    return names.index(word.lower()) + low if word.lower() in names else None


def _cron_field(field: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for part in field.split(","):
        span, slash, step = part.partition("/")
        if slash and not (step.isascii() and step.isdigit() and int(step) > 0):
            return f"{part!r} has a bad step"
        if span in ("*", "?"):
            continue
        words = span.split("-")
        values = [_cron_value(w, low, names) for w in words]
        if len(words) > 2 or any(v is None or not low <= v <= high for v in values):
            return f"{part!r} is not a value or range in {low}-{high}"
        if values != sorted(v for v in values if v is not None):
            return f"{part!r} is a backwards range"
    return None


def cron(found: object) -> str:
    """A standard 5-field cron schedule, as Kubernetes CronJobs parse it.

    The grammar is robfig/cron's standard parser (vendored by Kubernetes):
    numbers, ``*``, ``?``, ranges, lists, steps, month and weekday names.
    """
    schedule = text(found)
    fields = schedule.split()
    if len(fields) != 5:
        raise Bad(
            f"{shown(schedule)} has {len(fields)} fields; a cron schedule has 5 (minute hour "
            "day-of-month month day-of-week), e.g. '0 2 * * *'"
        )
    for field, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        if wrong := _cron_field(field, low, high, names):
            raise Bad(f"{shown(schedule)}: {name} field {wrong}")
    return schedule
