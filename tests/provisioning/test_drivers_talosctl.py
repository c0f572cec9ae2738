"""TalosDriver: output parsing (units) and the driver against the talosctl look-alike.

The integration half starts the simulated machine API on 127.0.0.1 and the
installed ``talosctl`` launcher (as tests/simulator/test_talos_cli.py does);
node IPs 10.10.20.x are data passed to the launcher, never dialled.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config import bundle, secrets
from provisioning.drivers import Completed, Failure, Target, errors, run_subprocess, talosctl
from provisioning.drivers.budget import Budget, budgeted
from simulator.state.machines import Site, SiteStore, Stage
from simulator.store.etcd import EtcdKV, EtcdServer, find_binary
from simulator.store.kv import KV, MemoryKV
from simulator.talos import cli, talosconfig
from simulator.talos.api import MachineApi
from tests.provisioning.fake_talosctl import RealShapedTalosctl, unavailable
from tests.simulator import talos_site

IP1, IP2, IP3 = talos_site.ip(1), talos_site.ip(2), talos_site.ip(3)
KUBECONFIG = b"apiVersion: v1\nkind: Config\ncurrent-context: admin@K8S-CLUSTER\n"


def tabwriter(rows: list[list[str]]) -> str:
    """Go's tabwriter with padding 3, as talosctl prints tables."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "".join(cell.ljust(w + 3) for cell, w in zip(row[:-1], widths, strict=False))
        + row[-1]
        + "\n"
        for row in rows
    )


# -- parsing -----------------------------------------------------------------------

resource = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"id": st.text(min_size=1, max_size=10), "version": st.integers(1, 99)}
        ),
        "node": st.sampled_from([IP1, IP2, IP3, ""]),
        "spec": st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)),
    }
)


@settings(max_examples=60, deadline=None)
@given(objects=st.lists(resource, max_size=6))
def test_json_stream_round_trips_pretty_concatenated_objects(objects: list[dict[str, Any]]) -> None:
    stream = "".join(json.dumps(o, indent=4, sort_keys=True) + "\n" for o in objects)
    assert talosctl.parse_json_stream(stream) == objects


def test_json_stream_rejects_garbage_and_arrays() -> None:
    with pytest.raises(ValueError, match="not a JSON stream"):
        talosctl.parse_json_stream('{"a": 1}\n{"b": ')
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        talosctl.parse_json_stream("[]")


MEMBERS_7903 = tabwriter(
    [
        ["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"],
        [
            "10.31.192.10",
            "744eedebce0e8271",
            "km11",
            "https://10.31.192.10:2380",
            "https://10.31.192.10:2379",
            "false",
        ],
    ]
)


def test_etcd_members_table_from_upstream_example() -> None:
    [row] = talosctl.parse_etcd_members(MEMBERS_7903)
    assert row == talosctl.EtcdMemberRow(
        node="10.31.192.10",
        id="744eedebce0e8271",
        hostname="km11",
        peer_urls=("https://10.31.192.10:2380",),
        client_urls=("https://10.31.192.10:2379",),
        is_learner=False,
    )


member = st.tuples(
    st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    st.lists(st.from_regex(r"https://10\.0\.0\.[0-9]{1,3}:2380", fullmatch=True), min_size=1),
    st.lists(st.from_regex(r"https://10\.0\.0\.[0-9]{1,3}:2379", fullmatch=True), max_size=2),
    st.booleans(),
)


