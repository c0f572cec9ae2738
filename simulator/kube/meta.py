"""Small facts about object metadata shared by the storage modules.

What belongs here: timestamps in ``metav1.Time`` form and accessors the
object store and its deletion half both need; kept apart so neither imports
the other for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from simulator.kube.registry import ResourceType

CRD_GROUP = "apiextensions.k8s.io"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def timestamp(moment: dt.datetime) -> str:
    """RFC 3339 with whole seconds, as ``metav1.Time`` serialises."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def spec_part(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def is_crd(rt: ResourceType) -> bool:
    return rt.group == CRD_GROUP and rt.kind == "CustomResourceDefinition"
