"""Talos's patcher, as the project calls it, against the facts in talos_facts/patching.yaml.

The cases restate upstream's configpatcher and merge tests (v1.12.5) and the
differences issue #18 found; each runs through :mod:`provisioning.config.patches`
(so through the talos-machinery helper, one process for all of them).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from provisioning.config import patches
from provisioning.config.machineconfig import MachineConfig
from provisioning.definition.problems import DefinitionError
from tests.provisioning.talos_facts import lookup

FACTS = lookup.load("patching.yaml")
CASES: list[dict[str, Any]] = FACTS["cases"]


def _base(case: dict[str, Any]) -> str:
    base = str(case["base"])
    return str(FACTS["bases"].get(base, base))


def _sources(case: dict[str, Any]) -> list[str]:
    return [f"patches/{i}.yaml" for i in range(len(case["patches"]))]


@pytest.fixture(scope="module")
def outcomes() -> dict[str, MachineConfig | DefinitionError]:
    """Every case's result, loaded and applied with one helper process per step."""
    results: dict[str, MachineConfig | DefinitionError] = {}
    runnable: list[tuple[str, MachineConfig, list[patches.Patch]]] = []
    for case in CASES:
        try:
            loaded = patches.parse_patches(list(zip(case["patches"], _sources(case), strict=True)))
        except DefinitionError as exc:
            results[case["name"]] = exc
            continue
        runnable.append((case["name"], MachineConfig.parse(_base(case), "base.yaml"), loaded))
    applied = patches.apply_stacks([(config, stack) for _, config, stack in runnable])
    for (name, _, _), outcome in zip(runnable, applied, strict=True):
        results[name] = outcome
    return results


def test_case_names_are_unique() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_talos_patches_as_upstream_says(
    case: dict[str, Any], outcomes: dict[str, MachineConfig | DefinitionError]
) -> None:
    outcome = outcomes[case["name"]]
    if "error" in case:
        assert isinstance(outcome, DefinitionError), f"expected an error, got {outcome!r}"
        (problem,) = outcome.problems
        assert problem.file == _sources(case)[case["failed_patch"]]
        assert case["error"] in problem.message
        assert problem.line == case.get("line", problem.line)
        return
    assert isinstance(outcome, MachineConfig), str(outcome)
    docs = list(yaml.safe_load_all(outcome.to_yaml()))
    assert case.get("expect") or case.get("absent"), "a case must state what it expects"
    for path, expected in (case.get("expect") or {}).items():
        assert lookup.at(docs, path) == expected, path
    for path in case.get("absent") or []:
        assert lookup.at(docs, path) is lookup.MISSING, path


def test_a_patch_never_shows_its_text() -> None:
    patch = patches.parse_patch("machine:\n  token: s3cr3t.0123456789abcdef\n", "p.yaml")
    assert patch.kind is patches.PatchKind.STRATEGIC
    assert "s3cr3t" not in repr(patch)


def test_each_bad_patch_of_a_batch_is_named() -> None:
    with pytest.raises(DefinitionError) as err:
        patches.parse_patches(
            [("machine: {typo: 1}\n", "a.yaml"), ("[]", "b.yaml"), ("{{", "c.yaml")]
        )
    assert [p.file for p in err.value.problems] == ["a.yaml", "c.yaml"]
