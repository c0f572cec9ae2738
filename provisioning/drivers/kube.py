"""The Kubernetes driver: raw JSON bodies from the API server, behind a typed facade.

This is the only module that imports the ``kubernetes`` client (import-linter
contract; the client is untyped, so it is contained here).  The generated
model classes are deliberately not used: every call goes through the
client's transport (kubeconfig loading, client certificates, bearer tokens,
TLS) and returns the server's JSON as plain dicts, the way kopf treats
bodies.  That keeps checks independent of the client's model coverage (CRDs
such as CiliumNetworkPolicy have none) and makes the simulator and a real
cluster indistinguishable to callers.

A kind is addressed as ``(group, version, plural)`` -- ``("", "v1", "nodes")``,
``("apps", "v1", "deployments")`` -- which is exactly how the REST path is
built, so no discovery round-trip is needed for reads.  Failures become
:mod:`provisioning.drivers.errors` classes chosen by the ``Status``
``reason``; retries (exponential backoff) happen only on transport failures
and 429/503/504, and a write is repeated only when the connection was refused.
A :class:`~provisioning.drivers.budget.Budget` given to the driver cuts every
request's timeout to what is left of it and stops retrying once it is spent.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from provisioning.drivers import Failure, Idempotence, RetryPolicy, Target, errors
from provisioning.drivers.budget import Budget

KindPath = tuple[str, str, str]
"""``(group, version, plural)``; group ``""`` is the core API."""

KubeObject = dict[str, Any]

PATCH_TYPES: Mapping[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}

_TRANSIENT_REASONS = frozenset(
    {"TooManyRequests", "ServiceUnavailable", "ServerTimeout", "Timeout"}
)
_TRANSIENT_CODES = frozenset({429, 503, 504})


class VersionBody(TypedDict, total=False):
    """``/version`` (apimachinery ``version.Info``)."""

    major: str
    minor: str
    gitVersion: str
    gitCommit: str
    platform: str
    goVersion: str


def _path(kind: KindPath, namespace: str | None, name: str | None = None) -> str:
    group, version, plural = kind
    if not version or not plural or "/" in plural:
        raise ValueError(f"kind must be (group, version, plural), got {kind!r}")
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{plural}"
    return base if name is None else f"{base}/{quote(name, safe='')}"


def _load_client(kubeconfig: Path) -> Any:
    """The client for *kubeconfig*'s current context.

    A cluster's ``proxy-url`` is used as client-go uses it: for every
    request, whatever ``NO_PROXY`` says (the environment's proxy settings
    apply only to a cluster that names none).  The embedded cluster relies
    on it: its VIP is reached only through its loopback address proxy.
    """
    # Empty, not None: the environment is not consulted until the kubeconfig was read.
    configuration: Any = k8s_client.Configuration(proxy="", no_proxy="")
    # Our loop does the retrying, with a policy; urllib3's own would hide failures.
    configuration.retries = False
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration, persist_config=False
        )
    except Exception as exc:  # noqa: BLE001 - the loader raises anything from yaml to OSError
        raise errors.DriverError(
            f"cannot load kubeconfig {kubeconfig}: {type(exc).__name__}: {exc}"
        ) from None
    if not configuration.proxy:
        from_environment: Any = k8s_client.Configuration(host=configuration.host)
        configuration.proxy = from_environment.proxy
        configuration.no_proxy = from_environment.no_proxy
    return k8s_client.ApiClient(configuration=configuration)


class KubeDriver:
    """The API server of one target; every method is one HTTP request (plus retries)."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        budget: Budget | None = None,
    ) -> None:
        self.target = target
        self._budget = budget
        if target.kubeconfig is None:
            raise errors.DriverError(f"target {target.name} has no kubeconfig")
        self._policy = RetryPolicy(timeout=timeout, retries=retries, backoff=backoff)
        self._sleep = sleep
        self._api: Any = _load_client(target.kubeconfig)
        self._plurals: dict[tuple[str, str], tuple[str, bool]] = {}

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> KubeDriver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
        kind: Idempotence = Idempotence.READ,
    ) -> bytes:
        request = f"{method} {path}"
        attempts = self._policy.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                status, data = self._budgeted_send(method, path, list(query), body, content_type)
            except urllib3.exceptions.HTTPError as exc:
                failure, text = _transport_failure(exc)
                if (
                    failure is Failure.PERMANENT
                    or last
                    or (failure is Failure.TRANSIENT and kind is Idempotence.WRITE)
                ):
                    raise _transport_error(
                        exc, failure, text, request, self.target, attempt
                    ) from None
                self._sleep(self._policy.backoff * 2**attempt)
                continue
            if 200 <= status < 300:
                return data
            error = _status_error(status, data, request)
            transient = error.reason in _TRANSIENT_REASONS or status in _TRANSIENT_CODES
            if not transient or last or kind is Idempotence.WRITE:
                raise error
            self._sleep(self._policy.backoff * 2**attempt)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _budgeted_send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        content_type: str,
    ) -> tuple[int, bytes]:
        """:meth:`_send`, its wait counted against the budget (BudgetSpent: no attempt helps)."""
        if self._budget is None:
            return self._send(method, path, query, body, content_type, self._policy.timeout)
        with self._budget.call(self._policy.timeout) as timeout:
            return self._send(method, path, query, body, content_type, timeout)

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        content_type: str,
        timeout: float,
    ) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            prepared = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(*prepared, _request_timeout=timeout)
        except k8s_client.exceptions.ApiException as exc:
            # status 0: the client failed before any HTTP answer (TLS, bad request shape)
            raise errors.DriverError(
                f"{method} {path} on target {self.target.name} failed: {exc.reason}"
            ) from None
        data: bytes = response.read()
        return int(response.status), data

    def _json(self, data: bytes, request: str) -> Any:
        try:
            return json.loads(data)
        except ValueError as exc:
            raise errors.UnexpectedOutput(f"{request}: answer is not JSON: {exc}") from None

    # -- verbs -----------------------------------------------------------------------

    def list(
        self,
        kind: KindPath,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[KubeObject]:
        """Every object of *kind* (in *namespace*, or all) in ONE LIST request.

        Items get ``apiVersion`` and ``kind`` filled in from the list, as
        kubectl shows them (the API leaves them out of list items).
        """
        query = [("labelSelector", label_selector)] if label_selector else []
        if field_selector:
            query.append(("fieldSelector", field_selector))
        path = _path(kind, namespace)
        body = self._json(self._request("GET", path, query=query), f"GET {path}")
        item_kind = str(body.get("kind", "")).removesuffix("List")
        items: list[KubeObject] = []
        for item in body.get("items") or []:
            item.setdefault("apiVersion", body.get("apiVersion", ""))
            item.setdefault("kind", item_kind)
            items.append(item)
        return items

    def get(self, kind: KindPath, name: str, namespace: str | None = None) -> KubeObject:
        path = _path(kind, namespace, name)
        obj: KubeObject = self._json(self._request("GET", path), f"GET {path}")
        return obj

    def create(
        self,
        kind: KindPath,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> KubeObject:
        """Create *body*; with *dry_run* the server admits it (PodSecurity included)
        and persists nothing."""
        path = _path(kind, namespace)
        query = [("dryRun", "All")] if dry_run else []
        write = Idempotence.READ if dry_run else Idempotence.WRITE
        data = self._request("POST", path, query=query, body=dict(body), kind=write)
        obj: KubeObject = self._json(data, f"POST {path}")
        return obj

    def replace(
        self, kind: KindPath, name: str, body: Mapping[str, Any], namespace: str | None = None
    ) -> KubeObject:
        path = _path(kind, namespace, name)
        data = self._request("PUT", path, body=dict(body), kind=Idempotence.WRITE)
        obj: KubeObject = self._json(data, f"PUT {path}")
        return obj

    def patch(
        self,
        kind: KindPath,
        name: str,
        body: Any,
        patch_type: str = "merge",
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> KubeObject:
        """Patch with *patch_type* ``merge``, ``strategic`` or ``json`` (RFC 6902 list)."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"patch_type must be one of {', '.join(PATCH_TYPES)}")
        if patch_type == "json" and not isinstance(body, list):
            raise ValueError("a json patch body is a list of operations")
        path = _path(kind, namespace, name)
        query = [("dryRun", "All")] if dry_run else []
        data = self._request(
            "PATCH",
            path,
            query=query,
            body=body,
            content_type=PATCH_TYPES[patch_type],
            kind=Idempotence.READ if dry_run else Idempotence.WRITE,
        )
        obj: KubeObject = self._json(data, f"PATCH {path}")
        return obj

    def delete(self, kind: KindPath, name: str, namespace: str | None = None) -> KubeObject:
        """Delete one object; returns what the server answered (object or Status)."""
        path = _path(kind, namespace, name)
        data = self._request("DELETE", path, kind=Idempotence.WRITE)
        obj: KubeObject = self._json(data, f"DELETE {path}")
        return obj

    def node_proxy(self, node: str, path: str) -> bytes:
        """GET ``/api/v1/nodes/<node>/proxy/<path>`` (the kubelet, e.g. ``configz``)."""
        full = f"{_path(('', 'v1', 'nodes'), None, node)}/proxy/{path.lstrip('/')}"
        return self._request("GET", full)

    def version(self) -> VersionBody:
        body: VersionBody = self._json(self._request("GET", "/version"), "GET /version")
        return body

    def apply_manifest(self, docs: Iterable[Mapping[str, Any]]) -> builtins.list[KubeObject]:
        """Create each document, or replace it when it exists (kubectl create || replace).

        The kind's plural and scope come from the group/version's discovery
        document, read once per group/version.
        """
        applied: builtins.list[KubeObject] = []
        for index, doc in enumerate(docs):
            api_version, kind_name = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
            meta = doc.get("metadata") or {}
            name = str(meta.get("name", "")) if isinstance(meta, Mapping) else ""
            if not api_version or not kind_name or not name:
                raise errors.DriverError(
                    f"manifest document {index}: apiVersion, kind and metadata.name are required"
                )
            group, _, version = api_version.rpartition("/")
            plural, namespaced = self._resource(group, version, kind_name, index)
            namespace = str(meta.get("namespace") or "default") if namespaced else None
            kind = (group, version, plural)
            try:
                applied.append(self.create(kind, doc, namespace))
            except errors.AlreadyExists:
                current = self.get(kind, name, namespace)
                replacement = json.loads(json.dumps(dict(doc)))
                replacement.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
                    "resourceVersion"
                ]
                applied.append(self.replace(kind, name, replacement, namespace))
        return applied

    def _resource(self, group: str, version: str, kind: str, index: int) -> tuple[str, bool]:
        if (f"{group}/{version}", kind) not in self._plurals:
            path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            body = self._json(self._request("GET", path), f"GET {path}")
            for resource in body.get("resources") or []:
                if "/" not in resource.get("name", ""):
                    key = (f"{group}/{version}", str(resource.get("kind")))
                    self._plurals[key] = (resource["name"], bool(resource.get("namespaced")))
        found = self._plurals.get((f"{group}/{version}", kind))
        if found is None:
            raise errors.DriverError(
                f"manifest document {index}: the server does not serve kind {kind} in "
                f"{group + '/' if group else ''}{version}"
            )
        return found


def _status_error(status: int, data: bytes, request: str) -> errors.ApiStatusError:
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
    else:
        reason, message = "", data.decode("utf-8", "replace").strip()[:500]
    if not reason:
        try:
            reason = HTTPStatus(status).phrase.replace(" ", "")
        except ValueError:
            reason = "Unknown"
    cls = errors.STATUS_ERRORS.get(reason, errors.ApiStatusError)
    return cls(message, code=status, reason=reason, request=request)


def _transport_failure(exc: urllib3.exceptions.HTTPError) -> tuple[Failure, str]:
    cause: BaseException = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        cause = exc.reason
    if isinstance(cause, urllib3.exceptions.SSLError):
        return Failure.PERMANENT, f"TLS failure: {cause}"
    if isinstance(
        cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    ):
        return Failure.UNDELIVERED, f"cannot connect: {cause}"
    if isinstance(cause, urllib3.exceptions.ReadTimeoutError):
        return Failure.TRANSIENT, "timed out waiting for the answer"
    return Failure.TRANSIENT, f"{type(cause).__name__}: {cause}"


def _transport_error(
    exc: urllib3.exceptions.HTTPError,
    failure: Failure,
    text: str,
    request: str,
    target: Target,
    attempt: int,
) -> errors.DriverError:
    where = f"{request} on target {target.name} (attempt {attempt + 1})"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return errors.TimedOut(f"{where}: {text}")
    if failure is Failure.PERMANENT:
        return errors.DriverError(f"{where}: {text}")
    return errors.Unreachable(f"{where}: {text}")
