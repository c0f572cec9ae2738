"""The patch engine produces the config Talos v1.12.5 would, with Talos's errors.

Examples cite their upstream source: "patching.mdx v1.12" is siderolabs/docs
public/talos/v1.12/configure-your-talos-cluster/system-configuration/
patching.mdx; "patching.md v1.11" is siderolabs/talos
website/content/v1.11/talos-guides/configuration/patching.md; "testdata/..."
is siderolabs/talos pkg/machinery/config/configpatcher/testdata at v1.12.5.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.config import patches
from provisioning.config.machineconfig import MachineConfig
from provisioning.config.patches import Patch, PatchKind
from provisioning.definition.problems import DefinitionError

MULTIDOC = "JSON6902 patches are not supported for multi-document machine configuration"


def config(text: str) -> MachineConfig:
    return MachineConfig.parse(text, "controlplane.yaml")


def patched(base: str, *patch_texts: str) -> MachineConfig:
    stack = [patches.parse_patch(text, f"patch{i}.yaml") for i, text in enumerate(patch_texts)]
    return patches.apply_patches(config(base), stack)


def docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def failure(base: str, patch_text: str, source: str = "patches/p.yaml") -> tuple[str, str, str]:
    with pytest.raises(DefinitionError) as caught:
        patches.apply_patch(config(base), patches.parse_patch(patch_text, source))
    (problem,) = caught.value.problems
    return problem.file, problem.field, problem.message


# --- classification (configpatcher/load.go) ---------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("machine:\n  network:\n    hostname: n1\n", PatchKind.STRATEGIC),
        (
            "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: n1\nauto: off\n",
            PatchKind.STRATEGIC,
        ),
        ('[{"op": "replace", "path": "/cluster/clusterName", "value": "x"}]', PatchKind.JSON6902),
        ("- op: add\n  path: /machine/install/disk\n  value: /dev/sdb\n", PatchKind.JSON6902),
        ("", PatchKind.JSON6902),
        ("  \n# only a comment\n", PatchKind.JSON6902),
        ("null", PatchKind.JSON6902),
        ("[]", PatchKind.JSON6902),
    ],
)
def test_classification(text: str, kind: PatchKind) -> None:
    assert patches.parse_patch(text, "p.yaml").kind is kind


def test_empty_patch_file_is_json_and_refused_by_multidoc_config(tmp_path: Path) -> None:
    """#12457/#13029: an empty patch file is a JSON patch, so a v1.12 config refuses it."""
    path = tmp_path / "empty.yaml"
    path.write_text("")
    patch = patches.load_patch(path, "patches/empty.yaml")
    assert patch == Patch("patches/empty.yaml", PatchKind.JSON6902)
    assert failure(MULTI, "", "patches/empty.yaml") == ("patches/empty.yaml", "", MULTIDOC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "not a JSON patch: a JSON patch is a list of operation objects"),
        ("foo: bar\n", "missing kind"),
        ("kind: HostnameConfig\nauto: stable\n", "missing apiVersion"),
        ("{}", "config not found"),
        ("version: v1alpha1\n", "config not found"),
    ],
)
def test_unusable_patch_text(text: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        patches.parse_patch(text, "patches/bad.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.message) == ("patches/bad.yaml", message)


def test_yaml_syntax_error_is_the_strategic_error() -> None:
    with pytest.raises(DefinitionError) as caught:
        patches.parse_patch("machine:\n  network: [\n", "patches/bad.yaml")
    assert caught.value.problems[0].message.startswith("not valid YAML")
    assert caught.value.problems[0].line is not None


def test_load_patch_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        patches.load_patch(tmp_path / "nope.yaml", "patches/nope.yaml")
    assert str(caught.value) == "patches/nope.yaml: file not found"


def test_patch_repr_hides_contents() -> None:
    patch = patches.parse_patch("machine:\n  token: s3cr3t\n", "p.yaml")
    assert "s3cr3t" not in repr(patch)


# --- strategic merge: documented examples ------------------------------------

MULTI = """\
version: v1alpha1
machine:
    type: controlplane
    certSANs: [10.0.0.10]
    network:
        interfaces:
            - interface: eth0
              dhcp: false
              addresses: [192.168.10.3/24]
cluster:
    network:
        dnsDomain: cluster.local
        podSubnets: [10.244.0.0/16]
        serviceSubnets: [10.96.0.0/12]
    apiServer:
        admissionControl:
            - name: PodSecurity
              configuration:
                  apiVersion: pod-security.admission.config.k8s.io/v1alpha1
                  kind: PodSecurityConfiguration
                  defaults: {enforce: baseline, enforce-version: latest}
                  exemptions:
                      namespaces: [kube-system]
                      runtimeClasses: []
                      usernames: []
        auditPolicy:
            apiVersion: audit.k8s.io/v1
            kind: Policy
            rules:
                - level: Metadata
---
apiVersion: v1alpha1
kind: HostnameConfig
auto: stable
---
apiVersion: v1alpha1
kind: LinkConfig
name: enp0s3
mtu: 9000
up: true
"""


def test_delete_a_key_of_a_named_document() -> None:
    """patching.mdx v1.12: `mtu: {$patch: delete}` on LinkConfig enp0s3 leaves `up: true`."""
    out = patched(
        MULTI, "apiVersion: v1alpha1\nkind: LinkConfig\nname: enp0s3\nmtu:\n  $patch: delete\n"
    )
    assert out.find("LinkConfig", "enp0s3") == {
        "apiVersion": "v1alpha1",
        "kind": "LinkConfig",
        "name": "enp0s3",
        "up": True,
    }


def test_delete_whole_documents() -> None:
    """patching.mdx v1.12: whole documents (not v1alpha1) go with `$patch: delete`."""
    base = MULTI + "---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\n"
    out = patched(
        base,
        "apiVersion: v1alpha1\nkind: HostnameConfig\n$patch: delete\n---\n"
        "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\n$patch: delete\n",
    )
    assert [d.get("kind", "v1alpha1") for d in out.documents] == ["v1alpha1", "LinkConfig"]


def test_unmatched_documents_are_appended() -> None:
    """patching.mdx v1.12 "Machine Network": DHCPv4Config and Layer2VIPConfig are appended."""
    base = "apiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\nup: true\n"
    patch = (
        "apiVersion: v1alpha1\nkind: DHCPv4Config\nname: eth1\n---\n"
        "apiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: 192.168.10.50\nlink: eth0\n"
    )
    assert list(patched(base, patch).documents) == docs(base + "---\n" + patch)


def test_subnets_replaced_and_cni_added() -> None:
    """patching.mdx v1.12 "Cluster Network": podSubnets/serviceSubnets are overwritten."""
    out = patched(
        MULTI,
        "cluster:\n  network:\n    podSubnets: [192.168.0.0/16]\n"
        "    serviceSubnets: [192.0.0.0/12]\n    cni:\n      name: none\n",
    )
    assert out.get("cluster.network") == {
        "dnsDomain": "cluster.local",
        "podSubnets": ["192.168.0.0/16"],
        "serviceSubnets": ["192.0.0.0/12"],
        "cni": {"name": "none"},
    }


def test_kubelet_node_ip() -> None:
    """patching.mdx v1.12 "Kubelet": `kubelet: {}` gains nodeIP.validSubnets."""
    base = "version: v1alpha1\nmachine:\n  kubelet: {}\n"
    out = patched(
        base, "machine:\n  kubelet:\n    nodeIP:\n      validSubnets: [192.168.10.0/24]\n"
    )
    assert out.get("machine.kubelet") == {"nodeIP": {"validSubnets": ["192.168.10.0/24"]}}


def test_admission_control_exemption_is_appended() -> None:
    """patching.mdx v1.12 "Admission Control": rook-ceph is added after kube-system."""
    out = patched(
        MULTI,
        "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n"
        "        configuration:\n          exemptions:\n            namespaces: [rook-ceph]\n",
    )
    (plugin,) = out.get("cluster.apiServer.admissionControl")
    assert plugin["configuration"]["exemptions"]["namespaces"] == ["kube-system", "rook-ceph"]
    assert plugin["configuration"]["defaults"] == {
        "enforce": "baseline",
        "enforce-version": "latest",
    }


def test_admission_control_other_plugin_is_added() -> None:
    out = patched(MULTI, "cluster:\n  apiServer:\n    admissionControl:\n      - name: Other\n")
    names = [p["name"] for p in out.get("cluster.apiServer.admissionControl")]
    assert names == ["PodSecurity", "Other"]


def test_interfaces_merged_by_name() -> None:
    """patching.md v1.11 "Machine Network": eth0 gains a VIP, eth1 is appended."""
    out = patched(
        MULTI,
        "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        vip:\n"
        "          ip: 192.168.10.50\n      - interface: eth1\n        dhcp: true\n",
    )
    assert out.get("machine.network.interfaces") == [
        {
            "interface": "eth0",
            "dhcp": False,
            "addresses": ["192.168.10.3/24"],
            "vip": {"ip": "192.168.10.50"},
        },
        {"interface": "eth1", "dhcp": True},
    ]


def test_interfaces_merged_by_device_selector_and_vlans_by_id() -> None:
    base = (
        "version: v1alpha1\nmachine:\n  network:\n    interfaces:\n"
        "      - deviceSelector: {hardwareAddr: 'aa:*'}\n        mtu: 1500\n"
        "        vlans:\n          - vlanId: 10\n            addresses: [10.0.10.2/24]\n"
    )
    out = patched(
        base,
        "machine:\n  network:\n    interfaces:\n      - deviceSelector: {hardwareAddr: 'aa:*'}\n"
        "        mtu: 9000\n        vlans:\n          - vlanId: 10\n            mtu: 1400\n"
        "          - vlanId: 20\n",
    )
    (interface,) = out.get("machine.network.interfaces")
    assert interface["mtu"] == 9000
    assert interface["vlans"] == [
        {"vlanId": 10, "addresses": ["10.0.10.2/24"], "mtu": 1400},
        {"vlanId": 20},
    ]


def test_audit_policy_replaced_wholesale() -> None:
    policy = (
        "cluster:\n  apiServer:\n    auditPolicy:\n      apiVersion: audit.k8s.io/v1\n"
        "      kind: Policy\n      rules:\n        - level: RequestResponse\n"
        "          resources: [{group: '', resources: [secrets]}]\n"
    )
    out = patched(MULTI, policy)
    assert out.get("cluster.apiServer.auditPolicy.rules") == [
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]}
    ]


