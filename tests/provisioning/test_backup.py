"""Encrypted etcd backups: encryption, plaintext hygiene, retention, restore check, CLI.

The restore check runs against a snapshot of a real etcd (the simulator's
:class:`EtcdServer`, started once per module), so ``etcdutl`` reads a file of
etcd's own making.  Failure paths use snapshot and encrypt steps that break
on purpose, and then look for any plaintext left on disk.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyrage
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrage import x25519

from provisioning.definition.inventory import load_cluster
from provisioning.operations import backup
from provisioning.operations.backup import BackupError, SnapshotStatus
from provisioning.operations.backup_files import backup_name, list_backups, parse_backup_name, prune
from simulator.store.etcd import EtcdKV, EtcdServer, find_binary

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 2, 0, 0, tzinfo=UTC)
KEYS = 25


@pytest.fixture(scope="module")
def etcd_snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, int]]:
    """Real etcd snapshots and their revisions: "empty" (fresh etcd) and "full" (KEYS keys)."""
    try:
        find_binary("etcd")
    except Exception as exc:  # noqa: BLE001 - any lookup failure means no etcd here
        pytest.skip(f"etcd binary not available: {exc}")
    base = tmp_path_factory.mktemp("etcd")
    with (
        EtcdServer(base / "data") as server,
        EtcdKV(server.client_url, tls=server.client_tls) as kv,
    ):
        kv.snapshot(base / "empty.snapshot")
        empty = ((base / "empty.snapshot").read_bytes(), kv.revision())
        for index in range(KEYS):
            kv.put(f"/registry/test/key-{index:02d}", f"value {index}".encode())
        kv.snapshot(base / "db.snapshot")
        revision = kv.revision()
    return {"empty": empty, "full": ((base / "db.snapshot").read_bytes(), revision)}


@pytest.fixture
def etcd_snapshot(etcd_snapshots: dict[str, tuple[bytes, int]]) -> tuple[bytes, int]:
    return etcd_snapshots["full"]


@pytest.fixture
def identity(tmp_path: Path) -> tuple[Path, str]:
    """An identity file (age-keygen format) and its recipient."""
    key = x25519.Identity.generate()
    path = tmp_path / "keys" / "identity.txt"
    path.parent.mkdir()
    path.write_text(f"# public key: {key.to_public()}\n{key}\n")
    return path, str(key.to_public())


def writer(data: bytes) -> backup.TakeSnapshot:
    def take(path: Path) -> None:
        path.write_bytes(data)

    return take


def everything_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# --- names --------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31)))
def test_backup_names_carry_the_utc_second(when: datetime) -> None:
    aware = when.replace(tzinfo=UTC)
    name = backup_name(aware)
    assert name.startswith("etcd-")
    assert name.endswith("Z.snapshot.age")
    assert parse_backup_name(name) == aware.replace(microsecond=0)


def test_backup_names_use_utc_for_other_zones() -> None:
    eastern = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    assert backup_name(eastern) == "etcd-20260102T030405Z.snapshot.age"


@pytest.mark.parametrize(
    "name",
    [
        "etcd-latest.snapshot.age",
        "etcd-2026-11-25.snapshot.age",
        "etcd-20261125T020000.snapshot.age",
        "etcd-20261325T020000Z.snapshot.age",
        "etcd-2026112T020000Z.snapshot.age",
        "etcd-20261125T020000Z.snapshot",
        "db-20261125T020000Z.snapshot.age",
    ],
)
def test_names_without_our_timestamp_do_not_parse(name: str) -> None:
    assert parse_backup_name(name) is None


# --- creating a backup --------------------------------------------------------------------


def test_backup_decrypts_to_the_exact_snapshot(tmp_path: Path, identity: tuple[Path, str]) -> None:
    identity_file, recipient = identity
    data = os.urandom(200_000)  # more than one 64 KiB age chunk
    lines: list[str] = []
    out = backup.create_backup(
        tmp_path / "backups", recipient, writer(data), now=NOW, report=lines.append
    )
    assert out == tmp_path / "backups" / "etcd-20261125T020000Z.snapshot.age"
    ciphertext = out.read_bytes()
    assert ciphertext.split(b"\n", 1)[0] == b"age-encryption.org/v1"  # binary, not armored
    assert b"\n-> X25519 " in ciphertext[:200]
    keys = backup.load_identities(identity_file)
    assert pyrage.decrypt(ciphertext, keys) == data
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    assert lines == [
        "snapshot taken (200000 bytes)",
        f"encrypted to {recipient}: {out} ({len(ciphertext)} bytes)",
    ]


def test_plaintext_is_private_while_it_exists_and_gone_afterwards(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    seen: dict[str, Any] = {}

    def take(path: Path) -> None:
        seen["path"] = path
        seen["mode"] = stat.S_IMODE(path.stat().st_mode)
        seen["dir_mode"] = stat.S_IMODE(path.parent.stat().st_mode)
        seen["same_fs"] = path.stat().st_dev == (tmp_path / "backups").stat().st_dev
        path.write_bytes(b"snapshot bytes")

    out = backup.create_backup(tmp_path / "backups", identity[1], take, now=NOW)
    assert seen["mode"] == 0o600
    assert seen["dir_mode"] == 0o700
    assert seen["same_fs"]
    assert not seen["path"].exists()
    assert everything_under(tmp_path / "backups") == [out.name]


def test_failing_snapshot_leaves_no_plaintext_and_no_backup(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    def take(path: Path) -> None:
        # Like talosctl: a partial `.part` file, then a failure.
        (path.parent / f"{path.name}.part").write_bytes(b"half a snapshot")
        raise RuntimeError("rpc error: code = Unavailable desc = connection refused")

    with pytest.raises(BackupError) as caught:
        backup.create_backup(tmp_path / "backups", identity[1], take, now=NOW)
    assert "backup.snapshotNode" in str(caught.value)
    assert "connection refused" in str(caught.value)
    assert everything_under(tmp_path / "backups") == []


def test_snapshot_step_that_writes_nothing_is_an_error(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    with pytest.raises(BackupError, match="wrote no data"):
        backup.create_backup(tmp_path / "backups", identity[1], lambda _path: None, now=NOW)
    assert everything_under(tmp_path / "backups") == []


def test_failing_encryption_leaves_no_plaintext_and_no_backup(
    tmp_path: Path, identity: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(source: io.BufferedReader, sink: io.BufferedWriter, recipients: Any) -> None:
        sink.write(source.read(10))  # some output reached the disk first
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pyrage, "encrypt_io", broken)
    with pytest.raises(BackupError) as caught:
        backup.create_backup(tmp_path / "backups", identity[1], writer(b"secret" * 100), now=NOW)
    assert "cannot encrypt" in str(caught.value)
    assert "No space left" in str(caught.value)
    assert everything_under(tmp_path / "backups") == []


def test_bad_recipient_is_refused_before_any_snapshot(tmp_path: Path) -> None:
    def take(_path: Path) -> None:
        raise AssertionError("no snapshot may be taken for an unusable recipient")

    with pytest.raises(BackupError, match=r"backup\.ageRecipient"):
        backup.create_backup(tmp_path / "backups", "age1notarecipient", take, now=NOW)


def test_a_second_backup_in_the_same_second_does_not_overwrite(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    first = backup.create_backup(tmp_path / "b", identity[1], writer(b"one"), now=NOW)
    before = first.read_bytes()
    with pytest.raises(BackupError, match="already exists"):
        backup.create_backup(tmp_path / "b", identity[1], writer(b"two"), now=NOW)
    assert first.read_bytes() == before
    assert everything_under(tmp_path / "b") == [first.name]


def test_plaintext_left_by_an_interrupted_backup_is_removed_and_reported(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    directory = tmp_path / "backups"
    leftover = directory / ".backup-k1lled"
    leftover.mkdir(parents=True, mode=0o700)
    (leftover / "etcd.snapshot").write_bytes(b"plaintext etcd")
    (leftover / "etcd.snapshot.part").write_bytes(b"half")
    lines: list[str] = []
    out = backup.create_backup(
        directory, identity[1], writer(b"fresh"), now=NOW, report=lines.append
    )
    assert everything_under(directory) == [out.name]
    assert f"removed {leftover}: plaintext left by an interrupted backup" in lines


def test_a_leftover_symlink_is_unlinked_not_followed(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not ours")
    (directory / ".backup-link").symlink_to(elsewhere)
    out = backup.create_backup(directory, identity[1], writer(b"fresh"), now=NOW)
    assert everything_under(directory) == [out.name]
    assert (elsewhere / "keep.txt").read_text() == "not ours"


_KILLED_BACKUP = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from provisioning.operations import backup

def take(path):
    path.write_bytes(b"plaintext etcd snapshot")
    os.kill(os.getpid(), signal.SIGKILL)

backup.create_backup(Path(sys.argv[1]), sys.argv[2], take, now=datetime.now(UTC))
"""


