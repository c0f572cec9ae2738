"""The kube-apiserver audit log: policy evaluation, event shape, and the handler seam.

What belongs here: deciding the audit level of one request from an
``audit.k8s.io/v1`` Policy (:func:`policy_level`, first matching rule wins,
default ``None``), building the ``audit.k8s.io/v1`` ``Event`` kube-apiserver
writes at stage ``ResponseComplete`` (:func:`audit_event`), appending it as
a JSON line (:class:`AuditLog`), and :class:`AuditedHandlers`, the seam that
sees every request -- reads included.

Why a handler subclass: :mod:`simulator.kube` hooks fire on writes only, but
the audit control needs reads (a ``get`` of a secret at RequestResponse).
Wrapping :class:`~simulator.kube.handlers.ApiHandlers` sees every request
and response without touching the kube package.  Admission plugins add audit
annotations to their request context, which the handler does not return; a
thread-local collects them (the server handles one request per thread at a
time), filled by :func:`collect_annotation`.

Rule matching follows ``k8s.io/apiserver/pkg/audit/policy/checker.go``:
users, userGroups, verbs, namespaces (resource requests only),
resources (``group`` ``*`` or exact; ``res``, ``res/sub``, ``res/*``,
``*/sub``, ``*``; resourceNames) and nonResourceURLs (exact or ``prefix*``).
Policy-level and rule-level ``omitStages`` are honoured for the one stage
written here.  Deviations: only ``ResponseComplete`` is written (no
``RequestReceived``/``ResponseStarted``, no watch streams); ``omitManagedFields``
is moot (no managedFields are kept).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.kube.handlers import ApiHandlers, NodeProxy, Request, Response
from simulator.kube.objects import ObjectStore
from simulator.kube.routes import ResourceRoute, route
from simulator.store.etcd import DatastoreError

log = logging.getLogger(__name__)

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGE = "ResponseComplete"
# Talos's default when no auditPolicy is configured (APIServerDefaultAuditPolicy).
TALOS_DEFAULT_POLICY: Mapping[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "rules": [{"level": "Metadata"}],
}

_annotations = threading.local()


def collect_annotation(key: str, value: str) -> None:
    """Record an audit annotation for the request this thread is serving (if any)."""
    current: dict[str, str] | None = getattr(_annotations, "current", None)
    if current is not None:
        current[key] = value


@dataclass(frozen=True)
class RequestAttributes:
    """What an audit rule can match on."""

    username: str
    groups: tuple[str, ...]
    verb: str
    path: str
    is_resource: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def attributes_of(request: Request) -> RequestAttributes:
    """Verb and object of a request, as the API server's RequestInfo resolver sees them."""
    target = route(request.path)
    method = request.method.upper()
    groups = tuple(request.user.groups)
    if not isinstance(target, ResourceRoute):
        return RequestAttributes(request.user.username, groups, method.lower(), request.path)
    watching = target.watch or (request.query.get("watch") or [""])[0] in ("true", "1")
    if method in ("GET", "HEAD"):
        verb = "watch" if watching else ("get" if target.name else "list")
    elif method == "DELETE":
        verb = "delete" if target.name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    return RequestAttributes(
        request.user.username,
        groups,
        verb,
        request.path,
        is_resource=True,
        api_group=target.group,
        api_version=target.version,
        resource=target.plural,
        subresource=target.subresource,
        namespace=target.namespace,
        name=target.name,
    )


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _resource_matches(rule: Mapping[str, Any], attrs: RequestAttributes) -> bool:
    selectors = rule.get("resources")
    if not isinstance(selectors, list) or not selectors:
        return True
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for selector in selectors:
        if not isinstance(selector, Mapping):
            continue
        group = str(selector.get("group", ""))
        if group not in ("*", attrs.api_group):
            continue
        names = _strings(selector.get("resourceNames"))
        if names and attrs.name not in names:
            continue
        wanted = _strings(selector.get("resources"))
        if not wanted:
            return True
        for res in wanted:
            if res in ("*", combined):
                return True
            if attrs.subresource and res in (f"{attrs.resource}/*", f"*/{attrs.subresource}"):
                return True
    return False


def _url_matches(rule: Mapping[str, Any], path: str) -> bool:
    for pattern in _strings(rule.get("nonResourceURLs")):
        if pattern == "*" or pattern == path:
            return True
        if pattern.endswith("*") and path.startswith(pattern[:-1]):
            return True
    return False


def rule_matches(rule: Mapping[str, Any], attrs: RequestAttributes) -> bool:
    """Whether one PolicyRule selects the request (checker.go ``ruleMatches``)."""
    users = _strings(rule.get("users"))
    if users and attrs.username not in users:
        return False
    groups = _strings(rule.get("userGroups"))
    if groups and not set(groups) & set(attrs.groups):
        return False
    verbs = _strings(rule.get("verbs"))
    if verbs and attrs.verb not in verbs:
        return False
    has_urls = bool(_strings(rule.get("nonResourceURLs")))
    has_resources = bool(rule.get("resources")) or bool(rule.get("namespaces"))
    if not has_urls and not has_resources:
        return True
    if attrs.is_resource:
        if has_urls and not has_resources:
            return False
        namespaces = rule.get("namespaces")
        if isinstance(namespaces, list) and namespaces and attrs.namespace not in namespaces:
            return False
        return _resource_matches(rule, attrs)
    return has_urls and _url_matches(rule, attrs.path)


