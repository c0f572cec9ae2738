"""Machine secrets: Talos bundle format, encrypted store, merge and redaction."""

from __future__ import annotations

import base64
import copy
import functools
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrage import x25519

from provisioning.config import agestore, pki, secrets
from provisioning.definition.problems import DefinitionError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")


@pytest.fixture(scope="module")
def bundle() -> secrets.MachineSecrets:
    return secrets.generate_secrets(NOW)


@pytest.fixture
def quick_generation(monkeypatch: pytest.MonkeyPatch, bundle: secrets.MachineSecrets) -> None:
    """Stores created in this test reuse the module's bundle (RSA-4096 keygen is slow)."""
    monkeypatch.setattr(agestore, "generate_secrets", lambda: bundle)


def _text64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_no_secret(text: str, machine_secrets: secrets.MachineSecrets) -> None:
    leaked = [value[:8] for value in machine_secrets.secret_values() if value in text]
    assert not leaked, f"secret values leaked (prefixes): {leaked}"


# --- the bundle ----------------------------------------------------------------------


def test_yaml_round_trip_and_talos_layout(bundle: secrets.MachineSecrets) -> None:
    text = bundle.to_yaml()
    assert secrets.MachineSecrets.from_yaml(text, "s.yaml") == bundle
    tree = yaml.safe_load(text)
    assert list(tree) == ["cluster", "secrets", "trustdinfo", "certs"]
    assert set(tree["secrets"]) == {"bootstraptoken", "secretboxencryptionsecret"}
    assert list(tree["certs"]) == ["etcd", "k8s", "k8saggregator", "k8sserviceaccount", "os"]
    assert text.startswith("cluster:\n    id: ")  # Talos's 4-space indentation


def test_token_and_secret_formats(bundle: secrets.MachineSecrets) -> None:
    assert TOKEN.fullmatch(bundle.bootstrap_token)
    assert TOKEN.fullmatch(bundle.trustd_token)
    assert bundle.bootstrap_token != bundle.trustd_token
    assert len(base64.b64decode(bundle.secretbox_encryption_secret, validate=True)) == 32
    assert len(base64.urlsafe_b64decode(bundle.cluster_id)) == 32
    assert len(base64.b64decode(bundle.cluster_secret, validate=True)) == 32
    assert bundle.aescbc_encryption_secret == ""


def test_every_cert_and_key_is_base64_pem(bundle: secrets.MachineSecrets) -> None:
    certs = yaml.safe_load(bundle.to_yaml())["certs"]
    for name, fields in certs.items():
        for field, value in fields.items():
            decoded = base64.b64decode(value, validate=True).decode("ascii")
            kind = "CERTIFICATE" if field == "crt" else "PRIVATE KEY"
            assert decoded.startswith("-----BEGIN "), (name, field)
            assert kind in decoded.splitlines()[0], (name, field)


@pytest.mark.parametrize(
    ("field", "organization", "key_type"),
    [
        ("etcd_ca", "etcd", ec.EllipticCurvePrivateKey),
        ("k8s_ca", "kubernetes", ec.EllipticCurvePrivateKey),
        ("k8s_aggregator_ca", None, ec.EllipticCurvePrivateKey),
        ("os_ca", "talos", ed25519.Ed25519PrivateKey),
    ],
)
def test_cas_have_talos_key_types_and_ten_year_validity(
    bundle: secrets.MachineSecrets, field: str, organization: str | None, key_type: type
) -> None:
    pair: pki.CertificateAndKey = getattr(bundle, field)
    cert = pki.load_certificate(pair.crt)
    key = pki.load_private_key(pair.key)
    assert isinstance(key, key_type)
    assert cert.public_key() == key.public_key()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + timedelta(hours=87600)
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ([] if organization is None else [organization])


def test_service_account_key_is_rsa_4096(bundle: secrets.MachineSecrets) -> None:
    key = pki.load_private_key(bundle.k8s_service_account_key)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 4096


def test_generated_bundles_differ() -> None:
    first, second = secrets.generate_secrets(NOW), secrets.generate_secrets(NOW)
    assert first.bootstrap_token != second.bootstrap_token
    assert first.os_ca.key != second.os_ca.key


def test_repr_and_str_show_no_secret(bundle: secrets.MachineSecrets) -> None:
    shown = f"{bundle!r} {bundle!s} {bundle} {bundle.os_ca!r} {[bundle]}"
    _assert_no_secret(shown, bundle)
    assert "MachineSecrets" in repr(bundle)


def _tree(bundle: secrets.MachineSecrets) -> dict[str, Any]:
    tree: dict[str, Any] = yaml.safe_load(bundle.to_yaml())
    return tree


