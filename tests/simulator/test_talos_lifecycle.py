"""Lifecycle transitions of the simulated Talos nodes and their error texts."""

from __future__ import annotations

import pytest

from simulator.state.machines import SiteStore, Stage
from simulator.store.kv import MemoryKV
from simulator.talos import convergence
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle, Pacing, ResetOptions
from tests.simulator import talos_site as ts


def test_maintenance_apply_installs_and_runs_with_static_address() -> None:
    life = Lifecycle(ts.site(1))
    life.site.machines["node01"].ip = "10.10.20.99"  # DHCP lease in maintenance
    assert life.apply_config("10.10.20.99", ts.config(1), insecure=True) == []
    node = life.site.machines["node01"]
    assert node.stage is Stage.RUNNING
    assert node.installed
    assert node.ip == "10.10.20.16"
    assert node.image == ts.INSTALLER
    assert node.schematic == ts.SCHEMATIC


def test_maintenance_needs_insecure_and_refuses_no_reboot() -> None:
    life = Lifecycle(ts.site(1))
    with pytest.raises(TalosError, match="certificate signed by unknown authority"):
        life.apply_config(ts.ip(1), ts.config(1))
    with pytest.raises(TalosError) as err:
        life.apply_config(ts.ip(1), ts.config(1), insecure=True, mode="no-reboot")
    assert err.value.code == "Unimplemented"
    assert err.value.message == (
        "apply configuration --mode='no-reboot' is not supported in maintenance mode"
    )


def test_maintenance_dry_run_summary() -> None:
    life = Lifecycle(ts.site(1))
    out = life.apply_config(ts.ip(1), ts.config(1), insecure=True, dry_run=True)
    assert out == [
        "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."
    ]
    assert life.site.machines["node01"].stage is Stage.MAINTENANCE


def test_hostname_config_conflict_is_rejected_in_maintenance() -> None:
    life = Lifecycle(ts.site(1))
    with pytest.raises(TalosError) as err:
        life.apply_config(ts.ip(1), ts.config(1, legacy_hostname=True), insecure=True)
    assert err.value.code == "InvalidArgument"
    assert err.value.message == (
        "configuration validation failed: 1 error occurred:\n"
        "\t* static hostname is already set in v1alpha1 config\n\n"
    )
    assert life.site.machines["node01"].config is None


def test_a_config_talos_cannot_load_is_refused_with_the_loaders_words() -> None:
    life = Lifecycle(ts.site(1))
    typo = ts.config(1).replace("clusterName:", "clustrName:")
    with pytest.raises(TalosError) as err:
        life.apply_config(ts.ip(1), typo, insecure=True)
    assert err.value.code == "Unknown"
    assert err.value.message.startswith(
        "failed to parse config: error decoding document /v1alpha1/ (line 1): "
        "unknown keys found during decoding:\n"
    )
    assert "clustrName: K8S-CLUSTER" in err.value.message
    running = ts.running_cluster(1)
    with pytest.raises(TalosError) as err:
        running.apply_config(ts.ip(1), typo)
    assert err.value.code == "InvalidArgument"
    assert err.value.message.startswith("error decoding document /v1alpha1/ (line 1): ")


def test_configured_node_refuses_insecure() -> None:
    life = ts.running_cluster(1)
    with pytest.raises(TalosError, match="tls: certificate required"):
        life.apply_config(ts.ip(1), ts.config(1), insecure=True)


def test_no_reboot_change_and_immediate_refusal() -> None:
    life = ts.running_cluster(1)
    out = life.apply_config(ts.ip(1), ts.config(1, seccomp=False), mode="no-reboot")
    assert out == ["Applied configuration without a reboot"]
    with pytest.raises(TalosError) as err:
        life.apply_config(ts.ip(1), ts.config(1, storage=True), mode="no-reboot")
    assert err.value.code == "InvalidArgument"
    assert err.value.message.startswith(
        "this config change can't be applied in immediate mode\ndiff:\n"
    )
    assert "disks" in err.value.message


def test_auto_reboots_when_needed_and_says_why() -> None:
    life = ts.running_cluster(1)
    before = life.site.machines["node01"].generation
    (out,) = life.apply_config(ts.ip(1), ts.config(1, storage=True))
    assert out.startswith(
        "Applied configuration with a reboot: this config change can't be applied in "
        "immediate mode\ndiff:\n"
    )
    assert life.site.machines["node01"].generation > before + 1  # went through a reboot


def test_staged_applies_after_reboot_only() -> None:
    life = ts.running_cluster(1)
    staged = ts.config(1, kubeprism=False)
    out = life.apply_config(ts.ip(1), staged, mode="staged")
    assert out == ["Staged configuration to be applied after the next reboot"]
    node = life.site.machines["node01"]
    assert node.config != staged
    assert node.persistent_config == staged
    life.reboot(ts.ip(1))
    assert node.config == staged


