"""Talos's validator, as the project calls it, against the facts in talos_facts/validation.yaml.

Each case's config is made by Talos's patcher from the shared base, then
judged by :func:`provisioning.config.validation.validate_texts` (strict, as
``talosctl validate --strict``); all cases share one helper process per step.
"""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.config import patches, validation
from provisioning.config.machineconfig import MachineConfig
from provisioning.definition.problems import Problem, Severity
from tests.provisioning.talos_facts import lookup

FACTS = lookup.load("validation.yaml")
CASES: list[dict[str, Any]] = FACTS["cases"]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, list[Problem]]:
    base = MachineConfig.parse(FACTS["base"], "base.yaml")
    stacks = [
        (base, patches.parse_patches([(p, f"case-{i}.yaml") for i, p in enumerate(c["patches"])]))
        for c in CASES
    ]
    configs = patches.apply_stacks(stacks)
    by_mode: dict[str, list[Problem]] = {}
    for case, config in zip(CASES, configs, strict=True):
        assert isinstance(config, MachineConfig), f"{case['name']}: {config}"
        (found,) = validation.validate_texts(
            [(config.to_yaml(), "node.yaml")], case.get("mode", "metal")
        )
        by_mode[case["name"]] = found
    return by_mode


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_talos_refuses_as_upstream_says(
    case: dict[str, Any], verdicts: dict[str, list[Problem]]
) -> None:
    found = verdicts[case["name"]]
    assert all(p.file == "node.yaml" for p in found)
    errors = [p for p in found if p.severity is Severity.ERROR]
    if "load_error" in case:
        (problem,) = errors
        assert problem.field == ""
        assert case["load_error"] in problem.message
        return
    assert [[p.field, p.message] for p in errors] == case["errors"]


def test_an_unknown_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="bare-metal"):
        validation.validate_texts([(FACTS["base"], "node.yaml")], "bare-metal")
