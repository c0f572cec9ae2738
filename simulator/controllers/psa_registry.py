"""Which check revisions run for a level at a policy version, and in what order.

What belongs here: the version table of every Pod Security Standards check
as registered in kubernetes/pod-security-admission at tag
``kubernetes-1.35.2`` (``policy/check_*.go`` ``Versions`` lists) and the
evaluation rules of ``policy/registry.go``:

* a check runs from its first ``MinimumVersion``; the revision used at
  ``v1.N`` is the newest one not newer than N;
* ``latest`` and any version newer than the newest known (1.35 here) use the
  newest revisions;
* ``restricted`` runs the baseline checks too, except those a restricted
  revision overrides at that version (e.g. ``capabilities_restricted`` from
  1.22 replaces ``capabilities_baseline``);
* results are ordered by check id -- baseline ids sorted, then restricted ids
  sorted -- which is the order failures appear in the message.

Kept apart from the check functions so the table reads like upstream's.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.controllers import psa_checks as base
from simulator.controllers import psa_restricted as restricted
from simulator.controllers.psa_config import BASELINE, PRIVILEGED, RESTRICTED, LevelVersion
from simulator.controllers.psa_podspec import CheckFn, mapping


@dataclass(frozen=True)
class CheckResult:
    """One failed check: upstream's id, ``ForbiddenReason`` and ``ForbiddenDetail``."""

    id: str
    forbidden_reason: str
    forbidden_detail: str

    def __str__(self) -> str:
        """``reason (detail)``, or just the reason when there is no detail (upstream)."""
        if self.forbidden_detail:
            return f"{self.forbidden_reason} ({self.forbidden_detail})"
        return self.forbidden_reason


@dataclass(frozen=True)
class _Revision:
    minimum_minor: int
    check: CheckFn
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Check:
    id: str
    level: str
    revisions: tuple[_Revision, ...]


_R = _Revision
CHECKS: tuple[_Check, ...] = (
    _Check("windowsHostProcess", BASELINE, (_R(0, base.windows_host_process),)),
    _Check("hostNamespaces", BASELINE, (_R(0, base.host_namespaces),)),
    _Check("privileged", BASELINE, (_R(0, base.privileged),)),
    _Check("capabilities_baseline", BASELINE, (_R(0, base.capabilities_baseline),)),
    _Check("hostPathVolumes", BASELINE, (_R(0, base.host_path_volumes),)),
    _Check("hostPorts", BASELINE, (_R(0, base.host_ports),)),
    _Check(
        "hostProbesAndHostLifecycle",
        BASELINE,
        (_R(34, base.host_probes_and_host_lifecycle),),
    ),
    _Check("appArmorProfile", BASELINE, (_R(0, base.app_armor_profile),)),
    _Check(
        "seLinuxOptions",
        BASELINE,
        (_R(0, base.se_linux_options_1_0), _R(31, base.se_linux_options_1_31)),
    ),
    _Check("procMount", BASELINE, (_R(0, base.proc_mount_1_0), _R(35, base.proc_mount_1_35))),
    _Check(
        "seccompProfile_baseline",
        BASELINE,
        (_R(0, base.seccomp_baseline_1_0), _R(19, base.seccomp_baseline_1_19)),
    ),
    _Check(
        "sysctls",
        BASELINE,
        (
            _R(0, base.sysctls_check(base.SYSCTLS_1_0)),
            _R(27, base.sysctls_check(base.SYSCTLS_1_27)),
            _R(29, base.sysctls_check(base.SYSCTLS_1_29)),
            _R(32, base.sysctls_check(base.SYSCTLS_1_32)),
        ),
    ),
    _Check(
        "allowPrivilegeEscalation",
        RESTRICTED,
        (
            _R(8, restricted.allow_privilege_escalation_1_8),
            _R(25, restricted.allow_privilege_escalation_1_25),
        ),
    ),
    _Check(
        "capabilities_restricted",
        RESTRICTED,
        (
            _R(22, restricted.capabilities_restricted_1_22, ("capabilities_baseline",)),
            _R(25, restricted.capabilities_restricted_1_25, ("capabilities_baseline",)),
        ),
    ),
    _Check("procMount_restricted", RESTRICTED, (_R(35, base.proc_mount_1_0, ("procMount",)),)),
    _Check(
        "restrictedVolumes",
        RESTRICTED,
        (_R(0, restricted.restricted_volumes_1_0, ("hostPathVolumes",)),),
    ),
    _Check(
        "runAsNonRoot",
        RESTRICTED,
        (_R(0, restricted.run_as_non_root_1_0), _R(35, restricted.run_as_non_root_1_35)),
    ),
    _Check(
        "runAsUser",
        RESTRICTED,
        (_R(23, restricted.run_as_user_1_23), _R(35, restricted.run_as_user_1_35)),
    ),
    _Check(
        "seccompProfile_restricted",
        RESTRICTED,
        (
            _R(19, restricted.seccomp_restricted_1_19, ("seccompProfile_baseline",)),
            _R(25, restricted.seccomp_restricted_1_25, ("seccompProfile_baseline",)),
        ),
    ),
)


def _revision_at(check: _Check, minor: int) -> _Revision | None:
    current = None
    for revision in check.revisions:
        if revision.minimum_minor <= minor:
            current = revision
    return current


@functools.cache
def checks_for(level: str, minor: int) -> tuple[tuple[str, CheckFn], ...]:
    """The ``(id, revision)`` pairs *level* runs at ``v1.<minor>``, in message order."""
    if level == PRIVILEGED:
        return ()
    by_level: dict[str, dict[str, _Revision]] = {BASELINE: {}, RESTRICTED: {}}
    for check in CHECKS:
        revision = _revision_at(check, minor)
        if revision is not None:
            by_level[check.level][check.id] = revision
    selected = dict(by_level[BASELINE])
    if level == RESTRICTED:
        overridden = {o for r in by_level[RESTRICTED].values() for o in r.overrides}
        selected = {i: r for i, r in selected.items() if i not in overridden}
        selected.update(by_level[RESTRICTED])
    order = sorted(c.id for c in CHECKS if c.level == BASELINE)
    order += sorted(c.id for c in CHECKS if c.level == RESTRICTED)
    return tuple((check_id, selected[check_id].check) for check_id in order if check_id in selected)


def check_pod(pod_spec_and_meta: Mapping[str, Any], level: LevelVersion) -> list[CheckResult]:
    """The checks *pod_spec_and_meta* fails at *level*, in upstream's message order.

    :param pod_spec_and_meta: a Pod or a PodTemplateSpec -- anything with
        ``metadata`` and ``spec``; missing parts count as empty.
    """
    meta = mapping(pod_spec_and_meta.get("metadata"))
    spec = mapping(pod_spec_and_meta.get("spec"))
    results = []
    for check_id, check in checks_for(level.level, level.minor):
        violation = check(meta, spec)
        if violation is not None:
            reason, detail = violation
            results.append(CheckResult(check_id, reason or "unknown forbidden reason", detail))
    return results


def forbidden_detail(results: list[CheckResult]) -> str:
    """Upstream's ``AggregateCheckResult.ForbiddenDetail``: ``reason (detail)`` joined by ``, ``."""
    return ", ".join(str(result) for result in results)
