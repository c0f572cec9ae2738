"""The meaning of two machine configs compared: what a node runs against what it was rendered.

Why not a text diff: Talos keeps the config it applied in its own form --
the v1alpha1 document first, comments dropped, keys re-encoded, empty
fields omitted -- and ``talosctl get machineconfig`` shows that form
(https://github.com/siderolabs/talos/blob/v1.12.5/pkg/machinery/resources/config/machine_config.go),
so the rendered file and the running config differ in text on every
freshly provisioned node.  This module compares *meaning*:

* documents are matched by identity (the v1alpha1 document; a typed one by
  ``kind`` and ``name``), never by position;
* an absent field, ``null``, ``{}``, ``[]`` and ``""`` are the same
  (Talos's encoder omits empty values, ``omitempty``);
* scalars compare by their YAML text (``1`` and ``"1"``: a sysctl value is a
  string in Talos's schema however it was written);
* lists of mappings are matched by the key that names their items
  (``interface``, ``name`` ...), lists of scalars item by item.

Each difference is a :class:`Change` at a path (``machine.sysctls["net.ipv4.ip_forward"]``,
``machine.network.interfaces[interface=eth0].mtu``) with the rendered
(*expected*) and running (*observed*) values.  Secrets are judged on their
real values but never carried out: every value a change reports is the one
:func:`provisioning.config.secrets.redact` (the project's one redaction)
shows at the same position, so a secret change holds ``<redacted>`` on both
sides.

A rendered config without the machine secrets holds ``<redacted>``
placeholders where the secrets (and the CA certificates) go; such an
expected value stands for "unknown here" and matches whatever the node
holds, so a check over redacted snapshots judges everything else.

:func:`reboot_paths` says which changes Talos cannot apply without a reboot,
following ``CanApplyImmediate`` (siderolabs/talos v1.12.5,
``internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_runtime.go``): in the
v1alpha1 document everything but ``cluster``, ``debug`` and the listed
``machine`` subtrees needs one; the other documents are applied live.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.config import secrets

REDACTED = secrets.REDACTED
# What a render without secrets holds where a secret goes: text, or base64 of that text where
# Talos decodes the field as bytes (certificates and keys).
PLACEHOLDERS = (REDACTED, secrets.REDACTED_BYTES)
V1ALPHA1 = "v1alpha1"

# CanApplyImmediate (v1.12.5): machine subtrees and machine.features that change live; the
# simulated nodes decide no-reboot applies by the same sets (simulator/talos/configview.py).
IMMEDIATE_MACHINE_KEYS = frozenset(
    {
        "ca",
        "acceptedCAs",
        "time",
        "certSANs",
        "install",
        "network",
        "sysfs",
        "sysctls",
        "logging",
        "controlPlane",
        "kubelet",
        "kernel",
        "registries",
        "pods",
        "seccompProfiles",
        "nodeAnnotations",
        "nodeLabels",
        "nodeTaints",
    }
)
IMMEDIATE_FEATURES = frozenset(
    {"kubernetesTalosAPIAccess", "kubePrism", "hostDNS", "imageCache", "nodeAddressSortAlgorithm"}
)
# Keys naming the items of a list of mappings, in the order they are tried.
_ITEM_KEYS = ("interface", "name", "mountpoint", "device", "hostPath", "path", "ip", "network")


class ChangeKind(enum.Enum):
    ADDED = "added"  # on the node, not in the rendered config
    REMOVED = "removed"  # in the rendered config, not on the node
    CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    """One difference at one path of one document; values already redacted when *secret*."""

    document: str
    path: str
    kind: ChangeKind
    expected: Any
    observed: Any
    secret: bool = False

    @property
    def where(self) -> str:
        return f"{self.document}: {self.path}" if self.path else self.document

    def describe(self) -> str:
        """``v1alpha1: machine.install.image changed: expected X, observed Y``."""
        if self.kind is ChangeKind.ADDED:
            return f"{self.where} added: observed {shown(self.observed)}"
        if self.kind is ChangeKind.REMOVED:
            return f"{self.where} removed: expected {shown(self.expected)}"
        expected, observed = shown(self.expected), shown(self.observed)
        return f"{self.where} changed: expected {expected}, observed {observed}"

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"document": self.document, "path": self.path}
        found["change"] = self.kind.value
        if self.kind is not ChangeKind.ADDED:
            found["expected"] = self.expected
        if self.kind is not ChangeKind.REMOVED:
            found["observed"] = self.observed
        if self.secret:
            found["secret"] = True
        return found


def shown(value: Any) -> str:
    """A value on one line: scalars as they are, structures as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def document_id(doc: Mapping[str, Any]) -> str:
    """``v1alpha1`` for the legacy document, ``Kind`` or ``Kind/name`` for a typed one."""
    if "kind" not in doc and "apiVersion" not in doc:
        return V1ALPHA1
    kind = str(doc.get("kind") or "?")
    name = doc.get("name")
    return f"{kind}/{name}" if name not in (None, "") else kind


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and len(value) == 0)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _segment(key: str) -> str:
    plain = key.replace("_", "").replace("-", "").isalnum()
    return f".{key}" if plain else f"[{json.dumps(key)}]"


