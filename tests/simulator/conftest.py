"""Fixtures shared by the simulator's drift unit tests: one provisioned cluster, a copy per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.drifts import DriftContext
from simulator.store.kv import MemoryKV
from tests.simulator.provisioned_cluster import copy_of, provision
from tests.simulator.talos_site import served_talosctl


@pytest.fixture(scope="session")
def provisioned() -> MemoryKV:
    """Built once per run: every test works on its own copy (``ctx``), never on this."""
    kv = MemoryKV()
    provision(kv)
    return kv


@pytest.fixture
def ctx(provisioned: MemoryKV, tmp_path: Path) -> DriftContext:
    return copy_of(provisioned, tmp_path)


@pytest.fixture(scope="session")
def command_server() -> Iterator[str]:
    """The address of one ``talosctl`` command server, as a running simulator has one."""
    with served_talosctl() as address:
        yield address
