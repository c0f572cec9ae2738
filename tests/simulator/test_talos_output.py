"""talosctl output formats and resources derived from the simulated state."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.talos import output, resources
from simulator.talos.errors import TalosError
from simulator.talos.resources import Resource, resolve_type
from tests.simulator import talos_site as ts

CREATED = 1624998198.0  # 2021-06-29T20:23:18Z


def _address() -> Resource:
    return Resource(
        resolve_type("addresses"),
        "eth0/172.20.0.2/24",
        1,
        "network.AddressStatusController",
        {"address": "172.20.0.2/24"},
        CREATED,
        CREATED,
    )


def test_yaml_matches_the_documented_layout() -> None:
    assert output.yaml_stream([("172.20.0.2", _address())]) == (
        "node: 172.20.0.2\n"
        "metadata:\n"
        "    namespace: network\n"
        "    type: AddressStatuses.net.talos.dev\n"
        "    id: eth0/172.20.0.2/24\n"
        "    version: 1\n"
        "    owner: network.AddressStatusController\n"
        "    phase: running\n"
        "    created: 2021-06-29T20:23:18Z\n"
        "    updated: 2021-06-29T20:23:18Z\n"
        "spec:\n"
        "    address: 172.20.0.2/24\n"
    )


def test_yaml_separates_resources_and_writes_empty_owner_bare() -> None:
    bare = Resource(resolve_type("extensions"), "0", 1, "", {"image": "0.sqsh"})
    text = output.yaml_stream([("n1", _address()), ("n2", bare)])
    assert "\n---\nnode: n2\n" in text
    assert "    owner:\n" in text


def test_json_is_a_stream_of_sorted_pretty_objects() -> None:
    bare = Resource(resolve_type("extensions"), "0", 2, "", {"image": "0.sqsh"})
    text = output.json_stream([("172.20.0.2", _address()), ("n2", bare)])
    first = json.dumps(
        {
            "metadata": {
                "created": "2021-06-29T20:23:18Z",
                "id": "eth0/172.20.0.2/24",
                "namespace": "network",
                "owner": "network.AddressStatusController",
                "phase": "running",
                "type": "AddressStatuses.net.talos.dev",
                "updated": "2021-06-29T20:23:18Z",
                "version": 1,
            },
            "node": "172.20.0.2",
            "spec": {"address": "172.20.0.2/24"},
        },
        indent=4,
    )
    assert text.startswith(first + "\n{\n")
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(text)
    second, _ = decoder.raw_decode(text[end:].lstrip())
    assert second["metadata"]["id"] == 0  # numeric-looking IDs become numbers
    assert second["metadata"]["owner"] is None


def test_table_header_always_printed_and_padded_by_three() -> None:
    typedef = resolve_type("volumestatus")
    assert output.table([], typedef.columns) == (
        "NODE   NAMESPACE   TYPE   ID   VERSION   TYPE   PHASE   LOCATION   SIZE\n"
    )
    state = Resource(
        typedef,
        "STATE",
        6,
        "",
        {"type": "partition", "phase": "ready", "location": "/dev/vda3", "prettySize": "105 MB"},
    )
    row = output.table([("172.20.0.2", state)], typedef.columns).splitlines()[1]
    assert row.split() == [
        "172.20.0.2",
        "runtime",
        "VolumeStatus",
        "STATE",
        "6",
        "partition",
        "ready",
        "/dev/vda3",
        "105",
        "MB",
    ]
    assert row.startswith("172.20.0.2   runtime     VolumeStatus   STATE   6         partition")


def test_etcd_members_table() -> None:
    text = output.etcd_members(
        [
            (
                "10.31.192.10",
                0x744EEDEBCE0E8271,
                "km11",
                ["https://10.31.192.10:2380"],
                ["https://10.31.192.10:2379"],
                False,
            )
        ]
    )
    assert text.splitlines() == [
        "NODE           ID                 HOSTNAME   PEER URLS                   "
        "CLIENT URLS                 LEARNER",
        "10.31.192.10   744eedebce0e8271   km11       https://10.31.192.10:2380   "
        "https://10.31.192.10:2379   false",
    ]


def test_version_output() -> None:
    text = output.version("v1.12.5", [("10.0.0.2", "v1.12.5")], sha="abc", go="go1.25.7")
    assert text == (
        "Client:\n\tTag:         v1.12.5\n\tSHA:         abc\n\tBuilt:       \n"
        "\tGo version:  go1.25.7\n\tOS/Arch:     linux/amd64\n"
        "Server:\n\tNODE:        10.0.0.2\n\tTag:         v1.12.5\n\tSHA:         abc\n"
        "\tBuilt:       \n\tGo version:  go1.25.7\n\tOS/Arch:     linux/amd64\n"
        "\tEnabled:     RBAC\n"
    )


def test_jsonpath_scalar_and_map() -> None:
    assert output.jsonpath([("n", _address())], "{.spec.address}") == "172.20.0.2/24\n"
    assert output.jsonpath([("n", _address())], "{.spec}") == (
        '{\n    "address": "172.20.0.2/24"\n}\n'
    )


@pytest.mark.parametrize(
    ("name", "full"),
    [
        ("vs", "VolumeStatuses.block.talos.dev"),
        ("VolumeStatuses.block", "VolumeStatuses.block.talos.dev"),
        ("ems", "EtcdMembers.etcd.talos.dev"),
        ("mc", "MachineConfigs.config.talos.dev"),
        ("kps", "KubePrismStatuses.kubernetes.talos.dev"),
    ],
)
def test_type_aliases(name: str, full: str) -> None:
    assert resolve_type(name).type == full


def test_type_errors() -> None:
    with pytest.raises(TalosError, match=r'^resource "nope" is not registered$'):
        resolve_type("nope")
    with pytest.raises(TalosError, match='resource type "hs" is ambiguous'):
        resolve_type("hs")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10**15))
def test_pretty_size_has_at_most_three_significant_digits(size: int) -> None:
    text = resources.pretty_size(size)
    number, unit = text.split(" ")
    assert unit in ("B", "kB", "MB", "GB", "TB", "PB")
    assert float(number) <= 1000  # go-humanize rounds 999.5 up to "1000"
    assert len(number.replace(".", "")) <= (4 if number == "1000" else 3)


def test_volume_status_follows_encryption_state() -> None:
    life = ts.running_cluster(1)
    node = life.site.machines["node01"]
    statuses = {r.id: r.spec for r in resources.resources(life.site, node, resolve_type("vs"))}
    assert statuses["EPHEMERAL"]["encryptionProvider"] == "luks2"
    assert statuses["EPHEMERAL"]["mountLocation"].startswith("/dev/dm-")
    assert statuses["STATE"]["prettySize"] == "105 MB"
    plain = ts.running_cluster(1, encrypt=False)
    pnode = plain.site.machines["node01"]
    pstat = {r.id: r.spec for r in resources.resources(plain.site, pnode, resolve_type("vs"))}
    assert "encryptionProvider" not in pstat["EPHEMERAL"]
    assert pstat["EPHEMERAL"]["mountLocation"] == pstat["EPHEMERAL"]["location"]


def test_derived_kubelet_kubeprism_extensions_and_vip_address() -> None:
    life = ts.running_cluster(2, seccomp=False, kubeprism=False)
    node = life.site.machines["node01"]
    (kubelet,) = resources.resources(life.site, node, resolve_type("kubeletspecs"))
    assert "seccompDefault" not in kubelet.spec["config"]
    assert resources.resources(life.site, node, resolve_type("kubeprismstatuses")) == []
    names = [
        r.spec["metadata"]["name"]
        for r in resources.resources(life.site, node, resolve_type("extensions"))
    ]
    assert names == ["iscsi-tools", "util-linux-tools", "schematic"]
    holder = life.site.machines[life.site.vip_holders[ts.VIP]]
    ids = [r.id for r in resources.resources(life.site, holder, resolve_type("addresses"))]
    assert f"enp1s0/{ts.VIP}/32" in ids
    other = next(m for m in life.site.machines.values() if m is not holder)
    other_ids = [r.id for r in resources.resources(life.site, other, resolve_type("addresses"))]
    assert f"enp1s0/{ts.VIP}/32" not in other_ids


def test_jsonpath_templates_as_client_go_evaluates_them() -> None:
    from simulator.talos import jsonpath

    data = {
        "node": "n",
        "spec": {
            "items": [{"name": "a", "size": 1}, {"name": "b", "size": 3}, {"name": "c"}],
            "flag": True,
        },
    }

    def render(template: str) -> str:
        return jsonpath.render(jsonpath.parse(template), data)

    assert render("{.spec.items[*].name}") == "a\nb\nc\n"
    assert render("{.spec.items[-1].name}") == "c\n"
    assert render("{.spec.items[0:2].name}") == "a\nb\n"
    assert render("{$.spec.items[?(@.size > 2)].name}") == "b\n"
    assert render("{.spec.items[?(@.name == 'a')].size}") == "1\n"
    assert render("{.spec.items[?(@.size)].name}") == "a\nb\n"
    assert render("{..name}") == "a\nb\nc\n"
    assert render("{.spec.flag} on {.node}") == "true\n on \nn\n"
    assert render("{.spec['flag']}") == "true\n"
    assert render("{.spec.items[1]}") == '{\n    "name": "b",\n    "size": 3\n}\n'
    with pytest.raises(ValueError, match="missing is not found"):
        render("{.spec.missing}")
    with pytest.raises(ValueError, match="array index out of bounds: index 5, length 3"):
        render("{.spec.items[5]}")
    for malformed, why in (
        ("{.spec[}", "unterminated array"),
        ("{.spec", "unclosed action"),
        ("{range .spec.items[*]}{.name}{end}", "range blocks are not supported"),
    ):
        with pytest.raises(ValueError, match=why):
            jsonpath.parse(malformed)
