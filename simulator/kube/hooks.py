"""The plug-in points of the simulated API server: admission and change notification.

What belongs here: the request/identity types that admission plugins see
(:class:`AdmissionRequest`, :class:`UserInfo`, :class:`RequestContext`), the
change events controllers react to (:class:`WatchEvent`) and the
:class:`Hooks` lists the object store calls.  Kept apart from the store so
later pieces (PodSecurity admission, audit log, node/DaemonSet/Longhorn
controllers) depend on this small module only.

Contract:

* an :data:`AdmissionHook` runs for every CREATE, UPDATE and DELETE -- dry
  runs included, as kube-apiserver runs admission for ``dryRun=All`` -- after
  defaulting and name generation, before the write.  It denies by raising
  :class:`simulator.kube.errors.ApiError`, may mutate ``request.object``, and
  may add HTTP warnings and audit annotations through the request;
* a :data:`WatchHook` runs after each successful, non-dry-run write with the
  stored object (``ADDED``/``MODIFIED``/``DELETED``), outside the store's
  lock, so it may write back to the store.  Exceptions from it propagate to
  the writer: controllers must not fail.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.kube.registry import ResourceType


class Operation(enum.Enum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


@dataclass(frozen=True)
class UserInfo:
    """Who is asking: the client certificate's CN and O values."""

    username: str
    groups: tuple[str, ...] = ()


# Writes made by the simulator's own controllers.
SYSTEM_USER = UserInfo("system:kube-controller-manager", ("system:authenticated",))


@dataclass
class RequestContext:
    """Per-request options and the side channels admission can write to."""

    user: UserInfo = SYSTEM_USER
    dry_run: bool = False
    field_manager: str = ""
    warnings: list[str] = field(default_factory=list)
    audit_annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class AdmissionRequest:
    """One write as an admission plugin sees it."""

    operation: Operation
    resource: ResourceType
    subresource: str
    namespace: str
    name: str
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None
    context: RequestContext

    @property
    def user(self) -> UserInfo:
        return self.context.user

    @property
    def dry_run(self) -> bool:
        return self.context.dry_run

    def warn(self, message: str) -> None:
        """Add an HTTP ``Warning`` header to the response."""
        self.context.warnings.append(message)

    def annotate(self, key: str, value: str) -> None:
        """Add an audit annotation (read by the audit log)."""
        self.context.audit_annotations[key] = value


AdmissionHook = Callable[[AdmissionRequest], None]


@dataclass(frozen=True)
class WatchEvent:
    """A stored change: ``type`` is ``ADDED``, ``MODIFIED`` or ``DELETED``."""

    type: str
    resource: ResourceType
    object: dict[str, Any]


WatchHook = Callable[[WatchEvent], None]


@dataclass
class Hooks:
    """The callables the object store runs; append to the lists to plug in."""

    admission: list[AdmissionHook] = field(default_factory=list)
    after_write: list[WatchHook] = field(default_factory=list)
