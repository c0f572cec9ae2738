"""The meaning of two machine configs compared (provisioning.configdiff)."""

from __future__ import annotations

from typing import Any

from provisioning import configdiff
from provisioning.configdiff import Change, ChangeKind

KEY = "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUI="  # base64 PEM private key head


def v1alpha1(**machine: Any) -> dict[str, Any]:
    return {
        "version": "v1alpha1",
        "machine": {"type": "worker", "token": "abcdef.0123456789abcdef", **machine},
        "cluster": {"controlPlane": {"endpoint": "https://10.10.20.10:6443"}},
    }


HOSTNAME = {"apiVersion": "v1alpha1", "kind": "HostnameConfig", "hostname": "k8s-node01"}


def where(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.document, c.path, c.kind.value) for c in changes]


def test_reordered_documents_dropped_empty_fields_and_scalar_spelling_mean_the_same() -> None:
    rendered = [
        v1alpha1(sysctls={"net.core.somaxconn": 65535}, nodeLabels={}, env=None),
        HOSTNAME,
    ]
    running = [
        dict(HOSTNAME),
        v1alpha1(sysctls={"net.core.somaxconn": "65535"}),
    ]
    assert configdiff.diff_documents(rendered, running) == []


def test_changed_added_and_removed_paths_carry_expected_and_observed() -> None:
    rendered = [v1alpha1(install={"image": "factory/a:v1.12.5"}, sysctls={"a.b": "1"}), HOSTNAME]
    running = [
        v1alpha1(install={"image": "factory/b:v1.12.5"}, sysctls={"a.b": "1", "vm.x": "2"}),
    ]
    changes = configdiff.diff_documents(rendered, running)
    assert where(changes) == [
        ("v1alpha1", "machine.install.image", "changed"),
        ("v1alpha1", 'machine.sysctls["vm.x"]', "added"),
        ("HostnameConfig", "", "removed"),
    ]
    image, sysctl, document = changes
    assert (image.expected, image.observed) == ("factory/a:v1.12.5", "factory/b:v1.12.5")
    assert sysctl.describe() == 'v1alpha1: machine.sysctls["vm.x"] added: observed 2'
    assert document.expected == HOSTNAME


def test_lists_of_scalars_report_each_extra_or_missing_item() -> None:
    rendered = [v1alpha1(install={"extraKernelArgs": ["a=1", "b=2"]})]
    running = [v1alpha1(install={"extraKernelArgs": ["a=1", "b=2", "talos.dashboard.disabled=1"]})]
    (change,) = configdiff.diff_documents(rendered, running)
    assert (change.path, change.kind, change.observed) == (
        "machine.install.extraKernelArgs[2]",
        ChangeKind.ADDED,
        "talos.dashboard.disabled=1",
    )
    assert configdiff.diff_documents(running, rendered)[0].kind is ChangeKind.REMOVED


def test_lists_of_mappings_are_matched_by_the_key_naming_their_items() -> None:
    eth0 = {"interface": "eth0", "mtu": 1500}
    eth1 = {"interface": "eth1", "mtu": 1500}
    rendered = [v1alpha1(network={"interfaces": [eth0, eth1]})]
    running = [v1alpha1(network={"interfaces": [dict(eth1, mtu=9000), eth0]})]
    (change,) = configdiff.diff_documents(rendered, running)
    assert change.path == "machine.network.interfaces[interface=eth1].mtu"
    assert (change.expected, change.observed) == (1500, 9000)


def test_a_changed_secret_is_reported_changed_and_never_carried() -> None:
    rendered = [v1alpha1(ca={"crt": "Y2VydA==", "key": KEY})]
    other_key = KEY[:-4] + "QUFB"
    running = [v1alpha1(ca={"crt": "Y2VydA==", "key": other_key})]
    running[0]["machine"]["token"] = "zzzzzz.0123456789abcdef"
    changes = configdiff.diff_documents(rendered, running)
    assert where(changes) == [
        ("v1alpha1", "machine.ca.key", "changed"),
        ("v1alpha1", "machine.token", "changed"),
    ]
    assert all(c.secret and c.expected == c.observed == "<redacted>" for c in changes)
    text = repr(changes) + "".join(c.describe() for c in changes)
    assert KEY not in text
    assert other_key not in text
    assert "0123456789abcdef" not in text