def _problems_of(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        secrets.MachineSecrets.from_yaml(text, "secrets.yaml")
    assert all(p.file == "secrets.yaml" for p in caught.value.problems)
    return [p.field for p in caught.value.problems]


def test_missing_and_malformed_fields_are_all_named(bundle: secrets.MachineSecrets) -> None:
    tree = _tree(bundle)
    del tree["trustdinfo"]
    tree["secrets"]["bootstraptoken"] = "NOT-A-TOKEN"
    tree["secrets"]["secretboxencryptionsecret"] = base64.b64encode(b"short").decode()
    tree["certs"]["os"]["key"] = "%%% not base64"
    tree["certs"]["k8s"]["key"] = tree["certs"]["etcd"]["key"]  # valid key, wrong CA
    tree["certs"]["etcd"]["crt"] = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n").decode()
    text = yaml.safe_dump(tree)
    fields = _problems_of(text)
    assert fields == [
        "secrets.bootstraptoken",
        "trustdinfo",
        "secrets.secretboxencryptionsecret",
        "certs.etcd.crt",
        "certs.k8s.key",
        "certs.os.key",
    ]
    with pytest.raises(DefinitionError) as caught:
        secrets.MachineSecrets.from_yaml(text, "secrets.yaml")
    _assert_no_secret(str(caught.value), bundle)


def test_leaf_certificate_is_not_accepted_as_ca(bundle: secrets.MachineSecrets) -> None:
    crt, key = pki.issue_client_certificate(
        bundle.os_ca.crt, bundle.os_ca.key, "", ["os:admin"], timedelta(days=1), NOW
    )
    tree = _tree(bundle)
    tree["certs"]["os"] = {
        "crt": base64.b64encode(crt).decode(),
        "key": base64.b64encode(key).decode(),
    }
    assert _problems_of(yaml.safe_dump(tree)) == ["certs.os.crt"]


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=400))
def test_from_yaml_on_garbage_raises_definition_error_only(text: str) -> None:
    with pytest.raises(DefinitionError):
        secrets.MachineSecrets.from_yaml(text, "garbage.yaml")


_LEAVES = [
    ("cluster", "id"),
    ("cluster", "secret"),
    ("secrets", "bootstraptoken"),
    ("secrets", "secretboxencryptionsecret"),
    ("trustdinfo", "token"),
    ("certs", "etcd", "crt"),
    ("certs", "k8s", "key"),
    ("certs", "k8sserviceaccount", "key"),
    ("certs", "os"),
    ("certs",),
]


@functools.cache
def _shared_bundle() -> secrets.MachineSecrets:
    # Not a fixture argument of the @given tests: hypothesis prints a failing
    # example's arguments field by field, and those would be key material.
    return secrets.generate_secrets(NOW)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(_LEAVES),
    st.none() | st.integers() | st.text(max_size=40) | st.lists(st.integers(), max_size=2),
)
def test_damaged_bundle_is_reported_without_quoting_values(
    path: tuple[str, ...], replacement: object
) -> None:
    bundle = _shared_bundle()
    tree = _tree(bundle)
    cursor = tree
    for part in path[:-1]:
        cursor = cursor[part]
    cursor[path[-1]] = replacement
    try:
        parsed = secrets.MachineSecrets.from_yaml(yaml.safe_dump(tree), "secrets.yaml")
    except DefinitionError as exc:
        assert any(p.field.startswith(path[0]) for p in exc.problems)
        _assert_no_secret(str(exc), bundle)
    else:  # Talos requires these only to be non-empty strings
        free_form = (("cluster", "id"), ("cluster", "secret"), ("trustdinfo", "token"))
        assert path in free_form
        assert isinstance(replacement, str)
        assert replacement
        assert replacement in (parsed.cluster_id, parsed.cluster_secret, parsed.trustd_token)
        if path == ("trustdinfo", "token"):
            assert replacement.isprintable()
            assert not any(c.isspace() for c in replacement)


# --- identities and the encrypted store ------------------------------------------------


def test_auto_recipient_creates_identity_once(tmp_path: Path) -> None:
    identity = tmp_path / "private" / "age-identity.txt"
    recipient = secrets.resolve_recipient("auto", identity)
    content = identity.read_text()
    assert recipient.startswith("age1")
    assert _mode(identity) == 0o600
    assert _mode(identity.parent) == 0o700
    assert f"# public key: {recipient}" in content
    assert secrets.resolve_recipient("auto", identity) == recipient
    assert secrets.ensure_identity(identity) == recipient
    assert identity.read_text() == content


