"""The HYG-07 drifts, applied in-process (fast): what each changes in a node's applied config.

Each goes through the simulated machine API's apply (``Lifecycle.apply_config``
in ``auto`` mode), as ``talosctl patch machineconfig`` does: Talos's verdict
(with or without a reboot) is the drift's answer, and only the named node
changes.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from simulator.drifts import DriftContext, DriftError, apply_to
from simulator.drifts import config_hygiene as drifts
from simulator.state.machines import SiteStore
from tests.simulator.provisioned_cluster import ROOT


@pytest.fixture
def ctx(ctx: DriftContext) -> DriftContext:
    """The shared copy, with the shipped definition named (the dropped patch is read from it)."""
    ctx.cluster_dir = ROOT / "cluster"
    return ctx


def v1alpha1(ctx: DriftContext, node: str) -> dict[str, Any]:
    machine = SiteStore(ctx.kv).load().machines[node]
    docs = [d for d in yaml.safe_load_all(machine.config or "") if isinstance(d, dict)]
    return next(d for d in docs if "kind" not in d)


@pytest.mark.parametrize(
    ("name", "reboot", "changed"),
    [
        (drifts.PATCH_NAME, True, lambda m: m["machine"]["env"]["HTTPS_PROXY"]),
        (drifts.INSTALLER_NAME, False, lambda m: m["machine"]["install"]["image"]),
        (drifts.KERNEL_ARG_NAME, False, lambda m: m["machine"]["install"]["extraKernelArgs"]),
        (drifts.SYSCTL_NAME, False, lambda m: m["machine"]["sysctls"]["vm.max_map_count"]),
        (
            drifts.DROP_PATCH_NAME,
            False,
            lambda m: m["cluster"].get("allowSchedulingOnControlPlanes", "gone"),
        ),
    ],
)
def test_each_drift_changes_only_its_node_through_the_machine_api(
    ctx: DriftContext, name: str, reboot: bool, changed: Any
) -> None:
    before = {node: v1alpha1(ctx, node) for node in ("node02", "node03")}
    said = apply_to(ctx, name, "node03")
    assert said.startswith(
        "patched MachineConfigs.config.talos.dev/v1alpha1 at the node 10.10.20.18"
    )
    verdict = "with a reboot" if reboot else "without a reboot"
    assert f"Applied configuration {verdict}" in said
    after = v1alpha1(ctx, "node03")
    assert after != before["node03"]
    assert changed(after) in (
        "http://10.10.20.250:3128",
        drifts.OTHER_INSTALLER,
        [drifts.EXTRA_KERNEL_ARG],
        drifts.EXTRA_SYSCTL[1],
        "gone",
    )
    assert v1alpha1(ctx, "node02") == before["node02"]
    machine = SiteStore(ctx.kv).load().machines["node03"]
    assert machine.persistent_config == machine.config or reboot


def test_dropping_a_patch_twice_is_refused_naming_the_patch(ctx: DriftContext) -> None:
    apply_to(ctx, drifts.DROP_PATCH_NAME, "node04")
    with pytest.raises(DriftError, match="node04's config holds nothing of patches/allow-"):
        apply_to(ctx, drifts.DROP_PATCH_NAME, "node04")
