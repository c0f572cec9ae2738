"""The loopback-only rule guards the project's tests, not an operator's verification run.

``tests/conftest.py`` marks every test under ``tests/`` with pytest-socket's
``allow_hosts`` (loopback); the project's ``pyproject.toml`` no longer puts
``--allow-hosts`` in ``addopts``, so a run of the features -- ``pytest --live``
against a cluster whose API server is not 127.0.0.1 -- may connect where its
kubeconfig points.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pytest_socket

ROOT = Path(__file__).resolve().parents[2]
# TEST-NET-1 (RFC 5737): never routed; and the guard is checked before any dial.
NOT_LOOPBACK = ("192.0.2.1", 9)


def test_the_projects_tests_refuse_a_connection_off_loopback() -> None:
    # Without the guard the connect below would dial out: fail before that.
    assert socket.socket.connect is not pytest_socket._true_connect, "no pytest-socket guard"
    with (
        pytest.warns(UserWarning, match="socket"),
        pytest.raises(pytest_socket.SocketConnectBlockedError, match=r"192\.0\.2\.1"),
        socket.socket() as sock,
    ):
        sock.connect(NOT_LOOPBACK)


def test_a_run_outside_tests_may_connect_beyond_127_0_0_1(tmp_path: Path) -> None:
    """A run with the project's configuration reaches 127.0.0.2, an address not on the list."""
    with socket.create_server(("127.0.0.2", 0)) as server:
        port = server.getsockname()[1]
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "test_reach.py").write_text(
            textwrap.dedent(
                f"""
                import socket

                def test_reach():
                    with socket.create_connection(("127.0.0.2", {port}), timeout=10):
                        pass
                """
            )
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-c",
                str(ROOT / "pyproject.toml"),
                "--rootdir",
                str(ROOT),
                str(elsewhere / "test_reach.py"),
                "-p",
                "no:cacheprovider",
                "-q",
            ],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
