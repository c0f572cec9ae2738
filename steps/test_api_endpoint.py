"""Steps for features/api_endpoint.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import parsers, scenarios, then, when

from checks import api_endpoint
from checks.api_endpoint import VipProbe
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("api_endpoint.feature")


@then("every control-plane node's config carries the declared virtual IP")
def then_control_plane_configs_carry_vip(snapshot: Snapshot, verify: Verify) -> None:
    verify(api_endpoint.vip_configured_on_control_planes, snapshot)


@then("the declared virtual IP is held by exactly one Ready control-plane node")
def then_vip_held_by_one_ready_control_plane(snapshot: Snapshot, verify: Verify) -> None:
    verify(api_endpoint.single_healthy_vip_holder, snapshot)


@then(
    parsers.parse(
        "every node names the declared endpoint and the API answers within {seconds:g} seconds"
    )
)
def then_endpoint_is_vip_and_api_answers(
    snapshot: Snapshot, verify: Verify, seconds: float
) -> None:
    verify(api_endpoint.endpoint_is_vip_and_answers, snapshot, max_seconds=seconds)


@then("KubePrism is healthy on the declared port on every node")
def then_kubeprism_healthy_on_every_node(snapshot: Snapshot, verify: Verify) -> None:
    verify(api_endpoint.kubeprism_healthy, snapshot)


@when("the API is dialled on the declared virtual IP", target_fixture="vip_probe")
def when_api_dialled_on_vip(api_vip_probe: VipProbe) -> VipProbe:
    return api_vip_probe


@then("the API on the virtual IP presents a certificate from the cluster CA valid for it")
def then_vip_presents_valid_certificate(
    snapshot: Snapshot, vip_probe: VipProbe, verify: Verify
) -> None:
    verify(api_endpoint.vip_serves_valid_certificate, snapshot, probe=vip_probe)
