"""The seam between the suite and a cluster: the :class:`Target` the drivers point at.

Drivers are testinfra's backends (style.md §E): built from a :class:`Target`,
they never know whether it is the simulator or a real cluster, and nothing
outside this package talks to a cluster.  How a CLI is run (tool lookup, the
subprocess runner, retries) lives in :mod:`provisioning.drivers.process`; its
names are re-exported here because the drivers and their callers import them
from the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioning.drivers import errors
from provisioning.drivers.process import (
    MASK,
    SECRET_FLAGS,
    Classifier,
    CommandLine,
    Completed,
    Failure,
    Idempotence,
    RetryPolicy,
    Runner,
    find_executable,
    run_subprocess,
    shown,
)

__all__ = [
    "MASK",
    "SECRET_FLAGS",
    "Classifier",
    "CommandLine",
    "Completed",
    "Failure",
    "Idempotence",
    "RetryPolicy",
    "Runner",
    "Target",
    "errors",
    "find_executable",
    "run_subprocess",
    "shown",
]


@dataclass(frozen=True)
class Target:
    """Where the drivers point: one cluster, simulated or live, chosen once per session.

    Nothing here says which kind it is: the kubeconfig and talosconfig carry
    how to reach the cluster (the embedded one's kubeconfig names its address
    proxy as ``proxy-url``, which every client honours), so every driver,
    probe and check takes one path for both.
    """

    name: str
    kubeconfig: Path | None
    talosconfig: Path | None
    bin_dir: Path | None
