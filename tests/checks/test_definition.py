"""Definition controls over synthetic states: each finding names the place, never the secret."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checks import definition
from checks.definition import DefinitionState, RenderedConfig

GOOD_IMAGE = "factory.talos.dev/installer/613e:v1.12.5"


def state(files: dict[str, str] | None = None, **rendered: RenderedConfig) -> DefinitionState:
    return DefinitionState(
        tracked_files=files or {},
        rendered=rendered,
        expected_installer=GOOD_IMAGE,
        extensions=("iscsi-tools", "util-linux-tools"),
    )


def node(name: str, **overrides: object) -> RenderedConfig:
    values: dict[str, object] = {
        "node": name,
        "errors": (),
        "installer_image": GOOD_IMAGE,
        "has_hostname_config": True,
        "legacy_hostname": None,
    }
    values.update(overrides)
    return RenderedConfig(**values)  # type: ignore[arg-type]


def test_clean_state_has_no_findings() -> None:
    clean = state({"a.yaml": "machine:\n    type: controlplane\n"}, n1=node("n1"))
    assert definition.no_secrets_committed(clean) == []
    assert definition.rendered_configs_valid(clean) == []
    assert definition.installer_matches_schematic(clean) == []
    assert definition.single_hostname_source(clean) == []


def test_private_key_found_with_file_and_line_but_not_echoed() -> None:
    text = "a: 1\nkey: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEsecretbody\n"
    (finding,) = definition.no_secrets_committed(state({"patches/x.yaml": text}))
    assert finding.target == "patches/x.yaml:3"
    assert "PEM private key" in finding.observed
    assert "MIIEsecretbody" not in str(finding)


def test_base64_pem_token_and_age_identity_are_found() -> None:
    files = {
        "a.yaml": "ca:\n    crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ\n",
        "b.yaml": "machine:\n    token: abcdef.0123456789abcdef\n",
        "c.txt": "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
    }
    found = {
        f.target.split(":")[0]: f.observed for f in definition.no_secrets_committed(state(files))
    }
    assert found == {
        "a.yaml": "a base64-encoded PEM block",
        "b.yaml": "a Talos/Kubernetes bootstrap token",
        "c.txt": "an age identity",
    }


def test_selector_keys_and_short_values_are_not_secrets() -> None:
    files = {"np.yaml": "matchExpressions:\n  - key: io.kubernetes.pod.namespace\n"}
    assert definition.no_secrets_committed(state(files)) == []


def test_render_errors_and_invalid_nodes_are_reported_per_node() -> None:
    broken = state(n1=node("n1"), n2=node("n2", errors=("HostnameConfig: bad",)))
    (finding,) = definition.rendered_configs_valid(broken)
    assert finding.target == "node n2"
    assert finding.observed == "HostnameConfig: bad"


def test_stale_installer_names_node_expected_and_observed() -> None:
    stale = state(n1=node("n1", installer_image="ghcr.io/siderolabs/installer:v1.12.5"))
    (finding,) = definition.installer_matches_schematic(stale)
    assert finding.target == "node n1"
    assert GOOD_IMAGE in finding.expected
    assert "iscsi-tools" in finding.expected
    assert finding.observed == "ghcr.io/siderolabs/installer:v1.12.5"


def test_two_hostname_sources_are_a_finding() -> None:
    both = state(n1=node("n1", legacy_hostname="k8s-node01"))
    (finding,) = definition.single_hostname_source(both)
    assert "k8s-node01" in finding.observed


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=32, max_size=64))
def test_any_long_secret_field_value_is_flagged_without_echo(value: str) -> None:
    files = {"s.yaml": f"cluster:\n    secret: {value}\n"}
    findings = definition.no_secrets_committed(state(files))
    assert findings
    assert all(value not in str(f) for f in findings)


def test_secrets_bundle_luks_passphrase_and_wireguard_key_are_found() -> None:
    files = {
        # `talosctl gen secrets` writes the secretbox key in lower case.
        "secrets.yaml": "secrets:\n    secretboxencryptionsecret: "
        "q7rWbAqQ1hzxTGZk9X6VR0hQ3n0yLw8sQ1cXoPz4mGc=\n",
        "patches/luks.yaml": "keys:\n    - slot: 1\n      static:\n        passphrase: hunter2\n",
        "patches/wg.yaml": "privateKey: 4KqkUo4jZg1BPN7y0SfGqvGB8e6NfZBe0b1w9Xl1kEs=\n",
    }
    found = {f.target: f.observed for f in definition.no_secrets_committed(state(files))}
    assert found == {
        "patches/luks.yaml:4": "a disk-encryption passphrase",
        "patches/wg.yaml:1": "a secret-looking value",
        "secrets.yaml:2": "a secret-looking value",
    }
    assert all("hunter2" not in text for text in found.values())


def test_an_empty_passphrase_field_is_not_a_secret() -> None:
    files = {"doc.yaml": "# passphrase: set at install time\nstatic:\n    passphrase: ''\n"}
    assert definition.no_secrets_committed(state(files)) == []
