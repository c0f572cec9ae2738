"""A run that cannot observe is not a pass: reasons, its own exit status, and bounded time.

The run is the README's live line against a cluster that does not answer:
``talosctl`` is a script that sleeps forever and the kubeconfig names a
loopback socket that accepts and never replies.  With ``--timeout-talos`` and
``--timeout-kube`` the run ends, each control says why it was not verified,
the headline is ``NOT VERIFIED: N controls`` and pytest exits 6.  And a bug
in the collector is a broken run with its traceback, not an unobserved source.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures import observe
from provisioning.drivers import Target
from provisioning.drivers.talosctl import TalosDriver
from tests.checks.builders import reference_cluster

ROOT = Path(__file__).resolve().parents[2]
EXIT_NOT_VERIFIED = 6


@pytest.fixture
def silent_api() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers."""
    held: list[socket.socket] = []
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)

        def accept() -> None:
            while not stop.is_set():
                try:
                    held.append(server.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            stop.set()
            thread.join()
            for conn in held:
                conn.close()


def test_an_unanswering_cluster_is_not_verified_with_reasons_and_exit_6(
    silent_api: int, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    talosctl = bin_dir / "talosctl"
    talosctl.write_text("#!/bin/sh\nexec sleep 100000\n")
    talosctl.chmod(0o755)
    kubeconfig, talosconfig = home / ".kube" / "config", home / ".talos" / "config"
    kubeconfig.parent.mkdir()
    talosconfig.parent.mkdir()
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: 'https://127.0.0.1:{silent_api}',"
        " insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    talosconfig.write_text("context: c\ncontexts: {c: {endpoints: [10.10.20.16]}}\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--live",
            "--kubeconfig",
            str(kubeconfig),
            "--talosconfig",
            str(talosconfig),
            "--timeout-talos",
            "2",
            "--timeout-kube",
            "2",
            "-m",
            "TOP-01 or ENC-01",
            "--summary-dir",
            str(out),
            "-p",
            "no:cacheprovider",
            "--allow-hosts=127.0.0.1",
        ],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard only; the budgets end the run in seconds
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == EXIT_NOT_VERIFIED, output
    assert "Conformance: NOT VERIFIED: 2 controls" in done.stdout
    assert "PASSED" not in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"] == "NOT VERIFIED: 2 controls"
    reasons = summary["not_verified"]
    assert set(reasons) == {"TOP-01", "ENC-01"}
    assert any("--timeout-kube 2" in r for r in reasons["TOP-01"]), reasons
    assert any("--timeout-talos 2" in r for r in reasons["ENC-01"]), reasons
    assert (out / "summary.md").read_text().startswith("## Conformance: NOT VERIFIED: 2 controls")


def test_a_bug_in_the_collector_is_raised_not_reported_as_unobserved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("a bug in the suite")

    monkeypatch.setenv("PATH", str(tmp_path))  # no talosctl: its other reads fail as drivers do
    monkeypatch.setattr(TalosDriver, "get_each", broken)
    target = Target("nowhere", None, None, tmp_path)
    with pytest.raises(KeyError, match="a bug in the suite"):
        observe.collect(target, reference_cluster())
