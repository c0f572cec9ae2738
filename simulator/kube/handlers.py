"""HTTP <-> object store translation for the simulated Kubernetes API (moto's ``responses``).

What belongs here: :class:`ApiHandlers`, which takes one already
authenticated :class:`Request` and returns a :class:`Response` -- choosing the
store operation from method and route, reading query parameters, rendering
Tables, discovery and errors as ``Status`` JSON.  No sockets or TLS (that is
:mod:`simulator.kube.server`), no object semantics (that is
:mod:`simulator.kube.objects`), so every endpoint is testable without a
network.

Supported: GET/LIST (``labelSelector``, ``fieldSelector``, ``limit``,
``continue``, Table output), POST, PUT, PATCH (json, merge, strategic),
DELETE (``DeleteOptions`` body with ``dryRun`` and ``preconditions``),
DELETE on a collection, ``dryRun=All`` on every write, the ``status``
subresource, ``nodes/<n>/proxy/<path>`` answered by a :data:`NodeProxy`
hook, discovery, ``/version``, health endpoints and a minimal OpenAPI v3.

Deviations from kube-apiserver:

* ``watch`` (``?watch=true`` and ``/watch/`` paths) is not implemented and
  answers 405 MethodNotAllowed ``watch is not supported on resources of kind
  "<resource>"``;
* server-side apply (``application/apply-patch+yaml``) answers 415;
* ``fieldValidation``, ``fieldManager``, ``resourceVersion`` on reads,
  ``timeoutSeconds``, ``gracePeriodSeconds`` and ``propagationPolicy`` are
  accepted and ignored (no managedFields are kept);
* request bodies must be JSON (no YAML, protobuf or CBOR; others answer
  415); responses are JSON whatever ``Accept`` asks.  kubectl's typed-client
  commands that *send* protobuf -- the ``kubectl create configmap|secret|
  namespace|deployment ...`` generators, ``drain``'s evictions -- therefore
  fail; ``kubectl create|apply -f`` send JSON and work;
* ``scale``, ``log``, ``exec`` and other subresources are not served (404);
* no authorization: every authenticated user may do everything (as a
  ``system:masters`` admin, which the suite's kubeconfig is).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.kube import discovery, errors, tables
from simulator.kube.errors import ApiError
from simulator.kube.hooks import RequestContext, UserInfo
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType
from simulator.kube.routes import Endpoint, ResourceRoute, route

NodeProxy = Callable[[str, str], tuple[int, bytes]]
"""``(kubelet address, path below proxy/) -> (HTTP status, JSON body)``, e.g. ``/configz``.