def test_a_sigkilled_backup_leaves_plaintext_the_next_backup_removes(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    directory = tmp_path / "backups"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_BACKUP, str(directory), identity[1]],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )
    assert killed.returncode == -9
    left = list(directory.rglob("etcd.snapshot"))
    assert len(left) == 1, "the killed run had no chance to clean up"
    lines: list[str] = []
    out = backup.create_backup(
        directory, identity[1], writer(b"fresh"), now=NOW, report=lines.append
    )
    assert everything_under(directory) == [out.name]
    assert any("plaintext left by an interrupted backup" in line for line in lines)


def test_a_running_backup_is_not_swept_by_a_second_one(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    directory = tmp_path / "backups"
    seen: list[str] = []

    def take(path: Path) -> None:
        with pytest.raises(BackupError, match="another backup"):
            backup.create_backup(directory, identity[1], writer(b"two"), now=NOW)
        seen.append("refused")
        path.write_bytes(b"one")

    backup.create_backup(directory, identity[1], take, now=NOW)
    assert seen == ["refused"]


def test_restore_check_removes_leftovers_too(
    tmp_path: Path, identity: tuple[Path, str], etcd_snapshot: tuple[bytes, int]
) -> None:
    identity_file, recipient = identity
    directory = tmp_path / "backups"
    out = backup.create_backup(directory, recipient, writer(etcd_snapshot[0]), now=NOW)
    (directory / ".backup-old").mkdir()
    (directory / ".backup-old" / "etcd.snapshot").write_bytes(b"decrypted earlier")
    lines: list[str] = []
    backup.restore_check(out, identity_file, report=lines.append)
    assert everything_under(directory) == [out.name]
    leftover = directory / ".backup-old"
    assert lines == [f"removed {leftover}: plaintext left by an interrupted backup"]


# --- retention ----------------------------------------------------------------------------


def touch_backup(directory: Path, when: datetime) -> Path:
    path = directory / backup_name(when)
    path.write_bytes(b"x")
    return path


def test_prune_keeps_thirty_days_by_name_not_mtime(tmp_path: Path) -> None:
    boundary = touch_backup(tmp_path, NOW - timedelta(days=30))
    just_over = touch_backup(tmp_path, NOW - timedelta(days=30, seconds=1))
    old = touch_backup(tmp_path, NOW - timedelta(days=45))
    recent = touch_backup(tmp_path, NOW - timedelta(days=1))
    newest = touch_backup(tmp_path, NOW)
    odd = tmp_path / "etcd-manual.snapshot.age"
    odd.write_bytes(b"x")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"x")
    # mtimes say the opposite of the names: the old files look brand new.
    for path in (just_over, old):
        os.utime(path, (NOW.timestamp(), NOW.timestamp()))
    os.utime(recent, (0, 0))
    result = prune(tmp_path, 30, NOW)
    assert sorted(result.removed) == sorted([just_over, old])
    assert sorted(result.kept) == sorted([boundary, recent, newest])
    assert result.unparsable == [odd]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [boundary.name, recent.name, newest.name, odd.name, other.name]
    )


