"""Steps for features/audit.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import parsers, scenarios, then, when

from checks import audit
from checks.audit import AuditProbe
from checks.snapshot import Snapshot
from fixtures.probe_audit import SecretReadProbe
from fixtures.verify import Verify

scenarios("audit.feature")


@then(
    "every control-plane node's audit policy gives secrets and RBAC writes RequestResponse "
    "and every other request Metadata"
)
def then_audit_policy_levels(snapshot: Snapshot, verify: Verify) -> None:
    verify(audit.policy_as_declared, snapshot)


@when(
    parsers.parse('a labelled test secret is created, read and deleted in namespace "{namespace}"'),
    target_fixture="audit_probe",
)
def when_test_secret_read(namespace: str, secret_read_probe: SecretReadProbe) -> AuditProbe:
    return secret_read_probe(namespace)


@then("the read of the test secret appears in a control-plane audit log at RequestResponse")
def then_secret_read_audited(audit_probe: AuditProbe, verify: Verify) -> None:
    verify(audit.secret_read_logged, audit_probe)
