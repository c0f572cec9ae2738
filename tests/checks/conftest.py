"""Fixtures every check test may ask for: the reference definition and its rendering.

Session-scoped because both are immutable inputs (tests copy before editing,
see :func:`tests.checks.builders.machine_config_snapshot`) and rendering six
nodes is the slowest part of building a snapshot.  These override the suite
plugin's ``cluster`` fixture, which follows ``--cluster``: a check's unit
tests always judge the repository's own definition.
"""

from __future__ import annotations

import pytest

from provisioning.definition import inventory
from tests.checks.builders import Docs, reference_cluster, rendered_configs


@pytest.fixture(scope="session")
def cluster() -> inventory.Cluster:
    return reference_cluster()


@pytest.fixture(scope="session")
def rendered(cluster: inventory.Cluster) -> dict[str, Docs]:
    return rendered_configs(cluster)
