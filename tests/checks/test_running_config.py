"""HYG-07: every node runs the config rendered from the definition (checks.running_config).

The snapshot side is built the way the collector builds it: each node's
config rendered *with* machine secrets (as the node received it), its
documents reordered as Talos keeps them, then redacted
(:func:`provisioning.config.secrets.redact`).  The expected side is what the
definition fixture hands the step: the rendering *without* secrets,
redacted.  So the CA certificates and the cluster id, real on the node and
``<redacted>`` placeholders in the definition's rendering, are exercised
exactly as in a run.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

import pytest

from checks import judged
from checks.findings import Unobservable
from checks.running_config import RunningConfigDiffers, runs_rendered_config
from checks.snapshot import MACHINE_CONFIG, Snapshot
from provisioning.config import render, secrets
from provisioning.definition import inventory
from remediation.actions import ApplyConfig, Risk
from remediation.catalogue import loaded
from tests.checks.builders import machine_config_snapshot, unread_machine_config

Docs = list[dict[str, Any]]


@functools.cache
def _bundle() -> secrets.MachineSecrets:
    return secrets.generate_secrets()


def _running(cluster: inventory.Cluster) -> dict[str, Docs]:
    return {
        name: secrets.redact([*node.config.documents[1:], node.config.documents[0]])
        for name, node in render.render_cluster(cluster, _bundle()).items()
    }


@pytest.fixture
def expected(cluster: inventory.Cluster) -> dict[str, Docs]:
    return {
        name: list(render.redacted_documents(node.config))
        for name, node in render.render_cluster(cluster).items()
    }


def running(
    cluster: inventory.Cluster, edit: Callable[[str, Docs], None] | None = None
) -> Snapshot:
    docs = copy.deepcopy(_running(cluster))
    if edit is not None:
        for name, config in docs.items():
            edit(name, config)
    # machine_config_snapshot edits docs[0]; the Talos-ordered v1alpha1 is last here.
    return machine_config_snapshot(cluster, docs)


def v1alpha1(config: Docs) -> dict[str, Any]:
    return next(d for d in config if "kind" not in d)


def test_a_freshly_provisioned_cluster_passes(
    cluster: inventory.Cluster, expected: dict[str, Docs]
) -> None:
    snapshot = running(cluster)
    assert runs_rendered_config(snapshot, rendered=expected) == []
    assert judged.passed(runs_rendered_config, snapshot, {"rendered": expected}) == "judged 6 nodes"


def test_each_differing_node_is_named_with_its_paths_and_detail(
    cluster: inventory.Cluster, expected: dict[str, Docs]
) -> None:
    def edit(name: str, config: Docs) -> None:
        machine = v1alpha1(config)["machine"]
        if name == "node02":
            machine["install"]["image"] = "ghcr.io/siderolabs/installer:v1.12.5"
            machine["install"].setdefault("extraKernelArgs", []).append(
                "talos.dashboard.disabled=1"
            )
        if name == "node05":
            machine["env"] = {"HTTPS_PROXY": "http://10.10.20.250:3128"}

    findings = runs_rendered_config(running(cluster, edit), rendered=expected)
    assert [(f.target, f.observed) for f in findings] == [
        (
            "node02 (10.10.20.17)",
            "2 difference(s): v1alpha1: machine.install.extraKernelArgs[0], "
            "v1alpha1: machine.install.image",
        ),
        ("node05 (10.10.20.20)", "1 difference(s): v1alpha1: machine.env.HTTPS_PROXY"),
    ]
    first, second = findings
    assert isinstance(first, RunningConfigDiffers)
    assert isinstance(second, RunningConfigDiffers)
    assert (first.node, first.needs_reboot, second.needs_reboot) == ("node02", False, True)
    assert "machine.install.image changed: expected factory.talos.dev/installer/" in first.detail
    assert "observed ghcr.io/siderolabs/installer:v1.12.5" in first.detail


def test_a_secret_on_the_node_is_never_in_a_finding(
    cluster: inventory.Cluster, expected: dict[str, Docs]
) -> None:
    leaked = "zzzzzz.zzzzzzzzzzzzzzzz"

    def edit(name: str, config: Docs) -> None:
        if name == "node01":
            v1alpha1(config)["machine"]["registries"] = {
                "config": {"r.example": {"auth": {"password": leaked}}}
            }

    (finding,) = runs_rendered_config(running(cluster, edit), rendered=expected)
    assert isinstance(finding, RunningConfigDiffers)
    assert leaked not in repr(finding)
    assert 'machine.registries.config["r.example"].auth.password added' in finding.detail


def test_an_unread_node_is_not_verified_never_passed(
    cluster: inventory.Cluster, expected: dict[str, Docs]
) -> None:
    snapshot = unread_machine_config(running(cluster), "node03")
    snapshot = dataclasses.replace(
        snapshot, missing={"machineconfig on node03": "node03 (10.10.20.18): no route to host"}
    )
    with pytest.raises(
        Unobservable, match=re.escape("node03: node03 (10.10.20.18): no route to host")
    ):
        runs_rendered_config(snapshot, rendered=expected)
    everywhere = dataclasses.replace(snapshot, talos={}, missing={MACHINE_CONFIG: "timed out"})
    with pytest.raises(Unobservable, match="timed out"):
        runs_rendered_config(everywhere, rendered=expected)


def test_a_node_whose_config_does_not_render_is_not_judged(
    cluster: inventory.Cluster, expected: dict[str, Docs]
) -> None:
    without = {k: v for k, v in expected.items() if k != "node06"}
    with pytest.raises(Unobservable, match="node06: its config does not render"):
        runs_rendered_config(running(cluster), rendered=without)


def test_the_plan_reapplies_safe_without_reboot_and_disruptive_with_one_node_by_node(
    cluster: inventory.Cluster, expected: dict[str, Docs]
) -> None:
    def edit(name: str, config: Docs) -> None:
        machine = v1alpha1(config)["machine"]
        if name == "node03":
            machine.setdefault("sysctls", {})["vm.max_map_count"] = "1048576"
        if name == "node04":
            machine["env"] = {"HTTPS_PROXY": "http://10.10.20.250:3128"}

    snapshot = running(cluster, edit)
    findings = runs_rendered_config(snapshot, rendered=expected)
    registry = loaded()
    assert registry.risk("HYG-07") is Risk.DISRUPTIVE
    plan = registry.plan("HYG-07", findings, snapshot)
    assert [(a.target, a.risk, a.change, a.node) for a in plan.actions] == [
        ("node03 (k8s-node03)", Risk.SAFE, ApplyConfig("node03", "no-reboot"), "node03"),
        ("node04 (k8s-node04)", Risk.DISRUPTIVE, ApplyConfig("node04", "reboot"), "node04"),
    ]
    assert "Talos applies it with a reboot" in plan.actions[1].summary


def test_each_differing_node_gets_its_redacted_diff_as_an_attachment(
    cluster: inventory.Cluster, expected: dict[str, Docs], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fixtures.verify import run_check

    attached: dict[str, str] = {}
    monkeypatch.setattr(
        "allure.attach", lambda body, name, attachment_type=None: attached.update({name: body})
    )

    def edit(name: str, config: Docs) -> None:
        if name in ("node01", "node06"):
            v1alpha1(config)["machine"].setdefault("sysctls", {})["vm.swappiness"] = "1"

    with pytest.raises(AssertionError, match=re.escape("node01 (10.10.20.16)")):
        run_check(runs_rendered_config, running(cluster, edit), rendered=expected)
    assert sorted(name for name in attached if name.endswith(" detail")) == [
        "node01 detail",
        "node06 detail",
    ]
    assert attached["node06 detail"] == (
        "node06 (10.10.20.21): running config vs rendered config\n"
        'v1alpha1: machine.sysctls["vm.swappiness"] added: observed 1\n'
    )
