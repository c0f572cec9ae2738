"""Steps for features/cilium.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then

from checks import cilium
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("cilium.feature")


@then("every node's machine config installs no CNI and disables kube-proxy")
def then_no_cni_and_no_kube_proxy_in_machine_configs(snapshot: Snapshot, verify: Verify) -> None:
    verify(cilium.cni_and_proxy_left_to_cilium, snapshot)


@then("no kube-proxy DaemonSet or pod exists in any namespace")
def then_no_kube_proxy_daemonset_or_pod(snapshot: Snapshot, verify: Verify) -> None:
    verify(cilium.no_kube_proxy, snapshot)


@then("every Kubernetes node runs a Ready Cilium agent")
def then_every_node_runs_a_ready_cilium_agent(snapshot: Snapshot, verify: Verify) -> None:
    verify(cilium.agent_ready_on_every_node, snapshot)


@then("the running Cilium configuration is as declared and reaches the API through KubePrism")
def then_running_cilium_config_matches_declared(snapshot: Snapshot, verify: Verify) -> None:
    verify(cilium.running_config_as_declared, snapshot)


@then("the Cilium operator has the declared number of Ready replicas")
def then_cilium_operator_has_declared_ready_replicas(snapshot: Snapshot, verify: Verify) -> None:
    verify(cilium.operator_replicas_ready, snapshot)


@then("the Cilium agent and operator images carry the declared Cilium version")
def then_cilium_images_carry_declared_version(snapshot: Snapshot, verify: Verify) -> None:
    verify(cilium.version_as_declared, snapshot)
