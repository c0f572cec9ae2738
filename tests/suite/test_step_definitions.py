"""Every Gherkin step binds to exactly one step definition; every tag is well formed.

pytest-bdd silently picks one definition when two match a step, and a step
matching none only fails when its scenario runs; this guard checks all
feature files at once, so a new phrase cannot shadow or miss another.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pytest_bdd.feature import get_features
from pytest_bdd.steps import step_function_context_registry

from fixtures import plugin

ROOT = Path(__file__).resolve().parents[2]


def _load_step_modules() -> None:
    for module in sorted((ROOT / "steps").glob("*.py")):
        importlib.import_module(f"steps.{module.stem}")


def _features() -> list:  # type: ignore[type-arg]
    return get_features([str(ROOT / "features")])


def test_every_step_matches_exactly_one_definition() -> None:
    _load_step_modules()
    contexts = list(step_function_context_registry.values())
    problems = []
    for feature in _features():
        for template in feature.scenarios.values():
            # Outline steps are judged as rendered with each Examples row (a parse type
            # rightly refuses the placeholder text "<volume>").
            rows = [row for examples in template.examples for row in examples.as_contexts()]
            for step in [s for row in rows or [{}] for s in template.render(row).steps]:
                matching = [
                    c
                    for c in contexts
                    if c.type in (None, step.type) and c.parser.is_matching(step.name)
                ]
                if len(matching) != 1:
                    names = [c.step_func.__name__ for c in matching]
                    problems.append(f"{feature.rel_filename}: {step.type} {step.name!r}: {names}")
    assert not problems, "\n".join(problems)


def test_every_scenario_has_one_control_id_and_a_severity() -> None:
    ids: dict[str, str] = {}
    problems = []
    for feature in _features():
        for title, template in feature.scenarios.items():
            tags = template.tags
            controls = [t for t in tags if plugin.CONTROL_ID.match(t)]
            severities = [t for t in tags if t.startswith("severity:")]
            remediation = [t for t in tags if t.startswith("remediation:")]
            if len(controls) != 1 or len(severities) != 1 or len(remediation) != 1:
                problems.append(f"{feature.rel_filename}: {title!r}: tags {sorted(tags)}")
            for control in controls:
                if control in ids:
                    problems.append(f"{control} used twice: {ids[control]!r} and {title!r}")
                ids[control] = title
    assert ids, "no feature files found"
    assert not problems, "\n".join(problems)


def test_unknown_tag_shape_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="unknown Gherkin tag @sevrity:critical"):
        plugin.pytest_bdd_apply_tag("sevrity:critical", lambda: None)