def test_other_lists_append() -> None:
    out = patched(MULTI, "machine:\n  certSANs: [k8s.example]\n")
    assert out.get("machine.certSANs") == ["10.0.0.10", "k8s.example"]


def test_extension_service_config_files_merged_by_mount_path() -> None:
    """testdata/multidoc: configFiles merge on mountPath, environment appends."""
    base = (
        "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\nconfigFiles:\n"
        "  - content: hello\n    mountPath: /etc/foo\nenvironment: [FOO=BAR]\n"
    )
    out = patched(
        base,
        "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: foo\nconfigFiles:\n"
        "  - content: hello world\n    mountPath: /etc/foo\n"
        "  - content: another hello\n    mountPath: /etc/bar\nenvironment: [XXX=YYY]\n",
    )
    doc = out.find("ExtensionServiceConfig", "foo")
    assert doc is not None
    assert doc["configFiles"] == [
        {"content": "hello world", "mountPath": "/etc/foo"},
        {"content": "another hello", "mountPath": "/etc/bar"},
    ]
    assert doc["environment"] == ["FOO=BAR", "XXX=YYY"]


def test_network_rule_ingress_and_ports_replaced() -> None:
    base = (
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: kubelet\n"
        "portSelector:\n  ports: [10250]\n  protocol: tcp\ningress:\n  - subnet: 10.0.0.0/8\n"
    )
    out = patched(
        base,
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: kubelet\n"
        "portSelector:\n  ports: [10250, 10255]\ningress:\n  - subnet: 192.168.0.0/16\n",
    )
    assert out.find("NetworkRuleConfig", "kubelet") == {
        "apiVersion": "v1alpha1",
        "kind": "NetworkRuleConfig",
        "name": "kubelet",
        "portSelector": {"ports": [10250, 10255], "protocol": "tcp"},
        "ingress": [{"subnet": "192.168.0.0/16"}],
    }


