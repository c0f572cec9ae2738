"""Seccomp control (SEC-01): every kubelet runs containers under RuntimeDefault by default.

Judged from each kubelet's *running* configuration (``/configz``), not from the
machine config: Talos maps ``machine.kubelet.defaultRuntimeSeccompProfileEnabled``
to the protected KubeletConfiguration field ``seccompDefault``, and only the
kubelet's own view proves the setting took effect.  The field is a pointer
that defaults to false, so an absent field is a finding too.

A kubelet that was not read (a NotReady or powered-off node) never lets the
control pass.  When the kubelets that answered already show a finding, the
silent ones are listed beside it (the control fails either way, and the
operator sees the whole picture).  When every kubelet that answered conforms,
the control is unobservable, naming the silent nodes and why: failing it
would report TOP-01's node again as a seccomp problem nobody observed.  With
no kubelet read at all the control is unobservable too.
"""

from __future__ import annotations

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot

DOC = "https://kubernetes.io/docs/tutorials/security/seccomp/#enable-the-use-of-runtimedefault-as-the-default-seccomp-profile-for-all-workloads"
FIELD = "seccompDefault"


@judged.judges(nodes=judged.nodes)
def seccomp_default_on_every_node(snapshot: Snapshot) -> list[Finding]:
    """``seccompDefault`` is true in every inventory node's running kubelet config."""
    snapshot.require(snapshot_module.CONFIGZ)
    nodes = snapshot.definition.nodes
    if not any(node.name in snapshot.configz for node in nodes):
        raise Unobservable("no node's kubelet configuration (configz) was read")
    unread = snapshot.unread_nodes(snapshot_module.CONFIGZ)
    findings: list[Finding] = []
    silent: list[Finding] = []
    expected = f"{FIELD}: true"
    for node in nodes:
        target = f"{node.name} ({node.hostname}) kubelet"
        config = snapshot.configz.get(node.name)
        if config is None:
            why = unread.get(node.name, "no answer")
            silent.append(Finding(target, expected, f"kubelet configuration not read: {why}", DOC))
        elif FIELD not in config:
            findings.append(Finding(target, expected, f"{FIELD} unset (defaults to false)", DOC))
        elif config[FIELD] is not True:
            value = config[FIELD]
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            findings.append(Finding(target, expected, f"{FIELD}: {shown}", DOC))
    if silent and not findings:
        raise Unobservable(
            "; ".join(f"{f.target}: {f.observed}" for f in silent)
            + f" (the {len(nodes) - len(silent)} kubelets read have {FIELD} enabled)"
        )
    return findings + silent
