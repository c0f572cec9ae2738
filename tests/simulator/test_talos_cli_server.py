"""The ``talosctl`` command server and its launcher: the call is handed over, not re-run.

Behaviour (outputs, exit codes, errors) is the same on both launcher paths:
``test_talos_cli.py`` runs every command through both.  These tests pin the
hand-over itself -- what the launcher sends, that the server's fork writes to
the caller's own descriptors in the caller's directory, and the fall-back to a
process of its own when no server takes the call -- without timing anything.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from simulator.talos import cli, cli_server
from tests.simulator.talos_site import ROOT

pytestmark = pytest.mark.skipif(not cli_server.supported(), reason="needs Linux")


class FakeServer:
    """Takes one call on a fresh address, records it and answers *status*."""

    def __init__(self, status: int, *, accept: bool = True) -> None:
        self.address = cli_server.new_address()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.address)
        self.listener.listen(1)
        self.request: dict[str, Any] = {}
        self.fd_count = 0
        self.status, self.accept = status, accept
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            data, fds, *_ = socket.recv_fds(conn, 1 << 16, 3)
            self.fd_count = len(fds)
            for fd in fds:
                os.close(fd)
            (length,) = struct.unpack_from("!I", data)
            body = data[4:]
            while len(body) < length:
                body += conn.recv(length - len(body))
            self.request = json.loads(body)
            if self.accept:
                conn.sendall(cli_server.ACCEPTED + struct.pack("!i", self.status))

    def close(self) -> None:
        self.thread.join(timeout=30)
        self.listener.close()


def _run(talosctl: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the launcher as a caller with umask 027 would."""
    return subprocess.run(
        [str(talosctl), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**os.environ, "TALOS_TEST_MARK": "seen"},
        umask=0o027,
    )


def test_the_launcher_hands_over_argv_env_cwd_and_three_descriptors(tmp_path: Path) -> None:
    fake = FakeServer(status=7)
    cli.install_executables(tmp_path / "bin", "http://127.0.0.1:9", fake.address)
    done = _run(tmp_path / "bin" / "talosctl", "get", "members", "-n", "10.0.0.1", cwd=tmp_path)
    fake.close()
    # Status 7 comes from the server alone: the command itself would have failed with 1.
    assert (done.returncode, done.stdout, done.stderr) == (7, "", "")
    assert fake.request["argv"] == ["get", "members", "-n", "10.0.0.1"]
    assert fake.request["cwd"] == str(tmp_path)
    assert fake.request["env"]["TALOS_TEST_MARK"] == "seen"
    assert fake.request["env"]["TALOS_SIM_API"] == "http://127.0.0.1:9"
    assert fake.fd_count == 3
    assert fake.request["umask"] == 0o027


def test_a_call_the_server_does_not_take_runs_in_the_launchers_own_process(
    tmp_path: Path,
) -> None:
    fake = FakeServer(status=7, accept=False)
    cli.install_executables(tmp_path / "bin", "http://127.0.0.1:9", fake.address)
    done = _run(tmp_path / "bin" / "talosctl", "version", "--client", "--short", cwd=tmp_path)
    fake.close()
    assert (done.returncode, done.stdout, done.stderr) == (0, "Client:\nTalos v1.12.5\n", "")


def test_without_a_listening_server_the_launcher_runs_the_command_itself(
    tmp_path: Path,
) -> None:
    server = cli_server.CommandServer(ROOT, tmp_path / "server.log")
    address = server.start()
    server.stop()
    cli.install_executables(tmp_path / "bin", "http://127.0.0.1:9", address)
    done = _run(tmp_path / "bin" / "talosctl", "version", "--client", "--short", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "Client:\nTalos v1.12.5\n", "")


