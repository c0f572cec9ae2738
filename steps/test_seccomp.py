"""Steps for features/seccomp.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then

from checks import seccomp
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("seccomp.feature")


@then("every node's running kubelet configuration has seccompDefault enabled")
def then_kubelet_seccomp_default_enabled(snapshot: Snapshot, verify: Verify) -> None:
    verify(seccomp.seccomp_default_on_every_node, snapshot)


@then("no container of a pod outside the PodSecurity-exempt namespaces runs unconfined")
def then_no_unconfined_containers(snapshot: Snapshot, verify: Verify) -> None:
    verify(seccomp.no_unconfined_containers, snapshot)
