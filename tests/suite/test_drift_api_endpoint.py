"""API-endpoint drifts end to end: each fails the controls it declares, and only those.

Each drift is injected into a copy of the provisioned simulated cluster; the
cluster is observed through the real collector, the API-endpoint checks are
judged on it, and the suite's topology, API-endpoint and config-hygiene
steps run against it once: the declared control fails naming the node or
object (API-03: the API and what it did), and nothing else in those areas
fails (controls that need the unanswering API are skipped with its reason).
KubePrism disabled on a node also runs the Cilium steps: the reference
Cilium reaches the API through KubePrism, so that node's agent fails CIL-03
beside API-04.  The clean cluster passes, API-05 included: the probe dials
the VIP through the kubeconfig's ``proxy-url`` (the simulator's address
proxy on 127.0.0.1), as on a real cluster, and a VIP nobody serves fails it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from checks import api_endpoint
from checks.findings import Finding
from checks.snapshot import Snapshot
from fixtures import probe_api_endpoint
from tests.suite.harness import judged

pytestmark = pytest.mark.slow

CHECKS: dict[str, Callable[[Snapshot], Sequence[Finding]]] = {
    "API-01": api_endpoint.vip_configured_on_control_planes,
    "API-02": api_endpoint.single_healthy_vip_holder,
    "API-03": api_endpoint.endpoint_is_vip_and_answers,
    "API-04": api_endpoint.kubeprism_healthy,
}
AREA_STEPS = (
    "steps/test_topology.py",
    "steps/test_api_endpoint.py",
    "steps/test_config_hygiene.py",
)


def test_clean_cluster_passes_every_api_endpoint_check(clean_snapshot: Snapshot) -> None:
    assert {control: judged(check, clean_snapshot) for control, check in CHECKS.items()} == {
        control: [] for control in CHECKS
    }
    assert clean_snapshot.api is not None
    assert clean_snapshot.api.server == "https://10.10.20.10:6443"


def test_unserved_vip_fails_api05_through_the_same_probe(cluster_with: Any) -> None:
    with cluster_with(("api_endpoint.vip_unserved", None)) as running:
        probe = probe_api_endpoint.probe_vip(running.target, running.cluster)
        state = running.snapshot()
        run = running.run_suite("steps/test_api_endpoint.py")
    (finding,) = api_endpoint.vip_serves_valid_certificate(state, probe)
    assert finding.target == "Kubernetes API at 10.10.20.10:6443"
    assert finding.observed.startswith("no TLS answer (the proxy http://127.0.0.1:")
    assert finding.observed.endswith("no running control-plane node holds the VIP 10.10.20.10)")
    found = {control: judged(check, state) for control, check in CHECKS.items()}
    assert [f.observed for f in found["API-01"]] == ["no VIP"] * 6
    assert [f.observed for f in found["API-02"]] == ["held by no node"]
    (api,) = found["API-03"]
    assert api.target == "Kubernetes API at https://10.10.20.10:6443"
    assert api.observed.startswith("no answer (")
    assert run.returncode == 1, run.output
    assert {"API-01", "API-02", "API-03", "API-05"} <= set(run.failed), run.output
    assert "no running control-plane node holds the VIP" in run.messages["API-05"]


def _only_api03_fails(cluster_with: Any, drift: str) -> tuple[dict[str, Any], Any]:
    with cluster_with((drift, None)) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite(*AREA_STEPS)
    assert run.returncode == 1, run.output
    failed = run.failed
    assert failed == ["API-03"], run.output
    return found, run


def test_slow_api_fails_api03_with_its_answer_time(cluster_with: Any) -> None:
    found, run = _only_api03_fails(cluster_with, "api_endpoint.slow")
    (finding,) = found["API-03"]
    assert finding.target == "Kubernetes API at https://10.10.20.10:6443"
    assert finding.expected == "answers within 2 s"
    assert finding.observed.startswith("answered after ")
    assert float(finding.observed.split()[2]) >= 5
    assert "answered after" in run.messages["API-03"]
    # A slow API still answers: the rest of the area is judged and holds.
    assert {c: f for c, f in found.items() if c != "API-03"} == {
        c: [] for c in CHECKS if c != "API-03"
    }


def test_unavailable_api_fails_api03_and_skips_what_needs_it(cluster_with: Any) -> None:
    found, run = _only_api03_fails(cluster_with, "api_endpoint.unavailable")
    (finding,) = found["API-03"]
    assert finding.observed.startswith("no answer (")
    assert "503" in finding.observed or "Service Unavailable" in finding.observed
    assert "no answer" in run.messages["API-03"]
    # The configs and KubePrism are read through Talos, not the API: still judged.
    assert (found["API-01"], found["API-04"]) == ([], [])
    # Who holds the VIP is read through Talos, whether that node is Ready needs the API.
    assert found["API-02"] == "unobservable"
    assert run.outcomes["TOP-01"] == "skipped"
    assert "did not answer" in run.messages["TOP-01"]


def test_dropped_vip_fails_api01_naming_the_node(cluster_with: Any) -> None:
    with cluster_with(("api_endpoint.drop_vip", "node04")) as running:
        state = running.snapshot()
    found = {control: judged(check, state) for control, check in CHECKS.items()}
    (finding,) = found["API-01"]
    assert finding.target.startswith("node04")
    assert finding.observed == "no VIP"
    # The other control-plane nodes still campaign: one of them holds the VIP.
    assert found["API-02"] == []


def _judged_and_run(
    cluster_with: Any, drift: str, node: str | None, *extra_steps: str
) -> tuple[dict[str, Any], Any]:
    with cluster_with((drift, node)) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite(*AREA_STEPS, *extra_steps)
    return found, run


def test_vip_as_static_address_fails_api02_naming_both_holders(cluster_with: Any) -> None:
    found, run = _judged_and_run(cluster_with, "api_endpoint.vip_static_address", None)
    (finding,) = found["API-02"]
    assert finding.target == "VIP 10.10.20.10"
    assert finding.expected == "held by exactly one Ready control-plane node"
    assert finding.observed == "held by 2 nodes: node01 (k8s-node01), node02 (k8s-node02)"
    # Every control plane is still configured with the VIP, KubePrism and the API are fine.
    assert {c: f for c, f in found.items() if c != "API-02"} == {
        c: [] for c in CHECKS if c != "API-02"
    }
    assert run.returncode == 1, run.output
    # node02's edited config no longer is the rendered one: HYG-07 names it too.
    assert run.failed == ["API-02", "HYG-07"], run.output
    assert "node02 (k8s-node02)" in run.messages["API-02"]
    assert "node02 (10.10.20.17)" in run.messages["HYG-07"]


def test_disabled_kubeprism_fails_api04_and_the_cilium_agent_behind_it(
    cluster_with: Any,
) -> None:
    """The reference Cilium reaches the API through KubePrism: that node's agent fails too."""
    found, run = _judged_and_run(
        cluster_with, "api_endpoint.disable_kubeprism", "node05", "steps/test_cilium.py"
    )
    assert [(f.target, f.expected, f.observed) for f in found["API-04"]] == [
        ("node05 (k8s-node05)", "KubePrism on 127.0.0.1:7445, healthy", "KubePrism not running")
    ]
    assert {c: f for c, f in found.items() if c != "API-04"} == {
        c: [] for c in CHECKS if c != "API-04"
    }
    assert run.returncode == 1, run.output
    # node05's edited config no longer is the rendered one: HYG-07 names the KubePrism path.
    assert run.failed == ["API-04", "CIL-03", "HYG-07"], run.output
    assert "machine.features.kubePrism" in run.messages["HYG-07"]
    assert "node05 (k8s-node05)" in run.messages["API-04"]
    assert "KubePrism not running" in run.messages["API-04"]
    assert "node05 (k8s-node05)" in run.messages["CIL-03"]
    assert "k8s-node01" not in run.messages["CIL-03"]