def test_prune_never_deletes_the_newest(tmp_path: Path) -> None:
    stale = [touch_backup(tmp_path, NOW - timedelta(days=d)) for d in (90, 60, 40)]
    result = prune(tmp_path, 30, NOW)
    assert result.removed == stale[:2]
    assert result.kept == [stale[2]]
    assert stale[2].exists()


@settings(max_examples=40, deadline=None)
@given(
    ages=st.lists(st.integers(min_value=0, max_value=90 * 86400), min_size=1, max_size=12),
    retention=st.integers(min_value=1, max_value=60),
)
def test_prune_property(
    tmp_path_factory: pytest.TempPathFactory, ages: list[int], retention: int
) -> None:
    directory = tmp_path_factory.mktemp("prune")
    times = {NOW - timedelta(seconds=age) for age in ages}
    for when in times:
        touch_backup(directory, when)
    newest = max(times)
    cutoff = NOW - timedelta(days=retention)
    result = prune(directory, retention, NOW)
    left = {parse_backup_name(p.name) for p in directory.iterdir()}
    assert newest in left
    assert left == {t for t in times if t >= cutoff} | {newest}
    assert all(parse_backup_name(p.name) < cutoff for p in result.removed)  # type: ignore[operator]


# --- restore check ------------------------------------------------------------------------


