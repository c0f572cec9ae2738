"""What a simulated node reads out of its machine config text.

The simulator stores each node's config as the YAML text the operator sent
(so ``talosctl get mc`` shows exactly that), and everything a node *does*
follows from that text: its hostname, addresses, VIP, disk layout, volume
encryption, kubelet and KubePrism settings.  This module is the single place
that interprets the text, read-only, so lifecycle and resources cannot drift
apart on what a field means.  Paths and defaults follow the Talos facts
sheet §1-§2 (v1.12.5): absent ``kubePrism`` means disabled, absent
``defaultRuntimeSeccompProfileEnabled`` means false, VolumeConfig documents
take the place of the deprecated ``machine.systemDiskEncryption``.

A node accepts or refuses a config with Talos's own code
(:func:`talos_validate`, the validator :mod:`provisioning.config.validation`
also renders with); a server may plug in another through :data:`Validator`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.configdiff import IMMEDIATE_FEATURES, IMMEDIATE_MACHINE_KEYS
from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError

KUBEPRISM_DEFAULT_PORT = 7445
_MACHINE_TYPES = ("controlplane", "worker", "init", "join", "")


class ConfigError(Exception):
    """The text is not a machine config at all (YAML syntax, not a mapping)."""


@dataclass(frozen=True)
class Encryption:
    """The desired encryption of one volume: provider and key types by slot."""

    provider: str
    keys: tuple[tuple[int, str], ...]  # (slot, type) in config order

    @property
    def key_types(self) -> list[str]:
        """``configuredEncryptionKeys``: the key type names, sorted."""
        return sorted({kind for _, kind in self.keys})


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _key_type(key: Mapping[str, Any]) -> str:
    for kind in ("nodeID", "static", "kms", "tpm"):
        if kind in key:
            return kind
    return "unknown"


@dataclass(frozen=True)
class ConfigView:
    """A parsed machine config; every accessor is derived, nothing is cached state."""

    text: str
    v1alpha1: Mapping[str, Any] | None
    documents: tuple[Mapping[str, Any], ...]

    @classmethod
    def parse(cls, text: str) -> ConfigView:
        """Split *text* into the v1alpha1 document and the others."""
        try:
            docs = yamlfiles.parse_documents(text, "machine config")
        except DefinitionError as exc:
            raise ConfigError(str(exc)) from None
        v1alpha1: Mapping[str, Any] | None = None
        others: list[Mapping[str, Any]] = []
        for doc in docs:
            if doc.value is None:
                continue
            if not isinstance(doc.value, Mapping):
                raise ConfigError("machine config: a document is not a mapping")
            if "kind" not in doc.value and "apiVersion" not in doc.value:
                if v1alpha1 is not None:
                    raise ConfigError("duplicate v1alpha1.Config")
                v1alpha1 = doc.value
            else:
                others.append(doc.value)
        return cls(text, v1alpha1, tuple(others))

    # -- documents -------------------------------------------------------

    def document(self, kind: str, name: str | None = None) -> Mapping[str, Any] | None:
        for doc in self.documents:
            if doc.get("kind") == kind and (name is None or doc.get("name") == name):
                return doc
        return None

    def _machine(self) -> Mapping[str, Any]:
        return _mapping((self.v1alpha1 or {}).get("machine"))

    def _cluster(self) -> Mapping[str, Any]:
        return _mapping((self.v1alpha1 or {}).get("cluster"))

    # -- identity --------------------------------------------------------

    @property
    def machine_type(self) -> str:
        value = self._machine().get("type", "")
        return str(value) if value is not None else ""

    @property
    def is_control_plane(self) -> bool:
        return self.machine_type in ("controlplane", "init")

    @property
    def hostname(self) -> str | None:
        """The static hostname: HostnameConfig first, legacy field as fallback."""
        doc = self.document("HostnameConfig")
        if doc is not None and doc.get("hostname"):
            return str(doc["hostname"])
        legacy = _mapping(self._machine().get("network")).get("hostname")
        return str(legacy) if legacy else None

    @property
    def cluster_name(self) -> str:
        return str(self._cluster().get("clusterName") or "")

    # -- network ---------------------------------------------------------

    def static_addresses(self) -> list[tuple[str, str]]:
        """(link, CIDR) pairs from legacy interfaces and LinkConfig documents."""
        found: list[tuple[str, str]] = []
        for iface in _list(_mapping(self._machine().get("network")).get("interfaces")):
            link = str(_mapping(iface).get("interface") or "")
            found.extend((link, str(a)) for a in _list(_mapping(iface).get("addresses")))
        for doc in self.documents:
            if doc.get("kind") == "LinkConfig":
                link = str(doc.get("name"))
                found.extend(
                    (link, str(_mapping(i).get("address"))) for i in _list(doc.get("addresses"))
                )
        return found

    def vips(self) -> list[tuple[str, str]]:
        """(link, VIP) pairs from ``interfaces[].vip`` and Layer2VIPConfig documents."""
        found: list[tuple[str, str]] = []
        for iface in _list(_mapping(self._machine().get("network")).get("interfaces")):
            vip = _mapping(_mapping(iface).get("vip")).get("ip")
            if vip:
                found.append((str(_mapping(iface).get("interface") or ""), str(vip)))
        found.extend(
            (str(doc.get("link") or ""), str(doc.get("name")))
            for doc in self.documents
            if doc.get("kind") == "Layer2VIPConfig"
        )
        return found

    # -- storage ---------------------------------------------------------

    def user_disks(self) -> list[tuple[str, list[str]]]:
        """``machine.disks``: (device, mountpoints) in config order."""
        disks = []
        for item in _list(self._machine().get("disks")):
            parts = [
                str(_mapping(p).get("mountpoint")) for p in _list(_mapping(item).get("partitions"))
            ]
            disks.append((str(_mapping(item).get("device")), parts))
        return disks

    def volume_encryption(self, volume: str) -> Encryption | None:
        """Desired encryption of STATE/EPHEMERAL: VolumeConfig, else the legacy field."""
        enc = _mapping(_mapping(self.document("VolumeConfig", volume)).get("encryption"))
        if not enc:
            legacy = _mapping(self._machine().get("systemDiskEncryption"))
            enc = _mapping(legacy.get(volume.lower()))
        if not enc.get("provider"):
            return None
        keys = tuple(
            (int(_mapping(k).get("slot") or 0), _key_type(_mapping(k)))
            for k in _list(enc.get("keys"))
        )
        return Encryption(str(enc["provider"]), keys)

    @property
    def install_image(self) -> str:
        return str(_mapping(self._machine().get("install")).get("image") or "")

    @property
    def install_disk(self) -> str:
        return str(_mapping(self._machine().get("install")).get("disk") or "")

    # -- kubernetes side -------------------------------------------------

    @property
    def kubelet(self) -> Mapping[str, Any]:
        return _mapping(self._machine().get("kubelet"))

    @property
    def seccomp_default(self) -> bool:
        return self.kubelet.get("defaultRuntimeSeccompProfileEnabled") is True

    @property
    def kubeprism(self) -> tuple[bool, int]:
        """(enabled, port); absent means disabled, port 0 means 7445."""
        prism = _mapping(_mapping(self._machine().get("features")).get("kubePrism"))
        port = int(prism.get("port") or 0) or KUBEPRISM_DEFAULT_PORT
        return prism.get("enabled") is True, port

    @property
    def endpoint(self) -> str:
        return str(_mapping(self._cluster().get("controlPlane")).get("endpoint") or "")

    @property
    def api_server(self) -> Mapping[str, Any]:
        return _mapping(self._cluster().get("apiServer"))

    # -- reboot-or-not ---------------------------------------------------

    def immediate_blockers(self, new: ConfigView) -> str:
        """Diff of the v1alpha1 parts that need a reboot; empty if *new* applies at once."""
        return _diff(_rebooting_part(self.v1alpha1), _rebooting_part(new.v1alpha1))


def _rebooting_part(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """The v1alpha1 document minus everything CanApplyImmediate ignores."""
    if doc is None:
        return {}
    out = {k: v for k, v in doc.items() if k not in ("debug", "cluster")}
    machine = {
        k: v for k, v in _mapping(doc.get("machine")).items() if k not in IMMEDIATE_MACHINE_KEYS
    }
    features = {
        k: v for k, v in _mapping(machine.get("features")).items() if k not in IMMEDIATE_FEATURES
    }
    if features:
        machine["features"] = features
    else:
        machine.pop("features", None)
    out["machine"] = machine
    return out


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    if old == new:
        return ""
    a = yamlfiles.dump_document(dict(old)).splitlines(keepends=True)
    b = yamlfiles.dump_document(dict(new)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, "a", "b"))


def config_diff(old: str, new: str) -> str:
    """Unified diff of two config texts, as the dry-run summary shows it."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, "a", "b"))


Validator = Callable[[ConfigView], Sequence[str]]


def talos_validate(view: ConfigView) -> list[str]:
    """What a metal node running Talos v1.12.5 says of *view*: Talos's own validator.

    The config is loaded and validated by ``pkg/machinery`` through the
    helper rendering validates with (:mod:`provisioning.config.machinery`),
    not strict, as machined does on apply-config.  The items are the texts
    of Talos's multierror, per-document ones prefixed with the document id
    as ``Container.Validate`` does.  A config Talos cannot load (unknown
    keys, wrong types) raises :class:`ConfigError` with the loader's text (a
    node says ``failed to parse config`` in maintenance mode, the bare text
    when running).
    """
    from provisioning.config import machinery

    answer = machinery.call({"op": "validate", "config": view.text, "mode": "metal"})
    if answer.get("load_error"):
        raise ConfigError(str(answer["load_error"]))
    return [str(item) for item in answer.get("top", [])]


def multierror(messages: Sequence[str]) -> str:
    """hashicorp/go-multierror's text, which Talos wraps validation errors in."""
    head = "1 error occurred:" if len(messages) == 1 else f"{len(messages)} errors occurred:"
    return head + "\n" + "".join(f"\t* {m}\n" for m in messages) + "\n"
