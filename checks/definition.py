"""Controls over the cluster definition itself (config hygiene, article lessons).

These need no cluster: they look at the definition as committed and at what
it renders to, so they run first and catch mistakes before any node is
touched.  Their input is a :class:`DefinitionState`, collected once per run by
the definition fixture.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checks import judged
from checks.findings import Finding

TALOS_VALIDATION_DOC = "https://docs.siderolabs.com/talos/v1.12/reference/configuration/overview"
SECRETS_DOC = "https://docs.siderolabs.com/talos/v1.12/security/cert-management"
FACTORY_DOC = "https://docs.siderolabs.com/talos/v1.12/learn-more/image-factory"
HOSTNAME_DOC = "https://docs.siderolabs.com/talos/v1.12/networking/configuration/hostname"


@dataclass(frozen=True)
class RenderedConfig:
    """What one node's config rendered to, as far as these controls care."""

    node: str
    errors: tuple[str, ...]
    installer_image: str | None
    has_hostname_config: bool
    legacy_hostname: str | None


@dataclass(frozen=True)
class DefinitionState:
    """The definition as committed plus its rendering, observed once per run."""

    # path -> text of the files git tracks; kept out of repr so a leaked secret in them is
    # never echoed by a traceback, --showlocals or a report of the fixture's value.
    tracked_files: Mapping[str, str] = field(repr=False)
    rendered: Mapping[str, RenderedConfig]
    render_errors: tuple[str, ...] = ()
    expected_installer: str = ""
    extensions: tuple[str, ...] = field(default_factory=tuple)
    # node -> its rendered config's documents, secrets as ``<redacted>`` (HYG-07 compares
    # them with what the node runs); a node whose stack does not apply is absent.
    documents: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict, repr=False)


# Each pattern names what it found without echoing the value.
_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("a base64-encoded PEM block", re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/=]{20,}")),
    ("an age identity", re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{20,}")),
    (
        "a Talos/Kubernetes bootstrap token",
        re.compile(r"(?:token|bootstraptoken)\s*:\s*['\"]?[a-z0-9]{6}\.[a-z0-9]{16}\b"),
    ),
    (
        "a secret-looking value",
        # Case-insensitive: `talosctl gen secrets` writes secretboxencryptionsecret in lower case.
        re.compile(
            r"^\s*(?:secret|secretboxEncryptionSecret|aescbcEncryptionSecret|"
            r"client-key-data|key|privateKey|presharedKey)\s*:\s*['\"]?[A-Za-z0-9+/]{32,}={0,2}"
            r"['\"]?\s*$",
            re.MULTILINE | re.IGNORECASE,
        ),
    ),
    (
        # A VolumeConfig static key: any passphrase written down unlocks the volume.
        "a disk-encryption passphrase",
        re.compile(r"^\s*(?:-\s*)?passphrase\s*:\s*['\"]?[^\s'\"#]+", re.MULTILINE),
    ),
)


@judged.judges(files=lambda state, **_: len(state.tracked_files))
def no_secrets_committed(state: DefinitionState) -> list[Finding]:
    """No file of the definition that git tracks holds secret material.

    Machine secrets belong in the age-encrypted store outside git; anything
    matching a key, token or identity shape in a tracked file is a leak.
    """
    findings: list[Finding] = []
    for path, text in sorted(state.tracked_files.items()):
        for what, pattern in _SECRET_PATTERNS:
            match = pattern.search(text)
            if match is not None:
                line = text.count("\n", 0, match.start()) + 1
                findings.append(
                    Finding(f"{path}:{line}", "no secret material", f"{what}", SECRETS_DOC)
                )
    return findings


def _rendered(state: DefinitionState, **_: object) -> int:
    return len(state.rendered)


@judged.judges(rendered_configs=_rendered)
def rendered_configs_valid(state: DefinitionState) -> list[Finding]:
    """Every node's rendered config is one Talos v1.12 would accept."""
    findings = [
        Finding("definition", "renders without errors", error, TALOS_VALIDATION_DOC)
        for error in state.render_errors
    ]
    for name, rendered in sorted(state.rendered.items()):
        findings.extend(
            Finding(f"node {name}", "a valid machine config", error, TALOS_VALIDATION_DOC)
            for error in rendered.errors
        )
    return findings


@judged.judges(rendered_configs=_rendered)
def installer_matches_schematic(state: DefinitionState) -> list[Finding]:
    """Every node installs from the schematic the definition declares.

    Schematics are immutable content hashes (article lesson 4): an installer
    reference copied from an older schematic silently drops extensions.
    """
    return [
        Finding(
            f"node {name}",
            f"{state.expected_installer} (extensions: {', '.join(state.extensions)})",
            rendered.installer_image or "no machine.install.image",
            FACTORY_DOC,
        )
        for name, rendered in sorted(state.rendered.items())
        if rendered.installer_image != state.expected_installer
    ]


@judged.judges(rendered_configs=_rendered)
def single_hostname_source(state: DefinitionState) -> list[Finding]:
    """No node sets both a HostnameConfig and ``machine.network.hostname``.

    Talos v1.12 rejects such a config (``static hostname is already set in
    v1alpha1 config``) -- the article's "HostnameConfig silently wins" is wrong
    for this version (talos.md, correction 1).
    """
    return [
        Finding(
            f"node {name}",
            "hostname set in exactly one place",
            f"HostnameConfig and machine.network.hostname={rendered.legacy_hostname}",
            HOSTNAME_DOC,
        )
        for name, rendered in sorted(state.rendered.items())
        if rendered.has_hostname_config and rendered.legacy_hostname
    ]


def collect_rendered(
    node: str,
    errors: Sequence[str],
    installer_image: object,
    has_hostname_config: bool,
    legacy_hostname: object,
) -> RenderedConfig:
    """Build a :class:`RenderedConfig` from loosely typed config values."""
    return RenderedConfig(
        node=node,
        errors=tuple(errors),
        installer_image=str(installer_image) if installer_image else None,
        has_hostname_config=has_hostname_config,
        legacy_hostname=str(legacy_hostname) if legacy_hostname else None,
    )
