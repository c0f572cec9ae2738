"""One budget per run: a hung source stops the collector, the probes and the re-reads together.

The fixtures take their budgets from :func:`fixtures.plugin.budget` (one per
kind per run); here a ``talosctl`` that never answers is read by the
collector and then by a probe, each asking for the run's budget as the
fixtures do.  The collector's reads end within the budget with the reason,
the controls needing them are unobservable with it, and the probe after it
does not wait a second budget: the run's is spent.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, cast

import pytest

from checks import disk_encryption
from checks.findings import Unobservable
from fixtures import observe, plugin
from provisioning.drivers import Target, errors, run_subprocess
from provisioning.drivers.budget import budgeted
from provisioning.drivers.talosctl import TalosDriver
from tests.checks.builders import reference_cluster

SECONDS = 3.0


class RunConfig:
    """The two things :func:`fixtures.plugin.budget` reads from pytest's config."""

    def __init__(self, **options: Any) -> None:
        self.stash = pytest.Stash()
        self.options = options

    def getoption(self, name: str) -> Any:
        return self.options[name]


@pytest.fixture
def config() -> pytest.Config:
    return cast(pytest.Config, RunConfig(**{"--timeout-talos": SECONDS, "--timeout-kube": SECONDS}))


@pytest.fixture
def hung(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "talosctl"
    tool.write_text("#!/bin/sh\nexec sleep 100000\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    talosconfig = tmp_path / "talosconfig"
    talosconfig.write_text("context: c\ncontexts: {c: {endpoints: [10.10.20.16]}}\n")
    return Target("hung", None, talosconfig, bin_dir)


def test_the_run_budget_is_one_per_kind_until_renewed(config: pytest.Config) -> None:
    talos = plugin.budget(config, "talos")
    assert plugin.budget(config, "talos") is talos
    assert plugin.budget(config, "kube") is not talos
    assert talos.what == "talosctl calls (--timeout-talos 3)"
    plugin.renew_budgets(config)
    assert plugin.budget(config, "talos") is not talos


def test_a_hung_talosctl_costs_the_whole_run_one_budget(
    config: pytest.Config, hung: Target
) -> None:
    cluster = reference_cluster()
    started = time.monotonic()
    snapshot = observe.collect(
        hung,
        cluster,
        talos_budget=plugin.budget(config, "talos"),
        kube_budget=plugin.budget(config, "kube"),
    )
    observed = time.monotonic() - started
    assert observed < SECONDS + 2.0, f"the collector took {observed:.1f}s"
    with pytest.raises(Unobservable, match=r"--timeout-talos 3\): the 3s budget is spent"):
        disk_encryption.volume_is_luks2_with_node_key(snapshot, volume="STATE")

    # A probe after it asks for the run's budget, as the probe fixtures do: nothing is left.
    probe = TalosDriver(hung, runner=budgeted(run_subprocess, plugin.budget(config, "talos")))
    started = time.monotonic()
    with pytest.raises(errors.TimedOut, match="the 3s budget is spent"):
        probe.version([str(cluster.nodes[0].ip)])
    assert time.monotonic() - started < 1.0, "the probe waited a budget of its own"


def test_a_reread_after_a_remediation_gets_a_fresh_allowance(
    config: pytest.Config, hung: Target
) -> None:
    reads: list[float] = []

    def budgets() -> tuple[Any, Any]:
        talos = plugin.budget(config, "talos")
        reads.append(talos.remaining())
        return talos, plugin.budget(config, "kube")

    observation = observe.Observation(
        hung, reference_cluster(), budgets, renew=lambda: plugin.renew_budgets(config)
    )
    observation.refresh()
    observation.refresh()  # as fixtures.remediate does after applying a fix
    assert reads == [SECONDS, SECONDS]
    assert plugin.budget(config, "talos").remaining() <= 0.5  # the re-read spent its own