def test_hostname_config_trap_is_merged_not_fixed() -> None:
    """talos.md Corrections 1 (#12573): {auto: stable} + {hostname: x} keeps both keys."""
    out = patched(MULTI, "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: k8s-node01\n")
    assert out.find("HostnameConfig") == {
        "apiVersion": "v1alpha1",
        "kind": "HostnameConfig",
        "auto": "stable",
        "hostname": "k8s-node01",
    }
    fixed = patched(
        MULTI, "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: k8s-node01\nauto: off\n"
    )
    hostname = fixed.find("HostnameConfig")
    assert hostname is not None
    assert hostname["auto"] == "off"


def test_explicit_scalars_override_and_empty_values_are_ignored() -> None:
    """The documented rule: false/0/"" override; null, {} and [] change nothing."""
    base = "version: v1alpha1\nmachine:\n  a: true\n  b: 5\n  c: text\n  d: [1]\n  e: {k: v}\n"
    out = patched(base, "machine:\n  a: false\n  b: 0\n  c: ''\n  d: []\n  e: {}\n  f: null\n")
    assert out.get("machine") == {"a": False, "b": 0, "c": "", "d": [1], "e": {"k": "v"}}


def test_type_mismatch_names_file_and_field() -> None:
    file, field, message = failure(MULTI, "cluster:\n  network: flat\n")
    assert (file, field) == ("patches/p.yaml", "cluster.network")
    assert message.startswith("merge type mismatch")