The address is the one :func:`kubelet_address` resolves from the Node object,
as kube-apiserver dials the Node's address rather than its name.
"""


def kubelet_address(node: Mapping[str, Any]) -> str:
    """Where the API server dials a Node's kubelet: its InternalIP, else its Hostname address.

    kube-apiserver walks ``--kubelet-preferred-address-types`` over
    ``status.addresses``; the InternalIP is what the reference cluster's
    kubelets report first.  Deviation: a Node with no address at all (bare
    objects in unit tests) is dialled by its name instead of failing with
    "no preferred addresses found".
    """
    addresses = [a for a in (node.get("status") or {}).get("addresses") or [] if a]
    for wanted in ("InternalIP", "Hostname"):
        for address in addresses:
            if address.get("type") == wanted and address.get("address"):
                return str(address["address"])
    return str((node.get("metadata") or {}).get("name") or "")


JSON = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    user: UserInfo


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, obj: Any, warnings: Sequence[str] = ()) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()
    headers = [("Warning", _warning(w)) for w in warnings]
    return Response(status, body, JSON, headers)


def error_response(error: ApiError) -> Response:
    return json_response(error.code, error.status())


def _warning(text: str) -> str:
    # RFC 7234 warn-text is a quoted-string; kube-apiserver uses code 299 and agent "-".
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'299 - "{escaped}"'


def is_public(path: str) -> bool:
    """Paths Talos's kube-apiserver serves without credentials (health probes only).

    Talos runs kube-apiserver with ``--anonymous-auth=false`` or an
    authentication config that allows anonymous access to the health endpoints
    only (siderolabs/talos ``control_plane_final.go``,
    ``render_config_static_pods.go``).
    """
    return isinstance(route(path), Endpoint) and path.strip("/").split("/")[0] in (
        "healthz",
        "livez",
        "readyz",
    )


def _one(query: Mapping[str, Sequence[str]], name: str) -> str:
    values = query.get(name) or []
    return values[0] if values else ""


def _dry_run(values: Sequence[str]) -> bool:
    wanted = [v for v in values if v != ""]
    if not wanted:
        return False
    if any(v != "All" for v in wanted):
        problem = errors.not_supported("dryRun", list(wanted), ["All"])
        raise errors.bad_request(str(problem))
    return True


def _wants_table(headers: Mapping[str, str]) -> bool:
    accept = headers.get("accept", "")
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


def _decode_body(body: bytes, content_type: str = JSON) -> Any:
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ("", JSON, "*/*"):
        raise errors.unsupported_media_type([JSON])
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(
            f"the body of the request could not be decoded as JSON: {exc}"
        ) from exc


class ApiHandlers:
    """Answers authenticated requests from an :class:`ObjectStore`."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        node_proxy: NodeProxy | None = None,
        server_address: str = "127.0.0.1:6443",
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.store = store
        self.node_proxy = node_proxy
        self.server_address = server_address
        self._now = now if now is not None else (lambda: dt.datetime.now(dt.UTC))

    def handle(self, request: Request) -> Response:
        """One request in, one response out; every failure is a ``Status``."""
        try:
            target = route(request.path)
            if target is None:
                raise errors.not_found_path()
            if isinstance(target, Endpoint):
                return self._endpoint(request, target)
            return self._resource(request, target)
        except ApiError as exc:
            return error_response(exc)

    # -- non-resource endpoints --------------------------------------------------------------

    def _endpoint(self, request: Request, target: Endpoint) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                {},
            )
        registry = self.store.registry
        document: dict[str, Any] | None
        if target.kind == "health":
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if target.kind == "version":
            document = discovery.version_info()
        elif target.kind == "api":
            document = discovery.api_versions(self.server_address)
        elif target.kind == "apis":
            document = discovery.api_group_list(registry)
        elif target.kind == "group":
            document = discovery.api_group(registry, target.group)
        elif target.kind == "resources":
            document = discovery.resource_list(registry, target.group, target.version)
        elif target.kind == "openapi_v3":
            document = discovery.openapi_v3_root(registry)
        elif target.kind == "openapi_v3_gv":
            document = discovery.openapi_v3_document(registry, target.group, target.version)
        else:  # openapi_v2 is deliberately not served
            document = None
        if document is None:
            raise errors.not_found_path()
        return json_response(200, document)

    # -- resources ------------------------------------------------------------------------------

    def _type(self, target: ResourceRoute) -> ResourceType:
        rt = self.store.registry.lookup(target.group, target.version, target.plural)
        if rt is None:
            raise errors.not_found_path()
        if target.namespace and not rt.namespaced:
            raise errors.not_found_path()
        if rt.namespaced and target.name and not target.namespace:
            raise errors.not_found_path()
        return rt

    def _resource(self, request: Request, target: ResourceRoute) -> Response:
        rt = self._type(target)
        query = request.query
        if target.watch or _one(query, "watch") in ("true", "1"):
            raise errors.method_not_supported(rt.plural, rt.group, "watch")
        context = RequestContext(
            user=request.user,
            dry_run=_dry_run(query.get("dryRun") or []),
            field_manager=_one(query, "fieldManager"),
        )
        if target.subresource:
            return self._subresource(request, rt, target, context)
        method = request.method
        if not target.name:
            if method in ("GET", "HEAD"):
                return self._list(request, rt, target.namespace)
            if method == "POST":
                created = self.store.create(
                    rt,
                    target.namespace,
                    _decode_body(request.body, request.headers.get("content-type", JSON)),
                    context,
                )
                return json_response(201, created, context.warnings)
            if method == "DELETE" and "deletecollection" in rt.verbs:
                self._delete_options(request, context)
                deleted = self.store.delete_collection(
                    rt,
                    target.namespace,
                    context,
                    label_selector=_one(query, "labelSelector"),
                    field_selector=_one(query, "fieldSelector"),
                )
                return json_response(200, deleted, context.warnings)
            action = {"DELETE": "deletecollection"}.get(method, method.lower())
            raise errors.method_not_supported(rt.plural, rt.group, action)
        if method in ("GET", "HEAD"):
            obj = self.store.get(rt, target.namespace, target.name)
            if _wants_table(request.headers):
                return json_response(200, self._table(rt, [obj], obj, request))
            return json_response(200, obj)
        if method == "PUT":
            body = _decode_body(request.body, request.headers.get("content-type", JSON))
            replaced = self.store.replace(rt, target.namespace, target.name, body, context)
            return json_response(200, replaced, context.warnings)
        if method == "PATCH":
            patched = self.store.patch(
                rt,
                target.namespace,
                target.name,
                request.body,
                request.headers.get("content-type", ""),
                context,
            )
            return json_response(200, patched, context.warnings)
        if method == "DELETE":
            preconditions = self._delete_options(request, context)
            result = self.store.delete(
                rt, target.namespace, target.name, context, preconditions=preconditions
            )
            return json_response(200, result, context.warnings)
        raise errors.method_not_supported(rt.plural, rt.group, method.lower())

    def _delete_options(self, request: Request, context: RequestContext) -> dict[str, Any]:
        """Read a ``DeleteOptions`` body: its ``dryRun`` joins the query's; preconditions out."""
        if not request.body.strip():
            return {}
        options = _decode_body(request.body, request.headers.get("content-type", JSON))
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        dry_run = options.get("dryRun") or []
        if isinstance(dry_run, list) and _dry_run([str(v) for v in dry_run]):
            context.dry_run = True
        preconditions = options.get("preconditions")
        return preconditions if isinstance(preconditions, dict) else {}

    def _list(self, request: Request, rt: ResourceType, namespace: str) -> Response:
        query = request.query
        limit_text = _one(query, "limit")
        try:
            limit = int(limit_text) if limit_text else 0
        except ValueError as exc:
            raise errors.bad_request(f"invalid limit: {limit_text}") from exc
        plain = not _one(query, "labelSelector") and not _one(query, "fieldSelector")
        if plain and not _wants_table(request.headers):
            # The common, large case (every pod): served from the serialised-object cache.
            body = self.store.list_json(
                rt, namespace, limit=limit, continue_token=_one(query, "continue")
            )
            return Response(200, body, JSON)
        listed = self.store.list(
            rt,
            namespace,
            label_selector=_one(query, "labelSelector"),
            field_selector=_one(query, "fieldSelector"),
            limit=limit,
            continue_token=_one(query, "continue"),
        )
        if _wants_table(request.headers):
            return json_response(200, self._table(rt, listed["items"], listed, request))
        return json_response(200, listed)

    def _table(
        self,
        rt: ResourceType,
        objects: list[dict[str, Any]],
        source: Mapping[str, Any],
        request: Request,
    ) -> dict[str, Any]:
        metadata = source.get("metadata") or {}
        list_metadata = {
            k: v for k, v in metadata.items() if k in ("continue", "remainingItemCount")
        }
        if source.get("kind") != rt.list_kind:
            list_metadata = {}
        return tables.table(
            rt,
            objects,
            resource_version=str(metadata.get("resourceVersion", "")),
            include_object=_one(request.query, "includeObject") or "Metadata",
            now=self._now(),
            list_metadata=list_metadata,
        )

    def _subresource(
        self,
        request: Request,
        rt: ResourceType,
        target: ResourceRoute,
        context: RequestContext,
    ) -> Response:
        sub = target.subresource
        if sub not in rt.subresources:
            raise errors.not_found_path()
        if sub == "proxy" and rt.group == "" and rt.kind == "Node":
            node = self.store.get(rt, "", target.name)  # 404 for an unknown node, as upstream
            if self.node_proxy is None:
                raise errors.service_unavailable(
                    f"no kubelet is reachable for node {json.dumps(target.name)}"
                )
            status, body = self.node_proxy(kubelet_address(node), "/" + target.rest)
            return Response(status, body, JSON)
        if sub != "status":
            raise errors.not_found_path()
        method = request.method
        if method in ("GET", "HEAD"):
            return json_response(200, self.store.get(rt, target.namespace, target.name))
        if method == "PUT":
            body = _decode_body(request.body, request.headers.get("content-type", JSON))
            replaced = self.store.replace(
                rt, target.namespace, target.name, body, context, subresource="status"
            )
            return json_response(200, replaced, context.warnings)
        if method == "PATCH":
            patched = self.store.patch(
                rt,
                target.namespace,
                target.name,
                request.body,
                request.headers.get("content-type", ""),
                context,
                subresource="status",
            )
            return json_response(200, patched, context.warnings)
        raise errors.method_not_supported(f"{rt.plural}/status", rt.group, method.lower())
