"""The planner modules, imported once so their decorators fill :data:`REGISTRY`.

Kept apart from :mod:`remediation.registry` so the registry module stays
importable by the planner modules themselves (no import cycle), and so the one
list of areas with planners lives in one place.
"""

from __future__ import annotations

import importlib

from remediation.registry import REGISTRY, Registry

AREAS: tuple[str, ...] = ("node_config", "objects", "nodes", "releases", "housekeeping")


def loaded() -> Registry:
    """The shared registry with every area's planners registered."""
    for area in AREAS:
        importlib.import_module(f"remediation.{area}")
    return REGISTRY
