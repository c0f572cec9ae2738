"""The rules of the multi-document config kinds: HostnameConfig, Layer2VIPConfig, VolumeConfig.

Each kind's ``Validate()`` in Talos v1.12.5 (``types/network/hostname.go``,
``types/network/layer2_vip.go``, ``types/block/volume_config.go`` and
``types/block/encryption.go``) prefixed by the document id, then its
``V1Alpha1ConflictValidate`` against the v1alpha1 document.  Kept apart from
:mod:`provisioning.config.validation_v1alpha1` because these rules grow with each kind
Talos moves out of v1alpha1; a kind without an entry here is only decoded.
Encryption keys are only tested for presence, never quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.config.goparse import is_ip
from provisioning.config.govalues import (
    as_enum,
    as_flag,
    as_list,
    as_text,
    byte_size,
    goq,
    has_key_type,
    is_set,
    key_slot,
    value_at,
)
from provisioning.config.validation_schema import Doc, Report


def _no_rules(doc: Doc, v1alpha1: Mapping[Any, Any] | None, report: Report) -> None:
    """Kinds whose rules are not modelled: decoding them is all that is checked."""


def _hostname_rules(doc: Doc, v1alpha1: Mapping[Any, Any] | None, report: Report) -> None:
    auto = as_enum(doc.value.get("auto"), ("off", "talos-addr", "stable"), "off")
    if auto is None:
        kind = as_text(doc.value.get("auto"))
        report.error(f"{doc.ident}.auto", f"{kind} does not belong to AutoHostnameKind values")
        return
    hostname = as_text(doc.value.get("hostname"))
    if auto == "off" and not hostname:
        report.error(doc.ident, "either 'auto' or 'hostname' must be set")
    if auto != "off" and hostname:
        report.error(doc.ident, "'auto' and 'hostname' cannot be set at the same time")
    if auto == "talos-addr":
        report.error(doc.ident, "invalid value for 'auto': talos-addr")
    if hostname:
        if len(hostname) > 253:
            report.error(doc.ident, f"fqdn is too long: {len(hostname)}")
        label = hostname.partition(".")[0]
        if not 0 < len(label) <= 63:
            report.error(doc.ident, f"invalid hostname {goq(label)}")
    if v1alpha1 is not None:
        features = value_at(v1alpha1, "machine", "features")
        if as_text(value_at(v1alpha1, "machine", "network", "hostname")):
            report.error(doc.ident, "static hostname is already set in v1alpha1 config")
        elif isinstance(features, Mapping) and as_flag(features.get("stableHostname")):
            report.error(doc.ident, "stable hostname is already set in v1alpha1 config")


def _layer2_vip_rules(doc: Doc, v1alpha1: Mapping[Any, Any] | None, report: Report) -> None:
    if not doc.name:
        report.error(doc.ident, "name must be specified")
    elif not is_ip(doc.name):
        report.error(
            doc.ident,
            f"name must be a valid IP address: ParseAddr({goq(doc.name)}): unable to parse IP",
        )
    if not as_text(doc.value.get("link")):
        report.error(doc.ident, "link must be specified")
    if v1alpha1 is not None and as_text(value_at(v1alpha1, "machine", "type")) not in (
        "controlplane",
        "init",
    ):
        report.warn(
            doc.ident,
            "a Layer2 VIP is only operated on control-plane nodes; Talos "
            "accepts it here but it will never be announced (this suite)",
        )


def _volume_rules(doc: Doc, v1alpha1: Mapping[Any, Any] | None, report: Report) -> None:
    encryption = doc.value.get("encryption")
    provider = as_enum(value_at(encryption, "provider"), ("none", "luks2"), "none")
    if provider is None:
        kind = as_text(value_at(encryption, "provider"))
        report.error(
            f"{doc.ident}.encryption.provider",
            f"{kind} does not belong to EncryptionProviderType values",
        )
        return
    if doc.name not in ("STATE", "EPHEMERAL", "IMAGECACHE"):
        report.error(doc.ident, 'only ["STATE" "EPHEMERAL" "IMAGECACHE"] volumes are supported')
        return
    keys = as_list(value_at(encryption, "keys"))
    provisioning = doc.value.get("provisioning")
    if doc.name == "STATE":
        # ProvisioningSpec.IsZero: `grow` is a *bool, so even `grow: false` counts.
        if value_at(provisioning, "grow") is not None or any(
            is_set(value_at(provisioning, *p))
            for p in (("minSize",), ("maxSize",), ("diskSelector", "match"))
        ):
            report.error(doc.ident, 'provisioning config is not allowed for the "STATE" volume')
        for key in keys:
            if as_flag(value_at(key, "lockToState")):
                report.error(doc.ident, 'state-locked key is not allowed for the "STATE" volume')
    low, high = (
        byte_size(value_at(provisioning, "minSize")),
        byte_size(value_at(provisioning, "maxSize")),
    )
    if low and high and low > high and not as_text(value_at(provisioning, "maxSize")).endswith("%"):
        report.error(doc.ident, "min size is greater than max size")
    if provider == "none" and not keys:
        return  # EncryptionSpec.IsZero: no encryption configured at all
    if provider != "luks2":
        report.error(doc.ident, f"unsupported encryption provider: {provider}")
    if not keys:
        report.error(doc.ident, "encryption keys are required")
    used: set[int] = set()
    for key in keys:
        slot = key_slot(key)
        if slot in used:
            report.error(doc.ident, f"duplicate key slot {slot}")
        used.add(slot)
        if not has_key_type(key):
            report.error(
                doc.ident, f"at least one encryption key type must be specified for slot {slot}"
            )
        for pcr in as_list(value_at(key, "tpm", "options", "pcrs")):
            if isinstance(pcr, int) and not 0 <= pcr <= 23:
                report.error(doc.ident, f"TPM PCR {pcr} is out of range (0-23)")
    legacy = value_at(v1alpha1, "machine", "systemDiskEncryption", doc.name.lower())
    if provider != "none" and doc.name != "IMAGECACHE" and legacy is not None:
        report.error(
            doc.ident,
            f'system disk encryption for "{doc.name}" is configured in both '
            "v1alpha1.Config and VolumeConfig",
        )


_DOC_RULES = {
    "HostnameConfig": _hostname_rules,
    "Layer2VIPConfig": _layer2_vip_rules,
    "VolumeConfig": _volume_rules,
}


def validate_document(doc: Doc, v1alpha1: Mapping[Any, Any] | None, report: Report) -> None:
    """Talos's ``Validate()`` of one decoded document, then its v1alpha1 conflict checks."""
    _DOC_RULES.get(doc.kind, _no_rules)(doc, v1alpha1, report)
