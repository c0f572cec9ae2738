"""The simulator's ``helm --wait`` rules (:mod:`simulator.helm.wait`), on objects built by hand.

Each case is one of Helm 3's readiness rules (helm/helm ``pkg/kube/ready.go``):
what a real ``helm upgrade --install --wait`` would still wait for.
"""

from __future__ import annotations

from typing import Any

import pytest

from simulator.helm import wait


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m0s", 300.0), ("90s", 90.0), ("1h", 3600.0), ("1m30s", 90.0), ("1.5s", 1.5), ("0", 0.0)],
)
def test_timeouts_parse_as_go_durations(text: str, seconds: float) -> None:
    assert wait.parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("300", 'time: missing unit in duration "300"'),
        ("5x", 'time: invalid duration "5x"'),
        ("", 'time: invalid duration ""'),
    ],
)
def test_bad_timeouts_are_refused_in_gos_words(text: str, message: str) -> None:
    with pytest.raises(wait.DurationError, match="^" + message.replace(".", r"\.") + "$"):
        wait.parse_duration(text)


def _ds(desired: int, updated: int, ready: int, max_unavailable: Any = None) -> dict[str, Any]:
    strategy: dict[str, Any] = {"type": "RollingUpdate"}
    if max_unavailable is not None:
        strategy["rollingUpdate"] = {"maxUnavailable": max_unavailable}
    return {
        "metadata": {"generation": 1},
        "spec": {"updateStrategy": strategy},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberReady": ready,
        },
    }


def test_a_daemonset_waits_for_all_but_max_unavailable_pods() -> None:
    assert wait._daemonset(_ds(6, 6, 5)) is None  # API default maxUnavailable 1
    assert wait._daemonset(_ds(6, 6, 4)) == "4 out of 5 expected pods are ready"
    assert wait._daemonset(_ds(6, 5, 5)) == "5 out of 6 expected pods have been scheduled"
    assert wait._daemonset(_ds(6, 6, 4, max_unavailable=2)) is None


def test_a_daemonset_with_max_unavailable_100_percent_is_ready_with_no_ready_pod() -> None:
    # Longhorn's manager: Helm's --wait alone does not wait for it at all.
    assert wait._daemonset(_ds(5, 5, 0, max_unavailable="100%")) is None


def test_a_daemonset_whose_spec_was_not_observed_yet_is_not_ready() -> None:
    ds = _ds(6, 6, 6)
    ds["metadata"]["generation"] = 2
    assert wait._daemonset(ds) == "observedGeneration does not match spec generation"


@pytest.mark.parametrize(
    ("replicas", "rolling", "expected"),
    [
        (2, {"maxSurge": "25%", "maxUnavailable": "50%"}, 1),  # the Cilium operator
        (2, {}, 0),  # defaults 25%/25%: 0 unavailable
        (4, {}, 1),
        (3, {"maxSurge": 0, "maxUnavailable": 0}, 1),  # both 0: deploymentutil allows 1
    ],
)
def test_deployment_max_unavailable_follows_deploymentutil(
    replicas: int, rolling: dict[str, Any], expected: int
) -> None:
    deploy = {"spec": {"replicas": replicas, "strategy": {"rollingUpdate": rolling}}}
    assert wait._deployment_max_unavailable(deploy) == expected


def test_a_recreate_deployment_waits_for_every_replica() -> None:
    deploy = {"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}}
    assert wait._deployment_max_unavailable(deploy) == 0


def test_a_service_needs_a_cluster_ip_and_a_load_balancer_its_ingress() -> None:
    assert wait._service({"spec": {}}) == "no cluster IP"
    assert wait._service({"spec": {"clusterIP": "None"}}) is None
    balancer = {"spec": {"clusterIP": "10.96.0.20", "type": "LoadBalancer"}}
    assert wait._service(balancer) == "no load balancer ingress"
    assert wait._service({"spec": {"type": "ExternalName"}}) is None
