"""Render, validate and a simulated node's apply-config agree on generated patch stacks.

Hypothesis stacks extra patches (valid and invalid alike) on top of a node's
patch stack from the reference definition.  For every stack: the config
rendering produces is the config the node is sent; the node refuses it
exactly when Talos's validator (not strict, as a node runs it) finds errors,
with every one of those messages in its refusal; and the strict validation
``provisioning validate`` uses refuses at least what the node refuses.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from provisioning.config import patches, render, validation
from provisioning.definition import inventory
from provisioning.definition.problems import DefinitionError, Severity
from simulator.state.site import site_from_cluster
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle

ROOT = Path(__file__).resolve().parents[2]

# Fragments an operator might add after a node's stack; some valid, some refused by Talos.
FRAGMENTS = (
    "cluster:\n  apiServer:\n    certSANs: [k8s.example]\n",
    "machine:\n  network:\n    hostname: ''\n",
    "machine:\n  network:\n    nameservers: [1.1.1.1]\n",
    "apiVersion: v1alpha1\nkind: ResolverConfig\nnameservers: [{address: 9.9.9.9}]\n",
    "cluster:\n  inlineManifests: [{name: extra, contents: 'kind: ConfigMap'}]\n",
    "machine:\n  nodeLabels: {'a/b/c': x}\n",
    "machine:\n  nodeLabels: {example.com/role: storage}\n",
    "machine:\n  kubelet:\n    extraConfig: {port: 1234}\n",
    "machine:\n  features:\n    kubePrism: {enabled: false}\n",
    "machine:\n  network:\n    hostname: other-name\n",
    "machine:\n  network:\n    interfaces: [{interface: enp9s0, addresses: [10.3.x/24]}]\n",
    "cluster:\n  etcd:\n    advertisedSubnets: ['10.10.20.0/24']\n",
    '[{"op": "add", "path": "/machine/sysctls", "value": {"vm.swappiness": "10"}}]',
)


def _within(message: str, refusal: str) -> bool:
    """Whether Talos's flattened *message* is in the node's nested multierror text.

    Flattening joins a wrapper and its inner errors with ``": "``; the node's
    text holds the wrapper and the inner error on lines of their own.
    """
    parts = message.split(": ")
    return any(
        ": ".join(parts[i:]) in refusal and all(p in refusal for p in parts[:i])
        for i in range(len(parts))
    )


@cache
def _cluster() -> inventory.Cluster:
    return inventory.load_cluster(ROOT / "cluster", display="cluster")


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Each outcome at least once: accepted, refused by the validator, a conflict between documents.
@example(node_index=1, extra=[])
@example(node_index=0, extra=[FRAGMENTS[5]])
@example(node_index=2, extra=[FRAGMENTS[2], FRAGMENTS[3]])
@given(
    node_index=st.integers(min_value=0, max_value=5),
    extra=st.lists(st.sampled_from(FRAGMENTS), max_size=3),
)
def test_render_validate_and_apply_config_agree(node_index: int, extra: list[str]) -> None:
    cluster = _cluster()
    node = cluster.nodes[node_index]
    sources = [f"extra{i}.yaml" for i in range(len(extra))]
    refs = [inventory.PatchRef(cluster.root / "unused" / name, name) for name in sources]
    stacked = dataclasses.replace(node, patches=(*node.patches, *refs))
    try:
        parsed = patches.parse_patches(list(zip(extra, sources, strict=True)))
        loaded = {p.source: p for p in parsed}
        config, strict_problems = render.compose(cluster, stacked, loaded=loaded)
    except DefinitionError as exc:
        # Talos's patcher refused the stack itself: nothing reaches a node.
        assert exc.problems
        assert all(p.message for p in exc.problems)
        return
    text = config.to_yaml()
    (lenient,) = validation.validate_texts([(text, node.name)], strict=False)
    talos_errors = [p for p in lenient if p.severity is Severity.ERROR]
    strict_errors = {
        (p.field, p.message.removeprefix("warning: "))
        for p in strict_problems
        if p.severity is Severity.ERROR
    }
    assert {(p.field, p.message) for p in talos_errors} <= strict_errors

    life = Lifecycle(site_from_cluster(cluster))
    machine = life.site.machines[node.name]
    for disk in machine.hardware.disks:
        disk.signatures = []
    try:
        life.apply_config(machine.ip, text, insecure=True)
    except TalosError as exc:
        assert talos_errors, f"the node refused what Talos's validator accepts: {exc.message}"
        for problem in talos_errors:
            assert _within(problem.message, exc.message), problem
        return
    assert not talos_errors, f"the node accepted what Talos refuses: {talos_errors}"
