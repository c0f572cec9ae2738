"""Moving node03 to a new IP with ``python -m provisioning readdress`` on the simulated cluster.

The operator's path, end to end: edit the definition (inventory IP and the
node patch's address), print the plan, be refused without
``--allow-destructive``, apply it, and find etcd listing node03 at its new
peer URL with the other members untouched; a second run has nothing to do.
Only 127.0.0.1 is dialled: the addresses are data inside the simulator.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from provisioning.drivers.talosctl import TalosDriver
from tests.suite.harness import ClusterWith

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "10.10.20.18", "10.10.20.118"


def move_in_definition(directory: Path) -> None:
    for name in ("cluster.yaml", "patches/k8s-node03.yaml"):
        path = directory / name
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(f"{OLD}/", f"{NEW}/").replace(f"ip: {OLD}", f"ip: {NEW}"))


def readdress(cluster: Path, state: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning",
            "readdress",
            "--cluster",
            str(cluster),
            "--node",
            "node03",
            "--from",
            OLD,
            "--talosconfig",
            str(state / "talosconfig"),
            "--bin-dir",
            str(state / "bin"),
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_node03_moves_to_its_new_address_through_the_member_procedure(
    cluster_with: ClusterWith,
) -> None:
    with cluster_with() as running:
        definition = running.layout.cluster_dir
        move_in_definition(definition)
        talos = TalosDriver(running.target)
        before = {m.hostname: m for m in talos.etcd_members("10.10.20.16")}

        plan = readdress(definition, running.layout.state)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "remove etcd member node03: would run" in plan.stdout
        assert "plan: 4 of 4 steps would run; nothing was changed" in plan.stdout

        refused = readdress(definition, running.layout.state, "--apply")
        assert refused.returncode == 1
        assert "--allow-destructive" in refused.stdout
        assert talos.etcd_members("10.10.20.16")[2].peer_urls == before["k8s-node03"].peer_urls

        moved = readdress(definition, running.layout.state, "--apply", "--allow-destructive")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        after = {m.hostname: m for m in talos.etcd_members("10.10.20.16")}
        assert after["k8s-node03"].peer_urls == (f"https://{NEW}:2380",)
        assert after["k8s-node03"].id != before["k8s-node03"].id  # a new member
        assert not after["k8s-node03"].is_learner
        for hostname in ("k8s-node01", "k8s-node02", "k8s-node04"):
            assert after[hostname] == before[hostname]
        assert talos.get("machinestatus", [NEW])  # configured and answering at the new IP

        again = readdress(definition, running.layout.state, "--apply", "--allow-destructive")
        assert again.returncode == 0
        assert "nothing to change" in again.stdout
