"""Disk-encryption control (ENC-01): STATE and EPHEMERAL are LUKS2, opened by the node's key.

Judged from what each node *reports* about its volumes (VolumeStatus), never
from the config it was given: Talos formats a partition encrypted only while
it is empty, so a node installed or reset with an unencrypted config keeps a
plain partition even after the VolumeConfig is fixed.  Three observed fields
carry the claim in Talos v1.12 (``internal/.../block/internal/volumes/encrypt.go``):

- ``encryptionProvider: luks2`` -- the volume was opened through LUKS2 (absent
  when the volume is plain);
- ``encryptionSlot: 0`` -- the key slot that actually unlocked it (a pointer
  in Talos, so slot 0 is printed, and the field is absent when nothing was
  unlocked);
- ``configuredEncryptionKeys: [nodeID]`` -- the sorted key *types* of the
  volume's config.  Only the types are reported, not which slot each holds,
  so "slot 0 is the nodeID key" is proven by nodeID being the only type
  configured; an extra key type (a static passphrase, KMS, TPM) is reported,
  because the declared keying is nodeID alone.

A volume that is not ``ready`` was not opened, so whatever it reports is no
proof it is usable encrypted: the phase must be ``ready`` too.

The applied config is judged beside the volume, because it is what the next
format (a reset, a reinstall) and the next boot's key sync act on: Talos
formats an empty partition with the encryption the config declares and
syncs the LUKS key slots to the configured keys at every open
(https://docs.siderolabs.com/talos/v1.12/configure-your-talos-cluster/storage-and-disk-management/disk-encryption).
Two sources can declare it, the ``VolumeConfig`` document named after the
volume and the deprecated ``machine.systemDiskEncryption.<state|ephemeral>``;
the declared keying is ``luks2`` with exactly one key, ``nodeID`` in slot 0.

Every field is one real Talos v1.12.5 reports; the simulator emits the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import Finding, NodeFinding, NodeUnread, Unobservable
from checks.snapshot import Snapshot, TalosResource

DOC = "https://docs.siderolabs.com/talos/v1.12/configure-your-talos-cluster/storage-and-disk-management/disk-encryption"

SYSTEM_VOLUMES = ("STATE", "EPHEMERAL")
PROVIDER = "luks2"
KEY_TYPES = ("nodeID",)
SLOT = 0


@dataclass(frozen=True)
class VolumeNotLuks2(NodeFinding):
    """*volume* on *node* was observed and is not the declared LUKS2 volume (or is absent)."""

    volume: str = ""


@dataclass(frozen=True)
class EncryptionConfigDrift(NodeFinding):
    """*node*'s applied config does not declare *volume* LUKS2 with nodeID alone in slot 0.

    The volume may still be as declared; the config is what its next format
    and its next key sync follow, so re-applying the definition's config fixes it.
    """

    volume: str = ""


_LEGACY_KEYS = {"STATE": "state", "EPHEMERAL": "ephemeral"}
_KEY_KINDS = ("nodeID", "static", "kms", "tpm")


def _volume(resources: Sequence[TalosResource], volume: str) -> Mapping[str, Any] | None:
    for resource in resources:
        if (resource.get("metadata") or {}).get("id") == volume:
            spec = resource.get("spec")
            return spec if isinstance(spec, Mapping) else {}
    return None


def _describe(spec: Mapping[str, Any]) -> str:
    provider = spec.get("encryptionProvider") or "no encryption provider (plain volume)"
    keys = spec.get("configuredEncryptionKeys")
    key_text = ", ".join(str(k) for k in keys) if isinstance(keys, list) and keys else "none"
    slot = spec.get("encryptionSlot")
    slot_text = "none" if slot is None else str(slot)
    phase = spec.get("phase", "unknown")
    return f"{provider}, keys [{key_text}], unlocked by slot {slot_text} (phase {phase})"


def _conforms(spec: Mapping[str, Any]) -> bool:
    keys = spec.get("configuredEncryptionKeys")
    slot = spec.get("encryptionSlot")
    return (
        spec.get("phase") == "ready"
        and spec.get("encryptionProvider") == PROVIDER
        and isinstance(keys, list)
        and tuple(sorted(str(k) for k in keys)) == KEY_TYPES
        and isinstance(slot, int)
        and not isinstance(slot, bool)
        and slot == SLOT
    )


def _declared_encryptions(
    docs: Sequence[object], volume: str
) -> list[tuple[str, Mapping[str, Any]]]:
    """(where, encryption block) for every source in *docs* that declares *volume*'s encryption."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        if doc.get("kind") == "VolumeConfig" and doc.get("name") == volume:
            block = doc.get("encryption")
            if isinstance(block, Mapping):
                found.append((f"VolumeConfig {volume}", block))
        elif doc.get("version") == "v1alpha1":
            legacy = (
                ((doc.get("machine") or {}).get("systemDiskEncryption") or {}).get(
                    _LEGACY_KEYS[volume]
                )
                if isinstance(doc.get("machine"), Mapping)
                else None
            )
            if isinstance(legacy, Mapping):
                found.append((f"machine.systemDiskEncryption.{_LEGACY_KEYS[volume]}", legacy))
    return found