def test_type_mismatch_in_a_named_document() -> None:
    _, field, _ = failure(MULTI, "apiVersion: v1alpha1\nkind: LinkConfig\nname: enp0s3\nmtu: [1]\n")
    assert field == "LinkConfig/enp0s3.mtu"


# --- $patch: delete -----------------------------------------------------------

TALOS_DELETE_BASE = """\
version: v1alpha1
machine:
  network:
    hostname: hostname1
    interfaces:
      - interface: eth0
        dhcp: true
      - interface: eth1
        addresses: [10.3.5.4/32]
---
apiVersion: v1alpha1
kind: SideroLinkConfig
apiUrl: https://siderolink.api/join?jointoken=secret&user=alice
---
apiVersion: v1alpha1
kind: ExtensionServiceConfig
name: foo
configFiles:
    - content: hello
      mountPath: /etc/foo
environment:
    - FOO=BAR
"""

TALOS_DELETE_PATCH = """\
apiVersion: v1alpha1
kind: SideroLinkConfig
$patch: delete
---
apiVersion: v1alpha1
kind: ExtensionServiceConfig
name: foo
configFiles:
  - content: hello
    $patch: delete
  - content: hello2
    mountPath: /etc/foo2
---
version: v1alpha1
machine:
  network:
    hostname:
      $patch: delete
    interfaces:
      - interface: eth0
        $patch: delete
      - interface: eth1
        addresses: [10.3.5.5/32]
      - interface: eth0
        dummy: true
"""


