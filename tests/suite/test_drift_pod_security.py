"""PodSecurity drifts end to end: the cluster drifts as an operator could; the suite says so.

Each drift test injects one drift into a copy of the provisioned simulated
cluster and runs ``steps/test_pod_security.py`` against it once: exactly the
drift's controls fail, their messages name every control-plane node or the
namespace, and the others pass (or skip, with the reason, where the drift
leaves nothing to judge).  The suite run is the observation -- a separate
snapshot would double the cost; the findings' shape is unit-tested in
tests/checks/test_pod_security.py.  The ``drop_admission`` test also calls
the PSA-03 probe directly to show each namespace's verdict.  The clean
cluster passes the configuration checks; the ``drop_exemption`` run doubles
as the clean run of PSA-01 and PSA-03.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks import pod_security
from checks.pod_security import AdmissionProbe, Verdict
from checks.snapshot import Snapshot
from fixtures.probe_pod_security import probe_admission
from provisioning.drivers.kube import KubeDriver
from tests.suite.harness import RunningCluster

pytestmark = pytest.mark.slow

CONTROLS = ("PSA-01", "PSA-02", "PSA-03")
CONTROL_PLANES = [f"node0{i} (k8s-node0{i})" for i in range(1, 7)]


def _probe(running: RunningCluster) -> AdmissionProbe:
    security = running.cluster.security
    with KubeDriver(running.target) as kube:
        return probe_admission(
            kube, security.exempt_namespaces, security.pod_security_enforce, "t1"
        )


def test_clean_cluster_passes_the_configuration_checks(clean_snapshot: Snapshot) -> None:
    assert pod_security.baseline_enforced(clean_snapshot) == []
    assert pod_security.exemptions_as_declared(clean_snapshot) == []


def test_dropped_admission_plugin_fails_psa01_and_psa03(cluster_with: Any) -> None:
    with cluster_with("pod_security.drop_admission") as running:
        probe = _probe(running)
        run = running.run_suite("steps/test_pod_security.py")

    # Behaviour: the privileged pod now gets into every namespace; the probe tried each one.
    verdicts = {o.namespace: o.verdict for o in probe.outcomes}
    assert {"default", "kube-public", "kube-system", "longhorn-system"} <= set(verdicts)
    assert set(verdicts.values()) == {Verdict.ADMITTED}, verdicts
    regular = sorted(n for n in verdicts if n not in ("kube-system", "longhorn-system"))
    behaviour = pod_security.privileged_pod_admission(probe)
    assert [(f.target, f.observed) for f in behaviour] == [
        (f"privileged Pod dry run in namespace {n}", "admitted") for n in regular
    ]

    assert run.returncode == 1, run.output
    assert run.outcomes == {"PSA-01": "failed", "PSA-02": "skipped", "PSA-03": "failed"}, run.output
    config = run.messages["PSA-01"]
    for node in CONTROL_PLANES:
        assert f"{node}: expected PodSecurity admission enforcing 'baseline'" in config, config
    assert "observed no PodSecurity entry in cluster.apiServer.admissionControl" in config
    assert "namespace default: expected rejected" in run.messages["PSA-03"]
    assert "PSA-01 reports" in run.messages["PSA-02"]


def test_dropped_exemption_fails_psa02_only(cluster_with: Any) -> None:
    with cluster_with("pod_security.drop_exemption") as running:
        state = running.snapshot()
        probe = _probe(running)
        run = running.run_suite("steps/test_pod_security.py")

    assert pod_security.baseline_enforced(state) == []
    findings = pod_security.exemptions_as_declared(state)
    assert [f.target for f in findings] == CONTROL_PLANES
    assert all("missing longhorn-system" in f.observed for f in findings)

    # longhorn-system's own enforce=privileged label still admits the pod, so the
    # behaviour holds: the rejection in "default" is PodSecurity's own message.
    regular = next(o for o in probe.outcomes if o.namespace == "default")
    assert regular.verdict is Verdict.REJECTED
    assert 'violates PodSecurity "baseline:latest"' in regular.message
    assert pod_security.privileged_pod_admission(probe) == []

    assert run.returncode == 1, run.output
    assert run.outcomes == {"PSA-01": "passed", "PSA-02": "failed", "PSA-03": "passed"}, run.output
    assert "missing longhorn-system" in run.messages["PSA-02"]
    assert set(run.outcomes) == set(CONTROLS)
