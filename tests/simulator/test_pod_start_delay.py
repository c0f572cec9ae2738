"""Slow-starting pods (``simulator serve --pod-start-delay``) and the clock-driven passes they need.

A real cluster's add-ons come up minutes after ``helm install`` returns
(image pulls, probes); the simulator models that as containers that start
*delay* seconds after the kubelet first saw the pod, and a reconciler that
also runs on a timer so the start happens without any write to announce it.
"""

from __future__ import annotations

import threading
from typing import Any

from simulator.controllers import podstatus
from simulator.reconciler import Reconciler

POD: dict[str, Any] = {
    "metadata": {"name": "cilium-x", "namespace": "kube-system", "uid": "u1"},
    "spec": {"hostNetwork": True, "containers": [{"name": "cilium-agent"}]},
}
NODE: dict[str, Any] = {
    "status": {
        "addresses": [{"type": "InternalIP", "address": "10.10.20.16"}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }
}


def _status(pod: dict[str, Any], now: str, delay: float) -> dict[str, Any]:
    status = podstatus.pod_status(pod, NODE, True, "", now, start_delay=delay)
    return {**pod, "status": status}


def test_a_slow_pod_is_container_creating_until_its_delay_passed() -> None:
    first = _status(POD, "2026-01-01T00:00:00Z", 30)
    assert first["status"]["phase"] == "Pending"
    assert first["status"]["startTime"] == "2026-01-01T00:00:00Z"
    waiting = first["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ContainerCreating"}
    assert not podstatus.is_ready(first)
    early = _status(first, "2026-01-01T00:00:29Z", 30)
    assert early["status"]["phase"] == "Pending"
    started = _status(early, "2026-01-01T00:00:30Z", 30)
    assert started["status"]["phase"] == "Running"
    assert podstatus.is_ready(started)
    # Once running it stays running: the delay is only about the start.
    assert podstatus.is_ready(_status(started, "2026-01-01T00:00:31Z", 3600))


def test_without_a_delay_pods_start_at_once() -> None:
    assert podstatus.is_ready(_status(POD, "2026-01-01T00:00:00Z", 0))


def test_a_reconciler_with_an_interval_runs_passes_without_triggers() -> None:
    passes: list[int] = []
    twice = threading.Event()

    def run() -> None:
        passes.append(1)
        if len(passes) >= 2:
            twice.set()

    reconciler = Reconciler(run, interval=0.05)
    try:
        assert twice.wait(10)
    finally:
        reconciler.stop()