def test_talos_patchdelete_testdata() -> None:
    """testdata/patchdelete/{config,strategic1,expected}.yaml (less Talos's typed defaults)."""
    out = patched(TALOS_DELETE_BASE, TALOS_DELETE_PATCH)
    assert list(out.documents) == [
        {
            "version": "v1alpha1",
            "machine": {
                "network": {
                    "interfaces": [
                        {"interface": "eth1", "addresses": ["10.3.5.4/32", "10.3.5.5/32"]},
                        {"interface": "eth0", "dummy": True},
                    ]
                }
            },
        },
        {
            "apiVersion": "v1alpha1",
            "kind": "ExtensionServiceConfig",
            "name": "foo",
            "configFiles": [{"content": "hello2", "mountPath": "/etc/foo2"}],
            "environment": ["FOO=BAR"],
        },
    ]


def test_talos_patchdeletemissing_testdata() -> None:
    """testdata/patchdeletemissing: a missing parent is Talos's `lookup failed`."""
    assert failure(
        "version: v1alpha1\nmachine: {}\n",
        "machine:\n  network:\n    hostname:\n      $patch: delete\n",
    ) == (
        "patches/p.yaml",
        "machine.network.hostname",
        "patch delete: path 'machine.network.hostname' in document '/v1alpha1': "
        "failed to delete path 'machine.network.hostname': lookup failed",
    )


def test_delete_admission_plugin_and_node_label() -> None:
    """testdata/patchdelete/strategic2.yaml: list item by name, a free-form map key."""
    base = MULTI.replace(
        "    type: controlplane\n",
        "    type: controlplane\n    nodeLabels:\n"
        "        node.kubernetes.io/exclude-from-external-load-balancers: ''\n"
        "        keep: 'yes'\n",
    )
    out = patched(
        base,
        "version: v1alpha1\ncluster:\n  apiServer:\n    admissionControl:\n"
        "    - name: PodSecurity\n      $patch: delete\nmachine:\n  nodeLabels:\n"
        "    node.kubernetes.io/exclude-from-external-load-balancers:\n      $patch: delete\n",
    )
    assert out.get("cluster.apiServer.admissionControl") == []  # Talos: empty, omitted on encode
    v1alpha1 = out.v1alpha1()
    assert v1alpha1 is not None
    assert v1alpha1["machine"]["nodeLabels"] == {"keep": "yes"}


def test_delete_missing_list_item_is_lookup_failed() -> None:
    _, field, message = failure(
        MULTI,
        "machine:\n  network:\n    interfaces:\n      - interface: eth7\n        $patch: delete\n",
    )
    assert field == "machine.network.interfaces.[0]"
    assert message.endswith("lookup failed")


def test_delete_hostname_config_then_set_legacy_hostname() -> None:
    """talos.md "Project decisions": delete the generated HostnameConfig, set the legacy key."""
    out = patched(
        MULTI,
        "apiVersion: v1alpha1\nkind: HostnameConfig\n$patch: delete\n---\n"
        "machine:\n  network:\n    hostname: k8s-node01\n",
    )
    assert out.find("HostnameConfig") is None
    assert out.get("machine.network.hostname") == "k8s-node01"


