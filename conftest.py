"""Root conftest: only loads the suite's plugin modules (no logic here)."""

from __future__ import annotations

pytest_plugins = [
    "fixtures.plugin",
    "fixtures.definition",
    "fixtures.remediate",
    "fixtures.waive",
    "fixtures.verify",
    "fixtures.target",
    "fixtures.provision",
    "fixtures.observe",
    "fixtures.probe_api_endpoint",
    "fixtures.probe_pod_security",
    "fixtures.probe_audit",
    "reports.plugin",
    "reports.outputs",
]