def _join(path: str, key: str) -> str:
    segment = _segment(key)
    return (path + segment) if path else segment.lstrip(".")


def _item_key(*sides: Sequence[Any]) -> str | None:
    """The key naming every item of every side uniquely within its side, if any."""
    items = [i for side in sides for i in side]
    if not items or not all(isinstance(i, Mapping) for i in items):
        return None
    for key in _ITEM_KEYS:
        if all(_unique_names(side, key) for side in sides):
            return key
    return None


def _unique_names(items: Sequence[Mapping[str, Any]], key: str) -> bool:
    names = [_scalar(i.get(key)) for i in items if not _is_empty(i.get(key))]
    return len(names) == len(items) and len(set(names)) == len(names)


@dataclass(frozen=True)
class _Side:
    """One side's value at a path and the same value after :func:`secrets.redact`."""

    raw: Any
    shown: Any

    @property
    def is_empty(self) -> bool:
        return _is_empty(self.raw)

    def child(self, key: Any) -> _Side:
        raw = self.raw.get(key) if isinstance(self.raw, Mapping) else None
        shown = self.shown.get(key) if isinstance(self.shown, Mapping) else None
        return _Side(raw, shown)

    def items(self) -> list[_Side]:
        raws = self.raw if isinstance(self.raw, list) else []
        shown = self.shown if isinstance(self.shown, list) else []
        return [_Side(r, shown[i] if i < len(shown) else REDACTED) for i, r in enumerate(raws)]


NOTHING = _Side(None, None)


@dataclass
class _Walk:
    """Compares raw values; reports their redacted counterparts (same positions)."""

    document: str
    found: list[Change]

    def add(self, path: str, kind: ChangeKind, expected: _Side, observed: _Side) -> None:
        secret = REDACTED in (expected.shown, observed.shown)
        self.found.append(
            Change(
                self.document,
                path,
                kind,
                None if kind is ChangeKind.ADDED else expected.shown,
                None if kind is ChangeKind.REMOVED else observed.shown,
                secret,
            )
        )

    def compare(self, path: str, expected: _Side, observed: _Side) -> None:
        if expected.raw in PLACEHOLDERS and not observed.is_empty:
            return  # a placeholder: the real value is not known here
        if expected.is_empty and observed.is_empty:
            return
        present = observed.raw if expected.is_empty else expected.raw
        if expected.is_empty or observed.is_empty:
            # One side has a subtree the other lacks: report each of its leaves.
            if isinstance(present, Mapping):
                expected = expected if not expected.is_empty else _Side({}, {})
                observed = observed if not observed.is_empty else _Side({}, {})
            elif isinstance(present, list):
                expected = expected if not expected.is_empty else _Side([], [])
                observed = observed if not observed.is_empty else _Side([], [])
        e, o = expected.raw, observed.raw
        if isinstance(e, Mapping) and isinstance(o, Mapping):
            for key in sorted(set(e) | set(o), key=str):
                self.compare(_join(path, str(key)), expected.child(key), observed.child(key))
        elif isinstance(e, list) and isinstance(o, list):
            self.compare_lists(path, expected, observed)
        elif expected.is_empty:
            self.add(path, ChangeKind.ADDED, expected, observed)
        elif observed.is_empty:
            self.add(path, ChangeKind.REMOVED, expected, observed)
        elif (
            isinstance(e, (Mapping, list))
            or isinstance(o, (Mapping, list))
            or _scalar(e) != _scalar(o)
        ):
            self.add(path, ChangeKind.CHANGED, expected, observed)

    def compare_lists(self, path: str, expected: _Side, observed: _Side) -> None:
        want_items, have_items = expected.items(), observed.items()
        key = _item_key(expected.raw, observed.raw)
        if key is not None:
            want = {_scalar(i.raw[key]): i for i in want_items}
            have = {_scalar(i.raw[key]): i for i in have_items}
            for name in [*want, *(n for n in have if n not in want)]:
                self.compare(
                    f"{path}[{key}={name}]", want.get(name, NOTHING), have.get(name, NOTHING)
                )
            return
        if all(not isinstance(i.raw, (Mapping, list)) for i in want_items + have_items):
            want_text = [_scalar(i.raw) for i in want_items]
            have_text = [_scalar(i.raw) for i in have_items]
            if want_text == have_text:
                return
            missing = [i for i, v in enumerate(want_text) if v not in have_text]
            extra = [i for i, v in enumerate(have_text) if v not in want_text]
            for i in missing:
                self.add(f"{path}[{i}]", ChangeKind.REMOVED, want_items[i], NOTHING)
            for i in extra:
                self.add(f"{path}[{i}]", ChangeKind.ADDED, NOTHING, have_items[i])
            if not missing and not extra:  # same items, another order or count
                self.add(path, ChangeKind.CHANGED, expected, observed)
            return
        for i in range(max(len(want_items), len(have_items))):
            self.compare(
                f"{path}[{i}]",
                want_items[i] if i < len(want_items) else NOTHING,
                have_items[i] if i < len(have_items) else NOTHING,
            )