def test_try_mode_reverts_after_timeout() -> None:
    now = [0.0]
    life = ts.running_cluster(1)
    life.clock = lambda: now[0]
    original = life.site.machines["node01"].config
    (out,) = life.apply_config(ts.ip(1), ts.config(1, seccomp=False), mode="try")
    assert out == (
        "Applied configuration without a reboot\n"
        "The config is applied in 'try' mode and will be automatically reverted back in 1m0s"
    )
    now[0] = 61.0
    life.settle()
    assert life.site.machines["node01"].config == original


def test_dry_run_shows_diff_and_changes_nothing() -> None:
    life = ts.running_cluster(1)
    old = life.site.machines["node01"].config
    (out,) = life.apply_config(ts.ip(1), ts.config(1, seccomp=False), dry_run=True)
    assert out.startswith(
        "Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\n"
        "Config diff:\n\n"
    )
    assert "-        defaultRuntimeSeccompProfileEnabled: true" in out
    assert life.site.machines["node01"].config == old
    (same,) = life.apply_config(ts.ip(1), old or "", dry_run=True)
    assert same.endswith("Config diff:\n\nNo changes.")


def test_missing_v1alpha1_rejected_when_configured() -> None:
    life = ts.running_cluster(1)
    with pytest.raises(TalosError, match="doesn't contain v1alpha1 config"):
        life.apply_config(ts.ip(1), "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n")


def test_bootstrap_errors() -> None:
    life = Lifecycle(ts.site(2))
    life.apply_config(ts.ip(1), ts.config(1), insecure=True)
    life.apply_config(ts.ip(2), ts.config(2, controlplane=False), insecure=True)
    with pytest.raises(TalosError) as err:
        life.bootstrap(ts.ip(2))
    assert (err.value.code, err.value.message) == (
        "FailedPrecondition",
        "bootstrap can only be performed on a control plane node",
    )
    life.bootstrap(ts.ip(1))
    with pytest.raises(TalosError) as again:
        life.bootstrap(ts.ip(1))
    assert (again.value.code, again.value.message) == (
        "AlreadyExists",
        "etcd data directory is not empty",
    )


def test_etcd_members_join_with_hostnames_and_peer_urls() -> None:
    life = ts.running_cluster(3)
    members = life.etcd_members(ts.ip(2))
    assert [(m[1], m[2], m[3], m[4]) for m in members] == [
        (f"k8s-node0{i}", [f"https://{ts.ip(i)}:2380"], [f"https://{ts.ip(i)}:2379"], False)
        for i in (1, 2, 3)
    ]
    assert len({m[0] for m in members}) == 3


def test_etcd_members_on_worker_is_refused() -> None:
    life = Lifecycle(ts.site(1))
    life.apply_config(ts.ip(1), ts.config(1, controlplane=False), insecure=True)
    with pytest.raises(TalosError) as err:
        life.etcd_members(ts.ip(1))
    assert err.value.message == "member list is only available on control plane nodes"


def test_vip_single_holder_after_bootstrap_and_failover() -> None:
    life = Lifecycle(ts.site(3))
    for i in (1, 2, 3):
        life.apply_config(ts.ip(i), ts.config(i), insecure=True)
    assert life.site.vip_holders == {}  # the election needs etcd
    life.bootstrap(ts.ip(1))
    holder = life.site.vip_holders[ts.VIP]
    life.shutdown(life.site.machines[holder].ip)
    new_holder = life.site.vip_holders[ts.VIP]
    assert new_holder != holder
    assert life.site.machines[new_holder].stage is Stage.RUNNING


def test_vip_dropped_without_quorum() -> None:
    life = ts.running_cluster(3)
    life.shutdown(ts.ip(1))
    life.shutdown(ts.ip(2))
    assert life.site.vip_holders == {}


def test_peer_url_updated_on_ip_change_with_quorum() -> None:
    life = ts.running_cluster(3)
    out = life.apply_config(ts.ip(3), ts.config(3, ip="10.10.20.33"))
    assert out == ["Applied configuration without a reboot"]
    member = life.site.member_of("node03")
    assert member is not None
    assert member.peer_urls == ["https://10.10.20.33:2380"]
    assert convergence.has_quorum(life.site)


def test_majority_readdressed_at_once_leaves_stale_urls_and_unhealthy_etcd() -> None:
    life = ts.running_cluster(3)
    life.readdress({"node02": "10.10.20.42", "node03": "10.10.20.43"})
    member = life.site.member_of("node02")
    assert member is not None
    assert member.peer_urls == [f"https://{ts.ip(2)}:2380"]
    assert not convergence.has_quorum(life.site)
    assert life.site.vip_holders == {}
    with pytest.raises(TalosError, match="context deadline exceeded"):
        life.etcd_members(ts.ip(1))


