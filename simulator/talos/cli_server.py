"""The ``talosctl`` command server: one warm process that runs each call in a fork of itself.

Why: a ``talosctl`` call of the look-alike used to be a fresh Python process
that imported argument parsing, the command code and its helpers before it
sent its first request -- about a third of a CPU-second per call, against a
few milliseconds for the real (Go) binary.  An observation makes seventeen
such calls, a remediating run dozens.  Now the installed ``bin/talosctl`` is
a launcher of a few lines of standard-library Python started with ``-I -S``
(no ``site``, no environment-driven imports) that hands its command line,
environment, working directory and its three standard file descriptors to
this server over a Unix socket.  The server has the command code imported
already; it forks, and the child becomes the command: it takes the caller's
descriptors as its own 0/1/2, its working directory, umask and environment, runs
:func:`simulator.talos.cli.main` and sends back the exit status, which the
launcher exits with.

Why a fork of a separate process, not a thread of the simulator: a command
writes to its own stdout and stderr (``etcd snapshot`` writes binary data,
``read`` streams a file), resolves paths against its working directory and
reads ``$HOME``/``$TALOSCONFIG``; a fork gives each call exactly the process
state a fresh ``talosctl`` has, so the command code stays as it is and the
outputs, exit codes and errors are the same byte for byte.  Forking is only
safe in a process without threads, so the server is its own single-threaded
process (``python -m simulator.talos.cli_server``), started and stopped by
the simulator, and ends when the simulator does (its stdin is a pipe from
the simulator: end of file means the simulator is gone, however it ended).

The launcher falls back to running the whole command itself
(``python -m simulator.talos.cli``, the old path) whenever the server cannot
take the call before anything ran: no server address (not Linux), the server
not listening (the simulator stopped: the command then reports the
unreachable machine API as before), or one of fds 0-2 closed.  The server's
socket is in Linux's abstract namespace (no file in the state directory to go
stale, be copied with it or exceed the 108-byte path limit).  Any local user
can connect to an abstract socket, so the server asks the kernel who is
calling (``SO_PEERCRED``) and takes calls only from its own user: anyone else
would otherwise get a command run -- with the simulator's talosconfig and
files -- as the simulator's user.  A refused caller's launcher falls back to
running the command in its own process, as itself.

Deviations from a fresh process, none visible to the suite: the child's
standard streams use the server's encoding unless the caller sets
``PYTHONIOENCODING``; a launcher killed mid-call leaves its command to finish
on its own (it writes to the caller's descriptors, as a detached process
would).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import selectors
import shlex
import signal
import socket
import struct
import sys
import traceback
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, cast

_HEADER = struct.Struct("!I")  # length of the JSON request that follows
_STATUS = struct.Struct("!i")  # the command's exit status
ACCEPTED = b"A"  # the child took the call: from here on it is the command
_MAX_REQUEST = 16 * 1024 * 1024
# Commands the server has ready before the first call (the lazy imports of the command code).
WARM_MODULES = (
    "simulator.talos.cli",
    "simulator.talos.cli_commands",
    "simulator.talos.cli_session",
    "simulator.talos.output",
    "simulator.talos.resources",
    "simulator.talos.configview",
    "simulator.talos.talosconfig",
    "simulator.store.errors",
    "simulator.store.snapshots",
    "provisioning.config.patches",
    "provisioning.config.machineconfig",
    "provisioning.definition.problems",
    "provisioning.config.secrets",
    "yaml",
)


def supported() -> bool:
    """Whether this platform has abstract Unix sockets and ``fork`` (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def new_address() -> str:
    """A fresh abstract-namespace socket name (leading NUL), unique to one simulator run."""
    return f"\0talos-conformance-talosctl-{os.getpid()}-{uuid.uuid4().hex}"


# -- the launcher ----------------------------------------------------------------------------

# Runs as ``python -I -S -c LAUNCHER ARGS``: only builtins, os, sys, socket, struct and json.
# %(names)s are filled in by launcher_script(); everything else is literal.
_LAUNCHER = """\
import os, sys
ADDRESS, PYTHON, ROOT, API, CACHE = %(constants)s
def direct():
    env = dict(os.environ)
    env["TALOS_SIM_API"] = API
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = ROOT + (":" + path if path else "")
    env["PYTHONPYCACHEPREFIX"] = CACHE
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    os.execve(PYTHON, [PYTHON, "-m", "simulator.talos.cli", *sys.argv[1:]], env)
def served():
    import json, socket, struct
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
        cwd = os.getcwd()
    except OSError:
        return None
    env = dict(os.environ)
    env["TALOS_SIM_API"] = API
    mask = os.umask(0o077)
    os.umask(mask)
    body = json.dumps({"argv": sys.argv[1:], "env": env, "cwd": cwd, "umask": mask}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(ADDRESS)
        socket.send_fds(conn, [struct.pack("!I", len(body)) + body], [0, 1, 2])
        if conn.recv(1) != b"A":
            return None
    except OSError:
        return None
    data = b""
    try:
        while len(data) < 4:
            chunk = conn.recv(4 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    if len(data) < 4:
        os.write(2, b"talosctl: the simulator's command server stopped during the call\\n")
        return 1
    return struct.unpack("!i", data)[0]
status = served() if ADDRESS else None
if status is None:
    direct()
sys.exit(status)
"""


def launcher_script(address: str, api_url: str, root: Path, cache: Path) -> str:
    """The ``sh`` text of ``bin/talosctl``: exec the stdlib launcher with ``python -I -S``."""
    constants = repr((address, sys.executable, str(root), api_url, str(cache)))
    code = _LAUNCHER % {"constants": constants}
    return (
        "#!/bin/sh\n"
        "# talosctl look-alike for the talos-conformance simulator (generated; not in git):\n"
        "# hands the call to the simulator's command server, see simulator/talos/cli_server.py\n"
        f'exec {shlex.quote(sys.executable)} -I -S -c {shlex.quote(code)} "$@"\n'
    )


def call(
    address: str,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    fds: tuple[int, int, int],
    timeout: float,
) -> int | None:
    """The launcher's protocol from Python: run *argv* in a fork of the server at *address*.

    *fds* become the command's 0/1/2.  ``None`` when the server did not take
    the call (nothing ran: run the command yourself); :class:`TimeoutError`
    when it ran longer than *timeout* seconds (it is left to finish).
    """
    body = json.dumps(
        {"argv": list(argv), "env": env, "cwd": str(cwd), "umask": _current_umask()}
    ).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(address)
            socket.send_fds(conn, [_HEADER.pack(len(body)) + body], list(fds))
            if conn.recv(1) != ACCEPTED:
                return None
        except OSError:
            return None
        conn.settimeout(timeout)
        data = b""
        try:
            while len(data) < _STATUS.size:
                chunk = conn.recv(_STATUS.size - len(data))
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise TimeoutError(f"{' '.join(argv)}: no exit status within {timeout:g}s") from None
        if len(data) < _STATUS.size:
            return 1  # the child died before it sent a status (as a killed process)
        (status,) = _STATUS.unpack(data)
        return int(status)


def _current_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


# -- the server --------------------------------------------------------------------------------


def _recv_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    first, fds, *_ = socket.recv_fds(conn, 65536, 3)
    if len(first) < _HEADER.size or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("malformed request")
    (length,) = _HEADER.unpack_from(first)
    if length > _MAX_REQUEST:
        raise ValueError("request too large")
    body = bytearray(first[_HEADER.size :])
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    request = json.loads(bytes(body))
    if not isinstance(request, dict):
        raise ValueError("malformed request")
    return request, fds


def _streams(env: dict[str, str], fallback: str) -> None:
    """Fresh ``sys`` streams on fds 0-2, buffered as a new process's would be."""
    encoding, _, errors = (env.get("PYTHONIOENCODING") or "").partition(":")
    encoding = encoding or fallback

    def stream(fd: int, mode: str, errs: str, line: bool) -> TextIO:
        wrapper = open(  # noqa: SIM115 - the streams live as long as the command's process
            fd,
            mode,
            buffering=1 if line else -1,
            encoding=encoding,
            errors=errors or errs,
            closefd=False,
        )
        return cast("TextIO", wrapper)

    sys.stdin = stream(0, "r", "strict", False)
    sys.stdout = stream(1, "w", "strict", os.isatty(1))
    sys.stderr = stream(2, "w", "backslashreplace", True)


Entry = tuple[str, str, str]
"""``(program, module, function)``: a child runs ``sys.exit(module.function(argv))``."""
TALOSCTL: Entry = ("talosctl", "simulator.talos.cli", "main")


def _run_command(conn: socket.socket, encoding: str, entry: Entry = TALOSCTL) -> int:
    """In the forked child: become the caller's command (``talosctl``) and run it."""
    try:
        request, fds = _recv_request(conn)
        argv = [str(a) for a in request["argv"]]
        env = {str(k): str(v) for k, v in request["env"].items()}
        cwd = str(request["cwd"])
        mask = int(request.get("umask", 0o022))
        os.chdir(cwd)  # before the descriptors: a failure here is logged, not the caller's
        os.umask(mask)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # Nothing ran: the launcher runs the command itself.  The server's log says why.
        sys.stderr.write(f"cli_server: call not taken: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        return -1
    os.environ.clear()
    os.environ.update(env)
    _streams(env, encoding)
    conn.sendall(ACCEPTED)
    program, module, function = entry
    sys.argv = [program, *argv]
    import importlib

    try:
        status = _exit_status(getattr(importlib.import_module(module), function)(argv))
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException:  # noqa: BLE001 - what an uncaught exception does to a process
        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            status = 120  # Python's status when flushing stdout at exit fails
    return status


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    sys.stderr.write(f"{code}\n")
    return 1


def _child(listener: socket.socket, conn: socket.socket, encoding: str, entry: Entry) -> None:
    listener.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    status = 1
    try:
        status = _run_command(conn, encoding, entry)
        if status >= 0:
            conn.sendall(_STATUS.pack(status))
    except BaseException:  # noqa: BLE001 - the child must reach _exit whatever happened
        with contextlib.suppress(BaseException):
            traceback.print_exc(file=sys.__stderr__)
    finally:
        os._exit(0)


_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_uid(conn: socket.socket) -> int:
    """The user id of the process at the other end of *conn*, as the kernel saw it connect."""
    data = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    return int(_PEERCRED.unpack(data)[1])


def accept_own(listener: socket.socket) -> socket.socket | None:
    """The next connection if its caller runs as this process's user; others are closed.

    Nothing is read from a refused connection: it never reaches the fork.
    """
    try:
        conn, _ = listener.accept()
    except OSError:
        return None
    try:
        uid = peer_uid(conn)
    except OSError:
        uid = -1
    if uid != os.getuid():
        conn.close()
        sys.stderr.write(f"cli_server: refused a call from uid {uid} (serving uid {os.getuid()})\n")
        sys.stderr.flush()
        return None
    return conn


def serve(address: str, warm: Sequence[str] = WARM_MODULES, entry: Entry = TALOSCTL) -> None:
    """Accept calls on *address* until stdin reaches end of file; fork one child per call."""
    import importlib

    for name in warm:
        importlib.import_module(name)
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(128)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    watch = selectors.DefaultSelector()
    watch.register(listener, selectors.EVENT_READ, "accept")
    watch.register(sys.stdin.fileno(), selectors.EVENT_READ, "parent")
    while True:
        _reap()
        for key, _ in watch.select(timeout=1.0):
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):
                    listener.close()
                    return
                continue
            conn = accept_own(listener)
            if conn is None:
                continue
            pid = os.fork()
            if pid == 0:
                watch.close()
                _child(listener, conn, encoding, entry)
            conn.close()


def _reap() -> None:
    """Collect finished calls (waited for, so their CPU time counts as the server's children)."""
    while True:
        try:
            pid = os.waitpid(-1, os.WNOHANG)[0]
        except ChildProcessError:
            return
        if pid == 0:
            return


class CommandServer:
    """The simulator's handle on its command server process."""

    def __init__(
        self,
        root: Path,
        log: Path,
        entry: Entry = TALOSCTL,
        warm: Sequence[str] | None = None,
    ) -> None:
        self.root, self.log = root, log
        self.entry, self.warm = entry, warm
        self.address = ""
        self._process: Any = None
        self._log: io.BufferedWriter | None = None

    def start(self) -> str:
        """Start the server; its address, or ``""`` when it cannot run here (launchers fall back).

        Waits for its ``ready`` line, so the first call never finds nobody listening.
        """
        import subprocess

        if not supported():
            return ""
        address = new_address()
        env = dict(os.environ)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(self.root) + (":" + path if path else "")
        self._log = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator.talos.cli_server",
                address.lstrip("\0"),
                *self._options(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=str(self.root),
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline() != b"ready\n":
            self.stop()
            return ""
        self.address = address
        return address

    def _options(self) -> list[str]:
        if self.entry == TALOSCTL and self.warm is None:
            return []
        warm = WARM_MODULES if self.warm is None else self.warm
        return [":".join(self.entry), ",".join(warm)]

    def stop(self) -> None:
        """Close its stdin (it exits at end of file) and wait for it. Idempotent."""
        import subprocess

        process, self._process = self._process, None
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.address = ""


if __name__ == "__main__":
    # ADDRESS [PROGRAM:MODULE:FUNCTION WARM,MODULES]: the talosctl server unless told otherwise.
    if len(sys.argv) > 3:
        name, mod, func = sys.argv[2].split(":")
        serve("\0" + sys.argv[1], [m for m in sys.argv[3].split(",") if m], (name, mod, func))
    else:
        serve("\0" + sys.argv[1])
