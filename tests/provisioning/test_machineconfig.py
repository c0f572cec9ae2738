"""The machine-config container follows Talos's container rules and cannot be changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config.machineconfig import MachineConfig, doc_id, doc_key, is_v1alpha1
from provisioning.definition.problems import DefinitionError

BASE = """\
apiVersion: v1alpha1
kind: HostnameConfig
auto: stable
---
version: v1alpha1
machine:
    type: controlplane
    token: s3cr3t-machine-token
    network:
        interfaces:
            - interface: eth0
              addresses: [10.0.0.16/24]
cluster:
    network:
        cni:
            name: none
---
apiVersion: v1alpha1
kind: LinkConfig
name: eth1
mtu: 9000
"""


def _problem(text: str) -> tuple[str, str, str, int | None]:
    with pytest.raises(DefinitionError) as caught:
        MachineConfig.parse(text, "controlplane.yaml")
    (problem,) = caught.value.problems
    return problem.file, problem.field, problem.message, problem.line


def test_v1alpha1_comes_first_then_documents_in_order() -> None:
    config = MachineConfig.parse(BASE, "controlplane.yaml")
    assert [doc_id(d) for d in config.documents] == [
        "v1alpha1",
        "HostnameConfig",
        "LinkConfig/eth1",
    ]
    assert config.keys()[0] == ("v1alpha1", "v1alpha1", "")
    assert config.keys()[2] == ("v1alpha1", "LinkConfig", "eth1")


def test_lookups() -> None:
    config = MachineConfig.parse(BASE, "controlplane.yaml")
    assert config.get("cluster.network.cni.name") == "none"
    assert config.get("machine.network.interfaces.0.interface") == "eth0"
    assert config.get("machine.network.interfaces.3.interface", "absent") == "absent"
    assert config.get("machine.install.disk") is None
    assert config.find("LinkConfig", "eth1") == {
        "apiVersion": "v1alpha1",
        "kind": "LinkConfig",
        "name": "eth1",
        "mtu": 9000,
    }
    assert config.find("LinkConfig", "eth9") is None
    assert config.find("HostnameConfig") == {
        "apiVersion": "v1alpha1",
        "kind": "HostnameConfig",
        "auto": "stable",
    }
    v1alpha1 = config.v1alpha1()
    assert v1alpha1 is not None
    assert v1alpha1["machine"]["type"] == "controlplane"


def test_config_without_v1alpha1_answers_none() -> None:
    config = MachineConfig.parse("apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n", "x")
    assert config.v1alpha1() is None
    assert config.get("machine.type", "dflt") == "dflt"


def test_identity_helpers() -> None:
    assert is_v1alpha1({"version": "v1alpha1"})
    assert is_v1alpha1({"machine": {}})  # patches often omit `version`
    assert not is_v1alpha1({"apiVersion": "v1alpha1", "kind": "HostnameConfig"})
    assert not is_v1alpha1({"foo": 1})
    assert doc_key({"machine": {}}) == ("v1alpha1", "v1alpha1", "")
    assert doc_key({"apiVersion": "v1alpha1", "kind": "Layer2VIPConfig", "name": "10.0.0.10"}) == (
        "v1alpha1",
        "Layer2VIPConfig",
        "10.0.0.10",
    )
    assert doc_id({"apiVersion": "v1alpha1", "kind": "HostnameConfig"}) == "HostnameConfig"
    assert doc_id({"apiVersion": "v1alpha1", "kind": "VolumeConfig", "name": "STATE"}) == (
        "VolumeConfig/STATE"
    )
    assert doc_id({"version": "v1alpha1"}) == "v1alpha1"


def test_duplicate_v1alpha1() -> None:
    text = "version: v1alpha1\nmachine: {}\n---\nversion: v1alpha1\ncluster: {}\n"
    assert _problem(text) == ("controlplane.yaml", "v1alpha1", "duplicate v1alpha1.Config", 4)


def test_duplicate_named_document() -> None:
    text = BASE + "---\napiVersion: v1alpha1\nkind: LinkConfig\nname: eth1\nmtu: 1500\n"
    file, field, message, line = _problem(text)
    assert (file, field, message) == (
        "controlplane.yaml",
        "LinkConfig/eth1",
        "duplicate document LinkConfig/eth1",
    )
    assert line == 23


def test_same_kind_different_names_is_fine() -> None:
    text = BASE + "---\napiVersion: v1alpha1\nkind: LinkConfig\nname: eth2\n"
    assert len(MachineConfig.parse(text, "x").documents) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v1alpha1\nname: x\n", "missing kind"),
        ("kind: HostnameConfig\nauto: stable\n", "missing apiVersion"),
        ("foo: bar\n", "missing kind"),
        ("- a\n- b\n", "expected a YAML document (a mapping), not a list"),
        ("just text\n", "expected a YAML document (a mapping), not a scalar"),
        ("", "config not found"),
        ("---\n---\n", "config not found"),
        ("apiVersion: [v1]\nkind: X\n", "apiVersion must be a string"),
    ],
)
def test_bad_documents_are_named(text: str, message: str) -> None:
    file, _, found, _ = _problem(text)
    assert file == "controlplane.yaml"
    assert found == message


def test_every_problem_is_reported_at_once() -> None:
    text = "foo: 1\n---\n- x\n---\nkind: A\n"
    with pytest.raises(DefinitionError) as caught:
        MachineConfig.parse(text, "c.yaml")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("documents[0]", "missing kind"),
        ("documents[1]", "expected a YAML document (a mapping), not a list"),
        ("documents[2]", "missing apiVersion"),
    ]


def test_patch_directives_are_refused_in_a_config() -> None:
    text = "version: v1alpha1\nmachine:\n  network:\n    hostname:\n      $patch: delete\n"
    _, field, message, _ = _problem(text)
    assert field == "v1alpha1"
    assert "$patch" in message


def test_yaml_syntax_error_names_the_file() -> None:
    file, _, message, line = _problem("version: v1alpha1\nmachine: [\n")
    assert file == "controlplane.yaml"
    assert message.startswith("not valid YAML")
    assert line is not None


def test_null_documents_are_skipped() -> None:
    config = MachineConfig.parse("---\nversion: v1alpha1\n---\n", "x")
    assert config.documents == ({"version": "v1alpha1"},)


def test_inputs_and_outputs_are_copies() -> None:
    source: list[dict[str, Any]] = [{"version": "v1alpha1", "machine": {"type": "worker"}}]
    config = MachineConfig.from_documents(source, "x")
    source[0]["machine"]["type"] = "controlplane"
    config.documents[0]["machine"]["type"] = "init"
    v1alpha1 = config.v1alpha1()
    assert v1alpha1 is not None
    v1alpha1["machine"]["type"] = "init"
    got = config.get("machine")
    got["type"] = "init"
    assert config.get("machine.type") == "worker"
    with pytest.raises(AttributeError):
        config._documents = ()  # type: ignore[misc]


def test_repr_shows_document_ids_not_secrets() -> None:
    config = MachineConfig.parse(BASE, "controlplane.yaml")
    assert repr(config) == "MachineConfig(v1alpha1, HostnameConfig, LinkConfig/eth1)"
    assert "s3cr3t" not in repr(config)


def test_to_yaml_is_talos_layout_and_round_trips() -> None:
    config = MachineConfig.parse(BASE, "controlplane.yaml")
    text = config.to_yaml()
    assert text.startswith("version: v1alpha1\nmachine:\n    type: controlplane\n")
    assert "\n---\napiVersion: v1alpha1\nkind: HostnameConfig\n" in text
    assert MachineConfig.parse(text, "again") == config


_scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.text("abc: -", max_size=6), st.none())
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text("xyz", max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    v1alpha1=st.dictionaries(st.sampled_from(["machine", "cluster", "debug"]), _values, min_size=1),
    names=st.lists(st.text("abc", min_size=1, max_size=3), max_size=3, unique=True),
)
def test_generated_configs_round_trip_through_yaml(
    v1alpha1: dict[str, Any], names: list[str]
) -> None:
    docs = [{"version": "v1alpha1", **v1alpha1}] + [
        {"apiVersion": "v1alpha1", "kind": "LinkConfig", "name": n, "up": True} for n in names
    ]
    config = MachineConfig.from_documents(copy.deepcopy(docs), "gen")
    assert MachineConfig.parse(config.to_yaml(), "gen") == config
    assert list(config.documents) == docs


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab:-[]{}\n #$&*!|>'\"", max_size=60))
def test_any_text_gives_a_config_or_a_definition_error(text: str) -> None:
    try:
        config = MachineConfig.parse(text, "fuzz.yaml")
    except DefinitionError as exc:
        assert exc.problems
        assert all(p.file == "fuzz.yaml" for p in exc.problems)
    else:
        assert config.documents
