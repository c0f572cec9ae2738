"""The baseline Pod Security Standards checks, one function per upstream revision.

What belongs here: the pure functions that look at a pod's metadata and spec
and say which baseline rule it breaks, in the exact words upstream uses;
:mod:`.psa_restricted` holds the restricted-only checks and
:mod:`.psa_registry` says which revision runs for a level and ``v1.N``.
Read, not copied, from kubernetes/pod-security-admission ``policy/check_*.go``
at tag ``kubernetes-1.35.2``; the wording of every ``ForbiddenReason`` and
``ForbiddenDetail`` is reproduced because the suite compares messages.
Shape tolerance and container order: see :mod:`.psa_podspec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.controllers.psa_config import go_quote
from simulator.controllers.psa_podspec import (
    CheckFn,
    Violation,
    containers,
    containers_phrase,
    in_user_namespace,
    is_int,
    is_true,
    items,
    join_quote,
    mapping,
    name_of,
    pluralize,
    security_context,
    text,
)


def windows_host_process(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """windowsHostProcess 1.0: ``windowsOptions.hostProcess`` must not be true."""
    bad = [
        name_of(c)
        for c in containers(spec)
        if is_true(mapping(security_context(c).get("windowsOptions")).get("hostProcess"))
    ]
    setters = []
    if is_true(mapping(security_context(spec).get("windowsOptions")).get("hostProcess")):
        setters.append("pod")
    if bad:
        setters.append(containers_phrase(bad))
    if not setters:
        return None
    detail = " and ".join(setters) + " must not set securityContext.windowsOptions.hostProcess=true"
    return "hostProcess", detail


def host_namespaces(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """hostNamespaces 1.0: no hostNetwork, hostPID or hostIPC."""
    shared = [
        f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if is_true(spec.get(key))
    ]
    return ("host namespaces", ", ".join(shared)) if shared else None


def privileged(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """privileged 1.0: no ``securityContext.privileged=true``."""
    bad = [name_of(c) for c in containers(spec) if is_true(security_context(c).get("privileged"))]
    if not bad:
        return None
    return "privileged", f"{containers_phrase(bad)} must not set securityContext.privileged=true"


CAPABILITIES_ALLOWED_BASELINE = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def _added_capabilities(container: Mapping[str, Any]) -> list[str]:
    added = mapping(security_context(container).get("capabilities")).get("add")
    return [text(cap) for cap in added] if isinstance(added, list) else []


def capabilities_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """capabilities_baseline 1.0: only the default capability set may be added."""
    bad: list[str] = []
    forbidden: set[str] = set()
    for c in containers(spec):
        extra = {cap for cap in _added_capabilities(c) if cap not in CAPABILITIES_ALLOWED_BASELINE}
        if extra:
            bad.append(name_of(c))
            forbidden |= extra
    if not bad:
        return None
    detail = (
        f"{containers_phrase(bad)} must not include {join_quote(sorted(forbidden))}"
        " in securityContext.capabilities.add"
    )
    return "non-default capabilities", detail


def host_path_volumes(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """hostPathVolumes 1.0: no ``hostPath`` volumes."""
    bad = [name_of(v) for v in items(spec.get("volumes")) if v.get("hostPath") is not None]
    if not bad:
        return None
    return "hostPath volumes", f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)}"


def host_ports(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """hostPorts 1.0: every ``hostPort`` unset or 0."""
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        used = {
            str(p["hostPort"])
            for p in items(c.get("ports"))
            if is_int(p.get("hostPort")) and p["hostPort"] != 0
        }
        if used:
            bad.append(name_of(c))
            ports |= used
    if not bad:
        return None
    detail = (
        f"{containers_phrase(bad)} {pluralize('uses', 'use', len(bad))} "
        f"{pluralize('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}"
    )
    return "hostPort", detail


def _probe_hosts(handler: object) -> list[str]:
    found = []
    for kind in ("httpGet", "tcpSocket"):
        host = text(mapping(mapping(handler).get(kind)).get("host"))
        if host:
            found.append(host)
    return found


def host_probes_and_host_lifecycle(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """hostProbesAndHostLifecycle 1.34: probes and lifecycle handlers set no ``host``."""
    bad: set[str] = set()
    hosts: set[str] = set()
    for c in containers(spec):
        lifecycle = mapping(c.get("lifecycle"))
        handlers = [c.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [lifecycle.get("postStart"), lifecycle.get("preStop")]
        found = [host for handler in handlers for host in _probe_hosts(handler)]
        if found:
            bad.add(name_of(c))
            hosts.update(found)
    if not bad:
        return None
    detail = (
        f"{containers_phrase(sorted(bad))} {pluralize('uses', 'use', len(bad))} "
        f"{pluralize('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{join_quote(sorted(hosts))}"
    )
    return "probe or lifecycle host", detail


APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def app_armor_profile(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """appArmorProfile 1.0: RuntimeDefault/Localhost; annotations runtime/default, localhost/*."""
    allowed_types = ("RuntimeDefault", "Localhost")
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = security_context(spec).get("appArmorProfile")
    if isinstance(pod_profile, Mapping) and text(pod_profile.get("type")) not in allowed_types:
        setters.append("pod")
        values.add(text(pod_profile.get("type")))
    bad: list[str] = []
    for c in containers(spec):
        profile = security_context(c).get("appArmorProfile")
        if isinstance(profile, Mapping) and text(profile.get("type")) not in allowed_types:
            bad.append(name_of(c))
            values.add(text(profile.get("type")))
    if bad:
        setters.append(containers_phrase(bad))
    annotations = sorted(
        f"{key}={go_quote(text(value))}"
        for key, value in mapping(meta.get("annotations")).items()
        if str(key).startswith(APPARMOR_ANNOTATION_PREFIX)
        and not _allowed_apparmor_annotation(text(value))
    )
    bad_values = sorted(values) + annotations
    if annotations:
        setters.append(pluralize("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    reason = pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad_values))
    detail = (
        f"{' and '.join(setters)} must not set AppArmor profile type to {join_quote(bad_values)}"
    )
    return reason, detail


def _allowed_apparmor_annotation(value: str) -> bool:
    return value in ("", "runtime/default") or value.startswith("localhost/")


SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}


def _se_linux_options(spec: Mapping[str, Any], allowed: frozenset[str]) -> Violation:
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(options: Mapping[str, Any]) -> bool:
        ok = True
        if text(options.get("type")) not in allowed:
            bad_types.add(text(options.get("type")))
            ok = False
        for key in flags:
            if text(options.get(key)):
                flags[key] = True
                ok = False
        return ok

    setters: list[str] = []
    pod_options = security_context(spec).get("seLinuxOptions")
    if isinstance(pod_options, Mapping) and not valid(pod_options):
        setters.append("pod")
    bad = []
    for c in containers(spec):
        options = security_context(c).get("seLinuxOptions")
        if isinstance(options, Mapping) and not valid(options):
            bad.append(name_of(c))
    if bad:
        setters.append(containers_phrase(bad))
    if not setters:
        return None
    data = []
    if bad_types:
        types = sorted(bad_types)
        data.append(f"{pluralize('type', 'types', len(types))} {join_quote(types)}")
    data += [f"{key} may not be set" for key, was_set in flags.items() if was_set]
    detail = (
        f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"
    )
    return "seLinuxOptions", detail


def se_linux_options_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """seLinuxOptions 1.0: container_t, container_init_t, container_kvm_t; no user/role."""
    return _se_linux_options(spec, SELINUX_TYPES_1_0)


def se_linux_options_1_31(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """seLinuxOptions 1.31: also container_engine_t."""
    return _se_linux_options(spec, SELINUX_TYPES_1_31)


def proc_mount_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """procMount 1.0 (and procMount_restricted 1.35): unset or ``Default``."""
    bad: list[str] = []
    kinds: set[str] = set()
    for c in containers(spec):
        value = security_context(c).get("procMount")
        if value is not None and value != "Default":
            bad.append(name_of(c))
            kinds.add(text(value))
    if not bad:
        return None
    detail = (
        f"{containers_phrase(bad)} must not set securityContext.procMount to "
        f"{join_quote(sorted(kinds))}"
    )
    return "procMount", detail


def proc_mount_1_35(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """procMount 1.35 (baseline): any value when the pod is in a user namespace."""
    return None if in_user_namespace(spec) else proc_mount_1_0(meta, spec)


SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def seccomp_baseline_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """seccompProfile_baseline 1.0-1.18: the alpha annotations."""
    annotations = mapping(meta.get("annotations"))
    keys = [SECCOMP_POD_ANNOTATION]
    keys += [SECCOMP_CONTAINER_ANNOTATION_PREFIX + name_of(c) for c in containers(spec)]
    forbidden = {
        f"{key}={go_quote(text(annotations[key]))}"
        for key in keys
        if key in annotations and not _allowed_seccomp_annotation(text(annotations[key]))
    }
    if not forbidden:
        return None
    detail = (
        f"forbidden {pluralize('annotation', 'annotations', len(forbidden))} "
        f"{', '.join(sorted(forbidden))}"
    )
    return "seccompProfile", detail


def _allowed_seccomp_annotation(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def valid_seccomp_type(profile_type: str) -> bool:
    """Only ``RuntimeDefault`` and ``Localhost`` (an empty type is invalid too)."""
    return profile_type in ("RuntimeDefault", "Localhost")


def seccomp_baseline_1_19(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
    """seccompProfile_baseline 1.19: the fields; ``Unconfined`` is forbidden."""
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = security_context(spec).get("seccompProfile")
    if isinstance(pod_profile, Mapping) and not valid_seccomp_type(text(pod_profile.get("type"))):
        setters.append("pod")
        values.add(text(pod_profile.get("type")))
    bad = []
    for c in containers(spec):
        profile = security_context(c).get("seccompProfile")
        if isinstance(profile, Mapping) and not valid_seccomp_type(text(profile.get("type"))):
            bad.append(name_of(c))
            values.add(text(profile.get("type")))
    if bad:
        setters.append(containers_phrase(bad))
    if not setters:
        return None
    detail = (
        f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
        f"{join_quote(sorted(values))}"
    )
    return "seccompProfile", detail


SYSCTLS_1_0 = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}


def sysctls_check(allowed: frozenset[str]) -> CheckFn:
    """A sysctls revision allowing *allowed* (names listed in pod order, repeats kept)."""

    def check(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Violation:
        names = [text(s.get("name")) for s in items(security_context(spec).get("sysctls"))]
        forbidden = [name for name in names if name not in allowed]
        return ("forbidden sysctls", ", ".join(forbidden)) if forbidden else None

    return check
