"""The installed ``talosctl`` look-alike, driven as the suite drives it: a subprocess.

Each test starts a machine API over a fresh site in a :class:`MemoryKV`,
installs the launcher into ``tmp_path`` and runs it with a talosconfig whose
endpoints and nodes are node IPs (data, never dialled).  A subprocess costs a
few tenths of a second, so each test batches several assertions.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config import bundle, secrets
from simulator.state.machines import Site, SiteStore, Stage
from simulator.store.etcd import EtcdKV, EtcdServer, find_binary
from simulator.store.kv import KV, MemoryKV
from simulator.talos import cli, talosconfig
from simulator.talos.api import MachineApi
from simulator.talos.cli_session import NODES_NOT_SET
from tests.simulator import talos_site

IP1, IP2, IP3 = talos_site.ip(1), talos_site.ip(2), talos_site.ip(3)
STAGE = "jsonpath={.spec.stage}"


@pytest.fixture(scope="module")
def machine_secrets() -> bundle.MachineSecrets:
    return secrets.generate_secrets()


@dataclass
class Sim:
    """A running machine API, its talosctl and talosconfig."""

    kv: KV
    api: MachineApi
    talosctl: Path
    config: Path
    tmp: Path

    def run(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(self.talosctl), "--talosconfig", str(config or self.config), *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, cwd=self.tmp
        )

    def site(self) -> Site:
        return SiteStore(self.kv).load()


@pytest.fixture(params=["served", "direct"])
def launcher(request: pytest.FixtureRequest, command_server: str) -> str:
    """Each test runs through both launcher paths: the command server, or a process per call."""
    return command_server if request.param == "served" else ""


def _start(
    tmp_path: Path,
    site: Site,
    machine_secrets: bundle.MachineSecrets,
    kv: KV | None = None,
    server: str = "",
) -> Iterator[Sim]:
    tmp_path.mkdir(exist_ok=True)
    store_kv = kv if kv is not None else MemoryKV()
    SiteStore(store_kv).save(site)
    with MachineApi(store_kv, tls=talos_site.serving_tls(machine_secrets)) as api:
        bin_dir = tmp_path / "bin"
        cli.install_executables(bin_dir, api.url, server)
        config = tmp_path / "talosconfig"
        talosconfig.write_admin(config, machine_secrets, "K8S-CLUSTER", [IP1, IP2, IP3], [IP1])
        yield Sim(store_kv, api, bin_dir / "talosctl", config, tmp_path)


@pytest.fixture
def maintenance(
    tmp_path: Path, machine_secrets: bundle.MachineSecrets, launcher: str
) -> Iterator[Sim]:
    yield from _start(
        tmp_path / "maintenance", talos_site.site(3), machine_secrets, server=launcher
    )


@pytest.fixture
def running(tmp_path: Path, machine_secrets: bundle.MachineSecrets, launcher: str) -> Iterator[Sim]:
    site = talos_site.running_cluster(3).site
    yield from _start(tmp_path / "running", site, machine_secrets, server=launcher)


def _json_stream(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    objects, index = [], 0
    while index < len(text):
        obj, index = decoder.raw_decode(text, index)
        objects.append(obj)
        while index < len(text) and text[index].isspace():
            index += 1
    return objects


def test_insecure_apply_in_maintenance_prints_nothing_and_the_node_comes_up(
    maintenance: Sim,
) -> None:
    config = maintenance.tmp / "node01.yaml"
    config.write_text(talos_site.config(1))

    applied = maintenance.run("apply-config", "--insecure", "-n", IP1, "-f", str(config))
    assert (applied.returncode, applied.stdout, applied.stderr) == (0, "", "")

    status = maintenance.run("get", "volumestatus", "-o", "json")
    assert status.returncode == 0, status.stderr
    volumes = {o["metadata"]["id"]: o for o in _json_stream(status.stdout)}
    assert volumes["STATE"]["node"] == IP1
    assert volumes["STATE"]["spec"]["encryptionProvider"] == "luks2"
    assert volumes["EPHEMERAL"]["spec"]["phase"] == "ready"

    table = maintenance.run("get", "machinestatus")
    header, row = table.stdout.splitlines()
    assert header.split() == ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", "STAGE", "READY"]
    assert row.split()[0] == IP1
    assert row.split()[-2:] == ["running", "true"]

    # still in maintenance: mTLS fails the way a self-signed maintenance cert makes it fail
    other = maintenance.run("get", "machinestatus", "-n", IP2)
    assert other.returncode == 1
    # The type is resolved on the first node: its failure ends the command, no header.
    assert other.stdout == ""
    assert other.stderr == (
        "rpc error: code = Unavailable desc = connection error: desc = "
        '"transport: authentication handshake failed: tls: failed to verify certificate: '
        'x509: certificate signed by unknown authority"\n'
    )


def test_hostname_config_conflict_is_refused_with_talos_wording(running: Sim) -> None:
    config = running.tmp / "node01.yaml"
    config.write_text(talos_site.config(1, legacy_hostname=True))

    refused = running.run("apply-config", "-n", IP1, "-f", str(config))

    assert refused.returncode == 1
    assert refused.stderr == (
        "error applying new configuration: 1 error occurred:\n"
        f"\t* {IP1}: rpc error: code = InvalidArgument desc = 1 error occurred:\n"
        "\t* static hostname is already set in v1alpha1 config\n\n\n\n\n"
    )
    clean = running.tmp / "clean.yaml"
    clean.write_text(talos_site.config(1))
    patch = running.tmp / "hostname.yaml"
    patch.write_text("machine:\n  network:\n    hostname: k8s-node01\n")
    patched = running.run("apply-config", "-f", str(clean), "--config-patch", f"@{patch}")
    assert (patched.returncode, patched.stderr) == (1, refused.stderr)
    unpatched = running.run("apply-config", "-f", str(clean), "-m", "no-reboot")
    assert (unpatched.returncode, unpatched.stderr) == (
        0,
        "Applied configuration without a reboot\n",
    )

    dry = running.run("apply-config", "-f", str(running.tmp / "missing.yaml"))
    assert dry.returncode == 1
    assert dry.stderr.startswith(
        f'failed to read configuration from "{running.tmp / "missing.yaml"}": open '
    )


def test_etcd_members_and_resource_formats_after_bootstrap(running: Sim) -> None:
    members = running.run("etcd", "members")
    assert members.returncode == 0, members.stderr
    lines = members.stdout.splitlines()
    assert lines[0].split() == [
        "NODE",
        "ID",
        "HOSTNAME",
        "PEER",
        "URLS",
        "CLIENT",
        "URLS",
        "LEARNER",
    ]
    hostnames = sorted(line.split()[2] for line in lines[1:])
    assert hostnames == ["k8s-node01", "k8s-node02", "k8s-node03"]
    assert all(line.startswith(IP1) for line in lines[1:])

    stage = running.run(
        "get", "machinestatus", "-n", f"{IP1},{IP2}", "-o", "jsonpath={.spec.stage}"
    )
    assert (stage.returncode, stage.stdout) == (0, "running\nrunning\n")

    unknown = running.run("get", "nosuchthing")
    assert (unknown.returncode, unknown.stderr) == (
        1,
        'rpc error: code = NotFound desc = resource "nosuchthing" is not registered\n',
    )
    ambiguous = running.run("get", "ms")
    assert ambiguous.returncode == 1
    assert ambiguous.stderr == (
        'rpc error: code = InvalidArgument desc = resource type "ms" is ambiguous: '
        "[machinestatuses.runtime.talos.dev mountstatuses.block.talos.dev]\n"
    )


def _power_off(sim: Sim, address: str) -> None:
    store = SiteStore(sim.kv)
    site = store.load()
    (machine,) = [m for m in site.machines.values() if m.ip == address]
    machine.stage = Stage.POWERED_OFF
    store.save(site)


UNAVAILABLE = "rpc error: code = Unavailable desc = connection error: desc = "


def test_a_down_node_as_real_talosctl_reports_it(running: Sim) -> None:
    """get resolves the type on the first node; version/etcd warn and go on (helpers.go)."""
    _power_off(running, IP1)
    first_down = running.run("get", "machinestatus", "-n", f"{IP1},{IP2}", "-o", "json")
    assert (first_down.returncode, first_down.stdout) == (1, "")
    assert first_down.stderr.startswith(UNAVAILABLE)
    assert f"dial tcp {IP1}:50000" in first_down.stderr

    other_down = running.run("get", "machinestatus", "-n", f"{IP2},{IP1}", "-o", "json")
    assert other_down.returncode == 1
    assert [r["node"] for r in _json_stream(other_down.stdout)] == [IP2]
    assert other_down.stderr.startswith("1 error occurred:\n\t* " + UNAVAILABLE)

    version = running.run("version", "-n", f"{IP1},{IP2}")
    assert version.returncode == 0
    assert f"NODE:        {IP2}" in version.stdout
    assert IP1 not in version.stdout
    assert version.stderr.startswith(f"WARNING: 1 error occurred:\n\t* {IP1}: {UNAVAILABLE}")

    for command in (("etcd", "members"), ("etcd", "status")):
        done = running.run(*command, "-n", f"{IP1},{IP2},{IP3}")
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith(f"WARNING: 1 error occurred:\n\t* {IP1}: {UNAVAILABLE}")
        assert {line.split()[0] for line in done.stdout.splitlines()[1:]} == {IP2, IP3}

    all_down = running.run("etcd", "status", "-n", IP1)
    assert all_down.returncode == 1
    assert all_down.stderr.startswith(f"error getting status: 1 error occurred:\n\t* {IP1}: ")


def test_etcd_status_table(running: Sim) -> None:
    done = running.run("etcd", "status", "-n", f"{IP1},{IP2},{IP3}")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert re.split(r" {3,}", header.strip()) == [
        "NODE",
        "MEMBER",
        "DB SIZE",
        "IN USE",
        "LEADER",
        "RAFT INDEX",
        "RAFT TERM",
        "RAFT APPLIED INDEX",
        "LEARNER",
        "PROTOCOL",
        "STORAGE",
        "ERRORS",
    ]
    members = {line.split()[1] for line in running.run("etcd", "members").stdout.splitlines()[1:]}
    assert [row.split()[0] for row in rows] == [IP1, IP2, IP3]
    assert {row.split()[1] for row in rows} == members
    for row in rows:
        cells = row.split()
        assert (cells[3], cells[5], cells[6][-2:]) == ("MB", "MB", "%)")
        assert cells[7] in members  # one leader, a member
        assert cells[-3:] == ["false", "3.6.0", "3.6.0"]
    assert len({row.split()[7] for row in rows}) == 1


def test_etcdspec_print_columns_and_full_jsonpath(running: Sim) -> None:
    table = running.run("get", "etcdspec", "-n", IP1)
    header, row = table.stdout.splitlines()
    assert header.split()[5:] == [
        "NAME",
        "ADVERTISEDADDRESSES",
        "LISTENPEERADDRESSES",
        "LISTENCLIENTADDRESSES",
    ]
    assert row.split()[5:] == ["k8s-node01", f"[{IP1}]", "[0.0.0.0]", "[0.0.0.0]"]

    template = "jsonpath={.node} {.spec.advertisedAddresses[0]}{.metadata['id']}"
    both = running.run("get", "etcdspec", "-n", f"{IP1},{IP2}", "-o", template)
    assert both.stdout == f"{IP1}\n \n{IP1}\netcd\n{IP2}\n \n{IP2}\netcd\n"
    filtered = running.run(
        "get", "machinestatus", "-n", IP1, "-o", "jsonpath={.spec.status.conditions[?(@.type)]}"
    )
    assert filtered.returncode in (0, 1)  # whether conditions exist is not the point here
    missing = running.run("get", "etcdspec", "-n", IP1, "-o", "jsonpath={.spec.nosuch}")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "error finding result for jsonpath: nosuch is not found\n"
    bad = running.run("get", "etcdspec", "-n", IP1, "-o", "jsonpath={.spec[}")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error parsing jsonpath: ")


def test_single_member_reset_needs_graceful_false(
    tmp_path: Path, machine_secrets: bundle.MachineSecrets, launcher: str
) -> None:
    site = talos_site.running_cluster(1).site
    for sim in _start(tmp_path, site, machine_secrets, server=launcher):
        refused = sim.run("reset", "--reboot", "--system-labels-to-wipe", "STATE")
        assert refused.returncode == 1
        assert refused.stderr.startswith(
            f"error executing reset: 1 error occurred:\n\t* {IP1}: rpc error: code = Unknown "
            "desc = failed to leave cluster: failed to remove member "
        )
        assert sim.site().machines["node01"].config is not None

        done = sim.run("reset", "--graceful=false", "--reboot", "--system-labels-to-wipe=STATE")
        assert (done.returncode, done.stderr) == (0, "")
        stage = sim.run(
            "get", "machinestatus", "--insecure", "-n", IP1, "-o", "jsonpath={.spec.stage}"
        )
        assert (stage.returncode, stage.stdout) == (0, "maintenance\n")


def test_nodes_and_endpoints_come_from_the_talosconfig(
    running: Sim, machine_secrets: bundle.MachineSecrets
) -> None:
    no_nodes = running.tmp / "no-nodes"
    talosconfig.write_admin(no_nodes, machine_secrets, "ctx", [IP1], [])
    missing = running.run("get", "machinestatus", config=no_nodes)
    assert missing.returncode == 1
    assert missing.stderr.startswith(NODES_NOT_SET + "\n\nUsage:")

    snapshot = running.run("etcd", "snapshot", "db.snap", "-n", f"{IP1},{IP2}")
    assert snapshot.returncode == 1
    assert snapshot.stderr.splitlines()[0] == (
        'command "etcd snapshot" is not supported with multiple nodes'
    )
    assert not (running.tmp / "db.snap").exists()

    absent = running.run("version", config=running.tmp / "nope")
    assert absent.returncode == 1
    assert f'failed to open config file "{running.tmp / "nope"}"' in absent.stderr

    expired = running.tmp / "expired"
    past = datetime.now(UTC) - timedelta(days=400)
    talosconfig.write_admin(expired, machine_secrets, "ctx", [IP1], [IP1], now=past)
    stale = running.run("etcd", "members", config=expired)
    assert stale.returncode == 1
    assert stale.stderr == (
        "error getting members: rpc error: code = Unavailable desc = connection error: desc = "
        '"error reading server preface: remote error: tls: expired certificate"\n'
    )


def test_version_output(running: Sim, maintenance: Sim) -> None:
    client = (
        "Client:\n\tTag:         v1.12.5\n\tSHA:         \n\tBuilt:       \n"
        "\tGo version:  go1.25.7\n\tOS/Arch:     linux/amd64\n"
    )
    both = running.run("version", "-n", f"{IP1},{IP2}")
    assert both.returncode == 0, both.stderr
    server = "".join(
        f"\tNODE:        {ip}\n" + client.removeprefix("Client:\n") + "\tEnabled:     RBAC\n"
        for ip in (IP1, IP2)
    )
    assert both.stdout == client + "Server:\n" + server

    short = running.run("version", "--client", "--short")
    assert (short.returncode, short.stdout) == (0, "Client:\nTalos v1.12.5\n")

    insecure = maintenance.run("version", "--insecure", "-n", IP3)
    assert insecure.returncode == 1
    assert insecure.stderr == (
        "error getting version: rpc error: code = Unimplemented desc = API is not implemented "
        "in maintenance mode\n"
    )


def test_unreachable_api_is_a_clear_error(tmp_path: Path, launcher: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli.install_executables(tmp_path / "bin", f"https://127.0.0.1:{port}", launcher)
    done = subprocess.run(
        [str(tmp_path / "bin" / "talosctl"), "get", "machinestatus", "--insecure", "-n", IP1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"simulated Talos machine API at https://127.0.0.1:{port} is not reachable ("
    )
    assert "is the simulator running?" in done.stderr


def test_etcd_snapshot_writes_a_snapshot_etcdutl_reads(
    tmp_path: Path, machine_secrets: bundle.MachineSecrets, launcher: str
) -> None:
    try:
        find_binary("etcd")
    except Exception as exc:  # noqa: BLE001 - any lookup failure means no etcd here
        pytest.skip(f"etcd binary not available: {exc}")
    with (
        EtcdServer(tmp_path / "etcd") as server,
        EtcdKV(server.client_url, tls=server.client_tls) as kv,
    ):
        site = talos_site.running_cluster(3).site
        for sim in _start(tmp_path, site, machine_secrets, kv=kv, server=launcher):
            done = sim.run("etcd", "snapshot", "backup.db")
            assert done.returncode == 0, done.stderr
            saved, info = done.stdout.splitlines()
            size = (tmp_path / "backup.db").stat().st_size
            assert saved == f'etcd snapshot saved to "backup.db" ({size} bytes)'
            assert info.startswith("snapshot info: hash ")
            assert ", total keys " in info
            assert f"revision {kv.revision()}" in info
            assert not (tmp_path / "backup.db.part").exists()


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.lists(st.from_regex(r"10\.10\.20\.[0-9]{1,3}", fullmatch=True), min_size=1),
    as_flags=st.booleans(),
)
def test_global_node_flags_anywhere_on_the_line(nodes: list[str], as_flags: bool) -> None:
    spread = [a for n in nodes for a in (["-n", n] if as_flags else [f"--nodes={n}"])]
    flags, rest = cli.split_globals(["get", *spread[:2], "ms", *spread[2:], "-o", "json"])
    assert flags.nodes == tuple(nodes)
    assert rest == ["get", "ms", "-o", "json"]


def test_bool_flags_take_values_only_with_equals() -> None:
    assert cli.normalise_bools(["reset", "--graceful=false", "--reboot=true", "--wait"]) == [
        "reset",
        "--no-graceful",
        "--reboot",
        "--wait",
    ]
    ns = cli.build_parser().parse_args(cli.normalise_bools(["reset", "--graceful=0"]))
    assert (ns.graceful, ns.reboot, ns.wait) == (False, False, True)


def test_etcd_alarm_list_prints_a_row_per_alarm_and_disarm_clears_them(running: Sim) -> None:
    # No alarm: talosctl prints nothing, not even the header (etcd.go: headerPrinted).
    quiet = running.run("etcd", "alarm", "list", "-n", IP1)
    assert (quiet.returncode, quiet.stdout) == (0, "")
    sites = SiteStore(running.kv)
    site = sites.load()
    site.etcd_members[1].alarms = ["NOSPACE"]
    sites.save(site)
    member = f"{site.etcd_members[1].id:016x}"
    listed = running.run("etcd", "alarm", "list", "-n", f"{IP1},{IP2}")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NODE", "MEMBER", "ALARM"]
    assert [line.split() for line in lines[1:]] == [
        [IP1, member, "NOSPACE"],
        [IP2, member, "NOSPACE"],
    ]
    disarmed = running.run("etcd", "alarm", "disarm", "-n", IP1)
    assert disarmed.stdout.splitlines()[1].split() == [IP1, member, "NOSPACE"]
    assert running.run("etcd", "alarm", "list", "-n", IP1).stdout == ""
