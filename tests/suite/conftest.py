"""Fixtures of the drift tests: the provisioned template, clean and drifted running copies.

The API is fixed by the architecture (issue #5) because several areas' drift
tests are written against it; the mechanics live in :mod:`tests.suite.harness`.

* ``built_cluster`` (session): the six-node simulated cluster, provisioned
  once per session into a temporary directory, stopped.
* ``clean_snapshot`` (session): a :class:`~checks.snapshot.Snapshot` of an
  undrifted copy through the real collector.
* ``cluster_with`` (function): ``with cluster_with(("disk_encryption.strip_luks",
  "node03")) as running:`` -> :class:`~tests.suite.harness.RunningCluster`
  (``snapshot()``, ``run_suite(...)``, ``target``, ``cluster``).  Each call
  copies the template, so drifts never leak between tests; starting a copy
  costs seconds, so group a drift's assertions in one test.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest

from checks.snapshot import Snapshot
from tests.suite import harness
from tests.suite.harness import BuiltCluster, ClusterWith, Drift, RunningCluster


@pytest.fixture(scope="session")
def built_cluster(tmp_path_factory: pytest.TempPathFactory) -> BuiltCluster:
    return harness.build_template(tmp_path_factory.mktemp("template") / "copy")


@pytest.fixture(scope="session")
def clean_snapshot(
    built_cluster: BuiltCluster, tmp_path_factory: pytest.TempPathFactory
) -> Snapshot:
    base = tmp_path_factory.mktemp("clean") / "copy"
    with harness.cluster_with(built_cluster, base) as running:
        return running.snapshot()


@pytest.fixture
def cluster_with(
    built_cluster: BuiltCluster, tmp_path_factory: pytest.TempPathFactory
) -> ClusterWith:
    def start(*drifts: Drift | str) -> AbstractContextManager[RunningCluster]:
        base = tmp_path_factory.mktemp("drifted") / "copy"
        return harness.cluster_with(built_cluster, base, *drifts)

    return start