@dataclass(frozen=True)
class Verdict:
    level: str
    omitted: bool  # ResponseComplete is in omitStages


def policy_level(policy: Mapping[str, Any] | None, attrs: RequestAttributes) -> Verdict:
    """The level of the first matching rule (``None`` if none matches or no policy)."""
    if policy is None:
        return Verdict("None", True)
    omit = set(_strings(policy.get("omitStages")))
    rules = policy.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, Mapping) and rule_matches(rule, attrs):
            level = str(rule.get("level") or "None")
            if level not in LEVELS:
                level = "None"
            rule_omit = omit | set(_strings(rule.get("omitStages")))
            return Verdict(level, level == "None" or STAGE in rule_omit)
    return Verdict("None", True)


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_or_none(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _response_status(response: Response) -> dict[str, Any]:
    status: dict[str, Any] = {"metadata": {}, "code": response.status}
    if response.status >= 400:
        body = _json_or_none(response.body)
        if isinstance(body, Mapping) and body.get("kind") == "Status":
            for key in ("status", "message", "reason", "details"):
                if key in body:
                    status[key] = body[key]
    return status


@dataclass
class Exchange:
    """One request and its response, with what the audit event needs besides them."""

    request: Request
    response: Response
    received: dt.datetime
    completed: dt.datetime
    annotations: Mapping[str, str] = field(default_factory=dict)
    source_ip: str = "127.0.0.1"


def audit_event(exchange: Exchange, level: str, audit_id: str) -> dict[str, Any]:
    """The ``audit.k8s.io/v1`` Event for a completed request at *level* (not ``None``)."""
    request = exchange.request
    attrs = attributes_of(request)
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": audit_id,
        "stage": STAGE,
        "requestURI": request.path + _query_string(request.query),
        "verb": attrs.verb,
        "user": {"username": attrs.username, "groups": list(attrs.groups)},
        "sourceIPs": [exchange.source_ip],
        "userAgent": request.headers.get("user-agent", ""),
    }
    if attrs.is_resource:
        optional = {
            "namespace": attrs.namespace,
            "name": attrs.name,
            "apiGroup": attrs.api_group,
            "apiVersion": attrs.api_version,
            "subresource": attrs.subresource,
        }
        ref = {"resource": attrs.resource, **{k: v for k, v in optional.items() if v}}
        event["objectRef"] = ref
    event["responseStatus"] = _response_status(exchange.response)
    if attrs.is_resource and level in ("Request", "RequestResponse"):
        body = _json_or_none(request.body)
        if body is not None:
            event["requestObject"] = body
    if attrs.is_resource and level == "RequestResponse":
        body = _json_or_none(exchange.response.body)
        if body is not None:
            event["responseObject"] = body
    event["requestReceivedTimestamp"] = _timestamp(exchange.received)
    event["stageTimestamp"] = _timestamp(exchange.completed)
    annotations = {
        "authorization.k8s.io/decision": "allow",
        "authorization.k8s.io/reason": "",
        **exchange.annotations,
    }
    event["annotations"] = annotations
    return event


def _query_string(query: Mapping[str, Sequence[str]]) -> str:
    pairs = [f"{k}={v}" for k, values in query.items() for v in values]
    return "?" + "&".join(pairs) if pairs else ""


#: Where Talos has kube-apiserver write its audit log (``--audit-log-path``), unless
#: cluster.apiServer.extraArgs overrides it.
TALOS_LOG_PATH = "/var/log/audit/kube/kube-apiserver.log"


class AuditLog:
    """Appends events as JSON lines to ``<root>/<node>/kube-apiserver.log``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def path_for(self, node: str) -> Path:
        return self.root / node / "kube-apiserver.log"

    def write(self, node: str, event: Mapping[str, Any]) -> None:
        path = self.path_for(node)
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The log can hold secret payloads (RequestResponse on secrets): owner-only.
            with open(path, "a", encoding="utf-8", opener=_private_opener) as out:
                out.write(line)

    def read(self, node: str) -> bytes | None:
        try:
            return self.path_for(node).read_bytes()
        except OSError:
            return None


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


PolicySource = Callable[[], tuple[str, Mapping[str, Any] | None] | None]
"""``() -> (serving node name, its audit policy)`` now, or None (no API server yet)."""


class AuditedHandlers(ApiHandlers):
    """:class:`ApiHandlers` that writes an audit event for every request the policy selects."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        audit_log: AuditLog,
        policy_source: PolicySource,
        node_proxy: NodeProxy | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        super().__init__(store, node_proxy=node_proxy)
        self.audit_log = audit_log
        self.policy_source = policy_source
        self.clock = clock

    def handle(self, request: Request) -> Response:
        received = self.clock()
        collected: dict[str, str] = {}
        _annotations.current = collected
        try:
            response = super().handle(request)
        finally:
            _annotations.current = None
        try:
            self._audit(request, response, received, collected)
        except (DatastoreError, OSError):
            # kube-apiserver's buffered audit backend drops events rather than failing requests.
            log.exception("audit event for %s %s was not written", request.method, request.path)
        return response

    def _audit(
        self,
        request: Request,
        response: Response,
        received: dt.datetime,
        annotations: Mapping[str, str],
    ) -> None:
        source = self.policy_source()
        if source is None:
            return
        node, policy = source
        verdict = policy_level(policy, attributes_of(request))
        if not verdict.omitted:
            exchange = Exchange(request, response, received, self.clock(), annotations)
            self.audit_log.write(node, audit_event(exchange, verdict.level, str(uuid.uuid4())))