def test_store_round_trip_with_private_files(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    store = secrets.SecretStore(directory, "auto", tmp_path / "id" / "age-identity.txt")
    assert not store.exists()
    created = store.load_or_create()
    assert store.path == directory / "secrets.yaml.age"
    assert store.exists()
    assert _mode(store.path) == 0o600
    assert _mode(directory) == 0o700
    ciphertext = store.path.read_bytes()
    assert ciphertext.startswith(b"age-encryption.org/v1\n")
    assert created.bootstrap_token.encode() not in ciphertext
    assert store.load() == created
    assert store.load_or_create() == created
    assert store.path.read_bytes() == ciphertext  # not regenerated
    assert sorted(p.name for p in directory.iterdir()) == ["secrets.yaml.age"]  # no temp files


@pytest.mark.usefixtures("quick_generation")
def test_wrong_identity_is_a_clear_error(tmp_path: Path) -> None:
    store = secrets.SecretStore(tmp_path / "s", "auto", tmp_path / "a.txt")
    store.load_or_create()
    secrets.ensure_identity(tmp_path / "b.txt")
    other = secrets.SecretStore(tmp_path / "s", "auto", tmp_path / "b.txt")
    with pytest.raises(DefinitionError) as caught:
        other.load()
    (problem,) = caught.value.problems
    assert problem.file == str(store.path)
    assert "not encrypted to the identity in" in problem.message
    assert str(tmp_path / "b.txt") in problem.message
    assert "AGE-SECRET-KEY" not in str(caught.value)


@pytest.mark.usefixtures("quick_generation")
def test_missing_identity_names_the_identity_file(tmp_path: Path) -> None:
    store = secrets.SecretStore(tmp_path / "s", "auto", tmp_path / "id.txt")
    store.load_or_create()
    (tmp_path / "id.txt").unlink()
    with pytest.raises(DefinitionError) as caught:
        store.load()
    assert caught.value.problems[0].file == str(tmp_path / "id.txt")
    assert "not found" in caught.value.problems[0].message


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-7], "corrupt or truncated"),
        (lambda data: data[:-40] + bytes(b ^ 0x55 for b in data[-40:]), "corrupt or truncated"),
        (lambda data: b"cluster:\n    id: x\n", "not an age-encrypted file"),
    ],
)
@pytest.mark.usefixtures("quick_generation")
def test_corrupted_store_is_a_clear_error(tmp_path: Path, damage: Any, message: str) -> None:
    store = secrets.SecretStore(tmp_path / "s", "auto", tmp_path / "id.txt")
    store.load_or_create()
    store.path.write_bytes(damage(store.path.read_bytes()))
    with pytest.raises(DefinitionError) as caught:
        store.load()
    (problem,) = caught.value.problems
    assert problem.file == str(store.path)
    assert message in problem.message


