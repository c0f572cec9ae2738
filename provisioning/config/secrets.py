"""Machine secrets: generated once, age-encrypted outside git, merged at render.

The cluster definition in git holds no secrets.  As ``talosctl gen secrets``
followed by ``gen config --with-secrets`` would, the suite generates the
cluster's PKI and tokens once (:func:`generate_secrets`, in
:mod:`provisioning.config.bundle`), keeps them encrypted with age outside git
(:class:`SecretStore`, in :mod:`provisioning.config.agestore`) and merges them into
each node's config only at render time (:func:`apply_secrets`).  Everything
that leaves the process for a human -- evidence, diffs, errors -- goes through
:func:`redact` first.  This module is the one callers import; the others are
split out by what they hold and re-exported here.

Where each value goes follows siderolabs/talos v1.12.5
``pkg/machinery/config/generate/init.go`` (control-plane documents); which
fields are secret follows ``v1alpha1.Config.Redact``; the talosconfig layout
follows ``pkg/machinery/client/config`` (``NewConfig``) and the admin
certificate ``generate/secrets/ca.go`` (``NewAdminCertificateAndKey``).
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from provisioning.config.agestore import SecretStore, ensure_identity, resolve_recipient
from provisioning.config.bundle import MachineSecrets, generate_secrets
from provisioning.config.pki import CertificateAndKey, issue_client_certificate

__all__ = [
    "PUBLIC_PATHS",
    "REDACTED",
    "SECRET_PATHS",
    "MachineSecrets",
    "SecretStore",
    "admin_talosconfig",
    "apply_secrets",
    "ensure_identity",
    "generate_secrets",
    "issue_client_certificate",
    "redact",
    "resolve_recipient",
]

REDACTED = "<redacted>"
# The same placeholder where Talos decodes the field as bytes (certificates and keys).
REDACTED_BYTES = base64.b64encode(REDACTED.encode()).decode("ascii")
TALOS_API_CERT_LIFETIME = timedelta(
    days=365
)  # constants.TalosAPIDefaultCertificateValidityDuration
TALOS_ADMIN_ROLE = "os:admin"

# Where `gen config` puts each secret of a control-plane v1alpha1 document:
# exactly the fields v1alpha1.Config.Redact blanks, minus the AES-CBC secret,
# which Talos >= 1.3 no longer writes (secretbox replaced it).
SECRET_PATHS: tuple[str, ...] = (
    "machine.token",
    "machine.ca.key",
    "cluster.secret",
    "cluster.token",
    "cluster.secretboxEncryptionSecret",
    "cluster.ca.key",
    "cluster.aggregatorCA.key",
    "cluster.serviceAccount.key",
    "cluster.etcd.ca.key",
)
# What apply_secrets also fills but is public: CA certificates and the cluster id.
PUBLIC_PATHS: tuple[str, ...] = (
    "machine.ca.crt",
    "cluster.id",
    "cluster.ca.crt",
    "cluster.aggregatorCA.crt",
    "cluster.etcd.ca.crt",
)
_REDACT_PATHS = (*SECRET_PATHS, "cluster.aescbcEncryptionSecret")
# Field names whose string value is a secret wherever they occur (machine
# config, talosconfig, kubeconfig, registry auth, static LUKS passphrases).
_SECRET_FIELD_NAMES = frozenset(
    {
        "token",
        "secret",
        "bootstraptoken",
        "secretboxencryptionsecret",
        "aescbcencryptionsecret",
        "client-key-data",
        "password",
        "passphrase",
        "identitytoken",
        "auth",
    }
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _child(parent: dict[str, Any], name: str) -> dict[str, Any]:
    child = parent.get(name)
    if not isinstance(child, dict):
        child = {}
        parent[name] = child
    return child


def _set_pair(parent: dict[str, Any], name: str, pair: CertificateAndKey) -> None:
    target = _child(parent, name)
    target["crt"] = _b64(pair.crt)
    target["key"] = _b64(pair.key)


def apply_secrets(v1alpha1: Mapping[str, Any], secrets: MachineSecrets) -> dict[str, Any]:
    """A copy of a control-plane v1alpha1 document with the bundle merged in.

    Places follow Talos's ``generate/init.go``; other keys of the document
    (``cluster.etcd.extraArgs``, ``machine.ca`` siblings …) are kept.
    """
    doc: dict[str, Any] = copy.deepcopy(dict(v1alpha1))
    machine = _child(doc, "machine")
    cluster = _child(doc, "cluster")
    _set_pair(machine, "ca", secrets.os_ca)
    machine["token"] = secrets.trustd_token
    cluster["id"] = secrets.cluster_id
    cluster["secret"] = secrets.cluster_secret
    cluster["token"] = secrets.bootstrap_token
    if secrets.secretbox_encryption_secret:
        cluster["secretboxEncryptionSecret"] = secrets.secretbox_encryption_secret
    else:
        cluster["aescbcEncryptionSecret"] = secrets.aescbc_encryption_secret
    _set_pair(cluster, "ca", secrets.k8s_ca)
    _set_pair(cluster, "aggregatorCA", secrets.k8s_aggregator_ca)
    _child(cluster, "serviceAccount")["key"] = _b64(secrets.k8s_service_account_key)
    _set_pair(_child(cluster, "etcd"), "ca", secrets.etcd_ca)
    return doc


def _redact_path(doc: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    cursor: Any = doc
    for part in parents:
        cursor = cursor.get(part) if isinstance(cursor, dict) else None
    if isinstance(cursor, dict) and cursor.get(leaf) not in (None, ""):
        cursor[leaf] = REDACTED


def _holds_private_key(value: str) -> bool:
    if "PRIVATE KEY-----" in value:
        return True
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY-----" in decoded


def _is_secret(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered in _SECRET_FIELD_NAMES:
        return True
    if lowered.endswith(("key", "key-data")):  # key, client-key, tls-key-data ...
        return _holds_private_key(value)
    return "PRIVATE KEY-----" in value  # e.g. a key inside an inline manifest


def _redact_tree(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("kind") == "Secret":  # also inside a List's items
            value = {
                key: dict.fromkeys(item, REDACTED)
                if key in ("data", "stringData") and isinstance(item, dict)
                else item
                for key, item in value.items()
            }
        return {
            key: (
                REDACTED
                if isinstance(item, str) and item and _is_secret(str(key), item)
                else _redact_tree(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            REDACTED if isinstance(i, str) and "PRIVATE KEY-----" in i else _redact_tree(i)
            for i in value
        ]
    return value


def redact(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of *documents* with every secret value replaced by ``<redacted>``.

    Covers the v1alpha1 secret fields (:data:`SECRET_PATHS`), any field that
    holds a PEM private key (also base64-encoded, as in talosconfig ``key``),
    secret-named fields of kubeconfigs and registry auth, and the ``data`` /
    ``stringData`` of Kubernetes Secrets.  Empty values stay empty, as in
    Talos's own redaction, so "not set" remains visible.
    """
    redacted: list[dict[str, Any]] = []
    for document in documents:
        doc: dict[str, Any] = copy.deepcopy(dict(document))
        for path in _REDACT_PATHS:
            _redact_path(doc, path)
        redacted.append(_redact_tree(doc))
    return redacted


def admin_talosconfig(
    secrets: MachineSecrets,
    context: str,
    endpoints: Sequence[str],
    nodes: Sequence[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """A talosconfig with a fresh ``os:admin`` client certificate (1 year).

    Layout as Talos's ``clientconfig.NewConfig``: ``context`` plus
    ``contexts.<name>.{endpoints, nodes, ca, crt, key}``, PEM base64-encoded.
    """
    crt, key = issue_client_certificate(
        secrets.os_ca.crt, secrets.os_ca.key, "", [TALOS_ADMIN_ROLE], TALOS_API_CERT_LIFETIME, now
    )
    entry: dict[str, Any] = {"endpoints": list(endpoints)}
    if nodes:
        entry["nodes"] = list(nodes)
    entry.update(ca=_b64(secrets.os_ca.crt), crt=_b64(crt), key=_b64(key))
    return {"context": context, "contexts": {context: entry}}
