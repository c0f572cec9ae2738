"""The PSA-03 probe over a fake API: it dry-runs in every listed namespace, not one."""

from __future__ import annotations

from typing import Any, cast

from checks import pod_security
from checks.pod_security import Verdict
from fixtures import probe_pod_security
from provisioning.drivers import errors

REJECTION = (
    'pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged '
    '(container "probe" must not set securityContext.privileged=true)'
)


class FakeKube:
    """Namespaces as listed; a dry-run create refused in *refusing*, admitted elsewhere."""

    def __init__(self, names: list[str] | None, refusing: set[str]) -> None:
        self.names = names
        self.refusing = refusing
        self.created: list[str] = []

    def list(self, kind: Any, *_: Any, **__: Any) -> list[dict[str, Any]]:
        if self.names is None:
            raise errors.Forbidden("cannot list", code=403, reason="Forbidden", request="GET ns")
        items = [{"metadata": {"name": n}} for n in self.names]
        items.append({"metadata": {"name": "going", "deletionTimestamp": "2026-01-01T00:00:00Z"}})
        return items

    def create(self, kind: Any, body: Any, namespace: str, dry_run: bool = False) -> Any:
        assert dry_run
        self.created.append(namespace)
        if namespace in self.refusing:
            raise errors.Forbidden(REJECTION, code=403, reason="Forbidden", request="POST pods")
        return body


def test_every_listed_namespace_is_probed_and_a_loosened_one_is_named() -> None:
    kube = FakeKube(["ci", "default", "kube-system"], refusing={"default"})
    exempt = ("kube-system", "longhorn-system")
    probe = probe_pod_security.probe_admission(cast(Any, kube), exempt, "baseline", "r1")
    # Every namespace not being deleted, and the declared exempt ones even if not listed.
    assert sorted(kube.created) == ["ci", "default", "kube-system", "longhorn-system"]
    verdicts = {o.namespace: (o.exempt, o.verdict) for o in probe.outcomes}
    assert verdicts["ci"] == (False, Verdict.ADMITTED)
    assert verdicts["longhorn-system"] == (True, Verdict.ADMITTED)
    findings = pod_security.privileged_pod_admission(probe)
    assert [f.target for f in findings] == ["privileged Pod dry run in namespace ci"]


def test_unlisted_namespaces_leave_an_outcome_without_a_verdict() -> None:
    kube = FakeKube(None, refusing=set())
    probe = probe_pod_security.probe_admission(cast(Any, kube), ("kube-system",), "baseline", "r")
    first = probe.outcomes[0]
    assert (first.namespace, first.verdict) == (probe_pod_security.NOT_LISTED, None)
    assert "not listed" in first.message
