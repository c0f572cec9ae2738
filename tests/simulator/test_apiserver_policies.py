"""The Kubernetes-side policies derived from Talos state, as pure functions and small adapters.

Covers :mod:`simulator.apiserver` (serving node, CA, cert lifetime,
PodSecurity hook, configz, node proxy) and :mod:`simulator.apiserver_audit`
(policy evaluation, event shape, the audited handlers) without sockets:
sites come from :mod:`tests.simulator.talos_site`, objects from a MemoryKV.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config import pki, render
from simulator import apiserver, apiserver_audit
from simulator.controllers import psa
from simulator.kube.errors import ApiError
from simulator.kube.handlers import Request, Response
from simulator.kube.hooks import Hooks, UserInfo
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.state.machines import Site, Stage
from simulator.store.kv import MemoryKV
from simulator.talos.configview import ConfigView
from tests.simulator import talos_site

ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))

# The definition's audit policy (cluster/controlplane.yaml), rule for rule.
ARTICLE_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]},
        {
            "level": "RequestResponse",
            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
            "resources": [
                {
                    "group": "rbac.authorization.k8s.io",
                    "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
                }
            ],
        },
        {"level": "Metadata"},
    ],
}

BASELINE = {
    "apiVersion": "pod-security.admission.config.k8s.io/v1alpha1",
    "kind": "PodSecurityConfiguration",
    "defaults": {"enforce": "baseline", "enforce-version": "latest"},
    "exemptions": {"namespaces": ["kube-system"]},
}

PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]},
}


def _request(method: str, path: str, body: bytes = b"", **query: str) -> Request:
    return Request(method, path, {k: [v] for k, v in query.items()}, {}, body, ADMIN)


def _attrs(method: str, path: str, **query: str) -> apiserver_audit.RequestAttributes:
    request = Request(method, path, {k: [v] for k, v in query.items()}, {}, b"", ADMIN)
    return apiserver_audit.attributes_of(request)


def _cluster_section(**extra: Any) -> dict[str, Any]:
    return {
        "clusterName": "K8S-CLUSTER",
        "controlPlane": {"endpoint": "https://10.10.20.10:6443"},
        "apiServer": {
            "admissionControl": [{"name": "PodSecurity", "configuration": BASELINE}],
            "auditPolicy": ARTICLE_POLICY,
        },
        **extra,
    }


def _bootstrapped(**cluster_extra: Any) -> Site:
    life = talos_site.running_cluster(
        2, extra_v1alpha1={"cluster": _cluster_section(**cluster_extra)}
    )
    return life.site


# -- audit: which requests are logged at which level -----------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "level"),
    [
        ("GET", "/api/v1/namespaces/default/secrets/s", "RequestResponse"),
        ("GET", "/api/v1/namespaces/default/secrets", "RequestResponse"),
        ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "RequestResponse"),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", "Metadata"),
        ("DELETE", "/api/v1/namespaces/default/pods/p", "Metadata"),
        ("GET", "/version", "Metadata"),
    ],
)
def test_article_policy_levels(method: str, path: str, level: str) -> None:
    verdict = apiserver_audit.policy_level(ARTICLE_POLICY, _attrs(method, path))
    assert verdict.level == level
    assert not verdict.omitted


def test_no_policy_or_no_matching_rule_logs_nothing() -> None:
    attrs = _attrs("GET", "/api/v1/pods")
    assert apiserver_audit.policy_level(None, attrs).omitted
    only_secrets = {"rules": [ARTICLE_POLICY["rules"][0]]}
    assert apiserver_audit.policy_level(only_secrets, attrs).level == "None"


def test_omit_stages_response_complete_suppresses_the_event() -> None:
    policy = {"omitStages": ["ResponseComplete"], "rules": [{"level": "Metadata"}]}
    assert apiserver_audit.policy_level(policy, _attrs("GET", "/api/v1/pods")).omitted
    rule_level = {"rules": [{"level": "Metadata", "omitStages": ["ResponseComplete"]}]}
    assert apiserver_audit.policy_level(rule_level, _attrs("GET", "/api/v1/pods")).omitted


@pytest.mark.parametrize(
    ("resources", "path", "matches"),
    [
        (["pods"], "/api/v1/namespaces/d/pods/p", True),
        (["pods"], "/api/v1/namespaces/d/pods/p/log", False),
        (["pods/*"], "/api/v1/namespaces/d/pods/p/log", True),
        (["pods/log"], "/api/v1/namespaces/d/pods/p/log", True),
        (["*/status"], "/api/v1/namespaces/d/pods/p/status", True),
        (["*"], "/api/v1/namespaces/d/pods/p/status", True),
        (["secrets"], "/api/v1/namespaces/d/pods/p", False),
    ],
)
def test_resource_selectors_follow_the_checker(
    resources: list[str], path: str, matches: bool
) -> None:
    rule = {"level": "Metadata", "resources": [{"group": "", "resources": resources}]}
    assert apiserver_audit.rule_matches(rule, _attrs("GET", path)) is matches


def test_non_resource_rules_do_not_match_resources_and_prefixes_work() -> None:
    rule = {"level": "Metadata", "nonResourceURLs": ["/healthz*", "/version"]}
    assert apiserver_audit.rule_matches(rule, _attrs("GET", "/healthz/etcd"))
    assert apiserver_audit.rule_matches(rule, _attrs("GET", "/version"))
    assert not apiserver_audit.rule_matches(rule, _attrs("GET", "/api/v1/pods"))
    resource_rule = {"level": "Metadata", "resources": [{"group": "*"}]}
    assert not apiserver_audit.rule_matches(resource_rule, _attrs("GET", "/version"))


def test_verbs_are_resolved_like_request_info() -> None:
    assert _attrs("GET", "/api/v1/namespaces/d/pods").verb == "list"
    assert _attrs("GET", "/api/v1/namespaces/d/pods/p").verb == "get"
    assert _attrs("GET", "/api/v1/namespaces/d/pods", watch="true").verb == "watch"
    assert _attrs("DELETE", "/api/v1/namespaces/d/pods").verb == "deletecollection"
    assert _attrs("PATCH", "/api/v1/namespaces/d/pods/p").verb == "patch"
    assert _attrs("PUT", "/api/v1/namespaces/d/pods/p").verb == "update"


def test_users_and_groups_narrow_a_rule() -> None:
    rule = {"level": "None", "users": ["system:kube-proxy"]}
    assert not apiserver_audit.rule_matches(rule, _attrs("GET", "/api/v1/pods"))
    rule = {"level": "None", "userGroups": ["system:masters"]}
    assert apiserver_audit.rule_matches(rule, _attrs("GET", "/api/v1/pods"))


LEVEL = st.sampled_from(apiserver_audit.LEVELS)
VERBS = st.lists(st.sampled_from(["get", "list", "create", "delete"]), max_size=2)


@settings(max_examples=60, deadline=None)
@given(levels=st.lists(LEVEL, min_size=1, max_size=4), verbs=st.lists(VERBS, max_size=4))
def test_first_matching_rule_wins(levels: list[str], verbs: list[list[str]]) -> None:
    rules = [
        {"level": level, **({"verbs": v} if v else {})}
        for level, v in zip(levels, verbs + [[]] * len(levels), strict=False)
    ]
    attrs = _attrs("GET", "/api/v1/namespaces/d/pods/p")
    matching = (r["level"] for r in rules if not r.get("verbs") or "get" in r["verbs"])
    expected = next(matching, "None")
    assert apiserver_audit.policy_level({"rules": rules}, attrs).level == expected


# -- audit: the event ------------------------------------------------------------------------


def _exchange(request: Request, response: Response) -> apiserver_audit.Exchange:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    return apiserver_audit.Exchange(request, response, moment, moment, {"k": "v"})


def test_event_bodies_only_at_request_response() -> None:
    request = _request("POST", "/api/v1/namespaces/default/secrets", b'{"metadata":{}}')
    response = Response(201, b'{"kind":"Secret"}')
    metadata = apiserver_audit.audit_event(_exchange(request, response), "Metadata", "id-1")
    full = apiserver_audit.audit_event(_exchange(request, response), "RequestResponse", "id-2")
    assert "requestObject" not in metadata
    assert "responseObject" not in metadata
    assert full["requestObject"] == {"metadata": {}}
    assert full["responseObject"] == {"kind": "Secret"}
    assert full["objectRef"] == {"resource": "secrets", "namespace": "default", "apiVersion": "v1"}
    assert full["stage"] == "ResponseComplete"
    assert full["verb"] == "create"
    assert full["user"] == {"username": "admin", "groups": list(ADMIN.groups)}
    assert full["requestReceivedTimestamp"] == "2026-01-02T03:04:05.123456Z"
    assert full["annotations"]["k"] == "v"


def test_event_of_a_failure_carries_the_status_reason() -> None:
    status = ApiError(403, "Forbidden", 'pods "p" is forbidden: x').status()
    request = _request("POST", "/api/v1/namespaces/default/pods", b"{}")
    event = apiserver_audit.audit_event(
        _exchange(request, Response(403, json.dumps(status).encode())), "Metadata", "id"
    )
    assert event["responseStatus"]["code"] == 403
    assert event["responseStatus"]["reason"] == "Forbidden"


def test_audited_handlers_log_reads_to_the_serving_nodes_file(tmp_path: Path) -> None:
    store = ObjectStore(MemoryKV(), builtin_registry())
    namespaces = store.registry.lookup("", "v1", "namespaces")
    secrets_rt = store.registry.lookup("", "v1", "secrets")
    assert namespaces is not None
    assert secrets_rt is not None
    store.create(namespaces, "", {"metadata": {"name": "default"}})
    store.create(secrets_rt, "default", {"metadata": {"name": "s"}, "data": {"k": "dg=="}})
    log = apiserver_audit.AuditLog(tmp_path)
    policy: dict[str, Any] = {"value": ARTICLE_POLICY}
    handlers = apiserver_audit.AuditedHandlers(
        store, audit_log=log, policy_source=lambda: ("node01", policy["value"])
    )
    assert handlers.handle(_request("GET", "/api/v1/namespaces/default/secrets/s")).status == 200
    policy["value"] = {"rules": [{"level": "None"}]}
    handlers.handle(_request("GET", "/api/v1/namespaces/default/secrets/s"))
    data = log.read("node01")
    assert data is not None
    events = [json.loads(line) for line in data.splitlines()]
    assert len(events) == 1  # the second read fell under the new None policy
    assert events[0]["level"] == "RequestResponse"
    assert events[0]["responseObject"]["data"] == {"k": "dg=="}
    assert log.read("node02") is None
    assert (tmp_path / "node01" / "kube-apiserver.log").stat().st_mode & 0o077 == 0


# -- which node serves; CA; kubeconfig lifetime ----------------------------------------------


def test_no_serving_machine_before_bootstrap() -> None:
    site = talos_site.site(2)
    assert apiserver.serving_machine(site) is None


def test_vip_holder_serves_and_sans_name_vip_and_node_ips() -> None:
    site = _bootstrapped()
    serving = apiserver.serving_machine(site)
    assert serving is not None
    holder = next(iter(site.vip_holders.values()), None)
    assert serving[0].name == (holder or site.etcd_members[0].node)
    sans = apiserver.serving_sans(site)
    assert {"127.0.0.1", "localhost", talos_site.VIP, talos_site.ip(1), talos_site.ip(2)} <= set(
        sans
    )


def test_a_down_serving_node_hands_over_to_a_running_one() -> None:
    site = _bootstrapped()
    serving = apiserver.serving_machine(site)
    assert serving is not None
    serving[0].stage = Stage.POWERED_OFF
    site.vip_holders = {}
    other = apiserver.serving_machine(site)
    assert other is not None
    assert other[0].name != serving[0].name


def _ca_section(crt: bytes, key: bytes) -> dict[str, str]:
    return {"crt": base64.b64encode(crt).decode(), "key": base64.b64encode(key).decode()}


def test_kubernetes_ca_comes_from_cluster_ca() -> None:
    pair = pki.new_ca("kubernetes", pki.KeyKind.ECDSA_P256)
    site = _bootstrapped(ca=_ca_section(pair.crt, pair.key))
    serving = apiserver.serving_machine(site)
    assert serving is not None
    ca = apiserver.kubernetes_ca(serving[1])
    assert ca is not None
    assert ca.cert_pem.strip() == pair.crt.strip()


@pytest.mark.parametrize("kind", ["placeholder", "mismatched", "ed25519"])
def test_unusable_cluster_ca_is_none(kind: str) -> None:
    pair = pki.new_ca("kubernetes", pki.KeyKind.ECDSA_P256)
    other = pki.new_ca("kubernetes", pki.KeyKind.ECDSA_P256)
    section: Any = {
        # what rendering without secrets writes (Talos decodes these fields as base64)
        "placeholder": {"crt": render.REDACTED_BYTES, "key": render.REDACTED_BYTES},
        "mismatched": _ca_section(pair.crt, other.key),
        "ed25519": _ca_section(*_pair(pki.new_ca("talos", pki.KeyKind.ED25519))),
    }[kind]
    site = _bootstrapped(ca=section)
    serving = apiserver.serving_machine(site)
    assert serving is not None
    assert apiserver.kubernetes_ca(serving[1]) is None


def _pair(value: pki.CertificateAndKey) -> tuple[bytes, bytes]:
    return value.crt, value.key


def test_admin_cert_lifetime_default_and_configured() -> None:
    serving = apiserver.serving_machine(_bootstrapped())
    assert serving is not None
    assert apiserver.admin_cert_lifetime(serving[1]) == dt.timedelta(days=365)
    configured = apiserver.serving_machine(_bootstrapped(adminKubeconfig={"certLifetime": "2h30m"}))
    assert configured is not None
    assert apiserver.admin_cert_lifetime(configured[1]) == dt.timedelta(hours=2, minutes=30)


@settings(max_examples=80, deadline=None)
@given(
    h=st.integers(0, 100_000), m=st.integers(0, 59), s=st.integers(0, 59), ms=st.integers(0, 999)
)
def test_go_durations_parse(h: int, m: int, s: int, ms: int) -> None:
    text = f"{h}h{m}m{s}s{ms}ms"
    expected = dt.timedelta(hours=h, minutes=m, seconds=s, milliseconds=ms)
    parsed = apiserver.parse_go_duration(text)
    assert parsed is not None
    assert abs((parsed - expected).total_seconds()) < 1e-3


@pytest.mark.parametrize("text", ["", "1y", "h", "5 m", "-1h"])
def test_bad_go_durations_do_not_parse(text: str) -> None:
    assert apiserver.parse_go_duration(text) is None


# -- PodSecurity hook ------------------------------------------------------------------------


def _store_with_hook(config: dict[str, Any]) -> tuple[ObjectStore, Any]:
    hooks = Hooks()
    store = ObjectStore(MemoryKV(), builtin_registry(), hooks)
    namespaces = store.registry.lookup("", "v1", "namespaces")
    assert namespaces is not None
    for name in ("default", "kube-system", "privileged"):
        labels = (
            {"pod-security.kubernetes.io/enforce": "privileged"} if name == "privileged" else {}
        )
        store.create(namespaces, "", {"metadata": {"name": name, "labels": labels}})

    def labels_of(namespace: str) -> dict[str, str]:
        obj = store.get(namespaces, "", namespace)
        return dict(obj["metadata"].get("labels") or {})

    hooks.admission.append(
        apiserver.pod_security_admission(
            lambda: psa.PodSecurityConfig.from_configuration(config["value"]), labels_of
        )
    )
    pods = store.registry.lookup("", "v1", "pods")
    return store, pods


def test_pod_security_rejects_with_the_plugin_message_and_follows_config_changes() -> None:
    config: dict[str, Any] = {"value": BASELINE}
    store, pods = _store_with_hook(config)
    from simulator.kube.hooks import RequestContext

    with pytest.raises(ApiError) as rejected:
        store.create(pods, "default", PRIVILEGED_POD, RequestContext(user=ADMIN, dry_run=True))
    assert rejected.value.code == 403
    assert rejected.value.reason == "Forbidden"
    assert rejected.value.message == (
        'pods "p" is forbidden: violates PodSecurity "baseline:latest": '
        'privileged (container "c" must not set securityContext.privileged=true)'
    )
    assert rejected.value.details == {"name": "p", "kind": "pods"}
    exempt = RequestContext(user=ADMIN, dry_run=True)
    store.create(pods, "kube-system", PRIVILEGED_POD, exempt)
    assert exempt.audit_annotations == {"pod-security.kubernetes.io/exempt": "namespace"}
    store.create(pods, "privileged", PRIVILEGED_POD, RequestContext(user=ADMIN, dry_run=True))
    config["value"] = None  # a re-applied config without PodSecurity: everything privileged
    store.create(pods, "default", PRIVILEGED_POD, RequestContext(user=ADMIN, dry_run=True))


def test_pod_security_warns_for_restricted() -> None:
    restricted_warn = {**BASELINE, "defaults": {"enforce": "baseline", "warn": "restricted"}}
    store, pods = _store_with_hook({"value": restricted_warn})
    from simulator.kube.hooks import RequestContext

    plain = {"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    context = RequestContext(user=ADMIN, dry_run=True)
    store.create(pods, "default", plain, context)
    assert context.warnings
    assert context.warnings[0].startswith('would violate PodSecurity "restricted:latest"')


def test_pod_security_config_is_read_from_the_serving_machine() -> None:
    serving = apiserver.serving_machine(_bootstrapped())
    assert serving is not None
    config = apiserver.pod_security_config(serving[0])
    assert config is not None
    assert str(config.enforce) == "baseline:latest"
    assert config.exempt_namespaces == frozenset({"kube-system"})


@pytest.mark.parametrize(
    ("extra", "logged"),
    [
        ({}, True),
        ({"audit-log-path": "/var/log/audit/kube/kube-apiserver.log"}, True),
        ({"audit-log-path": "-"}, False),
        ({"audit-log-path": "/tmp/a.log"}, False),
    ],
)
def test_audit_log_path_moved_by_extra_args_leaves_the_talos_log_empty(
    extra: dict[str, str], logged: bool
) -> None:
    api_server = {**_cluster_section()["apiServer"], "extraArgs": extra}
    serving = apiserver.serving_machine(_bootstrapped(apiServer=api_server))
    assert serving is not None
    source = apiserver.audit_policy(*serving)
    assert (source is not None) is logged
    if source is not None:
        assert source == (serving[0].name, ARTICLE_POLICY)


@pytest.mark.parametrize(
    ("plugins", "running"),
    [("PodSecurity", False), ("DefaultStorageClass, PodSecurity", False), ("Other", True)],
)
def test_disable_admission_plugins_switches_pod_security_off(plugins: str, running: bool) -> None:
    # kube-apiserver --disable-admission-plugins: the plugin never runs on that API server.
    api_server = {
        **_cluster_section()["apiServer"],
        "extraArgs": {"disable-admission-plugins": plugins},
    }
    serving = apiserver.serving_machine(_bootstrapped(apiServer=api_server))
    assert serving is not None
    assert (apiserver.pod_security_config(serving[0]) is not None) is running


# -- kubelet configz and node proxy ----------------------------------------------------------


@pytest.mark.parametrize("seccomp", [True, False])
def test_configz_seccomp_default_follows_the_machine_config(seccomp: bool) -> None:
    life = talos_site.running_cluster(1, seccomp=seccomp)
    machine = life.site.machines["node01"]
    view = apiserver.config_view(machine)
    assert view is not None
    body = apiserver.kubelet_configz(view)
    assert body["kubeletconfig"]["seccompDefault"] is seccomp
    assert body["kubeletconfig"]["systemReserved"]["memory"] == "512Mi"  # control plane
    assert "kind" not in body["kubeletconfig"]


def test_extra_config_fills_in_but_cannot_override_protected_fields() -> None:
    life = talos_site.running_cluster(1, seccomp=True)
    machine = life.site.machines["node01"]
    view = apiserver.config_view(machine)
    assert view is not None
    kubelet = dict(view.kubelet)
    kubelet["extraConfig"] = {"seccompDefault": False, "maxPods": 250}
    v1alpha1 = dict(view.v1alpha1 or {})
    v1alpha1["machine"] = {**v1alpha1["machine"], "kubelet": kubelet}
    patched = ConfigView(view.text, v1alpha1, view.documents)
    config = apiserver.kubelet_configz(patched)["kubeletconfig"]
    assert config["seccompDefault"] is True
    assert config["maxPods"] == 250


def test_node_proxy_answers_configz_404_and_503() -> None:
    site = _bootstrapped()
    proxy = apiserver.node_proxy(lambda: site)
    status, body = proxy("k8s-node01", "/configz")
    assert status == 200
    assert json.loads(body)["kubeletconfig"]["seccompDefault"] is True
    assert proxy("k8s-node01", "/pods")[0] == 404
    assert proxy("nonexistent", "/configz")[0] == 503
    site.machines["node02"].stage = Stage.POWERED_OFF
    status, body = proxy("k8s-node02", "/configz")
    assert status == 503
    assert "10.10.20.17:10250" in json.loads(body)["message"]
