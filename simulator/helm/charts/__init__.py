"""The charts the simulator's ``helm`` can install, and how they are found.

What belongs here: :class:`Chart` (metadata, defaults and a renderer), the
catalogue of built-in charts, which chart repository URL serves which of
them, and :class:`RenderError` -- the chart-side failure Helm reports as
``execution error at (<chart>/templates/<file>): <message>``.

Why a fixed catalogue: the simulator has no network, so ``helm repo add`` can
only "reach" repositories whose charts are rendered here.  Each chart module
exposes ``CHART``; rendering is a pure function of values, release name and
namespace, so tests can call it without any cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]
Renderer = Callable[..., list[Manifest]]


class RenderError(Exception):
    """A template refused the values (Helm's ``fail``), naming the template."""

    def __init__(self, template: str, message: str) -> None:
        self.template = template
        self.message = message
        super().__init__(f"execution error at ({template}): {message}")


@dataclass(frozen=True)
class Chart:
    """One chart version: what ``Chart.yaml`` says, its defaults, its renderer."""

    name: str
    version: str
    app_version: str
    description: str
    defaults: Mapping[str, Any]
    render: Renderer

    @property
    def label(self) -> str:
        """``<name>-<version>``, the CHART column of ``helm list``."""
        return f"{self.name}-{self.version}"


def catalogue() -> dict[str, Chart]:
    """Built-in charts by name (imported lazily so one chart's bug stays local)."""
    from simulator.helm.charts.cilium import CHART as CILIUM
    from simulator.helm.charts.longhorn import CHART as LONGHORN

    return {chart.name: chart for chart in (CILIUM, LONGHORN)}


# The official repositories of the two charts; any trailing slash is ignored.
REPOSITORY_CHARTS: dict[str, tuple[str, ...]] = {
    "https://helm.cilium.io": ("cilium",),
    "https://charts.longhorn.io": ("longhorn",),
}


def charts_at(url: str) -> tuple[str, ...] | None:
    """The chart names a repository URL serves, or None if it is unknown here."""
    return REPOSITORY_CHARTS.get(url.rstrip("/"))
