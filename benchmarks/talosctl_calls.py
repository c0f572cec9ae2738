"""What one ``talosctl`` call of the simulator costs: a process per call vs the command server.

Why: an observation makes seventeen ``talosctl`` calls and a remediating run
dozens; the look-alike's start-up used to cost more than the call itself
(issue #19).  This script installs both launchers of
:func:`simulator.talos.cli.install_executables` next to one machine API over a
small running site -- ``direct`` (a Python process per call) and ``served``
(the stdlib launcher handing the call to :mod:`simulator.talos.cli_server`) --
runs the same read (``talosctl get machinestatus -n A,B,C``) N times with each
and prints wall time and CPU time per call.  CPU is counted for every process
involved: the launchers, and the command server's forks (the server waits for
them, so they count as its children when it is waited for in turn) and the
server's own start-up, spread over the calls.

Usage: ``.venv/bin/python benchmarks/talosctl_calls.py [--calls N]``; on a
loaded machine compare the CPU figures, which the load disturbs least.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from provisioning.config import secrets  # noqa: E402
from simulator.state.machines import SiteStore  # noqa: E402
from simulator.store.kv import MemoryKV  # noqa: E402
from simulator.talos import cli, talosconfig  # noqa: E402
from simulator.talos.api import MachineApi  # noqa: E402
from simulator.talos.cli_server import CommandServer  # noqa: E402
from tests.simulator import talos_site  # noqa: E402


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    calls = parser.parse_args().calls
    nodes = [talos_site.ip(i) for i in (1, 2, 3)]
    kv = MemoryKV()
    SiteStore(kv).save(talos_site.running_cluster(3).site)
    machine_secrets = secrets.generate_secrets()
    tls = talos_site.serving_tls(machine_secrets)
    with tempfile.TemporaryDirectory() as scratch, MachineApi(kv, tls=tls) as api:
        work = Path(scratch)
        config = work / "talosconfig"
        talosconfig.write_admin(config, machine_secrets, "bench", nodes, nodes)
        server = CommandServer(ROOT, work / "server.log")
        cli.install_executables(work / "direct", api.url)
        cli.install_executables(work / "served", api.url, server.start())
        argv = ["--talosconfig", str(config), "get", "machinestatus", "-n", ",".join(nodes)]
        figures: dict[str, tuple[float, float]] = {}
        for name in ("direct", "served"):
            talosctl = str(work / name / "talosctl")
            subprocess.run([talosctl, *argv], check=True, capture_output=True)  # warm caches
            if name == "served":
                server.stop()  # its forks so far are counted; restart for the measured calls
                cli.install_executables(work / name, api.url, server.start())
            cpu, wall = _cpu(), time.monotonic()
            for _ in range(calls):
                subprocess.run([talosctl, *argv], check=True, capture_output=True)
            if name == "served":
                server.stop()  # waits for the server: its forks' CPU is counted now
            figures[name] = ((time.monotonic() - wall) / calls, (_cpu() - cpu) / calls)
        for name, (wall_s, cpu_s) in figures.items():
            print(f"{name:7s} {wall_s * 1000:7.1f} ms wall/call  {cpu_s * 1000:7.1f} ms CPU/call")
        ratio = figures["direct"][1] / max(figures["served"][1], 1e-9)
        print(f"served uses {ratio:.1f}x less CPU per call over {calls} calls")


if __name__ == "__main__":
    main()
