"""Controls fixed on the management side: backups and the kubeconfig (safe).

Why safe: taking an etcd snapshot only reads etcd, pruning removes backups
the retention already gave up, and a new kubeconfig only mints a fresh
client certificate; none touches a node's workload.  A plaintext snapshot
left beside the backups (BAK-02) and a backup that does not restore (BAK-04)
need a person: what leaked, and why the snapshot is bad.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from checks import backups
from checks.findings import Finding
from checks.snapshot import Snapshot
from remediation.actions import (
    Action,
    Plan,
    PruneBackups,
    RegenerateKubeconfig,
    Risk,
    TakeBackup,
)
from remediation.registry import planner


@planner("BAK-01", risk=Risk.SAFE)
def take_backup(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    """Take a backup now; a file dated in the future is a person's to judge (whose clock,
    whose file) and to remove, with the command."""
    directory = snapshot.definition.backup.directory
    ahead = [f for f in findings if isinstance(f, backups.BackupDatedInFuture)]
    manual = tuple(
        f"{f.path} is dated in the future: find what wrote it (the backup host's clock?), "
        f"then rm {shlex.quote(f.path)}"
        for f in ahead
    )
    if len(ahead) == len(findings):
        return Plan("BAK-01", manual=manual)
    action = Action("BAK-01", f"backups in {directory}", "take one now", TakeBackup(), Risk.SAFE)
    return Plan("BAK-01", (action,), manual)


@planner("BAK-03", risk=Risk.SAFE)
def prune_backups(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    settings = snapshot.definition.backup
    action = Action(
        "BAK-03",
        f"backups in {settings.directory}",
        f"remove those older than {settings.retention_days} days",
        PruneBackups(),
        Risk.SAFE,
    )
    return Plan("BAK-03", (action,))


@planner("HYG-06", risk=Risk.SAFE)
def new_kubeconfig(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    action = Action(
        "HYG-06",
        "kubeconfig",
        "fetch a fresh admin kubeconfig",
        RegenerateKubeconfig(),
        Risk.SAFE,
    )
    return Plan("HYG-06", (action,))