def test_single_member_graceful_reset_refused_then_forced() -> None:
    life = ts.running_cluster(1)
    member = life.site.etcd_members[0]
    with pytest.raises(TalosError) as err:
        life.reset(ts.ip(1), ResetOptions(graceful=True))
    assert err.value.message == (
        f"failed to leave cluster: failed to remove member {member.id}: "
        "etcdserver: re-configuration failed due to not enough started members"
    )
    node = life.site.machines["node01"]
    assert node.stage.value == "running"
    life.reset(ts.ip(1), ResetOptions(graceful=False, reboot=True))
    assert node.stage.value == "maintenance"
    assert not life.site.machines["node01"].installed


def test_graceful_reset_leaves_etcd_and_wiping_state_returns_to_maintenance() -> None:
    life = ts.running_cluster(3)
    life.reset(ts.ip(3), ResetOptions(reboot=True, system_labels_to_wipe=("STATE",)))
    node = life.site.machines["node03"]
    assert node.stage is Stage.MAINTENANCE
    assert node.installed
    assert node.config is None
    assert [m.node for m in life.site.etcd_members] == ["node01", "node02"]


def test_reset_unknown_label() -> None:
    life = ts.running_cluster(1)
    with pytest.raises(TalosError, match='failed to get volume status with label "NOPE"'):
        life.reset(ts.ip(1), ResetOptions(graceful=False, system_labels_to_wipe=("NOPE",)))


def test_reset_in_maintenance_is_not_implemented() -> None:
    life = Lifecycle(ts.site(1))
    with pytest.raises(TalosError, match="API is not implemented in maintenance mode"):
        life.reset(ts.ip(1), ResetOptions(), insecure=True)


def test_upgrade_switches_extensions_and_refuses_unknown_schematic() -> None:
    life = ts.running_cluster(3, image="ghcr.io/siderolabs/installer:v1.12.5")
    node = life.site.machines["node01"]
    assert node.schematic != ts.SCHEMATIC
    life.upgrade(ts.ip(1), ts.INSTALLER)
    assert node.schematic == ts.SCHEMATIC
    assert node.stage is Stage.RUNNING
    bogus = "factory.talos.dev/installer/" + "0" * 64 + ":v1.12.5"
    with pytest.raises(TalosError, match=f'^error validating installer image "{bogus}"'):
        life.upgrade(ts.ip(1), bogus)


def test_upgrade_refuses_to_lose_quorum() -> None:
    life = ts.running_cluster(3)
    life.shutdown(ts.ip(3))
    member = life.site.member_of("node03")
    assert member is not None
    with pytest.raises(TalosError) as err:
        life.upgrade(ts.ip(1), ts.INSTALLER)
    assert err.value.message == (
        f"error validating etcd for upgrade: etcd member {member.id:016x} is not healthy; "
        "all members must be healthy to perform an upgrade: context deadline exceeded"
    )
    life.upgrade(ts.ip(1), ts.INSTALLER, force=True)


def test_etcd_leave_and_remove_member() -> None:
    life = ts.running_cluster(3)
    life.etcd_leave(ts.ip(3))
    assert life.site.member_of("node03") is None
    gone = life.site.member_of("node02")
    assert gone is not None
    life.etcd_remove_member(ts.ip(1), gone.id)
    with pytest.raises(TalosError) as err:
        life.etcd_remove_member(ts.ip(1), gone.id)
    assert err.value.code == "NotFound"


def test_powered_off_node_is_unreachable_until_powered_on() -> None:
    life = ts.running_cluster(3)
    life.shutdown(ts.ip(2))
    with pytest.raises(TalosError, match="no route to host"):
        life.reboot(ts.ip(2))
    life.power_on("node02")
    assert life.site.machines["node02"].stage is Stage.RUNNING


def test_paced_transitions_progress_with_the_clock() -> None:
    now = [0.0]
    life = Lifecycle(ts.site(1), clock=lambda: now[0], pacing=Pacing(step_seconds=10))
    life.apply_config(ts.ip(1), ts.config(1), insecure=True)
    node = life.site.machines["node01"]
    assert node.stage is Stage.INSTALLING
    seen = []
    for t in (10, 20, 30, 40):
        now[0] = t
        life.settle()
        seen.append(node.stage)
    assert seen == [Stage.REBOOTING, Stage.BOOTING, Stage.RUNNING, Stage.RUNNING]


def test_site_round_trips_through_the_kv() -> None:
    life = ts.running_cluster(3, storage=True)
    store = SiteStore(MemoryKV())
    store.load()
    store.save(life.site)
    loaded = SiteStore(store.kv).load()
    assert loaded == life.site