def test_explicit_recipient_must_match_existing_identity(tmp_path: Path) -> None:
    identity = tmp_path / "id.txt"
    own = secrets.ensure_identity(identity)
    foreign = str(x25519.Identity.generate().to_public())
    assert secrets.resolve_recipient(own, identity) == own
    with pytest.raises(DefinitionError) as caught:
        secrets.resolve_recipient(foreign, identity, display="cluster/cluster.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("cluster/cluster.yaml", "secrets.recipient")
    assert "secrets.identityFile" in problem.message
    assert foreign in problem.message
    assert own in problem.message
    with pytest.raises(DefinitionError, match=r"secrets\.recipient: must be `auto` or an age"):
        secrets.resolve_recipient("age1notarecipient", identity)


@pytest.mark.usefixtures("quick_generation")
def test_explicit_recipient_without_local_identity_encrypts_to_it(tmp_path: Path) -> None:
    operator = x25519.Identity.generate()
    store = secrets.SecretStore(tmp_path / "s", str(operator.to_public()), tmp_path / "none.txt")
    created = store.load_or_create()
    assert not (tmp_path / "none.txt").exists()
    plaintext = pyrage.decrypt(store.path.read_bytes(), [operator]).decode()
    assert secrets.MachineSecrets.from_yaml(plaintext, "x") == created


# --- merging, redaction, talosconfig ---------------------------------------------------


BASE: dict[str, Any] = {
    "version": "v1alpha1",
    "machine": {"type": "controlplane", "ca": {"crt": "<redacted>"}},
    "cluster": {"clusterName": "K8S-CLUSTER", "etcd": {"extraArgs": {"a": "b"}}},
}


def _at(doc: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc[part]
    return doc


def test_apply_secrets_puts_each_secret_where_gen_config_does(
    bundle: secrets.MachineSecrets,
) -> None:
    original = copy.deepcopy(BASE)
    doc = secrets.apply_secrets(BASE, bundle)
    assert original == BASE  # input untouched
    expected = {
        "machine.token": bundle.trustd_token,
        "machine.ca.crt": _text64(bundle.os_ca.crt),
        "machine.ca.key": _text64(bundle.os_ca.key),
        "cluster.id": bundle.cluster_id,
        "cluster.secret": bundle.cluster_secret,
        "cluster.token": bundle.bootstrap_token,
        "cluster.secretboxEncryptionSecret": bundle.secretbox_encryption_secret,
        "cluster.ca.crt": _text64(bundle.k8s_ca.crt),
        "cluster.ca.key": _text64(bundle.k8s_ca.key),
        "cluster.aggregatorCA.crt": _text64(bundle.k8s_aggregator_ca.crt),
        "cluster.aggregatorCA.key": _text64(bundle.k8s_aggregator_ca.key),
        "cluster.serviceAccount.key": _text64(bundle.k8s_service_account_key),
        "cluster.etcd.ca.crt": _text64(bundle.etcd_ca.crt),
        "cluster.etcd.ca.key": _text64(bundle.etcd_ca.key),
    }
    assert set(expected) == set(secrets.SECRET_PATHS) | set(secrets.PUBLIC_PATHS)
    for path, value in expected.items():
        assert _at(doc, path) == value, path
    assert doc["cluster"]["etcd"]["extraArgs"] == {"a": "b"}
    assert doc["cluster"]["clusterName"] == "K8S-CLUSTER"
    assert "aescbcEncryptionSecret" not in doc["cluster"]


def test_redact_leaves_no_secret_anywhere(bundle: secrets.MachineSecrets) -> None:
    config = secrets.apply_secrets(BASE, bundle)
    talosconfig = secrets.admin_talosconfig(bundle, "K8S-CLUSTER", ["10.10.20.16"], [])
    _, kube_key = secrets.issue_client_certificate(
        bundle.k8s_ca.crt, bundle.k8s_ca.key, "admin", ["system:masters"], timedelta(days=1)
    )
    kubeconfig = {
        "users": [
            {"name": "admin", "user": {"client-key-data": base64.b64encode(kube_key).decode()}}
        ]
    }
    secret = {"kind": "List", "items": [{"kind": "Secret", "stringData": {"k": "c2VjcmV0"}}]}
    policy = {"spec": {"matchExpressions": [{"key": "app", "operator": "In"}]}}
    documents = [config, talosconfig, _tree(bundle), kubeconfig, secret, policy]
    before = copy.deepcopy(documents)
    redacted = secrets.redact(documents)
    dumped = yaml.safe_dump(redacted)
    assert documents == before  # input untouched
    _assert_no_secret(dumped, bundle)
    assert _text64(kube_key) not in dumped
    assert talosconfig["contexts"]["K8S-CLUSTER"]["key"] not in dumped
    assert "c2VjcmV0" not in dumped
    for path in secrets.SECRET_PATHS:
        assert _at(redacted[0], path) == secrets.REDACTED, path
    # public values survive, so evidence stays useful
    assert _at(redacted[0], "cluster.ca.crt") == _at(config, "cluster.ca.crt")
    assert redacted[5] == policy


def test_redact_keeps_empty_values_visible() -> None:
    (doc,) = secrets.redact([{"machine": {"token": ""}, "cluster": {"secret": None}}])
    assert doc == {"machine": {"token": ""}, "cluster": {"secret": None}}


def test_admin_talosconfig_has_os_admin_cert_signed_by_os_ca(
    bundle: secrets.MachineSecrets,
) -> None:
    config = secrets.admin_talosconfig(
        bundle, "K8S-CLUSTER", ["10.10.20.16", "10.10.20.17"], ["10.10.20.16"], now=NOW
    )
    assert config["context"] == "K8S-CLUSTER"
    context = config["contexts"]["K8S-CLUSTER"]
    assert list(context) == ["endpoints", "nodes", "ca", "crt", "key"]
    assert context["endpoints"] == ["10.10.20.16", "10.10.20.17"]
    assert context["nodes"] == ["10.10.20.16"]
    assert base64.b64decode(context["ca"]) == bundle.os_ca.crt
    cert = x509.load_pem_x509_certificate(base64.b64decode(context["crt"]))
    cert.verify_directly_issued_by(pki.load_certificate(bundle.os_ca.crt))
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["os:admin"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    key = pki.load_private_key(base64.b64decode(context["key"]))
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert cert.public_key() == key.public_key()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=365)
    other = secrets.admin_talosconfig(bundle, "x", ["10.10.20.16"], [], now=NOW)
    assert "nodes" not in other["contexts"]["x"]