def _key_text(key: object) -> str:
    if not isinstance(key, Mapping):
        return repr(key)
    kinds = [k for k in _KEY_KINDS if k in key] or ["unknown"]
    return f"slot {key.get('slot', '?')}: {'+'.join(kinds)}"


def _config_problem(docs: Sequence[Mapping[str, Any]], volume: str) -> str | None:
    """What the applied config declares for *volume* when it is not the declared keying."""
    declared = _declared_encryptions(docs, volume)
    if not declared:
        return "the applied config declares no encryption for it"
    texts = []
    for where, block in declared:
        keys = block.get("keys")
        key_list = keys if isinstance(keys, list) else []
        texts.append(
            f"{where}: provider {block.get('provider') or 'none'}, keys "
            f"[{', '.join(_key_text(k) for k in key_list) or 'none'}]"
        )
    if len(declared) == 1:
        block = declared[0][1]
        keys = block.get("keys")
        if (
            block.get("provider") == PROVIDER
            and isinstance(keys, list)
            and len(keys) == 1
            and isinstance(keys[0], Mapping)
            and keys[0].get("slot", 0) == SLOT
            and [k for k in _KEY_KINDS if k in keys[0]] == list(KEY_TYPES)
        ):
            return None
    return "applied config " + "; ".join(texts)


def _config_findings(
    snapshot: Snapshot, volume: str, expected: str
) -> tuple[list[Finding], list[Finding]]:
    """(findings, unread) for the applied configs' declared encryption of *volume*."""
    findings: list[Finding] = []
    silent: list[Finding] = []
    for node in snapshot.definition.nodes:
        target = f"{node.name} ({node.hostname}) volume {volume} config"
        try:
            docs = snapshot.machine_config(node.name)
        except Unobservable as exc:
            silent.append(
                NodeUnread(target, expected, f"config not read: {exc.reason}", DOC, node=node.name)
            )
            continue
        problem = _config_problem(docs, volume)
        if problem is not None:
            findings.append(
                EncryptionConfigDrift(target, expected, problem, DOC, node=node.name, volume=volume)
            )
    return findings, silent


@judged.judges(nodes=judged.nodes)
def volume_is_luks2_with_node_key(snapshot: Snapshot, volume: str) -> list[Finding]:
    """*volume* is LUKS2, keyed by nodeID only and unlocked by slot 0, on every node.

    Judged twice per node: the volume as the node reports it (ready, opened
    through LUKS2, configured keys nodeID alone, unlocked by slot 0) and the
    applied config that the next format and key sync follow (exactly one
    key, nodeID in slot 0, provider luks2, from whichever source declares it).

    A node whose volumes were not read never lets the control pass: beside
    findings on other nodes it is listed as one; when every node read
    conforms, the control is unobservable naming the silent nodes (failing
    it would report TOP-01's silent node again as an encryption problem
    nobody observed).
    """
    if volume not in SYSTEM_VOLUMES:
        raise ValueError(f"volume must be one of {', '.join(SYSTEM_VOLUMES)}, not {volume!r}")
    per_node = snapshot.resources(snapshot_module.VOLUME_STATUS)
    if not any(node.name in per_node for node in snapshot.definition.nodes):
        raise Unobservable("no node reported its volume statuses")
    unread = snapshot.unread_nodes(snapshot_module.VOLUME_STATUS)
    expected = f"{PROVIDER}, keys [{', '.join(KEY_TYPES)}], unlocked by slot {SLOT}, phase ready"
    findings: list[Finding] = []
    silent: list[Finding] = []
    for node in snapshot.definition.nodes:
        target = f"{node.name} ({node.hostname}) volume {volume}"
        if node.name not in per_node:
            why = unread.get(node.name, "no answer")
            silent.append(
                NodeUnread(target, expected, f"volume status not read: {why}", DOC, node=node.name)
            )
            continue
        spec = _volume(per_node[node.name], volume)
        if spec is None:
            findings.append(
                VolumeNotLuks2(
                    target, expected, "no such volume reported", DOC, node=node.name, volume=volume
                )
            )
        elif not _conforms(spec):
            findings.append(
                VolumeNotLuks2(
                    target, expected, _describe(spec), DOC, node=node.name, volume=volume
                )
            )
    config_findings, config_silent = _config_findings(
        snapshot,
        volume,
        f"applied config: provider {PROVIDER}, keys [slot {SLOT}: {', '.join(KEY_TYPES)}] only",
    )
    findings += config_findings
    silent += config_silent
    if silent and not findings:
        raise Unobservable(
            "; ".join(f"{f.target}: {f.observed}" for f in silent)
            + f" (every node read has {volume} as expected)"
        )
    return findings + silent
