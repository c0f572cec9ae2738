"""Errors every driver raises, so callers catch one family whatever the transport.

A driver failure must read as one sentence an operator can act on: what was
run (with secret-bearing arguments masked), how it ended (exit code, HTTP
status and ``reason``) and the tail of what the tool said.  The classes are
split by what a caller does next: :class:`ToolMissing` means "install
something", :class:`Unreachable` and :class:`TimedOut` mean "the target did
not answer" (a check becomes unobservable, not failed), and
:class:`ApiStatusError` subclasses carry the Kubernetes ``Status`` reason so
callers branch on type, never on message text.
"""

from __future__ import annotations

from collections.abc import Sequence

STDERR_TAIL_LINES = 12
STDERR_TAIL_CHARS = 2000


def tail(text: str) -> str:
    """The last lines of a tool's stderr: the error is nearly always at the end."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    kept = "\n".join(lines[-STDERR_TAIL_LINES:])
    return kept[-STDERR_TAIL_CHARS:]


class DriverError(Exception):
    """A call to the cluster failed; the message says what ran and what came back."""

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] = (),
        exit_code: int | None = None,
        stderr: str = "",
    ) -> None:
        self.command: tuple[str, ...] = tuple(command)
        self.exit_code = exit_code
        self.stderr = tail(stderr)
        parts = [message]
        if self.command:
            parts.append(f"command: {' '.join(self.command)}")
        if exit_code is not None:
            parts.append(f"exit code: {exit_code}")
        if self.stderr:
            parts.append("stderr:\n" + self.stderr)
        super().__init__("\n".join(parts))


class ToolMissing(DriverError):
    """The executable a driver needs is neither in the target's bin dir nor on PATH."""


class Unreachable(DriverError):
    """The endpoint did not answer (refused, reset, unavailable) after every retry."""


class TimedOut(DriverError):
    """An invocation ran past its timeout; the tool was stopped."""


class UnexpectedOutput(DriverError):
    """The tool succeeded but printed something this driver cannot read."""


class ApiStatusError(DriverError):
    """The Kubernetes API answered with a failure ``Status``."""

    def __init__(self, message: str, *, code: int, reason: str, request: str) -> None:
        self.code = code
        self.reason = reason
        self.status_message = message
        super().__init__(f"{request}: {code} {reason}: {message}")


class NotFound(ApiStatusError):
    """``reason: NotFound`` (404)."""


class AlreadyExists(ApiStatusError):
    """``reason: AlreadyExists`` (409 on create)."""


class Conflict(ApiStatusError):
    """``reason: Conflict`` (409: stale resourceVersion)."""


class Invalid(ApiStatusError):
    """``reason: Invalid`` (422: the object failed validation)."""


class Forbidden(ApiStatusError):
    """``reason: Forbidden`` (403: RBAC or an admission plugin such as PodSecurity)."""


class Unauthorized(ApiStatusError):
    """``reason: Unauthorized`` (401: credentials rejected or expired)."""


class BadRequest(ApiStatusError):
    """``reason: BadRequest`` (400)."""


STATUS_ERRORS: dict[str, type[ApiStatusError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Invalid": Invalid,
    "Forbidden": Forbidden,
    "Unauthorized": Unauthorized,
    "BadRequest": BadRequest,
}
