"""Kubernetes API errors as the real API server reports them (``Status`` objects).

What belongs here: :class:`ApiError` (an exception that *is* a
``meta/v1 Status``) and one constructor per reason the simulated API server
can answer with.  Why separate: models raise these and handlers serialise
them, so neither has to know HTTP status codes or message formats (moto's
``exceptions.py``).

Texts and shapes follow kubernetes/apimachinery ``pkg/api/errors/errors.go``
and ``pkg/util/validation/field/errors.go`` (read at HEAD):

* ``details.kind`` holds the *resource* (plural) for NotFound, AlreadyExists,
  Conflict, Forbidden and MethodNotAllowed, but the *Kind* for Invalid;
* a qualified resource prints as ``<resource>.<group>`` (``<resource>`` for
  the core group);
* Invalid aggregates field errors as one text, or ``[a, b]`` for several
  distinct ones, each ``<field>: <Type text>[: <value>][: <detail>]``.

The 415 text follows apiserver ``pkg/endpoints/handlers/negotiation``
(``the body of the request was in an unknown format - accepted media types
include: ...``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class _Omit:
    """Marks a field error whose bad value is not shown (``field.OmitValueType``)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


class Verbatim(str):
    """A bad value Go prints with ``%#v`` rather than as JSON (e.g. ``0x0`` for a uint64 0)."""

    __slots__ = ()


_FIELD_TYPE_TEXT = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
# These types never print the bad value (``ErrorBody``'s first case).
_VALUELESS = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}


@dataclass(frozen=True)
class FieldError:
    """One ``field.Error``: its type (e.g. ``FieldValueInvalid``), path, bad value, detail."""

    type: str
    field: str
    bad_value: Any = OMIT
    detail: str = ""

    def body(self) -> str:
        """The message without the field name (``ErrorBody``)."""
        text = _FIELD_TYPE_TEXT.get(self.type, f"<unknown error {self.type!r}>")
        if self.type not in _VALUELESS and self.bad_value is not OMIT:
            value = self.bad_value
            if isinstance(value, Verbatim):
                text = f"{text}: {value}"
            elif isinstance(value, bool):
                text = f"{text}: {'true' if value else 'false'}"
            elif isinstance(value, int | float):
                text = f"{text}: {value}"
            elif isinstance(value, str):
                text = f"{text}: {json.dumps(value)}"
            else:
                text = f"{text}: {json.dumps(value, separators=(',', ':'))}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", field, OMIT, detail)


def invalid_value(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("FieldValueInvalid", field, value, detail)


def not_supported(field: str, value: Any, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported)
    return FieldError("FieldValueNotSupported", field, value, detail)


def forbidden_field(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, OMIT, detail)


class ApiError(Exception):
    """A failed API call, carrying the ``Status`` the server sends back."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` body, field for field as the API server sends it."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"


def qualified(resource: str, group: str) -> str:
    """``schema.GroupResource.String()``: ``pods`` or ``deployments.apps``."""
    return f"{resource}.{group}" if group else resource


def _details(group: str, kind: str, name: str = "") -> dict[str, Any]:
    # Go omits empty strings (omitempty), so must we.
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    if kind:
        out["kind"] = kind
    return out


def not_found(resource: str, group: str, name: str) -> ApiError:
    message = f"{qualified(resource, group)} {json.dumps(name)} not found"
    return ApiError(404, "NotFound", message, _details(group, resource, name))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    message = f"{qualified(resource, group)} {json.dumps(name)} already exists"
    return ApiError(409, "AlreadyExists", message, _details(group, resource, name))


def conflict(resource: str, group: str, name: str, why: str = MODIFIED) -> ApiError:
    message = f"Operation cannot be fulfilled on {qualified(resource, group)} {json.dumps(name)}"
    return ApiError(409, "Conflict", f"{message}: {why}", _details(group, resource, name))


def invalid(kind: str, group: str, name: str, errors: Sequence[FieldError]) -> ApiError:
    distinct = list(dict.fromkeys(str(e) for e in errors))
    what = f"{qualified(kind, group)} {json.dumps(name)} is invalid"
    if len(distinct) == 1:
        what = f"{what}: {distinct[0]}"
    elif distinct:
        what = f"{what}: [{', '.join(distinct)}]"
    details = _details(group, kind, name)
    details["causes"] = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    return ApiError(422, "Invalid", what, details)


def forbidden(resource: str, group: str, name: str, why: str) -> ApiError:
    if not resource:
        message = f"forbidden: {why}"
    elif not name:
        message = f"{qualified(resource, group)} is forbidden: {why}"
    else:
        message = f"{qualified(resource, group)} {json.dumps(name)} is forbidden: {why}"
    return ApiError(403, "Forbidden", message, _details(group, resource, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> ApiError:
    return ApiError(401, "Unauthorized", message or "not authorized")


def method_not_supported(resource: str, group: str, action: str) -> ApiError:
    message = (
        f"{action} is not supported on resources of kind {json.dumps(qualified(resource, group))}"
    )
    return ApiError(405, "MethodNotAllowed", message, _details(group, resource))


def unsupported_media_type(accepted: Sequence[str]) -> ApiError:
    message = (
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted)
    )
    return ApiError(415, "UnsupportedMediaType", message)


def service_unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def too_many_requests(message: str, retry_after_seconds: int) -> ApiError:
    details = {"retryAfterSeconds": retry_after_seconds} if retry_after_seconds else {}
    return ApiError(429, "TooManyRequests", message, details)


def internal_error(why: str) -> ApiError:
    return ApiError(
        500, "InternalError", f"Internal error occurred: {why}", {"causes": [{"message": why}]}
    )


def not_found_path() -> ApiError:
    """A URL that names no API endpoint (the server's generic 404 text)."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
