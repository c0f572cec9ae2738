"""The shared CLI seam of the drivers: tool lookup, retries, timeouts, error messages.

A scripted :class:`Runner` stands in for the subprocess so every retry path is
exercised without waiting: ``sleep`` is recorded, never slept.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning import drivers
from provisioning.drivers import Completed, Failure, Idempotence, errors, process, talosctl

UNAVAILABLE = (
    'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
    'dialing: dial tcp 10.10.20.16:50000: connect: connection refused"\n'
)
BUSY = "rpc error: code = Unavailable desc = etcd is not ready yet\n"
INVALID = (
    "error applying new configuration: 1 error occurred:\n\t* 10.10.20.16: rpc error: "
    "code = InvalidArgument desc = 1 error occurred:\n"
    "\t* static hostname is already set in v1alpha1 config\n\n\n\n\n"
)


class Script:
    """A Runner answering from a list: a Completed, or an exception to raise."""

    def __init__(self, *answers: Completed | BaseException) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    def __call__(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
    ) -> Completed:
        self.calls.append(list(argv))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def fail(stderr: str, code: int = 1) -> Completed:
    return Completed(code, b"", stderr)


OK = Completed(0, b"done\n", "")


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "talosctl"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def line(
    bin_dir: Path | None, script: Script, retries: int = 3
) -> tuple[drivers.CommandLine, list[float]]:
    sleeps: list[float] = []
    target = drivers.Target("sim", None, None, bin_dir)
    cli = drivers.CommandLine(
        "talosctl",
        target,
        policy=drivers.RetryPolicy(timeout=5, retries=retries, backoff=0.5),
        classify=talosctl.classify,
        runner=script,
        sleep=sleeps.append,
    )
    return cli, sleeps


def test_bin_dir_wins_over_path(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "talosctl").write_text("#!/bin/sh\n")
    (elsewhere / "talosctl").chmod(0o755)
    monkeypatch.setenv("PATH", str(elsewhere))
    assert drivers.find_executable("talosctl", bin_dir) == bin_dir / "talosctl"
    assert drivers.find_executable("talosctl", tmp_path / "nothing") == elsewhere / "talosctl"


def test_missing_tool_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    script = Script()
    cli, _ = line(tmp_path / "bin", script)
    with pytest.raises(errors.ToolMissing) as raised:
        cli.run(["version"])
    assert str(raised.value) == f"talosctl not found (looked in {tmp_path / 'bin'}, PATH)"
    assert script.calls == []


def test_transient_failure_is_retried_with_backoff_then_succeeds(bin_dir: Path) -> None:
    script = Script(fail(UNAVAILABLE), fail(BUSY), OK)
    cli, sleeps = line(bin_dir, script)
    assert cli.run(["get", "members"]).text == "done\n"
    assert sleeps == [0.5, 1.0]
    assert script.calls == [[str(bin_dir / "talosctl"), "get", "members"]] * 3


def test_invalid_argument_is_not_retried(bin_dir: Path) -> None:
    script = Script(fail(INVALID), OK)
    cli, sleeps = line(bin_dir, script)
    with pytest.raises(errors.DriverError) as raised:
        cli.run(["apply-config", "--file", "node01.yaml"], kind=Idempotence.WRITE)
    assert type(raised.value) is errors.DriverError
    assert (len(script.calls), sleeps) == (1, [])
    message = str(raised.value)
    assert message.startswith("talosctl failed on target sim\n")
    assert "command: talosctl apply-config --file node01.yaml\n" in message
    assert "exit code: 1\n" in message
    assert message.endswith("static hostname is already set in v1alpha1 config")
    assert raised.value.exit_code == 1


def test_unavailable_to_the_end_is_unreachable(bin_dir: Path) -> None:
    script = Script(*[fail(UNAVAILABLE)] * 4)
    cli, sleeps = line(bin_dir, script)
    with pytest.raises(errors.Unreachable, match="gave up after 4 attempts"):
        cli.run(["version"])
    assert sleeps == [0.5, 1.0, 2.0]


def test_certificate_failure_is_final(bin_dir: Path) -> None:
    expired = (
        "error getting members: rpc error: code = Unavailable desc = connection error: desc = "
        '"error reading server preface: remote error: tls: expired certificate"\n'
    )
    script = Script(fail(expired), OK)
    cli, _ = line(bin_dir, script)
    with pytest.raises(errors.DriverError, match="expired certificate") as raised:
        cli.run(["etcd", "members"])
    assert not isinstance(raised.value, errors.Unreachable)
    assert len(script.calls) == 1


def test_writes_are_repeated_only_when_never_delivered(bin_dir: Path) -> None:
    refused = Script(fail(UNAVAILABLE), OK)
    cli, _ = line(bin_dir, refused)
    cli.run(["bootstrap"], kind=Idempotence.WRITE)
    assert len(refused.calls) == 2

    busy = Script(fail(BUSY), OK)
    cli, _ = line(bin_dir, busy)
    with pytest.raises(errors.Unreachable, match="not repeated: the server may have received"):
        cli.run(["bootstrap"], kind=Idempotence.WRITE)
    assert len(busy.calls) == 1


def test_timeout_is_a_clear_error(bin_dir: Path) -> None:
    script = Script(*[TimeoutError("timed out after 5s")] * 4)
    cli, sleeps = line(bin_dir, script)
    with pytest.raises(errors.TimedOut) as raised:
        cli.run(["get", "volumestatus"])
    assert str(raised.value).startswith(
        "talosctl did not finish within 5s (attempt 4 of 4) on target sim"
    )
    assert sleeps == [0.5, 1.0, 2.0]

    write = Script(TimeoutError("timed out after 5s"), OK)
    cli, _ = line(bin_dir, write)
    with pytest.raises(errors.TimedOut, match=r"attempt 1 of 4"):
        cli.run(["upgrade"], kind=Idempotence.WRITE)
    assert len(write.calls) == 1


def test_real_subprocess_timeout_stops_the_child(tmp_path: Path) -> None:
    slow = tmp_path / "talosctl"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    target = drivers.Target("sim", None, None, tmp_path)
    cli = drivers.CommandLine(
        "talosctl",
        target,
        policy=drivers.RetryPolicy(timeout=0.3, retries=0, backoff=0),
        classify=talosctl.classify,
    )
    with pytest.raises(errors.TimedOut, match=r"did not finish within 0\.3s"):
        cli.run(["version"])


@settings(max_examples=50, deadline=None)
@given(retries=st.integers(0, 6), backoff=st.floats(0, 3, allow_nan=False))
def test_backoff_doubles_between_attempts(retries: int, backoff: float) -> None:
    sleeps: list[float] = []
    script = Script(*[fail(UNAVAILABLE)] * (retries + 1))
    cli = drivers.CommandLine(
        "sh",
        drivers.Target("t", None, None, None),
        policy=drivers.RetryPolicy(timeout=1, retries=retries, backoff=backoff),
        classify=talosctl.classify,
        runner=script,
        sleep=sleeps.append,
    )
    with pytest.raises(errors.Unreachable):
        cli.run([])
    assert sleeps == [backoff * 2**i for i in range(retries)]
    assert len(script.calls) == retries + 1


@settings(max_examples=50, deadline=None)
@given(secret=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=8))
def test_secret_flag_values_never_reach_the_message(secret: str) -> None:
    argv = ["upgrade", "--set", f"auth.password={secret}", f"--set-string=token={secret}"]
    assert drivers.shown(argv) == ["upgrade", "--set", "<redacted>", "--set-string=<redacted>"]
    script = Script(fail("Error: INSTALLATION FAILED: bad chart"))
    cli = drivers.CommandLine(
        "sh",
        drivers.Target("t", None, None, None),
        policy=drivers.RetryPolicy(timeout=1, retries=0),
        classify=talosctl.classify,
        runner=script,
    )
    with pytest.raises(errors.DriverError) as raised:
        cli.run(argv)
    assert secret not in str(raised.value)
    assert secret in " ".join(script.calls[0])  # the tool itself still gets it


@pytest.mark.parametrize(
    ("stderr", "failure"),
    [
        (UNAVAILABLE, Failure.UNDELIVERED),
        (BUSY, Failure.TRANSIENT),
        ("rpc error: code = Unknown desc = connection reset by peer", Failure.TRANSIENT),
        (INVALID, Failure.PERMANENT),
        ('resource "nosuchthing" is not registered\n', Failure.PERMANENT),
        ("x509: certificate signed by unknown authority code = Unavailable", Failure.PERMANENT),
    ],
)
def test_talosctl_failures_are_classified(stderr: str, failure: Failure) -> None:
    assert talosctl.classify(stderr) is failure


def test_stderr_tail_keeps_the_end() -> None:
    long = "\n".join(f"line {i}" for i in range(100))
    kept = errors.tail(long)
    assert kept.splitlines()[-1] == "line 99"
    assert len(kept.splitlines()) == errors.STDERR_TAIL_LINES


def test_commands_run_outside_the_runs_process_group() -> None:
    """A Ctrl-C to the run's group must not kill a talosctl call half-way through an action."""
    child = process.run_subprocess(
        [sys.executable, "-c", "import os; print(os.getpgrp())"], timeout=30, env=None
    )
    assert child.returncode == 0
    assert int(child.text) != os.getpgrp()
