"""Steps for features/config_hygiene.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import given, parsers, scenarios, then

from checks import cluster_hygiene, definition, running_config
from checks.definition import DefinitionState
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("config_hygiene.feature")


@given("the cluster definition", target_fixture="state")
def given_the_cluster_definition(definition_state: DefinitionState) -> DefinitionState:
    return definition_state


@then("every node's rendered machine config is valid")
def then_rendered_configs_valid(state: DefinitionState, verify: Verify) -> None:
    verify(definition.rendered_configs_valid, state)


@then("no file of the definition in git holds secret material")
def then_no_secrets_committed(state: DefinitionState, verify: Verify) -> None:
    verify(definition.no_secrets_committed, state)


@then("every node's installer image is the one built from the declared schematic")
def then_installer_matches_schematic(state: DefinitionState, verify: Verify) -> None:
    verify(definition.installer_matches_schematic, state)


@then("no node sets its hostname both in a HostnameConfig and in the machine config")
def then_single_hostname_source(state: DefinitionState, verify: Verify) -> None:
    verify(definition.single_hostname_source, state)


@then("every node's running hostname is the one the inventory declares")
def then_running_hostnames_as_declared(snapshot: Snapshot, verify: Verify) -> None:
    verify(cluster_hygiene.hostnames_as_declared, snapshot)


@then(
    parsers.parse(
        "the kubeconfig's client certificate is accepted and valid for at least {days:d} more days"
    )
)
def then_kubeconfig_certificate_current(snapshot: Snapshot, verify: Verify, days: int) -> None:
    verify(cluster_hygiene.kubeconfig_certificate_current, snapshot, min_days=days)


@then("every node runs the config rendered from the definition")
def then_nodes_run_rendered_config(
    snapshot: Snapshot, state: DefinitionState, verify: Verify
) -> None:
    verify(running_config.runs_rendered_config, snapshot, rendered=state.documents)