def test_restore_check_reads_a_real_etcd_snapshot(
    tmp_path: Path, identity: tuple[Path, str], etcd_snapshot: tuple[bytes, int]
) -> None:
    data, revision = etcd_snapshot
    out = backup.create_backup(tmp_path / "backups", identity[1], writer(data), now=NOW)
    status = backup.restore_check(out, identity[0])
    assert status.total_keys >= KEYS  # etcdutl also counts bbolt's bookkeeping keys
    assert status.revision == revision
    assert status.total_size > 0
    assert everything_under(tmp_path / "backups") == [out.name]  # decrypted copy removed


def test_find_etcdutl_finds_a_binary_that_runs() -> None:
    import subprocess

    found = backup.find_etcdutl()
    done = subprocess.run([str(found), "version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "etcdutl version" in done.stdout


def fake_etcdutl(tmp_path: Path, json_text: str) -> Path:
    script = tmp_path / "fake-etcdutl"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json_text}\nEOF\n")
    script.chmod(0o755)
    return script


def test_restore_check_rejects_the_snapshot_of_an_empty_etcd(
    tmp_path: Path, identity: tuple[Path, str], etcd_snapshots: dict[str, tuple[bytes, int]]
) -> None:
    data = etcd_snapshots["empty"][0]
    out = backup.create_backup(tmp_path / "b", identity[1], writer(data), now=NOW)
    with pytest.raises(BackupError, match=r"holds no keys \(hash [0-9a-f]{8}, revision 0,"):
        backup.restore_check(out, identity[0])
    assert everything_under(tmp_path / "b") == [out.name]


def test_restore_check_rejects_a_snapshot_without_keys(
    tmp_path: Path, identity: tuple[Path, str], etcd_snapshot: tuple[bytes, int]
) -> None:
    out = backup.create_backup(tmp_path / "b", identity[1], writer(etcd_snapshot[0]), now=NOW)
    empty = fake_etcdutl(
        tmp_path, '{"hash":1,"revision":1,"totalKey":0,"totalSize":20480,"version":""}'
    )
    with pytest.raises(BackupError, match="holds no keys") as caught:
        backup.restore_check(out, identity[0], etcdutl=empty)
    assert str(out) in str(caught.value)
    assert everything_under(tmp_path / "b") == [out.name]


def test_restore_check_rejects_data_that_is_not_a_snapshot(
    tmp_path: Path, identity: tuple[Path, str]
) -> None:
    out = backup.create_backup(tmp_path / "b", identity[1], writer(b"not bbolt" * 100), now=NOW)
    with pytest.raises(BackupError, match="not an etcd snapshot"):
        backup.restore_check(out, identity[0])
    assert everything_under(tmp_path / "b") == [out.name]


@pytest.mark.parametrize("where", ["payload", "header-mac", "truncated"])
def test_corrupt_ciphertext_is_a_clear_error(
    tmp_path: Path, identity: tuple[Path, str], etcd_snapshot: tuple[bytes, int], where: str
) -> None:
    out = backup.create_backup(tmp_path / "b", identity[1], writer(etcd_snapshot[0]), now=NOW)
    raw = bytearray(out.read_bytes())
    if where == "payload":
        raw[-100] ^= 0xFF
    elif where == "header-mac":
        raw[raw.index(b"\n--- ") + 6] ^= 0x01
    else:
        del raw[len(raw) // 2 :]
    out.write_bytes(bytes(raw))
    with pytest.raises(BackupError, match="corrupt or truncated") as caught:
        backup.restore_check(out, identity[0])
    assert str(caught.value).startswith(f"{out}: ")
    assert everything_under(tmp_path / "b") == [out.name]


def test_a_file_that_is_not_age_is_named(tmp_path: Path, identity: tuple[Path, str]) -> None:
    bogus = tmp_path / "etcd-20261125T020000Z.snapshot.age"
    bogus.write_bytes(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    with pytest.raises(BackupError, match="not a binary age file"):
        backup.restore_check(bogus, identity[0])


def test_wrong_identity_is_a_clear_error_without_key_material(
    tmp_path: Path, identity: tuple[Path, str], etcd_snapshot: tuple[bytes, int]
) -> None:
    out = backup.create_backup(tmp_path / "b", identity[1], writer(etcd_snapshot[0]), now=NOW)
    other = x25519.Identity.generate()
    wrong = tmp_path / "other.txt"
    wrong.write_text(f"{other}\n")
    with pytest.raises(BackupError) as caught:
        backup.restore_check(out, wrong)
    message = str(caught.value)
    assert "was not encrypted to the identity in" in message
    assert str(wrong) in message
    assert "AGE-SECRET-KEY" not in message
    assert everything_under(tmp_path / "b") == [out.name]


def test_damaged_identity_file_is_named_but_not_quoted(tmp_path: Path) -> None:
    damaged = tmp_path / "identity.txt"
    secret_looking = "AGE-SECRET-KEY-1DAMAGEDDAMAGEDDAMAGED"
    damaged.write_text(f"# comment\n{secret_looking}\n")
    with pytest.raises(BackupError) as caught:
        backup.load_identities(damaged)
    assert str(caught.value) == f"{damaged}: line 2: not an age X25519 identity"
    with pytest.raises(BackupError, match="not found"):
        backup.load_identities(tmp_path / "missing.txt")


# --- the command --------------------------------------------------------------------------


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    target = tmp_path / "cluster"
    shutil.copytree(ROOT / "cluster", target, ignore=shutil.ignore_patterns(".secrets"))
    return target


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    backup.add_backup_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["backup", *argv])


def test_command_backs_up_prunes_and_restore_checks(
    definition: Path,
    etcd_snapshot: tuple[bytes, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    backups = definition.parent / ".backups" / "K8S-CLUSTER"
    backups.mkdir(parents=True)
    expired = touch_backup(backups, NOW - timedelta(days=31))
    args = parse("--cluster", str(definition))
    assert backup.run_backup(args, take_snapshot=writer(etcd_snapshot[0]), now=NOW) == 0
    out = capsys.readouterr()
    new = backups / backup_name(NOW)
    assert out.out.splitlines()[0] == "taking etcd snapshot from node01"
    assert f"pruned {expired.name} (older than 30 days)" in out.out
    assert out.out.splitlines()[-1] == "backup done: 1 kept, 1 pruned"
    assert list_backups(backups).newest == new
    assert not expired.exists()

    check = parse("--cluster", str(definition), "--restore-check")
    assert backup.run_backup(check) == 0
    out = capsys.readouterr()
    assert f"checking {new}" in out.out
    assert "restore check passed: hash" in out.out
    assert f", revision {etcd_snapshot[1]}, total keys " in out.out
    assert "AGE-SECRET-KEY" not in out.out + out.err


def test_command_failures_exit_1_with_one_clear_line(
    definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def take(_path: Path) -> None:
        raise RuntimeError("talosctl: node01 unreachable")

    assert backup.run_backup(parse("--cluster", str(definition)), take_snapshot=take, now=NOW) == 1
    err = capsys.readouterr().err
    assert err.startswith("backup failed: backup.snapshotNode: snapshot failed:")
    assert "Traceback" not in err

    assert backup.run_backup(parse("--cluster", str(definition), "--restore-check")) == 1
    assert "holds no etcd-*.snapshot.age backup" in capsys.readouterr().err

    assert backup.run_backup(parse("--cluster", str(definition), "--file", "x")) == 1
    assert "only apply with --restore-check" in capsys.readouterr().err

    missing = definition / "nope.txt"
    bogus = str(definition / "x.snapshot.age")
    args = parse(
        "--cluster", str(definition), "--restore-check", "--identity", str(missing), "--file", bogus
    )
    assert backup.run_backup(args) == 1
    assert f"{missing}: age identity file not found (--identity)" in capsys.readouterr().err


FAKE_TALOSCTL = """#!/bin/sh
echo "$@" > "$FAKE_TALOSCTL_ARGS"
for arg; do last=$arg; done
cp "$FAKE_SNAPSHOT" "$last.part" && mv "$last.part" "$last"
size=$(wc -c < "$last")
echo "etcd snapshot saved to \\"$last\\" ($size bytes)"
echo "snapshot info: hash 0000abcd, revision 26, total keys 31, total size 20480"
"""


def test_command_takes_the_snapshot_with_talosctl_from_the_configured_node(
    definition: Path,
    tmp_path: Path,
    etcd_snapshot: tuple[bytes, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "talosctl").write_text(FAKE_TALOSCTL)
    (bin_dir / "talosctl").chmod(0o755)
    (tmp_path / "snap.db").write_bytes(etcd_snapshot[0])
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SNAPSHOT", str(tmp_path / "snap.db"))
    monkeypatch.setenv("FAKE_TALOSCTL_ARGS", str(tmp_path / "args.txt"))
    talosconfig = tmp_path / "talosconfig"
    args = parse("--cluster", str(definition), "--talosconfig", str(talosconfig))
    assert backup.run_backup(args, now=NOW) == 0, capsys.readouterr().err
    node01 = next(n for n in load_cluster(definition).nodes if n.name == "node01")
    called = (tmp_path / "args.txt").read_text().split()
    assert called[:4] == ["--talosconfig", str(talosconfig), "--nodes", str(node01.ip)]
    assert called[4:6] == ["etcd", "snapshot"]
    new = definition.parent / ".backups" / "K8S-CLUSTER" / backup_name(NOW)
    identity = definition.parent / ".secrets" / "K8S-CLUSTER" / "age-identity.txt"
    decrypted = pyrage.decrypt(new.read_bytes(), backup.load_identities(identity))
    assert decrypted == etcd_snapshot[0]
    assert everything_under(new.parent) == [new.name]


def test_status_is_printed_in_talosctl_words() -> None:
    status = SnapshotStatus(hash=0xC25FD181, revision=4193, total_keys=1287, total_size=3035136)
    assert str(status) == "hash c25fd181, revision 4193, total keys 1287, total size 3035136"
