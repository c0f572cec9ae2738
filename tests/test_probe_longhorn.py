"""The LH-06 volume probe over a fake driver: what it records, and that it always cleans up.

The end-to-end behaviour (a claim on the simulated cluster whose Longhorn
volume gets its replicas) is exercised by the breakage guard's Longhorn
groups; these tests pin the probe's own logic without a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from checks.longhorn_volumes import VolumeProbe
from fixtures.probe_longhorn import (
    CLAIMS,
    REPLICAS,
    SETTLE,
    STORAGE_CLASSES,
    VOLUMES,
    probe_volume,
)
from provisioning.definition import inventory
from provisioning.drivers import errors
from provisioning.drivers.kube import KindPath, KubeDriver

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = inventory.load_cluster(ROOT / "cluster")


class FakeKube:
    """The claim binds after *bind_after* reads; the volume then has *replicas* placed."""

    def __init__(
        self,
        replicas: int,
        *,
        bind_after: int = 1,
        refuse: bool = False,
        storage_class: str = "longhorn",
        provisioner: str | None = "driver.longhorn.io",
        asked: int = 3,
        scheduling_failed: bool = False,
        starting_lists: int = 0,
    ) -> None:
        self.replicas = replicas
        self.bind_after = bind_after
        self.refuse = refuse
        self.storage_class = storage_class
        self.provisioner = provisioner
        self.asked = asked
        self.scheduling_failed = scheduling_failed
        self.starting_lists = starting_lists
        self.lists = 0
        self.reads = 0
        self.deleted: list[str] = []
        self.claim: dict[str, Any] = {}

    def create(self, kind: KindPath, body: dict[str, Any], namespace: str) -> dict[str, Any]:
        assert kind == CLAIMS
        if self.refuse:
            raise errors.DriverError("POST persistentvolumeclaims: 403 Forbidden")
        self.claim = body
        return body

    def get(self, kind: KindPath, name: str, namespace: str | None = None) -> dict[str, Any]:
        if kind == CLAIMS:
            self.reads += 1
            bound = self.reads > self.bind_after
            spec = {"volumeName": "pvc-1" if bound else ""}
            if self.storage_class:
                spec["storageClassName"] = self.storage_class
            return {
                **self.claim,
                "spec": spec,
                "status": {"phase": "Bound" if bound else "Pending"},
            }
        if kind == STORAGE_CLASSES:
            assert name == self.storage_class
            if self.provisioner is None:
                raise errors.NotFound("gone", code=404, reason="NotFound", request="GET")
            return {"metadata": {"name": name}, "provisioner": self.provisioner}
        assert (kind, name) == (VOLUMES, "pvc-1")
        scheduled = "False" if self.scheduling_failed else "True"
        condition = {"type": "Scheduled", "status": scheduled, "reason": "ReplicaSchedulingFailure"}
        return {
            "metadata": {"name": "pvc-1"},
            "spec": {"numberOfReplicas": self.asked},
            "status": {"state": "detached", "conditions": [condition]},
        }

    def list(self, kind: KindPath, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        assert (kind, label_selector) == (REPLICAS, "longhornvolume=pvc-1")
        self.lists += 1
        state = "stopped" if self.lists > self.starting_lists else "starting"
        return [
            {
                "metadata": {"name": f"r{i}"},
                "spec": {"nodeID": f"k8s-node0{i + 2}"},
                "status": {"currentState": state},
            }
            for i in range(self.replicas)
        ]

    def delete(self, kind: KindPath, name: str, namespace: str) -> dict[str, Any]:
        self.deleted.append(name)
        return {}


def run(fake: FakeKube, timeout: float = 10) -> VolumeProbe:
    """The probe on a clock that ticks a second at every reading of it."""
    clock = iter(float(t) for t in range(1000))
    return probe_volume(
        cast(KubeDriver, fake),
        CLUSTER,
        "abc",
        timeout=timeout,
        sleep=lambda _: None,
        clock=lambda: next(clock),
    )


def test_the_probe_records_the_volume_and_replicas_and_deletes_its_claim() -> None:
    fake = FakeKube(CLUSTER.storage.replica_count)
    probe = run(fake)
    assert probe.error is None
    assert (probe.claim, probe.storage_class, probe.phase) == (
        "default/conformance-volume-probe-abc",
        "longhorn",
        "Bound",
    )
    assert probe.volume is not None
    assert len(probe.replicas) == CLUSTER.storage.replica_count
    assert fake.deleted == ["conformance-volume-probe-abc"]
    assert fake.claim["metadata"]["labels"]["conformance.test/run"] == "abc"
    assert "storageClassName" not in fake.claim["spec"]  # the default class decides


def test_a_volume_short_of_replicas_is_recorded_after_the_timeout() -> None:
    fake = FakeKube(2)
    probe = run(fake)
    assert len(probe.replicas) == 2
    assert probe.waited >= 9  # the last read, just before the 10 s deadline
    assert fake.deleted == ["conformance-volume-probe-abc"]


def test_a_claim_never_bound_has_no_volume_and_is_deleted() -> None:
    fake = FakeKube(3, bind_after=10_000)
    probe = run(fake)
    assert (probe.volume, probe.phase) == (None, "Pending")
    assert fake.deleted == ["conformance-volume-probe-abc"]


def test_a_claim_that_cannot_be_created_is_an_error_not_a_volume() -> None:
    probe = run(FakeKube(3, refuse=True))
    assert (
        probe.error == "creating the test claim failed: POST persistentvolumeclaims: 403 Forbidden"
    )


# The wait ends once the outcome is settled, never before.  The first read is at 1 s on
# the ticking clock; a read after the first sleep is at 5 s or later.


def test_a_claim_admitted_without_a_class_is_settled_at_once() -> None:
    fake = FakeKube(3, bind_after=10_000, storage_class="")
    probe = run(fake, timeout=100)
    assert (probe.volume, probe.storage_class, probe.waited) == (None, "", 1)
    assert fake.deleted == ["conformance-volume-probe-abc"]


def test_a_class_of_another_provisioner_is_settled_at_once() -> None:
    fake = FakeKube(3, bind_after=10_000, storage_class="local-path", provisioner="rancher")
    probe = run(fake, timeout=100)
    assert (probe.volume, probe.storage_class, probe.waited) == (None, "local-path", 1)


def test_a_class_that_does_not_exist_is_settled_at_once() -> None:
    probe = run(FakeKube(3, bind_after=10_000, storage_class="gone", provisioner=None), 100)
    assert (probe.volume, probe.waited) == (None, 1)


def test_a_longhorn_claim_not_yet_bound_is_waited_for() -> None:
    probe = run(FakeKube(3, bind_after=10_000), timeout=100)
    assert probe.waited >= 99


def test_a_volume_asking_for_fewer_replicas_is_settled_once_read() -> None:
    probe = run(FakeKube(1, asked=1), timeout=100)
    assert len(probe.replicas) == 1
    assert probe.waited == 5  # the second read, the first with the volume


def test_failed_scheduling_settles_only_after_nothing_moved_for_the_settle_time() -> None:
    clock = iter(float(t) for t in range(1000))
    fake = FakeKube(2, scheduling_failed=True)
    probe = probe_volume(
        cast(KubeDriver, fake),
        CLUSTER,
        "abc",
        timeout=SETTLE * 4,
        sleep=lambda _: None,
        clock=lambda: next(clock),
    )
    assert len(probe.replicas) == 2
    assert SETTLE <= probe.waited < SETTLE * 2


def test_unfailed_scheduling_short_of_replicas_waits_the_whole_deadline() -> None:
    probe = run(FakeKube(2, scheduling_failed=False), timeout=100)
    assert probe.waited >= 99


def test_placed_replicas_still_starting_are_waited_for() -> None:
    # Longhorn places a replica (spec.nodeID) before it is started or stopped: judged then,
    # a healthy volume would look unhealthy.
    fake = FakeKube(CLUSTER.storage.replica_count, starting_lists=3)
    probe = run(fake, timeout=100)
    assert fake.lists == 4
    assert {r["status"]["currentState"] for r in probe.replicas} == {"stopped"}
