"""Reading decoded YAML the way Go's decoder fills a struct: zero values, never exceptions.

The config validator walks arbitrary operator input.  Where Talos would see a
Go zero value (an empty string, a nil slice, a false bool) because a key is
missing or, after a decode error, mistyped, these readers return that same zero
value instead of raising, so every rule can be written as if the input were
well-formed and garbage still yields problems, never a traceback.  Also here:
YAML 1.1 booleans (Go's yaml.v3 still reads them into bool fields), the
humanize-style byte sizes of VolumeConfig, and Go's ``%q`` quoting, which every
Talos message uses.  They live apart from the rules so that the v1alpha1 and
multi-document validators share one definition of "what Go would have read".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# yaml.v3 still decodes these YAML 1.1 spellings into a Go bool field.
YAML11_TRUE = ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")
YAML11_FALSE = ("n", "N", "no", "No", "NO", "off", "Off", "OFF")


def value_at(value: Any, *path: str) -> Any:
    """The value under *path*, or None as soon as a step is not a mapping."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def as_text(value: Any) -> str:
    """A scalar as Go's decoder turns it into a string field; "" for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else ""


def as_list(value: Any) -> list[Any]:
    """A sequence as a Go slice; empty (nil) for anything else."""
    return value if isinstance(value, list) else []


def as_flag(value: Any) -> bool:
    """A Go bool field: true only for YAML true, in 1.2 or 1.1 spelling."""
    return value is True or value in YAML11_TRUE


def is_set(value: Any) -> bool:
    """Not Go's zero value: absent, false, empty string and empty collections are unset."""
    return value is not None and value is not False and value not in ("", [], {})


def key_slot(key: Any) -> int:
    """An encryption key's ``slot``; 0 (Go's zero) unless it is an integer."""
    slot = value_at(key, "slot")
    return slot if isinstance(slot, int) and not isinstance(slot, bool) else 0


def has_key_type(key: Any) -> bool:
    """A key type is set when its section is a non-null value (Go: non-nil pointer)."""
    return any(value_at(key, kind) is not None for kind in ("static", "nodeID", "kms", "tpm"))


def as_enum(value: Any, names: tuple[str, ...], zero: str) -> str | None:
    """An enumer ``-text`` value: exact or lower-case name; None if it does not decode."""
    if value is None:
        return zero
    text = as_text(value)
    return text if text in names else text.lower() if text.lower() in names else None


_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "ki": 2**10,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mi": 2**20,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gi": 2**30,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "ti": 2**40,
    "tib": 2**40,
}


def byte_size(value: Any) -> float:
    """A humanize-style byte size; 0 when absent, relative or unreadable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", as_text(value))
    if not match or match[2].lower() not in _UNITS or match[1].count(".") > 1:
        return 0.0
    return float(match[1] or 0) * _UNITS[match[2].lower()]


def size_is_zero(value: Any) -> bool:
    """A partition size meaning "the rest of the disk": absent or spelled as zero."""
    return value is None or (byte_size(value) == 0 and not re.search(r"[1-9]", as_text(value)))


def yaml_tag(value: Any) -> str:
    """The YAML tag Go's decoder names in "cannot unmarshal !!<tag>" errors."""
    for kind, tag in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "seq")):
        if isinstance(value, kind):
            return tag
    return "map" if isinstance(value, Mapping) else "null" if value is None else "str"


def goq(text: str) -> str:
    """Go's %q for the strings we quote (printable text, escaped quotes)."""
    return json.dumps(text, ensure_ascii=False)
