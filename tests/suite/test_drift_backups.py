"""Backup drifts end to end: stopped backups fail BAK-01, an expired one BAK-03, a
plaintext copy BAK-02, and a newest backup that does not restore BAK-04.

The template's backup directory holds the encrypted snapshot its provisioning
took.  ``backups.stop`` leaves only a backup older than 26 h; ``backups.age``
adds a copy named beyond the retention; the BAK-04 drifts make the newest
backup one the copy's identity cannot decrypt (a foreign recipient), a cut
ciphertext, or an age file whose plaintext is no snapshot.  The suite's
backup steps run once against each copy (the collector restore-checks the
newest backup with the copy's own age identity): only the drifted control
fails, with one finding naming the file, and the other backup controls pass.
BAK-04 has no automatic fix: ``--remediate`` with every allowance fails with
a manual plan naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from checks import backups
from checks.findings import Finding
from checks.snapshot import Snapshot
from provisioning.operations import backup_files
from tests.suite.harness import judged

pytestmark = pytest.mark.slow

CHECKS: dict[str, Callable[[Snapshot], Sequence[Finding]]] = {
    "BAK-01": backups.newest_backup_is_recent,
    "BAK-02": backups.newest_backup_is_encrypted,
    "BAK-03": backups.backups_within_retention,
    "BAK-04": backups.newest_backup_restores,
}


def test_clean_cluster_backups_conform(clean_snapshot: Snapshot) -> None:
    assert clean_snapshot.backups is not None
    assert clean_snapshot.backups.restore_keys is not None
    assert {control: list(check(clean_snapshot)) for control, check in CHECKS.items()} == {
        control: [] for control in CHECKS
    }


def _dated(running: Any) -> list[str]:
    """The copy's dated backup names, oldest first (read after its suite run)."""
    directory = running.cluster.backup.directory
    return [path.name for _, path in backup_files.list_backups(directory).dated]


def test_stopped_backups_fail_bak01_naming_the_newest(cluster_with: Any) -> None:
    with cluster_with("backups.stop") as running:
        run = running.run_suite("steps/test_backups.py")
        names = _dated(running)

    assert run.returncode == 1, run.output
    assert run.outcomes == {
        "BAK-01": "failed",
        "BAK-02": "passed",
        "BAK-03": "passed",
        "BAK-04": "passed",
    }, run.output
    message = run.messages["BAK-01"]
    assert "newest_backup_is_recent: 1 finding(s)" in message
    assert f"/{names[-1]}: expected a backup younger than 26.0 h; observed the newest " in message


def test_expired_backup_fails_bak03_naming_it(cluster_with: Any) -> None:
    with cluster_with("backups.age") as running:
        run = running.run_suite("steps/test_backups.py")
        names = _dated(running)
        retention = running.cluster.backup.retention_days

    assert run.returncode == 1, run.output
    assert run.outcomes == {
        "BAK-01": "passed",
        "BAK-02": "passed",
        "BAK-03": "failed",
        "BAK-04": "passed",
    }, run.output
    message = run.messages["BAK-03"]
    assert "backups_within_retention: 1 finding(s)" in message
    assert f"/{names[0]}: expected no backup older than {retention} days" in message
    assert f"; observed {retention + 2}." in message


def test_plaintext_copy_fails_bak02_naming_the_file(cluster_with: Any) -> None:
    with cluster_with("backups.leave_plaintext") as running:
        state = running.snapshot()
    found = {control: list(check(state)) for control, check in CHECKS.items()}
    (finding,) = found["BAK-02"]
    assert finding.target.endswith(".snapshot")
    assert finding.target.split("/")[-1].startswith("etcd-")
    assert finding.expected == "an age file (header age-encryption.org/v1)"
    assert {c: f for c, f in found.items() if c != "BAK-02"} == {
        c: [] for c in CHECKS if c != "BAK-02"
    }


def _bak04_message(running: Any) -> tuple[str, str]:
    """BAK-04's suite message and the newest backup's full path, after one suite run in
    which every other backup control passed."""
    run = running.run_suite("steps/test_backups.py")
    newest = f"{running.cluster.backup.directory}/{_dated(running)[-1]}"
    assert run.returncode == 1, run.output
    assert run.outcomes == {
        "BAK-01": "passed",
        "BAK-02": "passed",
        "BAK-03": "passed",
        "BAK-04": "failed",
    }, run.output
    message = run.messages["BAK-04"]
    assert "newest_backup_restores: 1 finding(s)" in message, message
    return message, newest


def test_foreign_recipient_fails_bak04_naming_the_newest(cluster_with: Any) -> None:
    with cluster_with("backups.foreign_recipient") as running:
        identity = running.cluster.backup.identity_file
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        message, newest = _bak04_message(running)
    (finding,) = found.pop("BAK-04")
    assert found == {c: [] for c in CHECKS if c != "BAK-04"}
    assert finding.target == newest
    assert finding.expected == "decrypts to a readable etcd snapshot"
    assert finding.observed == (
        f"{newest}: was not encrypted to the identity in {identity} (backup.identityFile), "
        "or its header is damaged; use the identity of backup.ageRecipient"
    )
    assert f"{newest}: expected decrypts to a readable etcd snapshot; observed {newest}: " in (
        message
    )


# The other two are judged by the suite run alone: its message carries the finding.


def test_truncated_backup_fails_bak04_as_corrupt(cluster_with: Any) -> None:
    with cluster_with("backups.truncate_newest") as running:
        message, newest = _bak04_message(running)
    assert (
        f"{newest}: expected decrypts to a readable etcd snapshot; observed {newest}: "
        "cannot be decrypted: the file is corrupt or truncated"
    ) in message, message


def test_backup_of_an_error_message_fails_bak04_as_no_snapshot(cluster_with: Any) -> None:
    with cluster_with("backups.not_a_snapshot") as running:
        message, newest = _bak04_message(running)
    assert (
        f"{newest}: expected decrypts to a readable etcd snapshot; observed {newest}: "
        "decrypts to something that is not an etcd snapshot"
    ) in message, message


def test_snapshot_taken_by_hand_fails_bak02_whatever_its_name(cluster_with: Any) -> None:
    # A real plaintext etcd snapshot under a name no suffix rule foresees.
    with cluster_with("backups.snapshot_by_hand") as running:
        state = running.snapshot()
        directory = str(running.cluster.backup.directory).rstrip("/")
    found = {control: list(check(state)) for control, check in CHECKS.items()}
    (finding,) = found.pop("BAK-02")
    assert finding.target == f"{directory}/before-upgrade"
    assert finding.expected == "an age file (header age-encryption.org/v1)"
    assert finding.observed.startswith("a file without the age header (")
    assert found == {c: [] for c in CHECKS if c != "BAK-02"}