@settings(max_examples=25, deadline=None)
@given(members=st.lists(member, max_size=5), with_node=st.booleans())
def test_etcd_members_table_round_trips(
    members: list[tuple[str, str, list[str], list[str], bool]], with_node: bool
) -> None:
    header = ["ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]
    rows = [
        [m_id, host, ",".join(peers), ",".join(clients), str(learner).lower()]
        for m_id, host, peers, clients, learner in members
    ]
    if with_node:
        header = ["NODE", *header]
        rows = [[IP1, *row] for row in rows]
    parsed = talosctl.parse_etcd_members(tabwriter([header, *rows]))
    assert [
        (r.id, r.hostname, list(r.peer_urls), list(r.client_urls), r.is_learner) for r in parsed
    ] == [(i, h, p, c, learner) for i, h, p, c, learner in members]
    assert {r.node for r in parsed} <= ({IP1} if with_node else {None})


def test_etcd_members_table_with_a_strange_header_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected etcd members header"):
        talosctl.parse_etcd_members("NODE   MEMBER   DB SIZE\n")


def test_snapshot_output_lines() -> None:
    info = talosctl.parse_snapshot_output(
        'etcd snapshot saved to "/b/db.snap" (20512 bytes)\n'
        "snapshot info: hash 0a1b2c3d, revision 42, total keys 7, total size 20480\n"
    )
    assert info == talosctl.SnapshotInfo(Path("/b/db.snap"), 20512, "0a1b2c3d", 42, 7, 20480)
    with pytest.raises(ValueError, match="unexpected etcd snapshot output"):
        talosctl.parse_snapshot_output('etcd snapshot saved to "/b/db.snap" (20512 bytes)\n')


def test_version_blocks() -> None:
    block = "\tTag:         v1.12.5\n\tSHA:         abc\n\tBuilt:       \n"
    block += "\tGo version:  go1.25.7\n\tOS/Arch:     linux/amd64\n"
    text = f"Client:\n{block}Server:\n"
    text += f"\tNODE:        {IP1}\n{block}\tEnabled:     RBAC\n"
    text += f"\tNODE:        {IP2}\n{block.replace('v1.12.5', 'v1.11.6')}\tEnabled:     RBAC\n"
    info = talosctl.parse_version(text)
    assert info.client_tag == "v1.12.5"
    assert [(s.node, s.tag, s.go_version, s.enabled) for s in info.servers] == [
        (IP1, "v1.12.5", "go1.25.7", "RBAC"),
        (IP2, "v1.11.6", "go1.25.7", "RBAC"),
    ]
    assert talosctl.version_skew(info) == (
        f"talosctl is v1.12.5 but the cluster runs Talos v1.11.6 on {IP2}: "
        "use the talosctl of the cluster's Talos version"
    )
    same = talosctl.VersionInfo(info.client_tag, info.servers[:1])
    assert talosctl.version_skew(same) == ""


# -- real talosctl's failures (recorded shapes, tests/provisioning/fake_talosctl.py) --------


def test_rpc_errors_are_parsed_into_code_and_description() -> None:
    text = (
        "1 error occurred:\n\t* 10.10.20.17: " + unavailable("10.10.20.17") + "\n\n\n"
        'rpc error: code = NotFound desc = resource "x" is not registered\n'
    )
    first, second = talosctl.rpc_errors(text)
    assert (first.node, first.code) == ("10.10.20.17", "Unavailable")
    assert first.desc.startswith('connection error: desc = "transport: Error while dialing')
    assert (second.node, second.code, second.desc) == (
        None,
        "NotFound",
        'resource "x" is not registered',
    )
    assert str(second) == 'NotFound: resource "x" is not registered'


def test_failures_are_classified_by_their_grpc_code() -> None:
    assert (
        talosctl.classify("rpc error: code = Unavailable desc = etcd is busy") is Failure.TRANSIENT
    )
    assert talosctl.classify("rpc error: code = NotFound desc = no such thing") is Failure.PERMANENT
    assert talosctl.classify("rpc error: code = Unknown desc = context deadline exceeded") is (
        Failure.PERMANENT
    )
    assert talosctl.classify(unavailable(IP1)) is Failure.UNDELIVERED  # "dial tcp"
    assert talosctl.classify("dial tcp 127.0.0.1:1: connect: connection refused") is (
        Failure.UNDELIVERED
    )


def test_warned_nodes_are_the_bullets_of_a_warning_block() -> None:
    stderr = (
        f"WARNING: {IP1}: server version 1.11.6 is older than client version 1.12.5\n"
        f"WARNING: 2 errors occurred:\n\t* {IP2}: {unavailable(IP2)}\n"
        f"\t* {IP3}: rpc error: code = Unknown desc = etcd is not running\n\n"
    )
    assert talosctl.warned_nodes(stderr, [IP1, IP2, IP3]) == {
        IP2: 'Unavailable: connection error: desc = "transport: Error while dialing: dial tcp '
        f'{IP2}:50000: connect: no route to host"',
        IP3: "Unknown: etcd is not running",
    }


def _recorded(tmp_path: Path, fake: RealShapedTalosctl) -> talosctl.TalosDriver:
    (tmp_path / "talosctl").write_text("#!/bin/sh\n")
    (tmp_path / "talosctl").chmod(0o755)
    target = Target("real-shaped", None, tmp_path / "talosconfig", tmp_path)
    return talosctl.TalosDriver(target, runner=fake, retries=1, backoff=0.0)


def test_a_down_first_node_costs_only_its_own_resources(tmp_path: Path) -> None:
    fake = RealShapedTalosctl(down={IP1}, holding={IP2})
    read = _recorded(tmp_path, fake).get_each("hostnamestatuses", [IP1, IP2, IP3])
    assert [r["node"] for r in read.resources] == [IP2]
    assert list(read.unanswered) == [IP1]
    assert read.unanswered[IP1].startswith("Unavailable: connection error")
    assert f"dial tcp {IP1}:50000" in read.error
    # one call for all, then each node alone (in parallel); the down one tried again (transient)
    asked = [a[a.index("--nodes") + 1] for a in fake.argvs]
    assert asked[0] == f"{IP1},{IP2},{IP3}"
    assert sorted(asked[1:]) == sorted([IP1, IP1, IP2, IP3])


def test_a_hung_node_costs_only_its_own_resources(tmp_path: Path) -> None:
    """A node that never answers holds the call for all; then each node is asked alone."""
    fake = RealShapedTalosctl(hung={IP2})
    (tmp_path / "talosctl").write_text("#!/bin/sh\n")
    (tmp_path / "talosctl").chmod(0o755)
    target = Target("real-shaped", None, tmp_path / "talosconfig", tmp_path)
    driver = talosctl.TalosDriver(target, runner=fake, timeout=0.5, retries=2, backoff=0.0)
    read = driver.get_each("hostnamestatuses", [IP1, IP2, IP3])
    assert [r["node"] for r in read.resources] == [IP1, IP3]
    assert list(read.unanswered) == [IP2]
    assert "did not finish within 0.5s" in read.unanswered[IP2]
    asked = [a[a.index("--nodes") + 1] for a in fake.argvs]
    assert asked[0] == f"{IP1},{IP2},{IP3}"
    assert sorted(asked[1:]) == [IP1, IP2, IP3], "each once: the hung node is not waited again"


def test_hung_nodes_are_asked_in_parallel_within_the_budget(tmp_path: Path) -> None:
    fake = RealShapedTalosctl(hung={IP1, IP3})
    (tmp_path / "talosctl").write_text("#!/bin/sh\n")
    (tmp_path / "talosctl").chmod(0o755)
    target = Target("real-shaped", None, tmp_path / "talosconfig", tmp_path)
    budget = Budget(3, "talosctl calls (--timeout-talos 3)")
    driver = talosctl.TalosDriver(
        target, runner=budgeted(fake, budget), timeout=1, retries=2, backoff=0.0
    )
    started = time.monotonic()
    read = driver.get_each("hostnamestatuses", [IP1, IP2, IP3])
    took = time.monotonic() - started
    assert [r["node"] for r in read.resources] == [IP2]
    assert sorted(read.unanswered) == [IP1, IP3]
    # the call for all (1 s), then the two hung nodes side by side (1 s), not one after the other
    assert took < 2.9, f"{took:.1f}s"
    assert budget.remaining() > 0.2


def test_a_down_later_node_is_named_although_its_error_is_not(tmp_path: Path) -> None:
    fake = RealShapedTalosctl(down={IP2})
    read = _recorded(tmp_path, fake).get_each("hostnamestatuses", [IP1, IP2, IP3])
    assert [r["node"] for r in read.resources] == [IP1, IP3]
    assert list(read.unanswered) == [IP2]
    assert fake.calls == 3  # IP2 alone, twice: IP1 and IP3 printed theirs already
    every = _recorded(tmp_path, RealShapedTalosctl()).get_each("x", [IP1, IP2])
    assert (len(every.resources), every.unanswered, every.error) == (2, {}, "")


def test_a_request_every_node_refuses_is_asked_once(tmp_path: Path) -> None:
    fake = RealShapedTalosctl(
        refuse='rpc error: code = NotFound desc = resource "x" is not registered'
    )
    read = _recorded(tmp_path, fake).get_each("x", [IP1, IP2])
    assert read.unanswered == dict.fromkeys([IP1, IP2], 'NotFound: resource "x" is not registered')
    assert fake.calls == 1


def test_version_marks_the_warned_nodes_unanswered(tmp_path: Path) -> None:
    info = _recorded(tmp_path, RealShapedTalosctl(down={IP2})).version([IP1, IP2, IP3])
    assert [s.node for s in info.servers] == [IP1, IP3]
    assert list(info.unanswered) == [IP2]
    assert info.unanswered[IP2].startswith("Unavailable: ")
    with pytest.raises(errors.DriverError, match="error getting version"):
        _recorded(tmp_path, RealShapedTalosctl(down={IP1})).version([IP1])


# -- command lines (fake runner) ----------------------------------------------------


class Recorder:
    def __init__(self, stdout: bytes = b"") -> None:
        self.stdout = stdout
        self.calls: list[list[str]] = []

    def __call__(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
    ) -> Completed:
        self.calls.append(list(argv))
        return Completed(0, self.stdout, "")


def test_get_names_every_node_in_one_invocation(tmp_path: Path) -> None:
    (tmp_path / "talosctl").write_text("#!/bin/sh\n")
    (tmp_path / "talosctl").chmod(0o755)
    stream = "".join(
        json.dumps({"metadata": {"id": "STATE"}, "node": n, "spec": {}}, indent=4) + "\n"
        for n in (IP1, IP2, IP3)
    )
    runner = Recorder(stream.encode())
    target = Target("sim", None, tmp_path / "talosconfig", tmp_path)
    driver = talosctl.TalosDriver(target, runner=runner)
    found = driver.get("volumestatus", [IP1, IP2, IP3], namespace="runtime", id="STATE")
    assert [o["node"] for o in found] == [IP1, IP2, IP3]
    assert runner.calls == [
        [
            str(tmp_path / "talosctl"),
            "--talosconfig",
            str(tmp_path / "talosconfig"),
            "--nodes",
            f"{IP1},{IP2},{IP3}",
            "get",
            "volumestatus",
            "STATE",
            "-o",
            "json",
            "--namespace",
            "runtime",
        ]
    ]
    with pytest.raises(ValueError, match="nodes must be non-empty"):
        driver.get("volumestatus", [])


def test_unreadable_output_names_the_command(tmp_path: Path) -> None:
    (tmp_path / "talosctl").write_text("#!/bin/sh\n")
    (tmp_path / "talosctl").chmod(0o755)
    target = Target("sim", None, None, tmp_path)
    driver = talosctl.TalosDriver(target, runner=Recorder(b"NODE  NAMESPACE\n"))
    with pytest.raises(errors.UnexpectedOutput, match="talosctl get machinestatus printed"):
        driver.get("machinestatus", [IP1])


# -- against the simulated machine API ------------------------------------------------


@pytest.fixture(scope="module")
def machine_secrets() -> bundle.MachineSecrets:
    return secrets.generate_secrets()


@dataclass
class Sim:
    kv: KV
    driver: talosctl.TalosDriver
    calls: list[list[str]]
    tmp: Path

    def site(self) -> Site:
        return SiteStore(self.kv).load()


@pytest.fixture(scope="module")
def command_server() -> Iterator[str]:
    """Launchers hand their calls to a command server, as the running simulator's do."""
    with talos_site.served_talosctl() as address:
        yield address


def _start(
    tmp: Path,
    site: Site,
    machine_secrets: bundle.MachineSecrets,
    kv: KV | None = None,
    server: str = "",
) -> Iterator[Sim]:
    tmp.mkdir(exist_ok=True)
    store = kv if kv is not None else MemoryKV()
    SiteStore(store).save(site)
    with MachineApi(
        store,
        kubeconfig_provider=lambda: KUBECONFIG,
        file_reader=lambda machine, path: f"{machine}:{path}".encode(),
        tls=talos_site.serving_tls(machine_secrets),
    ) as api:
        cli.install_executables(tmp / "bin", api.url, server)
        config = tmp / "talosconfig"
        talosconfig.write_admin(config, machine_secrets, "K8S-CLUSTER", [IP1, IP2, IP3], [IP1])
        calls: list[list[str]] = []

        def counting(
            argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
        ) -> Completed:
            calls.append(list(argv))
            return run_subprocess(argv, timeout=timeout, env=env)

        target = Target("simulated", None, config, tmp / "bin")
        yield Sim(store, talosctl.TalosDriver(target, runner=counting), calls, tmp)


@pytest.fixture
def maintenance(
    tmp_path: Path, machine_secrets: bundle.MachineSecrets, command_server: str
) -> Iterator[Sim]:
    yield from _start(
        tmp_path / "maintenance", talos_site.site(3), machine_secrets, server=command_server
    )


@pytest.fixture
def running(
    tmp_path: Path, machine_secrets: bundle.MachineSecrets, command_server: str
) -> Iterator[Sim]:
    site = talos_site.running_cluster(3).site
    yield from _start(tmp_path / "running", site, machine_secrets, server=command_server)


def test_insecure_apply_then_volumes_of_two_nodes_in_one_call(maintenance: Sim) -> None:
    for index, ip in ((1, IP1), (2, IP2)):
        config = maintenance.tmp / f"node{index:02d}.yaml"
        config.write_text(talos_site.config(index))
        assert maintenance.driver.apply_config(ip, config, insecure=True) == ""
    maintenance.calls.clear()

    volumes = maintenance.driver.get("volumestatus", [IP1, IP2])

    assert len(maintenance.calls) == 1
    state = {o["node"]: o for o in volumes if o["metadata"]["id"] == "STATE"}
    assert set(state) == {IP1, IP2}
    assert all(v["spec"]["encryptionProvider"] == "luks2" for v in state.values())
    assert [o["node"] for o in volumes] == sorted(o["node"] for o in volumes)  # node order


def test_validation_error_is_raised_once_with_talos_wording(running: Sim) -> None:
    config = running.tmp / "node01.yaml"
    config.write_text(talos_site.config(1, legacy_hostname=True))
    with pytest.raises(errors.DriverError) as raised:
        running.driver.apply_config(IP1, config, mode="no-reboot")
    assert type(raised.value) is errors.DriverError
    assert "static hostname is already set in v1alpha1 config" in str(raised.value)
    assert "code = InvalidArgument" in raised.value.stderr
    assert len(running.calls) == 1

    config.write_text(talos_site.config(1))
    assert running.driver.apply_config(IP1, config, mode="no-reboot") == (
        "Applied configuration without a reboot"
    )


def test_etcd_members_version_and_read(running: Sim) -> None:
    members = running.driver.etcd_members(IP1)
    assert sorted(m.hostname for m in members) == ["k8s-node01", "k8s-node02", "k8s-node03"]
    assert {m.node for m in members} == {IP1}
    assert all(m.peer_urls[0].endswith(":2380") and not m.is_learner for m in members)

    version = running.driver.version([IP1, IP2])
    assert version.client_tag == "v1.12.5"
    assert [(s.node, s.tag) for s in version.servers] == [(IP1, "v1.12.5"), (IP2, "v1.12.5")]

    assert running.driver.read(IP2, "/proc/cmdline") == b"node02:/proc/cmdline"


def test_a_powered_off_node_through_the_installed_talosctl(running: Sim) -> None:
    """The simulator's talosctl fails as real talosctl does; the driver keeps the others."""
    store = SiteStore(running.kv)
    site = store.load()
    (machine,) = [m for m in site.machines.values() if m.ip == IP1]
    machine.stage = Stage.POWERED_OFF
    store.save(site)
    running.calls.clear()

    read = running.driver.get_each("machinestatus", [IP1, IP2, IP3])
    assert sorted(r["node"] for r in read.resources) == [IP2, IP3]
    assert list(read.unanswered) == [IP1]
    assert read.unanswered[IP1].startswith("Unavailable: connection error")
    assert running.calls[0][running.calls[0].index("--nodes") + 1] == f"{IP1},{IP2},{IP3}"

    version = running.driver.version([IP1, IP2, IP3])
    assert [s.node for s in version.servers] == [IP2, IP3]
    assert list(version.unanswered) == [IP1]


def test_kubeconfig_and_insecure_get_in_maintenance(running: Sim, maintenance: Sim) -> None:
    path = running.tmp / "kubeconfig"
    running.driver.kubeconfig(path, IP1)
    assert path.read_bytes() == KUBECONFIG
    running.driver.kubeconfig(path, IP1)  # force: overwriting is fine

    [status] = maintenance.driver.get("machinestatus", [IP3], insecure=True)
    assert (status["node"], status["spec"]["stage"]) == ("", "maintenance")


def test_single_member_reset_needs_graceful_false(
    tmp_path: Path, machine_secrets: bundle.MachineSecrets
) -> None:
    for sim in _start(tmp_path, talos_site.running_cluster(1).site, machine_secrets):
        with pytest.raises(errors.DriverError, match="failed to leave cluster"):
            sim.driver.reset(IP1, reboot=True, labels=["STATE"])
        sim.driver.reset(IP1, graceful=False, reboot=True, labels=["STATE"])
        [status] = sim.driver.get("machinestatus", [IP1], insecure=True)
        assert status["spec"]["stage"] == "maintenance"


def test_unreachable_api_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli.install_executables(tmp_path / "bin", f"https://127.0.0.1:{port}")
    target = Target("simulated", None, None, tmp_path / "bin")
    driver = talosctl.TalosDriver(target, retries=1, backoff=0)
    with pytest.raises(errors.Unreachable) as raised:
        driver.get("machinestatus", [IP1], insecure=True)
    assert "gave up after 2 attempts" in str(raised.value)
    assert f"https://127.0.0.1:{port} is not reachable" in raised.value.stderr


def test_etcd_snapshot_info(tmp_path: Path, machine_secrets: bundle.MachineSecrets) -> None:
    try:
        find_binary("etcd")
    except Exception as exc:  # noqa: BLE001 - any lookup failure means no etcd here
        pytest.skip(f"etcd binary not available: {exc}")
    with (
        EtcdServer(tmp_path / "etcd") as server,
        EtcdKV(server.client_url, tls=server.client_tls) as kv,
    ):
        site = talos_site.running_cluster(3).site
        for sim in _start(tmp_path / "sim", site, machine_secrets, kv=kv):
            path = tmp_path / "backup.db"
            info = sim.driver.etcd_snapshot(IP1, path)
            assert info.path == path
            assert info.size_bytes == path.stat().st_size
            assert info.revision == kv.revision()
            assert info.total_keys > 0


def test_etcd_alarm_list_rows_and_the_silence_of_no_alarm() -> None:
    # cmd/talosctl/cmd/talos/etcd.go (v1.12.5): the header only with a first alarm,
    # "%s\t%s\t%s\n" of node, FormatMemberID ("%016x") and the AlarmType name.
    text = tabwriter(
        [["NODE", "MEMBER", "ALARM"], [IP1, "744eedebce0e8271", "NOSPACE"]],
    )
    assert talosctl.parse_etcd_alarms(text) == [
        talosctl.EtcdAlarmRow(IP1, "744eedebce0e8271", "NOSPACE")
    ]
    assert talosctl.parse_etcd_alarms("") == []
    with pytest.raises(ValueError, match="unexpected etcd alarm list row"):
        talosctl.parse_etcd_alarms("NODE   MEMBER   ALARM\n10.0.0.1   zz   NOSPACE\n")
    with pytest.raises(ValueError, match="header"):
        talosctl.parse_etcd_alarms("MEMBER ALARM\n")
