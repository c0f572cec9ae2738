"""Schematic IDs must equal Image Factory's, byte for byte (talos.md §6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.definition import schematic
from provisioning.definition.problems import DefinitionError

LONGHORN = {
    "customization": {
        "systemExtensions": {
            "officialExtensions": ["siderolabs/iscsi-tools", "siderolabs/util-linux-tools"]
        }
    }
}
LONGHORN_ID = "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245"


def test_vanilla_schematic_has_the_documented_default_id() -> None:
    """Image Factory docs: the empty customization is 376567988ad3…"""
    assert (
        schematic.schematic_id({"customization": {}})
        == "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
    )


def test_longhorn_schematic_matches_the_talos_longhorn_guide() -> None:
    assert schematic.schematic_id(LONGHORN) == LONGHORN_ID


def test_extension_order_changes_the_id() -> None:
    """No sorting happens: a reordered list is another schematic (talos.md §6)."""
    reordered = {
        "customization": {
            "systemExtensions": {
                "officialExtensions": ["siderolabs/util-linux-tools", "siderolabs/iscsi-tools"]
            }
        }
    }
    assert schematic.schematic_id(reordered).startswith("ffdc59f4")


def test_installer_image_is_the_article_form() -> None:
    image = schematic.installer_image("factory.talos.dev/installer", LONGHORN, "v1.12.5")
    assert image == f"factory.talos.dev/installer/{LONGHORN_ID}:v1.12.5"


def test_extension_names_drop_the_siderolabs_prefix() -> None:
    assert schematic.official_extensions(LONGHORN) == ("iscsi-tools", "util-linux-tools")


def test_unknown_field_is_rejected_with_its_path() -> None:
    with pytest.raises(DefinitionError) as caught:
        schematic.schematic_id(
            {"customization": {"systemExtension": {}}}, display="cluster/cluster.yaml"
        )
    problem = caught.value.problems[0]
    assert problem.file == "cluster/cluster.yaml"
    assert problem.field == "customization.systemExtension"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_any_input_gives_an_id_or_a_definition_error(value: object) -> None:
    try:
        result = schematic.schematic_id({"customization": value})
    except DefinitionError as exc:
        result = "\n".join(str(p) for p in exc.problems)
        assert result.startswith("schematic: customization")
    else:
        assert len(result) == 64
