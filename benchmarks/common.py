"""What both benchmarks need: the loopback Kubernetes reader, bounded waits, provisioning.

Why a module of its own: :mod:`benchmarks.simulator_scale` and
:mod:`benchmarks.verification` both start a simulator, provision it with the
plan ``pytest --provision`` runs, and wait for every node to be Ready; the
second used to borrow the first's private helpers.  Only what both use
belongs here; each script keeps its own measuring.

Only 127.0.0.1 is dialled (:class:`Kube` refuses any other server).
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from provisioning.config.secrets import SecretStore  # noqa: E402
from provisioning.definition import inventory, yamlfiles  # noqa: E402
from provisioning.drivers import Target  # noqa: E402
from provisioning.drivers.helm import HelmDriver  # noqa: E402
from provisioning.drivers.kube import KubeDriver  # noqa: E402
from provisioning.drivers.talosctl import TalosDriver  # noqa: E402
from provisioning.plan import PlanError, build_plan, run_plan  # noqa: E402
from provisioning.plan_steps import KubeOps  # noqa: E402

DEFINITION_NODES = 6
READY_PREFIX = "simulator ready: "
START_TIMEOUT = 300.0
SETTLE_TIMEOUT = 1200.0
PROVISION_TIMEOUT = 1800.0


class Kube:
    """GETs against the simulated API server with the kubeconfig's client certificate."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        document = yamlfiles.load_one(kubeconfig, str(kubeconfig))
        cluster = document["clusters"][0]["cluster"]
        user = document["users"][0]["user"]
        self.server = str(cluster["server"]).rstrip("/")
        # The simulator's kubeconfig names the VIP and its loopback address proxy.
        proxy = str(cluster.get("proxy-url") or "")
        if not proxy.startswith("http://127.0.0.1:"):
            raise SystemExit(f"refusing to dial {self.server} without a loopback proxy")
        files = {}
        for name, field in (
            ("ca.crt", cluster["certificate-authority-data"]),
            ("client.crt", user["client-certificate-data"]),
            ("client.key", user["client-key-data"]),
        ):
            path = workdir / name
            path.write_bytes(base64.b64decode(field))
            path.chmod(0o600)
            files[name] = path
        context = ssl.create_default_context(cafile=str(files["ca.crt"]))
        context.load_cert_chain(str(files["client.crt"]), str(files["client.key"]))
        self.http = urllib3.ProxyManager(proxy, ssl_context=context, retries=False, timeout=60.0)

    def get(self, path: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        response = self.http.request("GET", self.server + path, preload_content=True)
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return elapsed, response.data

    def items(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.get(path)[1])["items"]
        return items


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.5)


def settled(kube: Kube, nodes: int) -> bool:
    found = kube.items("/api/v1/nodes")
    if len(found) < nodes:
        return False
    for node in found:
        conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
        if conditions.get("Ready") != "True":
            return False
    for ds in kube.items("/apis/apps/v1/daemonsets"):
        status = ds.get("status") or {}
        if status.get("numberReady", 0) != status.get("desiredNumberScheduled", -1):
            return False
    return True


def provision(definition: Path, state: Path, scratch: Path) -> None:
    cluster = inventory.load_cluster(definition, str(definition))
    target = Target(
        name=f"simulated:{state}",
        kubeconfig=state / "kubeconfig",
        talosconfig=state / "talosconfig",
        bin_dir=state / "bin",
    )
    kubes: list[KubeDriver] = []

    def kube() -> KubeOps:
        kubes.append(KubeDriver(target))
        return kubes[-1]

    steps = build_plan(
        cluster,
        target,
        talos=TalosDriver(target),
        helm=HelmDriver(target, repository_config=scratch / "repositories.yaml"),
        kube=kube,
        secrets=SecretStore(
            cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
        ),
        allow_destructive=True,
        log=lambda line: None,
    )
    deadline = time.monotonic() + PROVISION_TIMEOUT
    try:
        while True:
            try:
                run_plan(steps, mode="apply", log=lambda line: None)
                return
            except PlanError as exc:
                # The plan does not wait for Cilium's CRDs before the manifests step; the
                # simulated operator creates them on a later reconcile pass (slower at
                # scale).  The plan is idempotent: run it again, done steps are skipped.
                if time.monotonic() > deadline:
                    raise SystemExit(f"provisioning failed: {exc}") from None
                time.sleep(2.0)
    finally:
        for driver in kubes:
            driver.close()
