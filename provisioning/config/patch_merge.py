"""Strategic merge of two plain YAML values, with Talos's keyed and replaced lists.

What belongs here: :func:`strategic_merge` and the per-path list rules it
needs -- the value-level half of a strategic patch.  Kept apart from
:mod:`provisioning.config.patch_strategic` (which documents are merged or deleted,
and in what order) because it knows nothing of documents, patch files or
``$patch`` directives.

**Strategic merge** (:func:`strategic_merge`): documents are matched by
``(apiVersion, kind, name)``, unmatched ones are appended (that part is in
:mod:`provisioning.config.patch_strategic`); maps merge key by
key; lists append, except the keyed and replaced lists in ``_KEYED`` and
``_REPLACED`` (patching.mdx and the ``merge:"replace"`` tags).  Talos merges
typed Go structs and skips zero values of non-pointer fields; untyped YAML
cannot tell those apart, so the rule here is: **an explicit scalar in the
patch always overrides** (``false``, ``0`` and ``""`` included -- most Talos
fields are pointers, for which that is Talos's rule too), while ``null``,
``{}`` and ``[]`` in a patch are ignored, as nil pointers and empty
maps/lists are.  A mapping meeting a scalar or list is an error
(Talos: ``merge type mismatch``).  Order of keys: the base's, new keys after
(Talos re-encodes in struct order, which we cannot know).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

ITEM = "[]"  # path marker for "inside an item of this list"


class MergeError(ValueError):
    """Two values cannot be merged; *path* says where (list items as ``[]``)."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _match_on(key: str, default: Any) -> Callable[[list[Any], Any], int | None]:
    def match(items: list[Any], new: Any) -> int | None:
        if not isinstance(new, dict):
            return None
        wanted = new.get(key, default)
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get(key, default) == wanted:
                return index
        return None

    return match


def _match_interface(items: list[Any], new: Any) -> int | None:
    """``NetworkDeviceList.Merge``: by ``interface`` if set, else by equal ``deviceSelector``."""
    if not isinstance(new, dict):
        return None
    for key in ("interface", "deviceSelector"):
        wanted = new.get(key)
        if wanted is None or wanted == "":
            continue
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get(key) == wanted:
                return index
        return None
    return None


# Paths: v1alpha1 keys from its root, other documents rooted at their kind.
_KEYED: dict[tuple[str, ...], Callable[[list[Any], Any], int | None]] = {
    ("machine", "network", "interfaces"): _match_interface,
    ("machine", "network", "interfaces", ITEM, "vlans"): _match_on("vlanId", 0),
    ("cluster", "apiServer", "admissionControl"): _match_on("name", ""),
    ("ExtensionServiceConfig", "configFiles"): _match_on("mountPath", ""),
}
_REPLACED: frozenset[tuple[str, ...]] = frozenset(
    {
        ("cluster", "apiServer", "auditPolicy"),
        ("cluster", "network", "podSubnets"),
        ("cluster", "network", "serviceSubnets"),
        ("NetworkRuleConfig", "ingress"),
        ("NetworkRuleConfig", "portSelector", "ports"),
    }
)


def _is_nothing(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list)) and not value)


def shape(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "scalar"


def strategic_merge(base: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """*patch* merged into *base*, as a new value; neither input is changed.

    *path* is where *base* sits (``("cluster", "network", "podSubnets")``;
    documents other than v1alpha1 start at their kind) and selects the
    keyed/replaced list rules.

    :raises MergeError: a mapping, list and scalar meet at the same place.
    """
    if _is_nothing(patch):
        return copy.deepcopy(base)
    if base is None or path in _REPLACED:
        return copy.deepcopy(patch)
    if shape(base) != shape(patch):
        raise MergeError(
            path,
            f"merge type mismatch: the config has a {shape(base)} here, the patch a {shape(patch)}",
        )
    if isinstance(base, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if not _is_nothing(value):
                merged[key] = strategic_merge(merged.get(key), value, (*path, str(key)))
        return merged
    if isinstance(base, list):
        match = _KEYED.get(path)
        items = copy.deepcopy(base)
        for new in patch:
            index = match(items, new) if match is not None else None
            if index is None:
                items.append(copy.deepcopy(new))
            else:
                items[index] = strategic_merge(items[index], new, (*path, ITEM))
        return items
    return copy.deepcopy(patch)
