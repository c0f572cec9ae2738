"""The Kubernetes API front: one loopback port whose TLS identity follows the cluster CA.

What belongs here: :class:`KubeFront`, which answers 503 before bootstrap and
rebuilds the API server on the same port when the cluster's Kubernetes CA or
serving names change.  Split out of :mod:`simulator.server` because it holds
its own lock and state machine (placeholder -> serving, drift faults), while
the server module only wires parts together.

Why the front is replaced rather than reconfigured: its TLS identity is fixed
when it is built, and the right identity (the cluster's Kubernetes CA from
the applied config) exists only after bootstrap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from simulator import apiserver
from simulator.kube.objects import ObjectStore
from simulator.kube.server import KubeApiServer
from simulator.pki import ClusterCA
from simulator.state.machines import Site


class KubeFront:
    """The Kubernetes API on one loopback port, its TLS identity following the cluster CA."""

    def __init__(
        self,
        store: ObjectStore,
        fallback_ca: ClusterCA,
        make_handlers: Callable[[ObjectStore], Any],
        *,
        port: int = 0,
    ) -> None:
        self.store = store
        self.fallback_ca = fallback_ca
        self._make_handlers = make_handlers
        self._lock = threading.RLock()
        self._identity: tuple[str, tuple[str, ...]] | None = None
        self.ca = fallback_ca
        self.ca_source = "simulator CA (not bootstrapped yet)"
        self.server = self._build(fallback_ca, ("127.0.0.1", "localhost"), port)
        self.server.set_fault("unavailable")
        self.fault: tuple[str | None, float] = (None, 0.0)  # a drift's, once serving
        self.serving = False
        self.server.start()
        self.port = int(self.server.url.rsplit(":", 1)[1])

    def _build(self, ca: ClusterCA, sans: tuple[str, ...], port: int) -> KubeApiServer:
        server = KubeApiServer(self.store, ca.serving_tls(sans), port=port)
        server.handlers = self._make_handlers(self.store)
        return server

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def sync(self, site: Site) -> bool:
        """Follow *site*: 503 before bootstrap, else serve with the cluster CA; True if serving."""
        with self._lock:
            serving = apiserver.serving_machine(site)
            if serving is None:
                self.server.set_fault("unavailable")
                self.serving = False
                return False
            machine, view = serving
            ca = apiserver.kubernetes_ca(view)
            source = f"cluster CA from the applied config of {machine.name}"
            if ca is None:
                ca = self.fallback_ca
                source = (
                    f"simulator CA (the applied config of {machine.name} has no usable cluster.ca)"
                )
            sans = tuple(apiserver.serving_sans(site))
            identity = (apiserver.ca_fingerprint(ca), sans)
            if identity != self._identity:
                old = self.server
                old.stop()
                self.server = self._build(ca, sans, self.port)
                self.server.start()
                self._identity = identity
            self.ca, self.ca_source = ca, source
            self.server.set_fault(*self.fault)
            self.serving = True
            return True

    def set_drift_fault(self, mode: str | None, delay_seconds: float) -> None:
        """A drift's fault (simulator.drifts.api_endpoint); applies while serving."""
        with self._lock:
            self.fault = (mode, delay_seconds)
            if self.serving:
                self.server.set_fault(mode, delay_seconds)

    def stop(self) -> None:
        with self._lock:
            self.server.stop()


__all__ = ["KubeFront"]