def test_delete_of_absent_document_is_skipped() -> None:
    out = patched(MULTI, "apiVersion: v1alpha1\nkind: SideroLinkConfig\n$patch: delete\n")
    assert out == config(MULTI)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        vip:\n"
            "          $patch: delete\n",
            "machine.network.interfaces.[0].vip",
            "cannot delete an inner key in 'machine.network.interfaces.[0].vip'",
        ),
        (
            "version: v1alpha1\n$patch: delete\n",
            "v1alpha1",
            "can't delete the root of the legacy document",
        ),
        (
            "kind: HostnameConfig\n$patch: delete\n",
            "",
            "missing apiVersion in document for which $patch: delete is used",
        ),
        (
            "machine:\n  a:\n    $patch: replace\n",
            "machine.a",
            "only '$patch: delete' is supported",
        ),
        (
            "machine:\n  a:\n    - b:\n        - c: 1\n          $patch: delete\n",
            "machine.a.[0].b.[0]",
            "searching for complex paths in slices is not supported",
        ),
        (
            "machine:\n  a:\n    - $patch: delete\n",
            "machine.a.[0]",
            "no key:val found in sequence node for path machine.a.[0]",
        ),
    ],
)
def test_bad_deletes(text: str, field: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        patches.parse_patch(text, "patches/d.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.field, problem.message) == ("patches/d.yaml", field, message)


def test_one_patch_may_not_touch_a_document_twice() -> None:
    text = "machine:\n  type: worker\n---\nmachine:\n  type: controlplane\n"
    with pytest.raises(DefinitionError) as caught:
        patches.parse_patch(text, "patches/twice.yaml")
    (problem,) = caught.value.problems
    assert problem.message == "duplicate document /v1alpha1/ is not allowed"
    assert problem.line == 4
    named = "apiVersion: v1alpha1\nkind: LinkConfig\nname: a\nup: true\n"
    with pytest.raises(DefinitionError, match="duplicate document v1alpha1/LinkConfig/a"):
        patches.parse_patch(named + "---\n" + named, "patches/twice.yaml")


def test_delete_and_readd_in_one_patch_is_allowed() -> None:
    out = patched(
        MULTI,
        "apiVersion: v1alpha1\nkind: LinkConfig\nname: enp0s3\n$patch: delete\n---\n"
        "apiVersion: v1alpha1\nkind: LinkConfig\nname: enp0s3\nmtu: 1500\n",
    )
    assert out.find("LinkConfig", "enp0s3") == {
        "apiVersion": "v1alpha1",
        "kind": "LinkConfig",
        "name": "enp0s3",
        "mtu": 1500,
    }


# --- JSON6902 -----------------------------------------------------------------

SINGLE = (
    "version: v1alpha1\ncluster:\n  clusterName: old\n  token: s3cr3t-token\n"
    "machine:\n  type: worker\n"
)


def test_json_patch_on_single_document_sorts_keys() -> None:
    out = patched(
        SINGLE,
        '[{"op": "replace", "path": "/cluster/clusterName", "value": "new"}]',
        "- op: add\n  path: /machine/install\n  value: {disk: /dev/sda}\n",
    )
    assert out.get("cluster.clusterName") == "new"
    assert out.get("machine.install.disk") == "/dev/sda"
    assert out.to_yaml().startswith("cluster:\n")  # ghodss JSON->YAML sorts keys


def test_json_patch_on_multidoc_config_is_refused() -> None:
    text = '[{"op": "replace", "path": "/machine/type", "value": "worker"}]'
    assert failure(MULTI, text) == ("patches/p.yaml", "", MULTIDOC)


def test_json_patch_after_strategic_adds_a_document() -> None:
    with pytest.raises(DefinitionError, match=MULTIDOC):
        patched(SINGLE, "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n", "")


def test_consecutive_json_patches_act_as_one() -> None:
    """load.go concatenates them: the group is refused once, naming its first file."""
    stack = [patches.parse_patch("[]", "a.yaml"), patches.parse_patch("[]", "b.yaml")]
    with pytest.raises(DefinitionError) as caught:
        patches.apply_patches(config(MULTI), stack)
    assert [p.file for p in caught.value.problems] == ["a.yaml"]


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ({"op": "remove", "path": "/machine/nope"}, "[1] remove /machine/nope"),
        ({"op": "test", "path": "/cluster/token", "value": "guess"}, "[1] test /cluster/token"),
        ({"op": "frobnicate", "path": "/x"}, "[1]"),
        ({"op": "add", "path": "/x"}, "[1]"),
        ({"op": "move", "path": "/x"}, "[1]"),
    ],
)
def test_json_failures_name_file_and_operation_without_values(
    op: dict[str, Any], field: str
) -> None:
    ops = (
        {"op": "replace", "path": "/cluster/clusterName", "value": "new"},
        op,
    )
    with pytest.raises(DefinitionError) as caught:
        patches.apply_patch(config(SINGLE), Patch("patches/j.yaml", PatchKind.JSON6902, (), ops))
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("patches/j.yaml", field)
    assert problem.message.startswith("failure applying rfc6902 patches")
    assert "s3cr3t" not in str(caught.value)


