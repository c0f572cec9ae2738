"""The BAK-04 backup drifts and the renamed-node drift, applied in-process (fast).

Why apart from the end-to-end drift tests: these show what each drift
changes -- the backup file the restore check reads, the node's applied config
and the Node objects the reconcile derives from it -- in well under a second
each, over the provisioned in-memory cluster of :mod:`tests.simulator.test_drifts`
(its ``ctx`` fixture).  The restore check itself runs here too, on the real
:func:`provisioning.operations.backup.restore_check`, up to the point each drift breaks
it (before ``etcdutl`` is needed).  Age keys are made per test in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from pyrage import x25519

from provisioning.definition import inventory
from provisioning.operations import backup, backup_files
from simulator.controllers import cluster as core
from simulator.drifts import DriftContext, DriftError, apply_to, find_drift, hostname_of
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.state.machines import SiteStore
from tests.simulator.provisioned_cluster import NOW, ROOT

NO_ETCDUTL = Path("/nonexistent/etcdutl")  # every drift here fails the check before etcdutl


@dataclasses.dataclass(frozen=True)
class Keys:
    identity_file: Path
    recipient: str


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    identity = x25519.Identity.generate()
    path = tmp_path / "identity.txt"
    path.write_text(str(identity) + "\n", encoding="ascii")
    path.chmod(0o600)
    return Keys(path, str(identity.to_public()))


def _fake_snapshot(path: Path) -> None:
    path.write_bytes(b"\0" * 4096)


def _backups(ctx: DriftContext, tmp_path: Path, keys: Keys) -> Path:
    """One real backup (a fake snapshot, encrypted to *keys*) a day old, in the definition."""
    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    directory = tmp_path / "backups"
    taken = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    backup.create_backup(
        directory,
        keys.recipient,
        _fake_snapshot,
        now=taken,
    )
    ctx._cluster = dataclasses.replace(
        shipped,
        backup=dataclasses.replace(
            shipped.backup,
            directory=directory,
            age_recipient=keys.recipient,
            identity_file=keys.identity_file,
        ),
    )
    return directory


def _newest(directory: Path) -> Path:
    newest = backup_files.list_backups(directory).newest
    assert newest is not None
    return newest


def _restore_error(directory: Path, keys: Keys) -> str:
    with pytest.raises(backup_files.BackupError) as failed:
        backup.restore_check(_newest(directory), keys.identity_file, etcdutl=NO_ETCDUTL)
    return failed.value.message


def test_bak04_drifts_declare_only_bak04() -> None:
    for name in ("backups.foreign_recipient", "backups.truncate_newest", "backups.not_a_snapshot"):
        assert find_drift(name).controls == ("BAK-04",), name


def test_foreign_recipient_adds_a_newest_backup_the_identity_cannot_open(
    ctx: DriftContext, tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _backups(ctx, tmp_path, keys)
    before = _newest(directory)
    # MemoryKV keeps no etcd snapshot format; stand in for the etcd stream.
    monkeypatch.setattr(ctx.kv, "snapshot", _fake_snapshot)
    said = apply_to(ctx, "backups.foreign_recipient")
    newest = _newest(directory)
    assert newest != before
    assert newest.name in said
    assert newest.read_bytes().startswith(backup.AGE_HEADER)
    assert newest.stat().st_mode & 0o777 == 0o600
    assert "was not encrypted to the identity in" in _restore_error(directory, keys)
    # Nothing but the backups: no identity, no plaintext, no scratch left behind.
    assert sorted(p.name for p in directory.iterdir()) == sorted([before.name, newest.name])


def test_foreign_recipient_needs_an_etcd_to_snapshot(
    ctx: DriftContext, tmp_path: Path, keys: Keys
) -> None:
    directory = _backups(ctx, tmp_path, keys)
    with pytest.raises(DriftError, match="cannot snapshot the simulated etcd"):
        apply_to(ctx, "backups.foreign_recipient")
    assert len(backup_files.list_backups(directory).dated) == 1


def test_truncate_newest_cuts_the_ciphertext_keeping_its_header(
    ctx: DriftContext, tmp_path: Path, keys: Keys
) -> None:
    directory = _backups(ctx, tmp_path, keys)
    size = _newest(directory).stat().st_size
    said = apply_to(ctx, "backups.truncate_newest")
    newest = _newest(directory)
    assert newest.stat().st_size < size
    assert newest.read_bytes().startswith(backup.AGE_HEADER)
    assert f"from {size} to {newest.stat().st_size} bytes" in said
    assert (
        _restore_error(directory, keys) == "cannot be decrypted: the file is corrupt or truncated"
    )


def test_truncate_refuses_a_backup_too_small_to_cut(ctx: DriftContext, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    name = backup_files.backup_name(dt.datetime.now(dt.UTC))
    (directory / name).write_bytes(backup.AGE_HEADER + b"x")
    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    ctx._cluster = dataclasses.replace(
        shipped, backup=dataclasses.replace(shipped.backup, directory=directory)
    )
    with pytest.raises(DriftError, match="is only"):
        apply_to(ctx, "backups.truncate_newest")


def test_not_a_snapshot_decrypts_to_an_error_message(
    ctx: DriftContext, tmp_path: Path, keys: Keys
) -> None:
    directory = _backups(ctx, tmp_path, keys)
    apply_to(ctx, "backups.not_a_snapshot")
    assert _restore_error(directory, keys) == ("decrypts to something that is not an etcd snapshot")
    assert len(backup_files.list_backups(directory).dated) == 2


def test_not_a_snapshot_never_creates_the_secrets_identity(
    ctx: DriftContext, tmp_path: Path, keys: Keys
) -> None:
    _backups(ctx, tmp_path, keys)
    missing = tmp_path / "no-secrets" / "age-identity.txt"
    cluster = ctx.cluster
    ctx._cluster = dataclasses.replace(
        cluster,
        backup=dataclasses.replace(cluster.backup, age_recipient="auto"),
        secrets=dataclasses.replace(cluster.secrets, identity_file=missing),
    )
    with pytest.raises(DriftError, match="does not exist"):
        apply_to(ctx, "backups.not_a_snapshot")
    assert not missing.parent.exists()


# -- HYG-05: a renamed node --------------------------------------------------------------------


def _node(store: ObjectStore, name: str) -> dict[str, object]:
    nodes = store.registry.lookup("", "v1", "nodes")
    assert nodes is not None
    return store.get(nodes, "", name)


def _ready(node: dict[str, object]) -> str:
    status = node.get("status")
    assert isinstance(status, dict)
    return next(str(c["status"]) for c in status["conditions"] if c["type"] == "Ready")


def _taints(node: dict[str, object]) -> set[str]:
    spec = node.get("spec")
    assert isinstance(spec, dict)
    return {str(t["key"]) for t in spec.get("taints") or []}


def test_rename_node_registers_a_new_node_and_leaves_the_declared_one_unknown(
    ctx: DriftContext,
) -> None:
    said = apply_to(ctx, "config_hygiene.rename_node", "node04")
    assert said == "node04: hostname k8s-node04 -> k8s-node04-renamed (config applied, no reboot)"
    site = SiteStore(ctx.kv).load()
    machine = site.machines["node04"]
    assert hostname_of(machine) == "k8s-node04-renamed"
    assert machine.persistent_config == machine.config  # a reboot keeps the new name
    assert "k8s-node04-renamed" in (machine.config or "")
    assert hostname_of(site.machines["node03"]) == "k8s-node03"

    store = ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)
    later = NOW + dt.timedelta(minutes=1)
    core.reconcile(site, store, now=later)
    core.reconcile(site, store, now=later)  # the new Node's CNI pod makes it Ready
    renamed = _node(store, "k8s-node04-renamed")
    assert _ready(renamed) == "True"
    left = _node(store, "k8s-node04")
    assert _ready(left) == "Unknown"
    assert "node.kubernetes.io/unreachable" in _taints(left)
    status = left["status"]
    assert isinstance(status, dict)
    assert status["capacity"]["memory"] == "16777216Ki"  # the last posted status stays
    assert _ready(_node(store, "k8s-node03")) == "True"

    # A pass over the unchanged site writes nothing more.
    revision = ctx.kv.revision()
    core.reconcile(site, store, now=later + dt.timedelta(minutes=1))
    assert ctx.kv.revision() == revision


def test_restoring_the_hostname_brings_the_declared_node_back(ctx: DriftContext) -> None:
    site = SiteStore(ctx.kv).load()
    declared = site.machines["node05"].config
    apply_to(ctx, "config_hygiene.rename_node", "k8s-node05")  # a hostname works too
    site = SiteStore(ctx.kv).load()
    store = ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=1))
    assert _ready(_node(store, "k8s-node05")) == "Unknown"

    site.machines["node05"].config = declared  # what re-applying the rendered config does
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=2))
    back = _node(store, "k8s-node05")
    assert _ready(back) == "True"
    assert "node.kubernetes.io/unreachable" not in _taints(back)
    # The Node registered under the stray name stays behind, its kubelet gone.
    assert _ready(_node(store, "k8s-node05-renamed")) == "Unknown"


def test_rename_node_needs_a_provisioned_cluster(tmp_path: Path) -> None:
    from simulator.state.site import site_from_cluster
    from simulator.store.kv import MemoryKV

    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    kv = MemoryKV()
    SiteStore(kv).save(site_from_cluster(shipped))
    with pytest.raises(DriftError) as refused:
        apply_to(DriftContext(kv, tmp_path), "config_hygiene.rename_node", "node04")
    assert refused.value.exit_code == 1