def _call(address: str, argv: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    """One call over the wire, as the launcher makes it, with pipes as stdout and stderr."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    body = json.dumps(
        {"argv": argv, "env": {"TALOS_SIM_API": "http://127.0.0.1:9"}, "cwd": str(cwd)}
    ).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(address)
        socket.send_fds(conn, [struct.pack("!I", len(body)) + body], [null, out_w, err_w])
        for fd in (null, out_w, err_w):
            os.close(fd)
        answer = b""
        while chunk := conn.recv(16):
            answer += chunk
    with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
        stdout, stderr = out.read(), err.read()
    assert answer[:1] == cli_server.ACCEPTED
    (status,) = struct.unpack("!i", answer[1:])
    return status, stdout, stderr


def _direct(argv: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        [sys.executable, "-m", "simulator.talos.cli", *argv],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TALOS_SIM_API": "http://127.0.0.1:9"},
    )
    return done.returncode, done.stdout, done.stderr


# pytest-socket's --allow-hosts refuses AF_UNIX connects too; this test makes one (the wire
# call below) and no network connection at all.
@pytest.mark.enable_socket
@pytest.mark.parametrize(
    "argv",
    [
        ["version", "--client", "--short"],
        # Relative paths are the caller's: the talosconfig is looked for in its directory.
        ["--talosconfig", "missing.yaml", "version"],
        ["get"],
    ],
    ids=["success", "relative-path-error", "usage-error"],
)
def test_the_server_runs_the_command_on_the_callers_descriptors_and_directory(
    tmp_path: Path, command_server: str, argv: list[str]
) -> None:
    served = _call(command_server, argv, tmp_path)
    assert served == _direct(argv, tmp_path)
    assert served[0] == (0 if argv[0] == "version" and "--client" in argv else 1)


def test_a_server_with_another_entry_runs_it_in_a_fork_with_the_callers_files(
    tmp_path: Path,
) -> None:
    """The warm pytest server of tests/suite/harness.py: entry ``pytest.main``, Python client."""
    server = cli_server.CommandServer(
        ROOT, tmp_path / "server.log", entry=("pytest", "pytest", "main"), warm=["pytest"]
    )
    address = server.start()
    assert address
    try:
        results = []
        for argv in (["--version"], ["--no-such-option"]):
            out, err = tmp_path / "out", tmp_path / "err"
            with open(os.devnull, "rb") as null, out.open("wb") as o, err.open("wb") as e:
                status = cli_server.call(
                    address,
                    argv,
                    env={"PATH": os.environ.get("PATH", "")},
                    cwd=tmp_path,
                    fds=(null.fileno(), o.fileno(), e.fileno()),
                    timeout=60,
                )
            results.append((status, out.read_text() + err.read_text()))
    finally:
        server.stop()
    (ok, version), (usage, complaint) = results
    assert ok == 0
    assert version.startswith(f"pytest {pytest.__version__}"), version
    assert usage == 4
    assert "unrecognized arguments: --no-such-option" in complaint, complaint
    # A stopped server takes no call: the caller runs the command itself.
    with open(os.devnull, "rb") as null:
        fds = (null.fileno(), null.fileno(), null.fileno())
        assert (
            cli_server.call(address, ["--version"], env={}, cwd=tmp_path, fds=fds, timeout=5)
            is None
        )


# -- only the simulator's own user gets a command run ----------------------------------------


def _listener() -> tuple[socket.socket, str]:
    address = cli_server.new_address()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    return listener, address


def test_a_caller_of_this_user_is_taken() -> None:
    listener, address = _listener()
    with listener, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(address)
        conn = cli_server.accept_own(listener)
        assert conn is not None
        with conn:
            assert cli_server.peer_uid(conn) == os.getuid()  # the kernel's answer, unpatched


def test_a_caller_of_another_user_is_refused_before_anything_is_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    other = os.getuid() + 1
    monkeypatch.setattr(cli_server, "peer_uid", lambda conn: other)
    listener, address = _listener()
    with listener, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(address)
        client.sendall(b"\0\0\0\2{}")
        assert cli_server.accept_own(listener) is None
        client.settimeout(5)
        try:
            answer = client.recv(1)
        except ConnectionResetError:  # closed with our bytes unread
            answer = b""
        assert answer == b""  # no ACCEPTED: the launcher runs the command itself, as its user
    assert f"refused a call from uid {other}" in capsys.readouterr().err


# Runs as another user with only the standard library: what any local account could send.
_FOREIGN_CALLER = """\
import json, os, socket, struct, sys
body = json.dumps({"argv": ["version", "--client"], "env": {}, "cwd": "/", "umask": 18}).encode()
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect("\\0" + sys.argv[1])
try:
    # The server may close before the request is even sent: then the send fails.
    socket.send_fds(conn, [struct.pack("!I", len(body)) + body], [0, 1, 2])
    conn.settimeout(10)
    sys.stdout.write(repr(conn.recv(1)))
except (ConnectionResetError, BrokenPipeError):
    sys.stdout.write("reset")
"""


_NOBODY = 65534


def _as_nobody(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        user=_NOBODY,
        group=_NOBODY,
        extra_groups=[],
        cwd="/",
    )


def _python_for_nobody() -> str:
    """An interpreter another user may run (a venv under /root is not one)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            if _as_nobody([candidate, "-I", "-S", "-c", "pass"]).returncode == 0:
                return candidate
        except OSError:
            continue
    pytest.skip("no Python interpreter the nobody user may run")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to call as another user")
def test_the_server_runs_nothing_for_another_local_user(tmp_path: Path) -> None:
    python = _python_for_nobody()
    server = cli_server.CommandServer(ROOT, tmp_path / "server.log")
    address = server.start()
    try:
        done = _as_nobody([python, "-I", "-S", "-c", _FOREIGN_CALLER, address.lstrip("\0")])
        assert done.returncode == 0, done.stderr
        assert done.stdout in {"b''", "reset"}  # closed unanswered: nothing ran
        status, stdout, _ = _call(address, ["version", "--client", "--short"], tmp_path)
        assert (status, stdout) == (0, b"Client:\nTalos v1.12.5\n")  # its own user still is
    finally:
        server.stop()
    assert f"refused a call from uid {_NOBODY}" in (tmp_path / "server.log").read_text()
