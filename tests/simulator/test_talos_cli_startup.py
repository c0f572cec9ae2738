"""What a ``talosctl`` call of the look-alike loads and opens: little, and once.

Why: the suite starts one look-alike process per ``talosctl`` invocation, and
its start-up used to cost more than the call (issue #8).  These tests pin the
behaviour behind the speed -- parsing does not import the Talos model, the
launcher keeps a bytecode cache, one command's calls share one connection --
without timing anything (``benchmarks/`` measures).
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.state.machines import SiteStore
from simulator.store.kv import MemoryKV
from simulator.talos import cli, lifecycle
from simulator.talos.api import MachineApi
from simulator.talos.cli_session import Transport, close_transports
from simulator.talos.errors import TalosError
from tests.simulator import talos_site

ROOT = Path(__file__).resolve().parents[2]
# Modules only some subcommands need: none of them is loaded to parse a command line.
NOT_AT_START = (
    "simulator.talos.lifecycle",
    "simulator.talos.resources",
    "simulator.talos.configview",
    "simulator.store.etcd",
    "simulator.store.snapshots",
    "provisioning.config.patches",
    "provisioning.config.machineconfig",
)


def test_apply_modes_match_the_lifecycle() -> None:
    assert cli.MODES == lifecycle.MODES


def test_parsing_a_command_line_loads_no_talos_model() -> None:
    probe = (
        "import sys; from simulator.talos import cli; "
        "cli.build_parser().parse_args(['get', 'machinestatus']); "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert "simulator.talos.cli_commands" in loaded
    assert [m for m in NOT_AT_START if m in loaded] == []


def test_the_launcher_keeps_bytecode_beside_itself(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    cli.install_executables(bin_dir, "http://127.0.0.1:9")  # never dialled: --client
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [str(bin_dir / "talosctl"), "version", "--client"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("Client:\n")
    cached = list((bin_dir / ".pycache").rglob("cli_commands*.pyc"))
    assert cached, "no bytecode written under bin/.pycache"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[http.client.HTTPConnection]:
    """Every connection the look-alike opens, in order."""
    found: list[http.client.HTTPConnection] = []
    connect = http.client.HTTPConnection.connect

    def counting(self: http.client.HTTPConnection) -> None:
        found.append(self)
        connect(self)

    monkeypatch.setattr(http.client.HTTPConnection, "connect", counting)
    return found


def two_node_site() -> MemoryKV:
    kv = MemoryKV()
    SiteStore(kv).save(talos_site.running_cluster(2).site)
    return kv


def test_one_command_uses_one_connection(opened: list[http.client.HTTPConnection]) -> None:
    kv = two_node_site()
    with MachineApi(kv, tls=talos_site.serving_tls()) as api:
        transport = Transport(api.url, talos_site.client_tls())
        tags = [transport.call(talos_site.ip(i), "version", {}) for i in (1, 2, 1)]
        got = transport.call(talos_site.ip(2), "get", {"type": "machinestatus"})
        close_transports()
    assert tags == [{"tag": "v1.12.5"}] * 3
    assert got["resources"][0]["spec"]["stage"] == "running"
    assert len(opened) == 1
    assert opened[0].sock is None  # closed at the end of the command


def test_a_write_gets_a_fresh_connection_and_is_never_resent(
    opened: list[http.client.HTTPConnection],
) -> None:
    # A kept connection the server dropped fails at getresponse: a read is sent again on a
    # fresh one, but a write might already have been applied, so it never rides a kept one.
    kv = two_node_site()
    with MachineApi(kv, tls=talos_site.serving_tls()) as api:
        transport = Transport(api.url, talos_site.client_tls())
        transport.call(talos_site.ip(1), "version", {})
        transport.call(talos_site.ip(1), "version", {})
        assert len(opened) == 1
        with pytest.raises(TalosError):  # no config to apply: the node answers an error
            transport.call(talos_site.ip(1), "apply_config", {"config": "", "mode": "auto"})
        close_transports()
    assert len(opened) == 2
