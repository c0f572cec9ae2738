"""Config-hygiene controls over the running cluster (HYG-05, HYG-06).

HYG-01..04 judge the definition before any node is touched
(:mod:`checks.definition`); these two judge what the cluster shows once it
runs: the hostname each node actually took (article lesson 5: where two
hostname sources disagree, the one Talos applied is what counts), and the
operator's kubeconfig, whose client certificate Talos issues with a limited
lifetime and which must be regenerated before it expires (article lesson 6).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import Finding, NodeFinding, Unobservable, verdict
from checks.snapshot import Snapshot, dotted

HOSTNAME_DOC = "https://docs.siderolabs.com/talos/v1.12/networking/configuration/hostname"
KUBECONFIG_DOC = "https://docs.siderolabs.com/talos/v1.12/security/cert-management"

# Renew with a month to spare: nightly runs then warn for weeks, not hours.
MIN_DAYS_LEFT = 30


@dataclass(frozen=True)
class HostnameMismatch(NodeFinding):
    """The node runs under *hostnames* (what its HostnameStatus said), not the declared one."""

    hostnames: tuple[str, ...] = ()


@judged.judges(nodes=judged.nodes)
def hostnames_as_declared(snapshot: Snapshot) -> list[Finding]:
    """Every node's running hostname is the one the inventory declares.

    Observed: the node's HostnameStatus (what Talos applied from whichever
    source won), not the config, so a config that never took effect still
    shows.
    """
    per_node = snapshot.resources(snapshot_module.HOSTNAME_STATUS)
    findings: list[Finding] = []
    unread: list[str] = []
    for node in snapshot.definition.nodes:
        if node.name not in per_node:
            key = snapshot_module.on_node(snapshot_module.HOSTNAME_STATUS, node.name)
            unread.append(f"{node.name}: {snapshot.missing.get(key, 'hostname status not read')}")
            continue
        seen = [str(dotted(r, "spec.hostname", "")) for r in per_node[node.name]]
        if seen != [node.hostname]:
            findings.append(
                HostnameMismatch(
                    f"{node.name} ({node.ip})",
                    f"hostname {node.hostname}",
                    ", ".join(h or "(empty)" for h in seen) or "no hostname status",
                    HOSTNAME_DOC,
                    node=node.name,
                    hostnames=tuple(h for h in seen if h),
                )
            )
    return verdict(findings, unread)


def _days(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 86400:.1f} days"


@judged.judges(certificates=judged.one)
def kubeconfig_certificate_current(
    snapshot: Snapshot, min_days: int = MIN_DAYS_LEFT
) -> list[Finding]:
    """The kubeconfig's client certificate is accepted and has *min_days* or more left.

    Observed: the certificate's ``notAfter`` against the snapshot's time, and
    whether the API server accepted it for the collector's reads.  When the
    API did not answer at all, acceptance is unknown (the API's silence is
    API-03's finding): an expiry inside *min_days* still fails, otherwise
    the control is unobservable.
    """
    cert = snapshot.client_certificate
    if cert is None:
        snapshot.require(snapshot_module.KUBECONFIG)
        raise Unobservable("the kubeconfig's client certificate was not read")
    unknown = snapshot.missing.get(snapshot_module.KUBECONFIG)
    if unknown is None and snapshot.api is not None and not snapshot.api.answered:
        unknown = "the Kubernetes API did not answer, so the certificate was not tried"
    target = f"kubeconfig client certificate ({cert.subject})"
    findings: list[Finding] = []
    if not cert.accepted and unknown is None:
        findings.append(Finding(target, "accepted by the API server", "rejected", KUBECONFIG_DOC))
    left = cert.not_after - snapshot.taken_at
    if left < dt.timedelta(days=min_days):
        observed = (
            f"expired {cert.not_after.isoformat(timespec='minutes')} ({_days(-left)} ago)"
            if left <= dt.timedelta(0)
            else f"expires {cert.not_after.isoformat(timespec='minutes')} ({_days(left)} left)"
        )
        findings.append(
            Finding(target, f"valid for at least {min_days} more days", observed, KUBECONFIG_DOC)
        )
    return verdict(findings, [unknown] if unknown is not None else [])
