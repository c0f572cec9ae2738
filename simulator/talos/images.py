"""Installer images and the Image Factory schematics the simulated factory knows.

A node's extensions follow from the installer image it was installed or
upgraded with: ``factory.talos.dev/<kind>/<schematic-id>:<tag>`` carries the
extensions of that schematic (Image Factory appends a virtual ``schematic``
extension whose version is the ID), the stock ``ghcr.io/siderolabs/installer``
carries none (the vanilla schematic).  The simulated factory only knows the
schematics it was seeded with -- the definition's and the vanilla one -- so
an installer naming any other ID fails like a pull of a non-existent image
(``error validating installer image "…"``, v1alpha1_server.go ``Upgrade``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from simulator.state.machines import VANILLA_SCHEMATIC, Site
from simulator.talos.errors import TalosError

_FACTORY = re.compile(
    r"^factory\.talos\.dev/(?:[a-z0-9]+-)?installer(?:-secureboot)?/"
    r"(?P<id>[0-9a-f]{64}):(?P<tag>v\d+\.\d+\.\d+)$"
)
_STOCK = re.compile(r"^ghcr\.io/siderolabs/installer:(?P<tag>v\d+\.\d+\.\d+)$")


@dataclass(frozen=True)
class Installer:
    """What an installer reference resolves to."""

    ref: str
    schematic: str
    version: str
    extensions: tuple[str, ...]


def seed(site: Site, schematics: Mapping[str, Sequence[str]]) -> None:
    """Teach the simulated factory *schematics* (id -> extension names) plus vanilla."""
    site.schematics.setdefault(VANILLA_SCHEMATIC, [])
    for schematic_id, extensions in schematics.items():
        site.schematics[schematic_id] = list(extensions)


def resolve(site: Site, ref: str) -> Installer:
    """Resolve *ref* or fail as the node's image pull would."""
    factory = _FACTORY.match(ref)
    stock = _STOCK.match(ref)
    if factory is not None and factory["id"] in site.schematics:
        schematic = factory["id"]
        return Installer(ref, schematic, factory["tag"], tuple(site.schematics[schematic]))
    if stock is not None:
        return Installer(ref, VANILLA_SCHEMATIC, stock["tag"], ())
    # Simulator wording after the prefix: the real one is the registry's
    # pull error, which depends on the registry.
    raise TalosError(
        "Unknown", f'error validating installer image "{ref}": {ref}: failed to resolve: not found'
    )
