"""Steps shared by every feature: the Background that hands scenarios the observed cluster.

Why here: pytest loads this file for every step module under ``steps/``, so
each area's feature can say ``Given the observed cluster`` without defining
it again (two definitions of one phrase are refused by
tests/suite/test_step_definitions.py).  The step only forwards the
``snapshot`` fixture (:mod:`fixtures.observe`): the cluster is read once per
run, whichever scenarios ask, and again only after a remediation changed it.
Its target fixture has the same name, which
pytest-bdd allows: the area steps take ``snapshot: Snapshot``.
"""

from __future__ import annotations

from pytest_bdd import given

from checks.snapshot import Snapshot


@given("the observed cluster", target_fixture="snapshot")
def given_the_observed_cluster(snapshot: Snapshot) -> Snapshot:
    return snapshot
