"""How a CLI is run for a target: tool lookup, the subprocess runner, and the retry loop.

What belongs here is everything the CLI drivers (``talosctl``, ``helm``) share
about running a command, so both behave alike; it is kept apart from
:mod:`provisioning.drivers` (the :class:`~provisioning.drivers.Target` seam)
because it is the one part of the package that starts processes and sleeps:

* executables come from ``target.bin_dir`` first, then ``PATH`` -- the
  simulator installs its look-alikes in a bin dir, a live run uses the
  operator's tools;
* every invocation has a timeout, and stderr is kept for the error message;
* retries with exponential backoff happen only on transient failures, and a
  write is retried only when the request can't have reached the server
  (connection refused), because repeating a delivered ``bootstrap`` or
  ``upgrade --install`` is not harmless;
* a :class:`Runner` protocol is the subprocess seam unit tests fake;
* values of secret-bearing flags are masked before a command line is shown.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from provisioning.drivers import errors

if TYPE_CHECKING:
    # Only annotated here; the package imports this module, so a runtime import would cycle.
    from provisioning.drivers import Target

# Flags whose value may be a secret (helm --set password=...); masked in messages.
SECRET_FLAGS = frozenset({"--set", "--set-string", "--set-file", "--token", "--password"})
MASK = "<redacted>"


@dataclass(frozen=True)
class Completed:
    """What one finished invocation returned."""

    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


class Runner(Protocol):
    """Runs one command; raises :class:`TimeoutError` past *timeout* seconds.

    A missing executable raises :class:`FileNotFoundError`, as
    :func:`subprocess.run` does.
    """

    def __call__(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
    ) -> Completed: ...


def run_subprocess(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
) -> Completed:
    """The real :class:`Runner`: a child process with captured output and a timeout."""
    environ = None if env is None else {**os.environ, **env}
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            timeout=timeout,
            env=environ,
            check=False,
            stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl-C or SIGTERM sent to the run's process group must
            # reach the run (which stops at a safe point), not kill a talosctl mid-call.
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"timed out after {timeout:g}s") from exc
    return Completed(done.returncode, done.stdout, done.stderr.decode("utf-8", errors="replace"))


def find_executable(name: str, bin_dir: Path | None) -> Path:
    """``bin_dir/name`` if it is an executable file, else ``name`` on ``PATH``."""
    if bin_dir is not None:
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    places = f"{bin_dir}, PATH" if bin_dir is not None else "PATH"
    raise errors.ToolMissing(f"{name} not found (looked in {places})")


def shown(argv: Sequence[str]) -> list[str]:
    """*argv* as it may appear in a message: values of secret-bearing flags masked."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        flag, eq, _ = arg.partition("=")
        if mask_next:
            out.append(MASK)
            mask_next = False
        elif flag in SECRET_FLAGS and eq:
            out.append(f"{flag}={MASK}")
        else:
            out.append(arg)
            mask_next = arg in SECRET_FLAGS
    return out


class Failure(enum.Enum):
    """How a failed invocation should be treated by the retry loop."""

    PERMANENT = "permanent"  # validation, auth, not found: retrying cannot help
    UNDELIVERED = "undelivered"  # never reached the server: safe to repeat anything
    TRANSIENT = "transient"  # server busy/unavailable: repeat only what is idempotent


class Idempotence(enum.Enum):
    """Whether repeating a call that may have been delivered is harmless."""

    READ = "read"
    WRITE = "write"


Classifier = Callable[[str], Failure]


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts = 1 + *retries*; waits *backoff*, 2x*backoff*, 4x*backoff* ... between."""

    timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise ValueError("timeout must be > 0, retries and backoff >= 0")


class CommandLine:
    """One CLI (``talosctl``, ``helm``) run with a policy; shared by the CLI drivers."""

    def __init__(
        self,
        tool: str,
        target: Target,
        *,
        policy: RetryPolicy,
        classify: Classifier,
        runner: Runner | None = None,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tool = tool
        self.target = target
        self.policy = policy
        self._classify = classify
        self._runner: Runner = runner if runner is not None else run_subprocess
        self._env = env
        self._sleep = sleep

    def run(
        self,
        args: Sequence[str],
        *,
        kind: Idempotence = Idempotence.READ,
        timeout: float | None = None,
    ) -> Completed:
        """Run ``tool args``; return on exit 0, raise a :class:`errors.DriverError` otherwise.

        *timeout* replaces the policy's for this call (a command that itself
        waits, such as ``helm --wait --timeout``, needs longer than its own).
        """
        limit = self.policy.timeout if timeout is None else timeout
        executable = find_executable(self.tool, self.target.bin_dir)
        argv = [str(executable), *args]
        display = [self.tool, *shown(args)]
        attempts = self.policy.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                done = self._runner(argv, timeout=limit, env=self._env)
            except FileNotFoundError as exc:
                raise errors.ToolMissing(
                    f"{self.tool} not found ({executable} vanished)", command=display
                ) from exc
            except errors.TimedOut:
                raise  # a spent budget (provisioning.drivers.budget): no attempt can help
            except TimeoutError as exc:
                if last or kind is Idempotence.WRITE:
                    raise errors.TimedOut(
                        f"{self.tool} did not finish within {limit:g}s "
                        f"(attempt {attempt + 1} of {attempts}) on target {self.target.name}",
                        command=display,
                    ) from exc
                self._sleep(self.policy.backoff * 2**attempt)
                continue
            if done.returncode == 0:
                return done
            failure = self._classify(done.stderr)
            retryable = failure is Failure.UNDELIVERED or (
                failure is Failure.TRANSIENT and kind is Idempotence.READ
            )
            if not retryable or last:
                raise self._error(done, display, failure, attempt + 1)
            self._sleep(self.policy.backoff * 2**attempt)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _error(
        self, done: Completed, display: list[str], failure: Failure, attempts: int
    ) -> errors.DriverError:
        if failure is Failure.PERMANENT:
            return errors.DriverError(
                f"{self.tool} failed on target {self.target.name}",
                command=display,
                exit_code=done.returncode,
                stderr=done.stderr,
            )
        if failure is Failure.TRANSIENT and attempts < self.policy.retries + 1:
            # stopped early: a write the server may have received is not repeated
            why = "not repeated: the server may have received it"
        else:
            why = f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
        return errors.Unreachable(
            f"{self.tool} could not get an answer from target {self.target.name} ({why})",
            command=display,
            exit_code=done.returncode,
            stderr=done.stderr,
        )
