"""Every check says how many items it judged; judging none is not a pass."""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path
from typing import Any

import pytest

from checks import judged, network_policy, topology
from checks.findings import Finding, Unobservable
from fixtures.verify import run_check
from provisioning.definition import inventory
from tests.checks import test_network_policy, test_topology

ROOT = Path(__file__).resolve().parents[2]


def step_checks() -> list[tuple[str, str]]:
    """``(module, function)`` of every check a step hands to ``verify``."""
    return [
        (call.args[0].value.id, call.args[0].attr)
        for path in sorted((ROOT / "steps").glob("test_*.py"))
        for call in ast.walk(ast.parse(path.read_text()))
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "verify"
        and isinstance(call.args[0], ast.Attribute)
        and isinstance(call.args[0].value, ast.Name)
    ]


def test_every_check_the_steps_call_declares_what_it_judges() -> None:
    checks = step_checks()
    assert len(checks) >= 40
    undeclared = [
        f"{module}.{name}"
        for module, name in checks
        if not judged.declared(getattr(importlib.import_module(f"checks.{module}"), name))
    ]
    assert undeclared == []


def test_a_passing_check_says_how_many_nodes_it_judged() -> None:
    state = test_topology.snap()
    assert topology.nodes_registered_and_ready(state) == []
    assert judged.passed(topology.nodes_registered_and_ready, state, {}) == "judged 6 nodes"


def test_a_wrapped_check_counts_as_its_declared_check() -> None:
    # The waiver filter (fixtures/waive.py) hands verify a functools.wraps wrapper.
    state = test_topology.snap()

    @functools.wraps(topology.nodes_registered_and_ready)
    def filtered(*args: Any, **kwargs: Any) -> list[Finding]:
        return list(topology.nodes_registered_and_ready(*args, **kwargs))

    assert judged.declared(filtered)
    assert judged.passed(filtered, state, {}) == "judged 6 nodes"


def test_no_namespace_to_judge_is_not_a_pass(cluster: inventory.Cluster) -> None:
    system = [{"metadata": {"name": n}} for n in cluster.security.system_namespaces]
    state = test_network_policy.make(cluster, system, [])
    assert network_policy.default_deny_in_every_namespace(state) == []
    with pytest.raises(Unobservable, match="judged no namespaces"):
        judged.passed(network_policy.default_deny_in_every_namespace, state, {})


@judged.judges(widgets=lambda state, **_: len(state))
def widgets_fine(state: list[Any]) -> list[Finding]:
    return []


def undeclared(state: Any) -> list[Finding]:
    return []


def test_verify_skips_a_check_that_judged_nothing_and_breaks_on_an_undeclared_one() -> None:
    run_check(widgets_fine, [1, 2])  # passes: it judged 2 widgets
    with pytest.raises(pytest.skip.Exception, match="judged no widgets"):
        run_check(widgets_fine, [])
    with pytest.raises(LookupError, match="does not declare what it judges"):
        run_check(undeclared, [])