def test_an_equal_secret_is_no_difference_and_a_placeholder_matches_any_value() -> None:
    rendered = [v1alpha1(ca={"crt": "<redacted>", "key": "<redacted>"})]
    rendered[0]["machine"]["token"] = "<redacted>"
    running = [v1alpha1(ca={"crt": "Y2VydA==", "key": KEY})]
    assert configdiff.diff_documents(rendered, running) == []
    same = [v1alpha1(ca={"crt": "Y2VydA==", "key": KEY})]
    assert configdiff.diff_documents(same, running) == []


def test_a_missing_secret_is_removed_without_its_value() -> None:
    rendered = [v1alpha1(ca={"key": KEY})]
    running = [v1alpha1()]
    (change,) = configdiff.diff_documents(rendered, running)
    assert (change.path, change.kind, change.expected, change.observed, change.secret) == (
        "machine.ca.key",
        ChangeKind.REMOVED,
        "<redacted>",
        None,
        True,
    )
    assert KEY not in repr(change)


def test_a_subtree_on_one_side_is_reported_leaf_by_leaf() -> None:
    rendered = [v1alpha1()]
    running = [
        v1alpha1(env={"HTTPS_PROXY": "http://proxy:3128"}, install={"extraKernelArgs": ["a"]})
    ]
    assert [c.describe() for c in configdiff.diff_documents(rendered, running)] == [
        "v1alpha1: machine.env.HTTPS_PROXY added: observed http://proxy:3128",
        "v1alpha1: machine.install.extraKernelArgs[0] added: observed a",
    ]


def test_a_whole_document_on_one_side_is_shown_redacted() -> None:
    secret_doc = {"apiVersion": "v1alpha1", "kind": "Foo", "name": "x", "password": "hunter2"}
    (change,) = configdiff.diff_documents([v1alpha1()], [v1alpha1(), secret_doc])
    assert (change.document, change.kind) == ("Foo/x", ChangeKind.ADDED)
    assert change.observed["password"] == "<redacted>"


def test_reboot_follows_can_apply_immediate() -> None:
    def change(path: str, document: str = "v1alpha1") -> Change:
        return Change(document, path, ChangeKind.CHANGED, 1, 2)

    assert not configdiff.needs_reboot(change("machine.install.image"))
    assert not configdiff.needs_reboot(change('machine.sysctls["vm.x"]'))
    assert not configdiff.needs_reboot(change("machine.features.kubePrism.port"))
    assert not configdiff.needs_reboot(change("cluster.apiServer.extraArgs"))
    assert not configdiff.needs_reboot(change("", "HostnameConfig"))
    assert configdiff.needs_reboot(change("machine.env.http_proxy"))
    assert configdiff.needs_reboot(change("machine.features.rbac"))
    assert configdiff.needs_reboot(change("machine.files[0]"))
    assert configdiff.reboot_paths([change("machine.env.x"), change("machine.kernel")]) == [
        "v1alpha1: machine.env.x"
    ]


def test_a_secret_inside_a_list_item_is_redacted_wherever_the_items_are_matched() -> None:
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n"
    files = [{"path": "/var/etc/a.pem", "content": pem, "op": "create"}]
    running = [v1alpha1(files=[{**files[0], "content": pem.replace("MHc", "XYZ")}])]
    (change,) = configdiff.diff_documents([v1alpha1(files=files)], running)
    assert change.path == "machine.files[path=/var/etc/a.pem].content"
    assert (change.expected, change.observed, change.secret) == ("<redacted>", "<redacted>", True)
    added = configdiff.diff_documents([v1alpha1()], [v1alpha1(files=files)])
    assert [c.observed for c in added if c.path.endswith(".content")] == ["<redacted>"]
    assert "MHc" not in repr(added)
