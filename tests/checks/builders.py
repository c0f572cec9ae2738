"""Hand-built inputs shared by the check tests: the reference definition and its rendering.

Why a module and not only fixtures: the definition is also needed by plain
helper functions at import time or inside builders (``snap()`` helpers take
it as a default), and a snapshot builder taking an *edit* callback is a
function, not a fixture.  :mod:`tests.checks.conftest` wraps the first two as
fixtures.  Checks are pure functions over a :class:`~checks.snapshot.Snapshot`,
so what belongs here is what more than one area's tests build the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks.snapshot import MACHINE_CONFIG, Snapshot
from provisioning.config import render
from provisioning.definition import inventory

ROOT = Path(__file__).resolve().parents[2]
Docs = list[dict[str, Any]]
Edit = Callable[[str, dict[str, Any]], None]
"""``edit(node_name, v1alpha1_doc)``: change one node's rendered v1alpha1 document in place."""


@functools.cache
def reference_cluster() -> inventory.Cluster:
    """The repository's own definition (``cluster/``), loaded once; it is immutable."""
    return inventory.load_cluster(ROOT / "cluster")


def rendered_configs(cluster: inventory.Cluster) -> dict[str, Docs]:
    """Every node's rendered config (secrets as placeholders), as the snapshot holds it."""
    return {
        name: [dict(d) for d in node.config.documents]
        for name, node in render.render_cluster(cluster).items()
    }


def machine_config_snapshot(
    cluster: inventory.Cluster, rendered: dict[str, Docs], edit: Edit | None = None
) -> Snapshot:
    """A snapshot whose machine configs are *rendered*, with *edit* applied to each v1alpha1.

    *rendered* is copied first, so an edit never leaks into the next test.
    """
    configs: dict[str, list[dict[str, Any]]] = {}
    for node in cluster.nodes:
        docs = copy.deepcopy(rendered[node.name])
        if edit is not None:
            edit(node.name, docs[0])
        configs[node.name] = [{"node": str(node.ip), "metadata": {"id": "v1alpha1"}, "spec": docs}]
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        talos={MACHINE_CONFIG: configs},
    )


def unread_machine_config(snapshot: Snapshot, *nodes: str) -> Snapshot:
    """*snapshot* as if *nodes* had not answered the machine-config read.

    As the collector records a partial answer: the silent nodes are absent
    from the per-node mapping, the others' configs are kept.
    """
    configs = {k: v for k, v in snapshot.talos[MACHINE_CONFIG].items() if k not in nodes}
    return dataclasses.replace(snapshot, talos={**snapshot.talos, MACHINE_CONFIG: configs})
