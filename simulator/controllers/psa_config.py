"""PodSecurity admission configuration and namespace labels, as the API server reads them.

What belongs here: turning the plugin's ``PodSecurityConfiguration`` (from the
node machine config, ``cluster.apiServer.admissionControl[name=PodSecurity]``)
and a namespace's ``pod-security.kubernetes.io/*`` labels into the three
level/version pairs the checks run at.  Kept apart from the checks because
these rules (defaulting, label fallbacks, exemption validation) change for
different reasons than the pod checks do.

Behaviour read from kubernetes/pod-security-admission at tag
``kubernetes-1.35.2`` (the cluster's Kubernetes):

* ``admission/api/load/load.go``: no configuration at all means the defaults,
  i.e. every mode ``privileged`` at ``latest`` and no exemptions;
* ``admission/api/scheme/scheme.go``: ``v1``, ``v1beta1`` and ``v1alpha1`` of
  ``pod-security.admission.config.k8s.io`` decode to the same shape, strictly
  (unknown fields are errors);
* ``admission/api/v1/defaults.go``: an omitted level is ``privileged``, an
  omitted version ``latest``;
* ``admission/api/validation/validation.go``: levels and versions must parse;
  exempt namespaces must be DNS-1123 labels, runtime classes DNS-1123
  subdomains, usernames non-empty; duplicates are errors;
* ``api/helpers.go`` ``PolicyToEvaluate``: labels override defaults per mode;
  an unparsable enforce level means ``restricted``, an unparsable audit/warn
  level means ``privileged``, an unparsable version ``latest``; an explicit
  enforce label stricter than warn raises warn to it.

A real kube-apiserver refuses to start on an invalid configuration; the
simulator reports it as a definition error (:class:`PodSecurityConfigError`,
which is both a :class:`~provisioning.definition.problems.DefinitionError` and a
:class:`ValueError`) naming the file and field, never with a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.definition.problems import DefinitionError, Problem

PRIVILEGED = "privileged"
BASELINE = "baseline"
RESTRICTED = "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
LATEST = "latest"

#: The newest policy version this simulated API server knows: it claims
#: Kubernetes v1.35.2, so ``latest`` and every ``v1.N`` with N > 35 evaluate
#: the 1.35 check set (``policy/registry.go`` clamps to the newest version).
NEWEST_POLICY_MINOR = 35

CONFIG_GROUP = "pod-security.admission.config.k8s.io"
CONFIG_API_VERSIONS = frozenset(f"{CONFIG_GROUP}/{v}" for v in ("v1", "v1beta1", "v1alpha1"))
CONFIG_KIND = "PodSecurityConfiguration"

LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")

_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")
_LEVEL_ERROR = "must be one of " + ", ".join(LEVELS)
_VERSION_ERROR = 'must be "latest" or "v1.x"'
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DEFAULT_KEYS = tuple(key for mode in MODES for key in (mode, f"{mode}-version"))
_EXEMPTION_KEYS = ("usernames", "namespaces", "runtimeClasses")


def policy_minor(version: str) -> int:
    """The minor version whose checks *version* selects (``latest`` = newest).

    :raises ValueError: *version* is neither ``latest`` nor ``v1.N``.
    """
    if version == LATEST:
        return NEWEST_POLICY_MINOR
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"invalid PodSecurity version {version!r}: {_VERSION_ERROR}")
    return min(int(match.group(1)), NEWEST_POLICY_MINOR)


@dataclass(frozen=True)
class LevelVersion:
    """A policy level at a policy version, printed ``level:version`` as upstream."""

    level: str
    version: str = LATEST

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"invalid PodSecurity level {self.level!r}: {_LEVEL_ERROR}")
        policy_minor(self.version)

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"

    @property
    def minor(self) -> int:
        """The minor version of the check set this pair evaluates."""
        return policy_minor(self.version)


PRIVILEGED_LATEST = LevelVersion(PRIVILEGED, LATEST)


class PodSecurityConfigError(DefinitionError, ValueError):
    """The PodSecurity plugin configuration is unusable; :attr:`problems` says why."""


@dataclass(frozen=True)
class PodSecurityConfig:
    """The plugin configuration the API server runs with (defaults + exemptions)."""

    enforce: LevelVersion = PRIVILEGED_LATEST
    audit: LevelVersion = PRIVILEGED_LATEST
    warn: LevelVersion = PRIVILEGED_LATEST
    exempt_namespaces: frozenset[str] = frozenset()
    exempt_usernames: frozenset[str] = frozenset()
    exempt_runtime_classes: frozenset[str] = frozenset()

    @classmethod
    def from_configuration(
        cls,
        configuration: Mapping[str, Any] | None,
        *,
        source: str = "PodSecurity configuration",
        field_prefix: str = "",
    ) -> PodSecurityConfig:
        """Decode a ``PodSecurityConfiguration`` object as the plugin would.

        ``None`` (plugin configured without a configuration, or not configured:
        PodSecurity is on by default since 1.25) yields everything privileged.

        :param source: the file the object came from, for error messages.
        :param field_prefix: where the object sits in that file, e.g.
            ``cluster.apiServer.admissionControl[0].configuration``.
        :raises PodSecurityConfigError: every problem found, each naming
            *source* and the field.
        """
        if configuration is None:
            return cls()
        reader = _ConfigReader(source, field_prefix)
        config = reader.read(configuration)
        if reader.problems:
            raise PodSecurityConfigError(reader.problems)
        assert config is not None  # no problems means read() built one
        return config


class _ConfigReader:
    """Collects every problem of one configuration object instead of stopping at the first."""

    def __init__(self, source: str, prefix: str) -> None:
        self.source = source
        self.prefix = prefix
        self.problems: list[Problem] = []

    def _problem(self, field: str, message: str) -> None:
        path = f"{self.prefix}.{field}" if self.prefix and field else (self.prefix or field)
        self.problems.append(Problem(self.source, path, message))

    def _mapping(self, value: object, field: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self._problem(field, f"must be a mapping, not {type(value).__name__}")
            return {}
        return value

    def _unknown(self, value: Mapping[str, Any], known: tuple[str, ...], field: str) -> None:
        for key in value:
            if key not in known:
                where = f"{field}.{key}" if field else str(key)
                self._problem(where, "unknown field (the configuration is decoded strictly)")

    def read(self, configuration: object) -> PodSecurityConfig | None:
        top = self._mapping(configuration, "")
        api_version = top.get("apiVersion")
        if api_version not in CONFIG_API_VERSIONS:
            allowed = ", ".join(sorted(CONFIG_API_VERSIONS))
            self._problem("apiVersion", f"{_shown(api_version)}; must be one of {allowed}")
        if top.get("kind") != CONFIG_KIND:
            self._problem("kind", f"{_shown(top.get('kind'))}; must be {CONFIG_KIND}")
        self._unknown(top, ("apiVersion", "kind", "defaults", "exemptions"), "")
        defaults = self._mapping(top.get("defaults"), "defaults")
        self._unknown(defaults, _DEFAULT_KEYS, "defaults")
        modes = [self._mode(defaults, mode) for mode in MODES]
        exemptions = self._mapping(top.get("exemptions"), "exemptions")
        self._unknown(exemptions, _EXEMPTION_KEYS, "exemptions")
        namespaces = self._names(exemptions, "namespaces", _DNS_LABEL, "a DNS-1123 label")
        users = self._names(exemptions, "usernames", None, "")
        classes = self._names(exemptions, "runtimeClasses", _DNS_SUBDOMAIN, "a DNS-1123 subdomain")
        if self.problems:
            return None
        enforce, audit, warn = (lv for lv in modes if lv is not None)
        return PodSecurityConfig(enforce, audit, warn, namespaces, users, classes)

    def _text(self, value: object, field: str, default: str) -> str | None:
        if value is None or value == "":
            return default
        if not isinstance(value, str):
            self._problem(field, f"must be a string, not {type(value).__name__}")
            return None
        return value

    def _mode(self, defaults: Mapping[str, Any], mode: str) -> LevelVersion | None:
        level = self._text(defaults.get(mode), f"defaults.{mode}", PRIVILEGED)
        version = self._text(defaults.get(f"{mode}-version"), f"defaults.{mode}-version", LATEST)
        ok = True
        if level is not None and level not in LEVELS:
            self._problem(f"defaults.{mode}", f"Invalid value: {level!r}: {_LEVEL_ERROR}")
            ok = False
        if version is not None and version != LATEST and not _VERSION.match(version):
            self._problem(
                f"defaults.{mode}-version", f"Invalid value: {version!r}: {_VERSION_ERROR}"
            )
            ok = False
        if not ok or level is None or version is None:
            return None
        return LevelVersion(level, version)

    def _names(
        self, exemptions: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None, what: str
    ) -> frozenset[str]:
        field = f"exemptions.{key}"
        value = exemptions.get(key)
        if value is None:
            return frozenset()
        if not isinstance(value, list):
            self._problem(field, f"must be a list, not {type(value).__name__}")
            return frozenset()
        seen: set[str] = set()
        for index, name in enumerate(value):
            where = f"{field}[{index}]"
            if not isinstance(name, str):
                self._problem(where, f"must be a string, not {type(name).__name__}")
            elif pattern is None and not name:
                self._problem(where, "username must not be empty")
            elif pattern is not None and (not pattern.match(name) or len(name) > _max_len(key)):
                self._problem(where, f"Invalid value: {name!r}: must be {what}")
            elif name in seen:
                self._problem(where, f"Duplicate value: {name!r}")
            else:
                seen.add(name)
        return frozenset(seen)


def _shown(value: object) -> str:
    return "is missing" if value is None else f"is {value!r}"


def _max_len(key: str) -> int:
    return 63 if key == "namespaces" else 253


@dataclass(frozen=True)
class NamespacePolicy:
    """The three modes for one namespace, plus the label errors upstream tolerates."""

    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion
    label_errors: tuple[str, ...] = ()

    @property
    def is_fully_privileged(self) -> bool:
        """No mode checks anything (``Policy.FullyPrivileged``)."""
        return all(lv.level == PRIVILEGED for lv in (self.enforce, self.audit, self.warn))


def _strictness(level: str) -> int:
    return LEVELS.index(level)


def evaluate_labels(config: PodSecurityConfig, labels: Mapping[str, str]) -> NamespacePolicy:
    """Resolve *labels* against the configured defaults (``api.PolicyToEvaluate``).

    Errors are kept as upstream's field error texts (they end up in the
    ``error`` audit annotation); the policy returned is always usable.
    """
    levels = {"enforce": config.enforce, "audit": config.audit, "warn": config.warn}
    errors: list[str] = []
    has_enforce_level = False

    def label_error(label: str, value: object, detail: str) -> None:
        errors.append(
            f"metadata.labels[{LABEL_PREFIX}{label}]: Invalid value: {go_quote(value)}: {detail}"
        )

    for mode in MODES:
        current = levels[mode]
        level, version = current.level, current.version
        if f"{LABEL_PREFIX}{mode}" in labels:
            value = labels[f"{LABEL_PREFIX}{mode}"]
            if value in LEVELS:
                level = value
                has_enforce_level = has_enforce_level or mode == "enforce"
            else:
                label_error(mode, value, _LEVEL_ERROR)
                # Fail closed for enforce, open for audit and warn, as upstream.
                level = RESTRICTED if mode == "enforce" else PRIVILEGED
        if f"{LABEL_PREFIX}{mode}-version" in labels:
            value = labels[f"{LABEL_PREFIX}{mode}-version"]
            if value == LATEST or (isinstance(value, str) and _VERSION.match(value)):
                version = value
            else:
                label_error(f"{mode}-version", value, _VERSION_ERROR)
                version = LATEST
        levels[mode] = LevelVersion(level, version)

    warn = levels["warn"]
    enforce = levels["enforce"]
    if (
        has_enforce_level
        and f"{LABEL_PREFIX}warn" not in labels
        and _strictness(enforce.level) > _strictness(warn.level)
    ):
        has_warn_version = f"{LABEL_PREFIX}warn-version" in labels
        levels["warn"] = LevelVersion(
            enforce.level, warn.version if has_warn_version else enforce.version
        )
    return NamespacePolicy(levels["enforce"], levels["audit"], levels["warn"], tuple(errors))


def namespace_policy(
    config: PodSecurityConfig, namespace_labels: Mapping[str, str]
) -> tuple[LevelVersion, LevelVersion, LevelVersion]:
    """(enforce, audit, warn) for a namespace: its labels override the defaults per mode."""
    policy = evaluate_labels(config, namespace_labels)
    return policy.enforce, policy.audit, policy.warn


def go_quote(value: object) -> str:
    """Quote like Go's ``%q`` (``strconv.Quote``), which upstream messages use."""
    text = value if isinstance(value, str) else str(value)
    out = ['"']
    simple = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t"}
    simple["\v"] = r"\v"
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in simple:
            out.append(simple[char])
        elif char.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
