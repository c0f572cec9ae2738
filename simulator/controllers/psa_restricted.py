"""The restricted-only Pod Security Standards checks.

What belongs here: the checks that exist only at the ``restricted`` level
(``allowPrivilegeEscalation``, ``capabilities_restricted``,
``restrictedVolumes``, ``runAsNonRoot``, ``runAsUser``,
``seccompProfile_restricted``; ``procMount_restricted`` reuses the baseline
1.0 function).  This cluster runs them for ``warn`` and ``audit`` only, so
they decide warnings and audit annotations, never a rejection -- unless a
namespace is labelled ``enforce: restricted``.  Split from
:mod:`.psa_checks` to keep both modules small; shape tolerance and wording
rules are those of :mod:`.psa_podspec`.  Source: kubernetes/pod-security-admission
``policy/check_*.go`` at tag ``kubernetes-1.35.2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.controllers.psa_checks import valid_seccomp_type
from simulator.controllers.psa_podspec import (
    Violation,
    containers,
    containers_phrase,
    in_user_namespace,
    is_int,
    is_windows,
    items,
    join_quote,
    name_of,
    pluralize,
    security_context,
    text,
)


def allow_privilege_escalation_1_8(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """allowPrivilegeEscalation 1.8: every container sets it to false."""
    bad = [
        name_of(c)
        for c in containers(spec)
        if security_context(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return None
    detail = f"{containers_phrase(bad)} must set securityContext.allowPrivilegeEscalation=false"
    return "allowPrivilegeEscalation != false", detail


def allow_privilege_escalation_1_25(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """allowPrivilegeEscalation 1.25: Windows pods are exempt."""
    return None if is_windows(spec) else allow_privilege_escalation_1_8(meta, spec)


def capabilities_restricted_1_22(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """capabilities_restricted 1.22: drop ALL, add at most NET_BIND_SERVICE."""
    missing_drop: list[str] = []
    adding: list[str] = []
    forbidden: set[str] = set()
    for c in containers(spec):
        caps = security_context(c).get("capabilities")
        if not isinstance(caps, Mapping):
            missing_drop.append(name_of(c))
            continue
        drop = caps.get("drop")
        if not (isinstance(drop, list) and "ALL" in drop):
            missing_drop.append(name_of(c))
        add = caps.get("add")
        extra = (
            {text(cap) for cap in add if cap != "NET_BIND_SERVICE"}
            if isinstance(add, list)
            else set()
        )
        if extra:
            adding.append(name_of(c))
            forbidden |= extra
    details = []
    if missing_drop:
        details.append(
            f'{containers_phrase(missing_drop)} must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{containers_phrase(adding)} must not include {join_quote(sorted(forbidden))}"
            " in securityContext.capabilities.add"
        )
    return ("unrestricted capabilities", "; ".join(details)) if details else None


def capabilities_restricted_1_25(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """capabilities_restricted 1.25: Windows pods are exempt."""
    return None if is_windows(spec) else capabilities_restricted_1_22(meta, spec)


_ALLOWED_VOLUME_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# Upstream's switch order: the first source set names the volume's type.
_RESTRICTED_VOLUME_SOURCES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def restricted_volumes_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """restrictedVolumes 1.0: only the inline volume types the restricted profile lists."""
    bad: list[str] = []
    types: set[str] = set()
    for volume in items(spec.get("volumes")):
        if any(volume.get(key) is not None for key in _ALLOWED_VOLUME_SOURCES):
            continue
        bad.append(name_of(volume))
        found = [key for key in _RESTRICTED_VOLUME_SOURCES if volume.get(key) is not None]
        types.add(found[0] if found else "unknown")
    if not bad:
        return None
    detail = (
        f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)} "
        f"{pluralize('uses', 'use', len(bad))} "
        f"{pluralize('restricted volume type', 'restricted volume types', len(types))} "
        f"{join_quote(sorted(types))}"
    )
    return "restricted volume types", detail


def run_as_non_root_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """runAsNonRoot 1.0: true at pod level or on every container."""
    setters: list[str] = []
    pod_value = security_context(spec).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    pod_non_root = pod_value is True
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        value = security_context(c).get("runAsNonRoot")
        if isinstance(value, bool):
            if not value:
                explicit.append(name_of(c))
        elif not pod_non_root:
            implicit.append(name_of(c))
    if explicit:
        setters.append(containers_phrase(explicit))
    if setters:
        detail = f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
        return "runAsNonRoot != true", detail
    if implicit:
        detail = f"pod or {containers_phrase(implicit)} must set securityContext.runAsNonRoot=true"
        return "runAsNonRoot != true", detail
    return None


def run_as_non_root_1_35(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """runAsNonRoot 1.35: any value when the pod is in a user namespace."""
    return None if in_user_namespace(spec) else run_as_non_root_1_0(meta, spec)


def _is_root(value: object) -> bool:
    return is_int(value) and value == 0


def run_as_user_1_23(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """runAsUser 1.23: never ``runAsUser: 0``."""
    setters = ["pod"] if _is_root(security_context(spec).get("runAsUser")) else []
    bad = [name_of(c) for c in containers(spec) if _is_root(security_context(c).get("runAsUser"))]
    if bad:
        setters.append(containers_phrase(bad))
    if not setters:
        return None
    return "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"


def run_as_user_1_35(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """runAsUser 1.35: any value when the pod is in a user namespace."""
    return None if in_user_namespace(spec) else run_as_user_1_23(meta, spec)


def seccomp_restricted_1_19(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """seccompProfile_restricted 1.19: RuntimeDefault or Localhost, on the pod or each container."""
    setters: list[str] = []
    values: set[str] = set()
    pod_set = False
    pod_profile = security_context(spec).get("seccompProfile")
    if isinstance(pod_profile, Mapping):
        if valid_seccomp_type(text(pod_profile.get("type"))):
            pod_set = True
        else:
            setters.append("pod")
            values.add(text(pod_profile.get("type")))
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        profile = security_context(c).get("seccompProfile")
        if isinstance(profile, Mapping):
            if not valid_seccomp_type(text(profile.get("type"))):
                explicit.append(name_of(c))
                values.add(text(profile.get("type")))
        elif not pod_set:
            implicit.append(name_of(c))
    if explicit:
        setters.append(containers_phrase(explicit))
    if setters:
        detail = (
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
            f"{join_quote(sorted(values))}"
        )
        return "seccompProfile", detail
    if implicit:
        detail = (
            f"pod or {containers_phrase(implicit)} must set securityContext.seccompProfile.type"
            ' to "RuntimeDefault" or "Localhost"'
        )
        return "seccompProfile", detail
    return None


def seccomp_restricted_1_25(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """seccompProfile_restricted 1.25: Windows pods are exempt."""
    return None if is_windows(spec) else seccomp_restricted_1_19(meta, spec)
