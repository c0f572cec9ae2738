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
        spec.get("encryptionProvider") == PROVIDER
        and isinstance(keys, list)
        and tuple(sorted(str(k) for k in keys)) == KEY_TYPES
        and isinstance(slot, int)
        and not isinstance(slot, bool)
        and slot == SLOT
    )


@judged.judges(nodes=judged.nodes)
def volume_is_luks2_with_node_key(snapshot: Snapshot, volume: str) -> list[Finding]:
    """*volume* is LUKS2, keyed by nodeID only and unlocked by slot 0, on every node.

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
    expected = f"{PROVIDER}, keys [{', '.join(KEY_TYPES)}], unlocked by slot {SLOT}"
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
    if silent and not findings:
        raise Unobservable(
            "; ".join(f"{f.target}: {f.observed}" for f in silent)
            + f" (every node read has {volume} as expected)"
        )
    return findings + silent
