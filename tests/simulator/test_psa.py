"""PodSecurity admission of the simulator against upstream's behaviour and wording.

Expected messages are written out in full, as kubernetes/pod-security-admission
(tag kubernetes-1.35.2) prints them, so a wording drift fails here rather
than in a live comparison.  The cluster's configuration is the article's:
enforce baseline, audit/warn restricted, all ``latest``, kube-system and
longhorn-system exempt.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provisioning.definition.problems import DefinitionError
from simulator.controllers import psa
from simulator.controllers.psa_config import PodSecurityConfigError

CLUSTER_CONFIGURATION: dict[str, Any] = {
    "apiVersion": "pod-security.admission.config.k8s.io/v1alpha1",
    "kind": "PodSecurityConfiguration",
    "defaults": {
        "enforce": "baseline",
        "enforce-version": "latest",
        "audit": "restricted",
        "audit-version": "latest",
        "warn": "restricted",
        "warn-version": "latest",
    },
    "exemptions": {
        "usernames": ["system:serviceaccount:ops:deployer"],
        "runtimeClasses": ["kata"],
        "namespaces": ["kube-system", "longhorn-system"],
    },
}
CONFIG = psa.PodSecurityConfig.from_configuration(CLUSTER_CONFIGURATION)
PREFIX = 'pods "p" is forbidden: violates PodSecurity "baseline:latest": '


def pod(spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    """A Pod named ``p`` with one plain container ``c`` unless *spec* says otherwise."""
    body = {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    body.update(spec or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **metadata}, "spec": body}


def container(name: str = "c", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "nginx:1.27", **fields}


def sc(**fields: Any) -> dict[str, Any]:
    """A container with only a securityContext."""
    return container(securityContext=fields)


def admit(
    obj: dict[str, Any], namespace: str = "apps", labels: dict[str, str] | None = None, **kw: Any
) -> psa.Decision:
    return psa.admit_pod(CONFIG, namespace, labels or {}, obj, **kw)


# --- each baseline check: the violating pod is rejected with upstream's words; a close
# compliant variant passes. -------------------------------------------------------------

APPARMOR_KEY = "container.apparmor.security.beta.kubernetes.io/c"

# (id, violating pod, compliant pod, ForbiddenReason (ForbiddenDetail))
BASELINE_CASES = [
    pytest.param(
        pod(
            {
                "securityContext": {"windowsOptions": {"hostProcess": True}},
                "containers": [sc(windowsOptions={"hostProcess": True})],
            }
        ),
        pod({"securityContext": {"windowsOptions": {"hostProcess": False}}}),
        'hostProcess (pod and container "c" must not set '
        "securityContext.windowsOptions.hostProcess=true)",
        id="windowsHostProcess",
    ),
    pytest.param(
        pod({"hostNetwork": True, "hostIPC": True}),
        pod({"hostNetwork": False, "hostPID": False}),
        "host namespaces (hostNetwork=true, hostIPC=true)",
        id="hostNamespaces",
    ),
    pytest.param(
        pod({"containers": [sc(privileged=True)]}),
        pod({"containers": [sc(privileged=False)]}),
        'privileged (container "c" must not set securityContext.privileged=true)',
        id="privileged",
    ),
    pytest.param(
        pod(
            {
                "containers": [
                    container(
                        "a", securityContext={"capabilities": {"add": ["SYS_ADMIN", "CHOWN"]}}
                    ),
                    container("b", securityContext={"capabilities": {"add": ["NET_RAW"]}}),
                ]
            }
        ),
        pod({"containers": [sc(capabilities={"add": ["CHOWN", "NET_BIND_SERVICE"]})]}),
        'non-default capabilities (containers "a", "b" must not include "NET_RAW", "SYS_ADMIN" '
        "in securityContext.capabilities.add)",
        id="capabilities_baseline",
    ),
    pytest.param(
        pod(
            {
                "volumes": [
                    {"name": "host", "hostPath": {"path": "/var/lib/longhorn"}},
                    {"name": "tmp", "emptyDir": {}},
                ]
            }
        ),
        pod({"volumes": [{"name": "tmp", "emptyDir": {}}]}),
        'hostPath volumes (volume "host")',
        id="hostPathVolumes",
    ),
    pytest.param(
        pod({"containers": [container(ports=[{"hostPort": 8080}, {"hostPort": 10000}])]}),
        pod({"containers": [container(ports=[{"containerPort": 80, "hostPort": 0}])]}),
        # upstream sorts the ports as strings
        'hostPort (container "c" uses hostPorts 10000, 8080)',
        id="hostPorts",
    ),
    pytest.param(
        pod({"containers": [sc(appArmorProfile={"type": "Unconfined"})]}),
        pod(
            {
                "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
                "containers": [sc(appArmorProfile={"type": "Localhost", "localhostProfile": "x"})],
            }
        ),
        'forbidden AppArmor profile (container "c" must not set AppArmor profile type to '
        '"Unconfined")',
        id="appArmorProfile-field",
    ),
    pytest.param(
        pod(annotations={APPARMOR_KEY: "unconfined"}),
        pod(annotations={APPARMOR_KEY: "localhost/k8s-nginx"}),
        "forbidden AppArmor profile (annotation must not set AppArmor profile type to "
        '"container.apparmor.security.beta.kubernetes.io/c="unconfined"")',
        id="appArmorProfile-annotation",
    ),
    pytest.param(
        pod(
            {
                "securityContext": {"seLinuxOptions": {"type": "spc_t"}},
                "containers": [sc(seLinuxOptions={"user": "system_u"})],
            }
        ),
        pod({"securityContext": {"seLinuxOptions": {"type": "container_engine_t", "level": "s0"}}}),
        'seLinuxOptions (pod and container "c" set forbidden securityContext.seLinuxOptions: '
        'type "spc_t"; user may not be set)',
        id="seLinuxOptions",
    ),
    pytest.param(
        pod({"containers": [sc(procMount="Unmasked")]}),
        # 1.35: any procMount inside a user namespace
        pod({"hostUsers": False, "containers": [sc(procMount="Unmasked")]}),
        'procMount (container "c" must not set securityContext.procMount to "Unmasked")',
        id="procMount",
    ),
    pytest.param(
        pod(
            {
                "securityContext": {"seccompProfile": {"type": "Unconfined"}},
                "containers": [sc(seccompProfile={"type": "Unconfined"})],
            }
        ),
        pod(
            {
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [sc(seccompProfile={"type": "Localhost", "localhostProfile": "p"})],
            }
        ),
        'seccompProfile (pod and container "c" must not set securityContext.seccompProfile.type '
        'to "Unconfined")',
        id="seccompProfile_baseline",
    ),
    pytest.param(
        pod(
            {
                "securityContext": {
                    "sysctls": [{"name": "kernel.msgmax"}, {"name": "net.ipv4.tcp_rmem"}]
                }
            }
        ),
        pod({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_wmem", "value": "1 2 3"}]}}),
        "forbidden sysctls (kernel.msgmax)",
        id="sysctls",
    ),
    pytest.param(
        pod(
            {
                "containers": [
                    container(
                        livenessProbe={"httpGet": {"host": "10.0.0.16", "port": 80}},
                        lifecycle={"preStop": {"tcpSocket": {"host": "example.org", "port": 81}}},
                    )
                ]
            }
        ),
        pod({"containers": [container(livenessProbe={"httpGet": {"host": "", "port": 80}})]}),
        'probe or lifecycle host (container "c" uses probe or lifecycle hosts "10.0.0.16", '
        '"example.org")',
        id="hostProbesAndHostLifecycle",
    ),
]


@pytest.mark.parametrize(("violating", "compliant", "detail"), BASELINE_CASES)
def test_baseline_check_rejects_with_upstream_message(
    violating: dict[str, Any], compliant: dict[str, Any], detail: str
) -> None:
    decision = admit(violating)
    assert not decision.allowed
    assert decision.message == PREFIX + detail
    assert decision.warnings == ()  # no warning on a rejected request
    enforced = decision.audit_annotations["pod-security.kubernetes.io/enforce-policy"]
    assert enforced == "baseline:latest"


@pytest.mark.parametrize(("violating", "compliant", "detail"), BASELINE_CASES)
def test_baseline_check_admits_compliant_variant(
    violating: dict[str, Any], compliant: dict[str, Any], detail: str
) -> None:
    decision = admit(compliant)
    assert decision.allowed, decision.message
    assert decision.message is None


def test_every_baseline_check_of_1_35_has_a_case() -> None:
    from simulator.controllers.psa_registry import checks_for

    baseline_ids = {check_id for check_id, _ in checks_for("baseline", 35)}
    covered = {str(p.id).split("-")[0] for p in BASELINE_CASES}
    assert covered == baseline_ids


def test_multiple_violations_joined_in_check_id_order() -> None:
    spec = {
        "hostPID": True,
        "securityContext": {
            "seccompProfile": {"type": "Unconfined"},
            "seLinuxOptions": {"role": "r"},
            "sysctls": [{"name": "vm.swappiness", "value": "1"}],
        },
        "containers": [sc(privileged=True)],
    }
    decision = admit(pod(spec))
    assert decision.message == PREFIX + (
        "host namespaces (hostPID=true), "
        'privileged (container "c" must not set securityContext.privileged=true), '
        "seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: role may not be set), "
        'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined"), '
        "forbidden sysctls (vm.swappiness)"
    )
    assert [r.id for r in psa.check_pod(pod(spec), CONFIG.enforce)] == [
        "hostNamespaces",
        "privileged",
        "seLinuxOptions",
        "seccompProfile_baseline",
        "sysctls",
    ]


def test_init_and_ephemeral_containers_are_checked_in_upstream_order() -> None:
    spec = {
        "initContainers": [container("init", securityContext={"privileged": True})],
        "containers": [sc(privileged=True), container("ok")],
        "ephemeralContainers": [container("debug", securityContext={"privileged": True})],
    }
    decision = admit(pod(spec))
    assert decision.message == PREFIX + (
        'privileged (containers "init", "c", "debug" must not set securityContext.privileged=true)'
    )


def test_ephemeral_container_alone_is_enough_to_reject() -> None:
    spec = {
        "ephemeralContainers": [
            container("debug", securityContext={"capabilities": {"add": ["SYS_PTRACE"]}})
        ]
    }
    decision = admit(pod(spec))
    assert decision.message == PREFIX + (
        'non-default capabilities (container "debug" must not include "SYS_PTRACE" in '
        "securityContext.capabilities.add)"
    )


def test_unnamed_pod_message_has_no_name() -> None:
    body = pod({"hostNetwork": True})
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "web-"
    decision = admit(body)
    assert decision.message == (
        'pods is forbidden: violates PodSecurity "baseline:latest": '
        "host namespaces (hostNetwork=true)"
    )


# --- restricted, for warn/audit ---------------------------------------------------------

RESTRICTED_POD = pod(
    {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [sc(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]})],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
    }
)


def test_restricted_compliant_pod_gets_no_warning_and_no_audit_violation() -> None:
    decision = admit(RESTRICTED_POD)
    assert decision.allowed
    assert decision.warnings == ()
    assert "pod-security.kubernetes.io/audit-violations" not in decision.audit_annotations


def test_baseline_compliant_pod_warns_with_restricted_findings() -> None:
    body = copy.deepcopy(RESTRICTED_POD)
    body["spec"]["securityContext"]["runAsUser"] = 0
    body["spec"]["volumes"].append({"name": "share", "nfs": {"server": "10.0.0.5", "path": "/"}})
    decision = admit(body)
    expected = (
        'would violate PodSecurity "restricted:latest": '
        'restricted volume types (volume "share" uses restricted volume type "nfs"), '
        "runAsUser=0 (pod must not set runAsUser=0)"
    )
    assert decision.allowed
    assert decision.warnings == (expected,)
    assert decision.audit_annotations["pod-security.kubernetes.io/audit-violations"] == expected


def test_restricted_replaces_baseline_hostpath_check_with_volume_types() -> None:
    body = copy.deepcopy(RESTRICTED_POD)
    body["spec"]["volumes"] = [{"name": "h", "hostPath": {"path": "/"}}]
    ids = [r.id for r in psa.check_pod(body, psa.LevelVersion("restricted"))]
    assert ids == ["restrictedVolumes"]


# --- exemptions -------------------------------------------------------------------------

PRIVILEGED_POD = pod({"hostNetwork": True, "containers": [sc(privileged=True)]})


@pytest.mark.parametrize("namespace", ["kube-system", "longhorn-system"])
def test_exempt_namespace_admits_anything(namespace: str) -> None:
    decision = admit(
        PRIVILEGED_POD, namespace, {"pod-security.kubernetes.io/enforce": "restricted"}
    )
    assert decision.allowed
    assert decision.warnings == ()
    assert dict(decision.audit_annotations) == {"pod-security.kubernetes.io/exempt": "namespace"}


def test_exempt_user_and_runtime_class() -> None:
    by_user = admit(PRIVILEGED_POD, username="system:serviceaccount:ops:deployer")
    assert by_user.allowed
    assert dict(by_user.audit_annotations) == {"pod-security.kubernetes.io/exempt": "user"}
    kata = copy.deepcopy(PRIVILEGED_POD)
    kata["spec"]["runtimeClassName"] = "kata"
    by_class = admit(kata)
    assert by_class.allowed
    assert dict(by_class.audit_annotations) == {"pod-security.kubernetes.io/exempt": "runtimeClass"}
    assert not admit(PRIVILEGED_POD, username="alice").allowed


# --- namespace labels -------------------------------------------------------------------


def test_privileged_label_admits_privileged_pod_but_still_warns() -> None:
    decision = admit(PRIVILEGED_POD, labels={"pod-security.kubernetes.io/enforce": "privileged"})
    assert decision.allowed
    assert decision.audit_annotations["pod-security.kubernetes.io/enforce-policy"] == (
        "privileged:latest"
    )
    assert decision.warnings[0].startswith('would violate PodSecurity "restricted:latest": ')


def test_fully_privileged_namespace_short_circuits() -> None:
    labels = {f"pod-security.kubernetes.io/{m}": "privileged" for m in ("enforce", "audit", "warn")}
    decision = admit(PRIVILEGED_POD, labels=labels)
    assert decision.allowed
    assert decision.warnings == ()
    assert dict(decision.audit_annotations) == {
        "pod-security.kubernetes.io/enforce-policy": "privileged:latest"
    }


def test_restricted_label_rejects_what_baseline_admits() -> None:
    plain = pod()
    assert admit(plain).allowed
    decision = admit(plain, labels={"pod-security.kubernetes.io/enforce": "restricted"})
    assert decision.message == (
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
        'allowPrivilegeEscalation != false (container "c" must set '
        "securityContext.allowPrivilegeEscalation=false), "
        'unrestricted capabilities (container "c" must set '
        'securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")'
    )


def test_namespace_policy_labels_override_defaults_per_mode() -> None:
    enforce, audit, warn = psa.namespace_policy(
        CONFIG,
        {
            "pod-security.kubernetes.io/audit": "baseline",
            "pod-security.kubernetes.io/warn-version": "v1.30",
        },
    )
    assert enforce == psa.LevelVersion("baseline", "latest")
    assert audit == psa.LevelVersion("baseline", "latest")
    assert warn == psa.LevelVersion("restricted", "v1.30")


def test_explicit_enforce_label_raises_a_laxer_warn_level() -> None:
    lax = psa.PodSecurityConfig()  # everything privileged
    labels = {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "v1.30",
    }
    assert psa.namespace_policy(lax, labels)[2] == psa.LevelVersion("baseline", "v1.30")
    deployment = controller("Deployment", "apps/v1", {"hostPID": True, "containers": [container()]})
    decision = psa.admit_pod(lax, "apps", labels, deployment)
    assert decision.warnings == (
        'would violate PodSecurity "baseline:v1.30": host namespaces (hostPID=true)',
    )


def test_unparsable_labels_fail_closed_for_enforce_and_are_annotated() -> None:
    decision = admit(pod(), labels={"pod-security.kubernetes.io/enforce": "strict"})
    assert decision.message is not None
    assert decision.message.startswith(
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
    )
    assert decision.audit_annotations["pod-security.kubernetes.io/error"] == (
        "Failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: "
        'Invalid value: "strict": must be one of privileged, baseline, restricted'
    )


# --- version pinning --------------------------------------------------------------------

PROBE_HOST_POD = pod(
    {"containers": [container(readinessProbe={"tcpSocket": {"host": "h", "port": 1}})]}
)


@pytest.mark.parametrize(
    ("version", "allowed"),
    [("v1.33", True), ("v1.34", False), ("v1.35", False), ("v1.99", False), ("latest", False)],
)
def test_enforce_version_selects_the_check_set(version: str, allowed: bool) -> None:
    labels = {"pod-security.kubernetes.io/enforce-version": version}
    decision = admit(PROBE_HOST_POD, labels=labels)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.message is not None
        assert (
            f'violates PodSecurity "baseline:{version}": probe or lifecycle host'
            in decision.message
        )


@pytest.mark.parametrize(("version", "forbidden"), [("v1.31", True), ("v1.32", False)])
def test_sysctl_allow_list_grows_with_version(version: str, forbidden: bool) -> None:
    body = pod({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]}})
    results = psa.check_pod(body, psa.LevelVersion("baseline", version))
    assert bool(results) is forbidden


def test_before_1_19_seccomp_is_judged_by_annotations() -> None:
    body = pod(annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"})
    old = psa.check_pod(body, psa.LevelVersion("baseline", "v1.18"))
    assert [(r.forbidden_reason, r.forbidden_detail) for r in old] == [
        (
            "seccompProfile",
            'forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined"',
        )
    ]
    assert psa.check_pod(body, psa.LevelVersion("baseline", "v1.19")) == []


def test_pinned_old_version_omits_newer_checks_and_relaxations() -> None:
    spec = {"hostUsers": False, "containers": [sc(procMount="Unmasked")]}
    assert psa.check_pod(pod(spec), psa.LevelVersion("baseline", "v1.34")) != []
    assert psa.check_pod(pod(spec), psa.LevelVersion("baseline", "v1.35")) == []
    selinux = pod({"securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}})
    assert psa.check_pod(selinux, psa.LevelVersion("baseline", "v1.30")) != []


@pytest.mark.parametrize("version", ["latest", "v1.0", "v1.35", "v1.123"])
def test_level_version_accepts_upstream_versions(version: str) -> None:
    assert str(psa.LevelVersion("baseline", version)) == f"baseline:{version}"


@pytest.mark.parametrize("version", ["v1.05", "1.30", "v2.0", "v1.", "", "Latest"])
def test_level_version_rejects_malformed_versions(version: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        psa.LevelVersion("baseline", version)


def test_malformed_version_label_falls_back_to_latest_with_error() -> None:
    decision = admit(PROBE_HOST_POD, labels={"pod-security.kubernetes.io/enforce-version": "v1.05"})
    assert decision.message is not None
    assert '"baseline:latest"' in decision.message
    assert (
        'enforce-version]: Invalid value: "v1.05": must be "latest" or "v1.x"'
        in (decision.audit_annotations["pod-security.kubernetes.io/error"])
    )


# --- configuration ----------------------------------------------------------------------


def test_absent_configuration_means_everything_privileged() -> None:
    config = psa.PodSecurityConfig.from_configuration(None)
    assert config.enforce == config.audit == config.warn == psa.LevelVersion("privileged", "latest")
    assert psa.admit_pod(config, "apps", {}, PRIVILEGED_POD).allowed


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha1"])
def test_configuration_api_versions_and_defaults(version: str) -> None:
    config = psa.PodSecurityConfig.from_configuration(
        {
            "apiVersion": f"pod-security.admission.config.k8s.io/{version}",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "warn-version": "v1.30"},
        }
    )
    assert config.enforce == psa.LevelVersion("baseline", "latest")
    assert config.audit == psa.LevelVersion("privileged", "latest")
    assert config.warn == psa.LevelVersion("privileged", "v1.30")
    assert config.exempt_namespaces == frozenset()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"apiVersion": "v1"}, "cfg.apiVersion", "must be one of"),
        ({"kind": "AdmissionConfiguration"}, "cfg.kind", "PodSecurityConfiguration"),
        ({"defaults": {"enforce": "strict"}}, "cfg.defaults.enforce", "must be one of"),
        ({"defaults": {"audit-version": "1.30"}}, "cfg.defaults.audit-version", '"v1.x"'),
        ({"defaults": {"enforce": 3}}, "cfg.defaults.enforce", "must be a string"),
        ({"defaults": {"enfrce": "baseline"}}, "cfg.defaults.enfrce", "unknown field"),
        ({"exemptions": {"namespaces": ["a", "a"]}}, "cfg.exemptions.namespaces[1]", "Duplicate"),
        (
            {"exemptions": {"namespaces": ["Kube_System"]}},
            "cfg.exemptions.namespaces[0]",
            "DNS-1123 label",
        ),
        ({"exemptions": {"usernames": [""]}}, "cfg.exemptions.usernames[0]", "must not be empty"),
        (
            {"exemptions": {"runtimeClasses": "kata"}},
            "cfg.exemptions.runtimeClasses",
            "must be a list",
        ),
        ({"exemptions": []}, "cfg.exemptions", "must be a mapping"),
    ],
)
def test_bad_configuration_names_file_and_field(
    change: dict[str, Any], field: str, words: str
) -> None:
    bad = copy.deepcopy(CLUSTER_CONFIGURATION)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(bad.get(key), dict):
            bad[key].update(value)
        else:
            bad[key] = value
    with pytest.raises(PodSecurityConfigError) as caught:
        psa.PodSecurityConfig.from_configuration(
            bad, source="controlplane.yaml", field_prefix="cfg"
        )
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, DefinitionError)
    [problem] = caught.value.problems
    assert problem.file == "controlplane.yaml"
    assert problem.field == field
    assert words in problem.message


def test_configuration_that_is_not_a_mapping_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"PodSecurity configuration: must be a mapping, not list"):
        psa.PodSecurityConfig.from_configuration(["x"])  # type: ignore[arg-type]


# --- controllers, updates, subresources -------------------------------------------------


def controller(kind: str, api_version: str, spec: dict[str, Any]) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": spec}
    if kind == "CronJob":
        body: dict[str, Any] = {
            "schedule": "0 2 * * *",
            "jobTemplate": {"spec": {"template": template}},
        }
    elif kind == "PodTemplate":
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": "t"},
            "template": template,
        }
    else:
        body = {"template": template}
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}, "spec": body}


CONTROLLER_KINDS = [
    ("Deployment", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("StatefulSet", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("Job", "batch/v1"),
    ("CronJob", "batch/v1"),
    ("ReplicationController", "v1"),
    ("PodTemplate", "v1"),
]


@pytest.mark.parametrize(("kind", "api_version"), CONTROLLER_KINDS)
def test_templates_get_warnings_and_audit_never_enforcement(kind: str, api_version: str) -> None:
    obj = controller(kind, api_version, {"containers": [sc(privileged=True)]})
    assert psa.pod_spec_of(obj) is not None
    decision = admit(obj)
    assert decision.allowed
    assert decision.message is None
    assert len(decision.warnings) == 1
    assert (
        'privileged (container "c" must not set securityContext.privileged=true)'
        in decision.warnings[0]
    )
    assert "pod-security.kubernetes.io/enforce-policy" not in decision.audit_annotations
    assert "pod-security.kubernetes.io/audit-violations" in decision.audit_annotations


def test_pod_spec_of_other_objects() -> None:
    assert psa.pod_spec_of(PRIVILEGED_POD) is PRIVILEGED_POD
    assert psa.pod_spec_of({"apiVersion": "v1", "kind": "ConfigMap"}) is None
    assert (
        psa.pod_spec_of(
            {"apiVersion": "example.com/v1", "kind": "Deployment", "spec": {"template": {}}}
        )
        is None
    )
    assert psa.pod_spec_of({"apiVersion": "batch/v1", "kind": "Job", "spec": {}}) is None
    assert admit({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}).allowed


def test_insignificant_pod_update_is_not_evaluated() -> None:
    old = copy.deepcopy(PRIVILEGED_POD)
    relabelled = copy.deepcopy(PRIVILEGED_POD)
    relabelled["metadata"]["labels"] = {"a": "b"}
    assert admit(relabelled, operation="UPDATE", old_pod=old).allowed
    new_image = copy.deepcopy(PRIVILEGED_POD)
    new_image["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert not admit(new_image, operation="UPDATE", old_pod=old).allowed
    debug = copy.deepcopy(PRIVILEGED_POD)
    debug["spec"]["ephemeralContainers"] = [container("debug")]
    assert not admit(
        debug, operation="UPDATE", old_pod=old, subresource="ephemeralcontainers"
    ).allowed


@pytest.mark.parametrize("subresource", ["status", "exec", "binding", "eviction"])
def test_ignored_subresources_and_operations(subresource: str) -> None:
    assert admit(PRIVILEGED_POD, operation="UPDATE", subresource=subresource).allowed
    assert admit(PRIVILEGED_POD, operation="DELETE").allowed


# --- properties -------------------------------------------------------------------------

JSON_LEAVES = st.none() | st.booleans() | st.integers(-3, 70000) | st.text(max_size=6)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        8080,
        "",
        "Unconfined",
        "RuntimeDefault",
        "Localhost",
        "Unmasked",
        "Default",
        "spc_t",
        "container_t",
        "NET_RAW",
        "CHOWN",
        "ALL",
        "x",
        ["NET_RAW"],
        ["CHOWN"],
        {"type": "Unconfined"},
        {"type": "RuntimeDefault"},
        {"host": "h"},
        {},
        [],
    ]
)
SC_KEYS = st.sampled_from(
    [
        "privileged",
        "procMount",
        "seccompProfile",
        "appArmorProfile",
        "seLinuxOptions",
        "capabilities",
        "windowsOptions",
        "runAsUser",
        "runAsNonRoot",
        "allowPrivilegeEscalation",
    ]
)
CONTAINER = st.fixed_dictionaries(
    {"name": st.text(max_size=4), "image": st.just("img")},
    optional={
        "securityContext": st.dictionaries(SC_KEYS, FIELD_VALUES | JSON, max_size=4),
        "ports": st.lists(st.fixed_dictionaries({"hostPort": FIELD_VALUES}), max_size=2),
        "livenessProbe": st.fixed_dictionaries({"httpGet": FIELD_VALUES | JSON}),
    },
)
POD_SC_KEYS = SC_KEYS | st.just("sysctls")
VOLUME_KEYS = st.sampled_from(["name", "hostPath", "emptyDir", "nfs"])
POD_SPEC = st.fixed_dictionaries(
    {"containers": st.lists(CONTAINER, min_size=1, max_size=3)},
    optional={
        "initContainers": st.lists(CONTAINER, max_size=2),
        "ephemeralContainers": st.lists(CONTAINER, max_size=2),
        "hostNetwork": FIELD_VALUES,
        "hostUsers": FIELD_VALUES,
        "securityContext": st.dictionaries(POD_SC_KEYS, FIELD_VALUES | JSON, max_size=3),
        "volumes": st.lists(st.dictionaries(VOLUME_KEYS, FIELD_VALUES), max_size=2),
        "os": FIELD_VALUES | JSON,
    },
)
PODS = POD_SPEC.map(
    lambda spec: {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
)
LABELS = st.dictionaries(
    st.sampled_from(
        [
            f"pod-security.kubernetes.io/{k}"
            for k in ("enforce", "enforce-version", "audit", "warn", "warn-version")
        ]
    ),
    st.sampled_from(["privileged", "baseline", "restricted", "latest", "v1.20", "v1.34", "bogus"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=PODS | JSON.filter(lambda v: isinstance(v, dict)), labels=LABELS)
def test_random_objects_never_raise(obj: Any, labels: dict[str, str]) -> None:
    for kind in (None, "Pod", "Deployment"):
        body = dict(obj) if kind is None else {**obj, "kind": kind}
        decision = admit(body, labels=labels)
        assert decision.allowed is (decision.message is None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(body=PODS, data=st.data())
def test_privileged_container_always_turns_baseline_allowed_pod_into_rejection(
    body: dict[str, Any], data: st.DataObject
) -> None:
    assume(admit(body).allowed)
    kinds = [
        k for k in ("initContainers", "containers", "ephemeralContainers") if body["spec"].get(k)
    ]
    kind = data.draw(st.sampled_from(kinds))
    index = data.draw(st.integers(0, len(body["spec"][kind]) - 1))
    target = copy.deepcopy(body)
    chosen = target["spec"][kind][index]
    context = chosen.get("securityContext")
    chosen["securityContext"] = {
        **(context if isinstance(context, dict) else {}),
        "privileged": True,
    }
    decision = admit(target)
    assert not decision.allowed
    assert decision.message is not None
    assert "privileged (container" in decision.message
