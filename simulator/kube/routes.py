"""The URL space of the simulated API server (moto's ``urls.py``).

What belongs here: turning a request path into either a
:class:`ResourceRoute` (group, version, namespace, resource, name,
subresource) or an :class:`Endpoint` for the non-resource paths (version,
health, discovery, OpenAPI).  Pure string work, so the handlers never parse
paths and the grammar has one place to be tested.

Grammar (kube-apiserver's): ``/api/v1/...`` for the core group,
``/apis/<group>/<version>/...`` otherwise, then ``[namespaces/<ns>/]<resource>
[/<name>[/<subresource>[/<rest>]]]``; ``namespaces/<name>/status`` and
``namespaces/<name>/finalize`` are subresources of a Namespace.  The legacy
``/api/v1/watch/...`` prefix maps to a route with ``watch=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

HEALTH = ("healthz", "livez", "readyz")


@dataclass(frozen=True)
class ResourceRoute:
    group: str
    version: str
    plural: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    rest: str = ""
    watch: bool = False


@dataclass(frozen=True)
class Endpoint:
    """A non-resource path: ``kind`` is one of the names documented on :func:`route`."""

    kind: str
    group: str = ""
    version: str = ""


def _resource(group: str, version: str, parts: list[str], watch: bool) -> ResourceRoute | None:
    namespace = ""
    if (
        parts[0] == "namespaces"
        and len(parts) >= 3
        and not (len(parts) == 3 and parts[2] in ("status", "finalize"))
    ):
        namespace = parts[1]
        parts = parts[2:]
    if not parts or not all(parts[:3]):
        return None
    return ResourceRoute(
        group=group,
        version=version,
        plural=parts[0],
        namespace=namespace,
        name=parts[1] if len(parts) > 1 else "",
        subresource=parts[2] if len(parts) > 2 else "",
        rest="/".join(parts[3:]),
        watch=watch,
    )


def route(path: str) -> ResourceRoute | Endpoint | None:
    """Classify *path* (no query string).

    Endpoint kinds: ``version``, ``health`` (``group`` holds which),
    ``api``, ``apis``, ``group``, ``resources``, ``openapi_v2``,
    ``openapi_v3``, ``openapi_v3_gv``.  None: nothing is served there.
    """
    parts = [p for p in path.split("/") if p != ""]
    if not parts:
        return None
    head = parts[0]
    if head == "version" and len(parts) == 1:
        return Endpoint("version")
    if head in HEALTH:
        return Endpoint("health", group=head)
    if head == "openapi":
        if parts[1:] == ["v2"]:
            return Endpoint("openapi_v2")
        if parts[1:] == ["v3"]:
            return Endpoint("openapi_v3")
        if parts[1:3] == ["v3", "api"] and len(parts) == 4:
            return Endpoint("openapi_v3_gv", "", parts[3])
        if parts[1:3] == ["v3", "apis"] and len(parts) == 5:
            return Endpoint("openapi_v3_gv", parts[3], parts[4])
        return None
    if head == "api":
        if len(parts) == 1:
            return Endpoint("api")
        if len(parts) == 2:
            return Endpoint("resources", "", parts[1])
        group, version, rest = "", parts[1], parts[2:]
    elif head == "apis":
        if len(parts) == 1:
            return Endpoint("apis")
        if len(parts) == 2:
            return Endpoint("group", parts[1])
        if len(parts) == 3:
            return Endpoint("resources", parts[1], parts[2])
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch = rest[0] == "watch"
    if watch:
        rest = rest[1:]
        if not rest:
            return None
    return _resource(group, version, rest, watch)
