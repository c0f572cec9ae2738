"""The import contracts in pyproject.toml still cover the modules they are about.

An ``independence`` contract lists its modules by name, so a new
``checks/<area>.py`` would stand outside it unnoticed; this test makes every
checks module either an area in "Check areas are independent" or one of the
shared modules every area may import.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What every area may import; named in pyproject.toml's comment above the contract.
SHARED = {"checks.findings", "checks.snapshot", "checks.judged", "checks.control_plane_config"}


def _contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    found = [c for c in contracts if c["name"] == name]
    assert len(found) == 1, f"pyproject.toml has {len(found)} contracts named {name!r}"
    return dict(found[0])


def test_every_checks_module_is_an_independent_area_or_shared() -> None:
    contract = _contract("Check areas are independent")
    assert contract["type"] == "independence"
    modules = contract["modules"]
    assert isinstance(modules, list)
    areas = set(modules)
    on_disk = {
        f"checks.{path.stem}" for path in (ROOT / "checks").glob("*.py") if path.stem != "__init__"
    }
    assert sorted(on_disk - areas - SHARED) == [], "add them to the contract or to SHARED"
    assert sorted((areas | SHARED) - on_disk) == [], "no such module under checks/"
    assert not areas & SHARED