# --- properties ---------------------------------------------------------------

_keys = st.text("abcd", min_size=1, max_size=2)
_scalars = st.one_of(st.integers(-3, 3), st.booleans(), st.text("xy", max_size=2))


def _maps(keys: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        st.dictionaries(keys, _scalars, min_size=1, max_size=3),
        lambda inner: st.dictionaries(keys, st.one_of(_scalars, inner), min_size=1, max_size=3),
        max_leaves=8,
    )


_BASES = st.builds(
    lambda machine: MachineConfig.from_documents(
        [{"version": "v1alpha1", "machine": machine}, *docs(MULTI)[1:]], "base.yaml"
    ),
    _maps(st.text("abcdwxyz", min_size=1, max_size=2)),
)


def _strategic(machine: dict[str, Any], source: str = "p.yaml") -> Patch:
    return Patch(source, PatchKind.STRATEGIC, ({"machine": machine},))


def _outcome(base: MachineConfig, stack: list[Patch]) -> MachineConfig | str:
    try:
        return patches.apply_patches(base, stack)
    except DefinitionError as exc:
        return exc.problems[0].message


@settings(max_examples=80, deadline=None)
@given(base=_BASES, machine=_maps(_keys))
def test_applying_a_map_patch_twice_equals_once(
    base: MachineConfig, machine: dict[str, Any]
) -> None:
    patch = _strategic(machine)
    assert _outcome(base, [patch, patch]) == _outcome(base, [patch])


@settings(max_examples=80, deadline=None)
@given(
    base=_BASES,
    first=_maps(st.text("ab", min_size=1, max_size=2)),
    second=_maps(st.text("wx", min_size=1, max_size=2)),
)
def test_disjoint_patches_commute(
    base: MachineConfig, first: dict[str, Any], second: dict[str, Any]
) -> None:
    one, two = _strategic(first, "one.yaml"), _strategic(second, "two.yaml")
    forward = _outcome(base, [one, two])
    if isinstance(forward, MachineConfig):
        assert forward == _outcome(base, [two, one])
    else:
        assert isinstance(_outcome(base, [two, one]), str)


@settings(max_examples=60, deadline=None)
@given(base=_BASES, machine=_maps(_keys))
def test_apply_is_deterministic_and_leaves_inputs_alone(
    base: MachineConfig, machine: dict[str, Any]
) -> None:
    patch = _strategic(machine)
    before_base, before_patch = copy.deepcopy(base), copy.deepcopy(patch)
    assert _outcome(base, [patch]) == _outcome(base, [patch])
    assert base == before_base
    assert patch == before_patch


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.text("$patchdelo/-", max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "$patch",
                    "op",
                    "path",
                    "value",
                    "from",
                    "kind",
                    "apiVersion",
                    "name",
                    "machine",
                    "version",
                    "interface",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(PatchKind)), values=st.lists(_json_values, max_size=3))
def test_malformed_patch_structures_give_definition_errors(
    kind: PatchKind, values: list[Any]
) -> None:
    patch = Patch("patches/fuzz.yaml", kind, tuple(values), tuple(values))
    for base in (config(MULTI), config(SINGLE)):
        try:
            patches.apply_patch(base, patch)
        except DefinitionError as exc:
            assert exc.problems[0].file == "patches/fuzz.yaml"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab:-[]{}\n #$&*"/', max_size=50) | _json_values.map(yaml.safe_dump))
def test_malformed_patch_text_gives_definition_errors(text: str) -> None:
    try:
        patch = patches.parse_patch(text, "patches/fuzz.yaml")
        patches.apply_patch(config(SINGLE), patch)
    except DefinitionError as exc:
        assert exc.problems
        assert all(p.file == "patches/fuzz.yaml" for p in exc.problems)
