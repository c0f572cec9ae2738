"""etcd drifts end to end: re-addressed members fail ETCD-02, a lost quorum fails ETCD-01.

``etcd.readdress_node`` moves node04 to a new address.  etcd keeps quorum, so
(as Talos's AdvertisedPeerController does, facts correction 3) the member's
peer URL follows the node -- to an address that is not the declared one,
and the node no longer answers there: ETCD-02 fails naming node04, judged
against the declared IP because node04's addresses could not be read.
ETCD-01 passes: all six members answer.

``etcd.readdress_majority`` moves four of six members: quorum is lost, no
control-plane node returns the member list, and ETCD-01 fails with etcd's
reason (the Talos API of the two unmoved nodes answered).  ETCD-02 is
skipped: without a member list there are no peer URLs to judge.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import etcd
from checks.snapshot import Snapshot

pytestmark = pytest.mark.slow


def test_clean_cluster_has_one_member_per_node_on_its_address(clean_snapshot: Snapshot) -> None:
    assert etcd.one_member_per_control_plane_node(clean_snapshot) == []
    assert etcd.peer_urls_match_node_addresses(clean_snapshot) == []


def test_readdressed_node_fails_etcd02_naming_it(cluster_with: Any) -> None:
    with cluster_with(("etcd.readdress_node", "node04")) as running:
        run = running.run_suite("steps/test_etcd.py")

    assert run.returncode == 1, run.output
    assert run.outcomes == {"ETCD-01": "passed", "ETCD-02": "failed"}, run.output
    message = run.messages["ETCD-02"]
    assert "peer_urls_match_node_addresses: 1 finding(s)" in message
    assert "  - node04 (k8s-node04) etcd member " in message
    assert ": expected peer URLs on the declared address 10.10.20.19 (" in message
    assert "; observed peer URLs https://10.10.20.119:2380" in message


def test_readdressed_majority_fails_etcd01_and_skips_etcd02(cluster_with: Any) -> None:
    with cluster_with("etcd.readdress_majority") as running:
        run = running.run_suite("steps/test_etcd.py")

    assert run.returncode == 1, run.output
    assert run.outcomes == {"ETCD-01": "failed", "ETCD-02": "skipped"}, run.output
    failure = run.messages["ETCD-01"]
    assert "one_member_per_control_plane_node: 1 finding(s)" in failure
    assert "etcd cluster: expected the member list answers (etcd has quorum); observed " in failure
    assert "etcd members could not be read: " in failure
    assert "the Talos API answered on node05, node06" in failure
    assert "etcd members could not be read" in run.messages["ETCD-02"]
