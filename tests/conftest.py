"""The project's own tests: every connection goes to loopback (pytest-socket).

Why here and not in ``addopts``: the rule guards the project's tests and the
embedded simulator they start, not an operator's verification run -- ``pytest
--live`` must reach whatever addresses the kubeconfig and talosconfig name.
A conftest applies to the items collected below it only, so ``pytest tests``
is guarded and ``pytest`` (the features) is not.  A test that sets its own
``allow_hosts`` mark keeps it; suite runs started by tests pass
``--allow-hosts`` themselves (:mod:`tests.suite.harness`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

LOOPBACK = ("127.0.0.1", "::1", "localhost")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path).is_relative_to(HERE) and item.get_closest_marker("allow_hosts") is None:
            item.add_marker(pytest.mark.allow_hosts(list(LOOPBACK)))
