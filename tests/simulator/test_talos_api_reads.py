"""The machine API's read path: reads neither load nor save, and never answer from stale state.

Why these exist: at 1,000 nodes every call used to decode and re-encode the
whole site, so reads run on a kept copy of it (issue #8).  What must not
change with that is behaviour: a read writes nothing, a write by anyone --
this server, or a drift injector putting JSON straight into the KV -- is seen
by the next read, and a read still settles (and saves) a paced stage that
fell due.  Speed itself is measured by ``benchmarks/``, never asserted here.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from simulator.state.machines import PREFIX, Site, SiteStore, Stage
from simulator.store.kv import Entry, MemoryKV
from simulator.talos.api import MachineApi
from simulator.talos.lifecycle import Lifecycle, Pacing
from simulator.talos.ops import READ_ONLY_OPS
from tests.simulator import talos_site

IP1, IP2 = talos_site.ip(1), talos_site.ip(2)
READS: list[tuple[str, dict[str, Any]]] = [
    ("version", {}),
    ("get", {"type": "machinestatus"}),
    ("get", {"type": "volumestatus", "id": "STATE"}),
    ("get", {"type": "vs", "id": "NOPE"}),  # an error answer is a read too
    ("etcd_members", {}),
    ("health", {}),
    ("read", {"path": "/var/log/audit/kube/kube-apiserver.log"}),
    ("kubeconfig", {}),
]


class CountingKV(MemoryKV):
    """A MemoryKV that counts what reaches the site's keys."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges = 0
        self.writes = 0

    def range(self, prefix: str) -> tuple[list[Entry], int]:
        if prefix.startswith(PREFIX):
            self.ranges += 1
        return super().range(prefix)

    def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        self.writes += 1
        return super().put(key, value, expect_mod_revision=expect_mod_revision)

    def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        self.writes += 1
        return super().delete(key, expect_mod_revision=expect_mod_revision)


@pytest.fixture
def kv() -> CountingKV:
    store = CountingKV()
    SiteStore(store).save(talos_site.running_cluster(3).site)
    store.ranges = store.writes = 0
    return store


@pytest.fixture
def api(kv: CountingKV) -> MachineApi:
    return MachineApi(kv, file_reader=lambda name, path: b"audit\n")


def _stage(api: MachineApi, ip: str) -> str:
    answer = api.call(ip, "get", {"type": "machinestatus"})
    [resource] = answer["result"]["resources"]
    return str(resource["spec"]["stage"])


def test_reads_write_nothing_and_decode_the_site_once(api: MachineApi, kv: CountingKV) -> None:
    assert {op for op, _ in READS} <= READ_ONLY_OPS
    revision = kv.revision()
    answers = [api.call(IP1, op, args) for op, args in READS for _ in range(2)]
    assert kv.writes == 0
    assert kv.revision() == revision
    assert kv.ranges == 1  # the first read loaded the site; the others used it
    assert answers[0] == answers[1]
    assert answers[6]["error"]["code"] == "NotFound"
    assert answers[10]["result"]["ok"] is True


def test_a_write_through_the_api_is_seen_by_the_next_read(api: MachineApi, kv: CountingKV) -> None:
    assert _stage(api, IP2) == "running"
    assert api.call(IP2, "shutdown", {}) == {"result": {"lines": []}}
    assert kv.writes > 0
    unavailable = api.call(IP2, "get", {"type": "machinestatus"})
    assert unavailable["error"]["code"] == "Unavailable"
    assert api.call(IP1, "health", {})["result"]["ok"] is False


def test_a_direct_kv_write_by_another_writer_is_seen(api: MachineApi, kv: CountingKV) -> None:
    assert _stage(api, IP1) == "running"
    key = f"{PREFIX}machines/node01"
    entry = kv.get(key)
    assert entry is not None
    data = json.loads(entry.value)
    data["talos_version"] = "v1.11.0"  # a drift injector writes the JSON itself
    kv.put(key, json.dumps(data).encode())
    answer = api.call(IP1, "version", {})
    assert answer == {"result": {"tag": "v1.11.0"}}


def test_a_deleted_machine_is_seen(api: MachineApi, kv: CountingKV) -> None:
    assert _stage(api, talos_site.ip(3)) == "running"
    kv.delete(f"{PREFIX}machines/node03")
    answer = api.call(talos_site.ip(3), "version", {})
    assert answer["error"]["code"] == "Unavailable"


def test_a_paced_stage_falling_due_is_settled_and_saved_by_a_read() -> None:
    now = [1000.0]
    store = MemoryKV()
    SiteStore(store).save(talos_site.running_cluster(3).site)

    def paced(site: Site) -> Lifecycle:
        return Lifecycle(site, clock=lambda: now[0], pacing=Pacing(step_seconds=10))

    api = MachineApi(store, lifecycle_factory=paced)
    assert api.call(IP1, "version", {}) == {"result": {"tag": "v1.12.5"}}
    api.call(IP2, "reboot", {})
    assert SiteStore(store).load().machines["node02"].stage is Stage.REBOOTING
    assert api.call(IP2, "version", {})["error"]["code"] == "Unavailable"
    revision = store.revision()
    now[0] += 30  # rebooting -> booting -> running are all due
    assert _stage(api, IP2) == "running"
    assert store.revision() > revision  # the read saved what it settled
    assert SiteStore(store).load().machines["node02"].stage is Stage.RUNNING


def test_a_read_converges_and_saves_a_state_stored_unconverged(kv: CountingKV) -> None:
    store = SiteStore(kv)
    site = store.load()
    assert site.vip_holders
    site.vip_holders = {}  # as a writer that does not run the controllers leaves it
    store.save(site)
    api = MachineApi(kv)
    assert api.call(IP1, "version", {}) == {"result": {"tag": "v1.12.5"}}
    assert SiteStore(kv).load().vip_holders == {talos_site.VIP: "node01"}
    writes = kv.writes
    api.call(IP1, "version", {})
    assert kv.writes == writes


def test_save_reports_and_dirty_predicts_a_write(kv: CountingKV) -> None:
    store = SiteStore(kv)
    site = store.load()
    assert store.dirty(site) is False
    assert store.save(site) is False
    assert kv.writes == 0
    site.machines["node01"].last_error = "x"
    assert store.dirty(site) is True
    assert store.save(site) is True
    assert kv.writes == 1
    del site.machines["node03"]
    assert store.dirty(site) is True
    assert store.save(site) is True


def test_machine_json_is_what_asdict_gives() -> None:
    life = talos_site.running_cluster(2)
    life.reboot(IP2)
    for machine in life.site.machines.values():
        reference = asdict(machine)
        reference["stage"] = machine.stage.value
        reference["hardware"] = machine.hardware.to_json()
        assert json.dumps(machine.to_json(), sort_keys=True) == json.dumps(
            reference, sort_keys=True
        )


def test_memory_stamp_moves_on_put_and_delete() -> None:
    kv = MemoryKV()
    assert kv.stamp("/p/") == (0, 0)
    kv.put("/p/a", b"1")
    one = kv.stamp("/p/")
    kv.put("/elsewhere", b"1")
    assert kv.stamp("/p/") == one
    kv.put("/p/b", b"1")
    kv.delete("/p/b")
    assert kv.stamp("/p/") == one  # the same keys at the same revisions: unchanged
    kv.put("/p/b", b"1")
    kv.delete("/p/a")
    assert kv.stamp("/p/")[0] == one[0]
    assert kv.stamp("/p/") != one  # same count, newer revision
    kv.delete("/p/b")
    assert kv.stamp("/p/") == (0, 0)
