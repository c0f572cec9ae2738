"""Steps for features/config_hygiene.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import given, scenarios, then

from checks import definition
from checks.definition import DefinitionState
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
