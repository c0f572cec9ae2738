"""The project's own tests: loopback only (pytest-socket), and scheduling under pytest-xdist.

Loopback: every connection goes to loopback.  Why here and not in
``addopts``: the rule guards the project's tests and the embedded simulator
they start, not an operator's verification run -- ``pytest --live`` must
reach whatever addresses the kubeconfig and talosconfig name.  A conftest
applies to the items collected below it only, so ``pytest tests`` is guarded
and ``pytest`` (the features) is not.  A test that sets its own
``allow_hosts`` mark keeps it; suite runs started by tests pass
``--allow-hosts`` themselves (:mod:`tests.suite.harness`).  Unix sockets
are local by nature and allowed: the suite runs those tests start are forks
of a warm pytest server reached over one (:mod:`tests.suite.harness`).

Scheduling: ``make test`` runs ``pytest tests -n 2``.  The scheduler below
keeps each test module on one worker (its module-scoped fixtures -- a running
simulator, a generated report -- are then built once, as without xdist),
except the simulator-backed modules of ``tests/suite``: their tests are long
and independent (each starts its own copy of the provisioned template), so
they go one by one to whichever worker is free and both cores stay busy to
the end.  A ``tests/suite`` module that defines a module-scoped fixture stays
whole (found by reading the file, so a new one needs no list kept here).
Session fixtures -- the provisioned template -- are built once per worker.
Why a scheduler of our own: xdist's ``--dist loadgroup`` marks groups by
rewriting ``item._nodeid``, which pytest 9.2 no longer reads, so its groups
are silently ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = ("127.0.0.1", "::1", "localhost")
HERE = Path(__file__).parent
ROOT = HERE.parent
SPREAD_UNDER = "tests/suite/"
_MODULE_FIXTURE = re.compile(r"""@pytest\.fixture\([^)]*scope\s*=\s*["'](module|package|class)""")


@pytest.hookimpl(tryfirst=True)  # before pytest-socket reads its options in its own configure
def pytest_configure(config: pytest.Config) -> None:
    config.option.allow_unix_socket = True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path).is_relative_to(HERE) and item.get_closest_marker("allow_hosts") is None:
            item.add_marker(pytest.mark.allow_hosts(list(LOOPBACK)))


def kept_whole(directory: Path = ROOT / SPREAD_UNDER) -> frozenset[str]:
    """The ``tests/suite`` modules whose tests share a fixture wider than one test."""
    return frozenset(
        path.relative_to(ROOT).as_posix()
        for path in directory.glob("test_*.py")
        if _MODULE_FIXTURE.search(path.read_text(encoding="utf-8"))
    )


def scope_of(nodeid: str, whole: frozenset[str]) -> str:
    """The unit of scheduling: the test itself in spread modules, else its module."""
    module = nodeid.split("::", 1)[0]
    if module.startswith(SPREAD_UNDER) and module not in whole:
        return nodeid
    return module


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent when a run goes without it
def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    whole = kept_whole()

    class Scheduler(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid, whole)

    return Scheduler(config, log)
