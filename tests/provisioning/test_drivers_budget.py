"""A budget is one deadline for a batch of calls: timeouts cut to it, nothing started past it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from provisioning.drivers import Completed, Target, errors, run_subprocess
from provisioning.drivers.budget import Budget, BudgetSpent, budgeted
from provisioning.drivers.kube import KubeDriver
from provisioning.drivers.talosctl import TalosDriver


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_timeouts_are_cut_to_what_is_left_and_nothing_starts_after() -> None:
    clock = Clock()
    budget = Budget(10, "talosctl calls", clock=clock)
    with budget.call(60) as timeout:
        assert timeout == 10
        clock.now += 7
    with budget.call(60) as timeout:
        assert timeout == pytest.approx(3)
        assert budget.clip(1) == 1
        clock.now += 3
    with (
        pytest.raises(BudgetSpent, match=r"talosctl calls: the 10s budget is spent"),
        budget.call(60),
    ):
        pass


def test_only_waiting_counts_and_parallel_calls_share_it() -> None:
    clock = Clock()
    budget = Budget(10, "talosctl calls", clock=clock)
    clock.now += 1000  # the run judging, remediating, reading other sources: costs nothing
    assert budget.remaining() == 10
    with budget.call(60):
        clock.now += 2
        with budget.call(60) as second:  # started while the first waits: shares the 2 s
            assert second == pytest.approx(8)
            clock.now += 3
        assert budget.remaining() == pytest.approx(5)
        clock.now += 1
    assert budget.remaining() == pytest.approx(4), "6 s of waiting, not 5 + 3 + 1"


def test_a_budgeted_runner_turns_the_last_timeout_into_the_spent_budget() -> None:
    clock = Clock()
    budget = Budget(5, "talosctl calls (--timeout-talos 5)", clock=clock)
    seen: list[float] = []

    def hangs(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None) -> Completed:
        seen.append(timeout)
        clock.now += timeout
        raise TimeoutError(f"timed out after {timeout:g}s")

    run = budgeted(hangs, budget)
    with pytest.raises(BudgetSpent) as raised:
        run(["talosctl", "version"], timeout=60, env=None)
    assert seen == [5]
    assert isinstance(raised.value, errors.TimedOut)  # a driver error: the collector's to catch
    with pytest.raises(BudgetSpent):
        run(["talosctl", "version"], timeout=60, env=None)
    assert seen == [5], "no call starts once the budget is spent"


def test_a_hung_talosctl_ends_within_the_budget_not_per_attempt(tmp_path: Path) -> None:
    """A real process that never answers: retries stop at the deadline."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "talosctl"
    tool.write_text("#!/bin/sh\nexec sleep 100000\n")
    tool.chmod(0o755)
    target = Target("hung", None, tmp_path / "talosconfig", bin_dir)
    driver = TalosDriver(
        target, timeout=60, retries=3, runner=budgeted(run_subprocess, Budget(1, "talosctl"))
    )
    with pytest.raises(errors.TimedOut, match="talosctl: the 1s budget is spent"):
        driver.version(["10.10.20.16"])
    with pytest.raises(errors.TimedOut, match="budget is spent"):
        driver.get_each("Members", ["10.10.20.16"])


def test_an_api_server_that_never_answers_ends_within_the_budget(tmp_path: Path) -> None:
    """A loopback socket that accepts and never replies: no retry outlives the deadline."""
    held: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    held.append(server.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: k, cluster: {{server: 'https://127.0.0.1:{server.getsockname()[1]}',"
            " insecure-skip-tls-verify: true}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        )
        target = Target("silent", kubeconfig, None, None)
        budget = Budget(1.5, "Kubernetes API calls (--timeout-kube 1.5)")
        try:
            with (
                KubeDriver(target, timeout=30, retries=3, backoff=0, budget=budget) as kube,
                pytest.raises(errors.TimedOut, match=r"--timeout-kube 1\.5\): the 1\.5s budget"),
            ):
                kube.version()
        finally:
            stop.set()
            thread.join()
            for conn in held:
                conn.close()
    assert held, "the driver never connected"
