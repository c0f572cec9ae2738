"""Steps for features/pod_security.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then, when

from checks import pod_security
from checks.pod_security import AdmissionProbe
from checks.snapshot import Snapshot
from fixtures.probe_pod_security import PrivilegedPodProbe
from fixtures.verify import Verify

scenarios("pod_security.feature")


@then("every control-plane node's admission configuration enforces the declared Pod Security level")
def then_admission_enforces_declared_level(snapshot: Snapshot, verify: Verify) -> None:
    verify(pod_security.baseline_enforced, snapshot)


@then("every control-plane node exempts exactly the declared namespaces from Pod Security")
def then_exempts_exactly_declared_namespaces(snapshot: Snapshot, verify: Verify) -> None:
    verify(pod_security.exemptions_as_declared, snapshot)


@when(
    "a privileged pod is submitted as a server-side dry run in every namespace",
    target_fixture="admission_probe",
)
def when_privileged_pod_dry_run(privileged_pod_probe: PrivilegedPodProbe) -> AdmissionProbe:
    return privileged_pod_probe()


@then("Pod Security rejects the privileged pod outside the exempt namespaces and admits it in them")
def then_privileged_pod_judged(admission_probe: AdmissionProbe, verify: Verify) -> None:
    verify(pod_security.privileged_pod_admission, admission_probe)