def _redacted(doc: Mapping[str, Any]) -> dict[str, Any]:
    (shown,) = secrets.redact([doc])
    return shown


def _by_id(documents: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for doc in documents:
        if isinstance(doc, Mapping):
            found.setdefault(document_id(doc), doc)
    return found


def diff_documents(
    expected: Sequence[Mapping[str, Any]], observed: Sequence[Mapping[str, Any]]
) -> list[Change]:
    """Every difference in meaning between the rendered (*expected*) and running documents.

    The v1alpha1 document first, then typed documents by identity; a whole
    document on one side only is one change at its root (secret fields of it
    redacted).  Values are compared raw and reported as
    :func:`secrets.redact` shows them, position for position.
    """
    want, have = _by_id(expected), _by_id(observed)
    order = sorted(set(want) | set(have), key=lambda d: (d != V1ALPHA1, d))
    changes: list[Change] = []
    for doc in order:
        mine, theirs = want.get(doc), have.get(doc)
        if mine is None or theirs is None:
            present = _redacted(mine if mine is not None else theirs or {})
            kind = ChangeKind.REMOVED if theirs is None else ChangeKind.ADDED
            changes.append(
                Change(
                    doc,
                    "",
                    kind,
                    present if kind is ChangeKind.REMOVED else None,
                    present if kind is ChangeKind.ADDED else None,
                )
            )
            continue
        walk = _Walk(doc, changes)
        left, right = _Side(mine, _redacted(mine)), _Side(theirs, _redacted(theirs))
        for key in sorted(set(mine) | set(theirs), key=str):
            walk.compare(_join("", str(key)), left.child(key), right.child(key))
    return changes


def _head(path: str) -> list[str]:
    """The first segments of a dotted path (``machine.features.kubePrism.port`` -> 3)."""
    return [piece for piece in path.replace("[", ".[").split(".") if piece]


def needs_reboot(change: Change) -> bool:
    """Whether Talos needs a reboot to apply *change* (``CanApplyImmediate``, v1.12.5)."""
    if change.document != V1ALPHA1:
        return False
    parts = _head(change.path)
    if not parts:
        return True
    if parts[0] in ("cluster", "debug"):
        return False
    if parts[0] != "machine" or len(parts) < 2:
        return True
    if parts[1] in IMMEDIATE_MACHINE_KEYS:
        return False
    if parts[1] == "features" and len(parts) >= 3:
        return parts[2] not in IMMEDIATE_FEATURES
    return True


def reboot_paths(changes: Sequence[Change]) -> list[str]:
    """The changes' paths that only a reboot applies, in order."""
    return [c.where for c in changes if needs_reboot(c)]
