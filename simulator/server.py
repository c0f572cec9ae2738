"""The composition root of the embedded cluster: one state directory, every server wired.

What belongs here: :class:`Simulator`, which owns a state directory
(layout and lock in :mod:`simulator.statedir`), starts etcd, the Talos
machine API and the Kubernetes API on loopback, connects the Kubernetes
side to Talos state through :mod:`simulator.apiserver` and
:mod:`simulator.apiserver_audit`, and runs the cluster controller after
every Talos operation and Kubernetes write.  Only wiring: behaviour lives
in the modules it composes (the Kubernetes front in
:mod:`simulator.kube_front`, the reconcile runner in
:mod:`simulator.reconciler`), so this file stays a readable map.

Why the Kubernetes front is replaced rather than reconfigured: its TLS
identity is fixed when it is built, and the right identity (the cluster's
Kubernetes CA from the applied config) exists only after bootstrap.  Before
bootstrap a placeholder on the same port answers 503 to everything, as a
control plane without a kube-apiserver would; the port never changes while
the process runs (a restart picks new ports, hence a new ``talosctl
kubeconfig``, as after a real reboot).

Addresses: the kubeconfig names the declared endpoint (the VIP URL) and the
address proxy (:mod:`simulator.address_proxy`) as its ``proxy-url``; the
proxy tunnels a declared address to the front while
:func:`simulator.apiserver.api_unserved_reason` says something answers
there, so clients reach the cluster as the definition names it.

Reconciliation: the cluster controller (``simulator.controllers.cluster``,
written separately) is imported lazily; while it is absent the simulator
runs without it and says so in ``serve.json``.  After a Talos operation
that changed the site, a pass runs before the call answers (reads skip
it); after a Kubernetes write a background worker runs one, so clients do
not wait.  The controller's own writes trigger nothing (see
:class:`Reconciler`), which is what prevents a loop.

Scale (``serve --nodes N``): the extra workers are machines in maintenance
mode until the cluster is bootstrapped; the first Talos call after that
joins them with the shared worker config (:mod:`simulator.talos.synthetic`),
before the reconcile pass that registers their Nodes.  Request paths read
the Talos side through :meth:`Simulator._site_view`, which decodes it again
only when etcd says it changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from provisioning.config import secrets
from provisioning.definition import inventory
from simulator import apiserver, apiserver_audit
from simulator.address_proxy import AddressProxy
from simulator.drifts.api_endpoint import FaultWatcher
from simulator.helm.cli import install_helm
from simulator.kube.errors import ApiError
from simulator.kube.hooks import Hooks, WatchEvent
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.kube_front import KubeFront
from simulator.pki import write_kubeconfig, write_private_file
from simulator.reconciler import CONTROLLER_MODULE, Reconcile, Reconciler, load_reconcile
from simulator.state.machines import PREFIX as SITE_PREFIX
from simulator.state.machines import Machine, Site, SiteStore
from simulator.state.site import site_from_cluster
from simulator.statedir import (
    ServeError,
    StatePaths,
    cluster_secrets,
    lock_state,
    simulator_ca,
    synthesise_workers,
)
from simulator.store.etcd import DatastoreError, EtcdKV, EtcdServer
from simulator.store.kv import RevisionConflict
from simulator.talos import tls as talos_tls
from simulator.talos.api import MachineApi
from simulator.talos.cli import install_executables
from simulator.talos.cli_server import CommandServer
from simulator.talos.configview import ConfigView
from simulator.talos.errors import TalosError
from simulator.talos.synthetic import join_synthetic_workers
from simulator.talos.talosconfig import write_admin

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class _ObservedMachineApi(MachineApi):
    """The machine API with a callback after every call (the Talos side changed)."""

    def __init__(self, kv: EtcdKV, *, after_call: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(kv, **kwargs)
        self._after_call = after_call

    def call(self, node: str, op: str, args: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        result = super().call(node, op, args, **kwargs)
        self._after_call()
        return result


class Simulator:
    """Everything ``python -m simulator serve`` runs, startable and stoppable in-process."""

    def __init__(
        self,
        state: Path,
        cluster_dir: Path,
        *,
        extra_nodes: int = 0,
        pod_start_delay: float = 0.0,
        proxy_host: str = "127.0.0.1",
    ) -> None:
        self.paths = StatePaths(state.absolute())
        self.proxy_host = proxy_host  # the loopback address the address proxy listens on
        self.cluster_dir = cluster_dir
        self.extra_nodes = extra_nodes
        self.pod_start_delay = pod_start_delay
        self.notes: list[str] = []
        self._lock_handle: IO[str] | None = None
        self._etcd: EtcdServer | None = None
        self._kv: EtcdKV | None = None
        self._front: KubeFront | None = None
        self._proxy: AddressProxy | None = None
        self._talos: MachineApi | None = None
        self._commands: CommandServer | None = None
        self._reconciler: Reconciler | None = None
        self._faults: FaultWatcher | None = None
        self._reconcile = load_reconcile()
        self._talos_signature: tuple[tuple[str, int], ...] | None = None
        self._site_cache: tuple[tuple[int, int], Site] | None = None
        self._serving_cache: tuple[Site, tuple[Machine, ConfigView] | None] | None = None
        self._secrets: secrets.MachineSecrets | None = None
        self.cluster: inventory.Cluster | None = None

    # -- start / stop ------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything; on failure stop what was started and raise :class:`ServeError`.

        :raises DefinitionError: the cluster definition has problems.
        """
        self._lock_handle = lock_state(self.paths)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        paths = self.paths
        self.cluster = inventory.load_cluster(self.cluster_dir, str(self.cluster_dir))
        for sub in (paths.logs, paths.audit, paths.bin):
            sub.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._etcd = EtcdServer(
            paths.etcd, log_file=paths.logs / "etcd.log", tls_dir=paths.etcd_tls
        )
        try:
            self._etcd.start()
        except (DatastoreError, OSError) as exc:  # EtcdStartError quotes what etcd logged
            raise ServeError(f"etcd failed to start: {exc}") from None
        kv = self._kv = EtcdKV(self._etcd.client_url, tls=self._etcd.client_tls)
        self._init_site(kv)
        audit_log = apiserver_audit.AuditLog(paths.audit)
        hooks = Hooks()
        store = ObjectStore(kv, builtin_registry(), hooks)
        hooks.admission.append(
            apiserver.pod_security_admission(self._pod_security_config, self._namespace_labels)
        )
        hooks.admission.append(apiserver.default_storage_class_admission(self._storage_classes))
        hooks.after_write.append(self._after_write)
        self._front = KubeFront(
            store,
            simulator_ca(paths),
            lambda s: apiserver_audit.AuditedHandlers(
                s,
                audit_log=audit_log,
                policy_source=self._audit_policy,
                node_proxy=apiserver.node_proxy(self._site_view),
            ),
        )
        self._store = store
        try:
            self._proxy = AddressProxy(self._resolve_address, host=self.proxy_host)
        except OSError as exc:
            raise ServeError(
                f"the address proxy cannot listen on {self.proxy_host}: {exc}"
            ) from None
        self._proxy.start()
        # Slow-starting pods become Running by the clock, not by a write: passes then
        # also run on a timer, a few times per delay.
        tick = min(1.0, self.pod_start_delay / 4) if self.pod_start_delay > 0 else None
        self._reconciler = Reconciler(self._reconcile_pass, interval=tick)
        if self._reconcile is None:
            self.notes.append(f"{CONTROLLER_MODULE} is not available: no reconciliation")
        machine_secrets, note = cluster_secrets(self.cluster)
        self._secrets = machine_secrets
        self.notes.append(note)
        self._talos = _ObservedMachineApi(
            kv,
            # apid's serving certificate, signed by the machine CA the talosconfig trusts
            tls=talos_tls.serving(machine_secrets.os_ca.crt, machine_secrets.os_ca.key),
            after_call=self._after_talos_call,
            kubeconfig_provider=self._kubeconfig_bytes,
            file_reader=lambda machine, path: (
                audit_log.read(machine) if path == apiserver.AUDIT_LOG_PATH else None
            ),
        )
        self._talos.start()
        root = Path(__file__).resolve().parents[1]
        self._commands = CommandServer(root, paths.logs / "talosctl-server.log")
        install_executables(paths.bin, self._talos.url, self._commands.start())
        install_helm(paths.bin)
        self._link_kubectl()
        self._write_talosconfig()
        self._after_talos_call()
        front, etcd_url, etcd_tls = self._front, self._etcd.client_url, self._etcd.client_tls
        self._faults = FaultWatcher(lambda: EtcdKV(etcd_url, tls=etcd_tls), front.set_drift_fault)
        self.write_serve_json()

    def _init_site(self, kv: EtcdKV) -> None:
        assert self.cluster is not None
        store = SiteStore(kv)
        site = store.load()
        if not site.machines:
            site = site_from_cluster(self.cluster)
            self.notes.append("site built from the definition")
        else:
            self.notes.append("site loaded from etcd")
        added = synthesise_workers(site, self.extra_nodes)
        if added:
            self.notes.append(f"{len(added)} synthetic worker nodes added")
        store.save(site)

    def stop(self) -> None:
        """Stop servers, then etcd; remove ``serve.json``; release the lock. Idempotent."""
        if self._faults is not None:
            self._faults.stop()
            self._faults = None
        if self._commands is not None:
            self._commands.stop()
            self._commands = None
        if self._talos is not None:
            self._talos.stop()
            self._talos = None
        if self._reconciler is not None:
            self._reconciler.stop()
            self._reconciler = None
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._front is not None:
            self._front.stop()
            self._front = None
        if self._kv is not None:
            self._kv.close()
            self._kv = None
        if self._etcd is not None:
            self._etcd.stop()
            self._etcd = None
        if self._lock_handle is not None:
            with contextlib.suppress(OSError):
                self.paths.serve_json.unlink()
            self._lock_handle.close()
            self._lock_handle = None

    # -- urls and files ----------------------------------------------------------------------

    @property
    def kubernetes_url(self) -> str:
        assert self._front is not None
        return self._front.url

    @property
    def talos_url(self) -> str:
        assert self._talos is not None
        return self._talos.url

    def write_serve_json(self) -> None:
        assert self._front is not None
        assert self._etcd is not None
        document = {
            "pid": os.getpid(),
            "state": str(self.paths.root),
            "cluster": str(self.cluster_dir),
            "kubernetes": self.kubernetes_url,
            "talos": self.talos_url,
            "etcd": self._etcd.client_url,
            "etcdTLS": str(self._etcd.tls_dir),
            "ports": {
                "kubernetes": self._front.port,
                "talos": int(self.talos_url.rsplit(":", 1)[1]),
                "etcd": self._etcd.client_port,
            },
            "kubernetesCA": self._front.ca_source,
            "addressProxy": self._proxy.url if self._proxy is not None else None,
            "notes": self.notes,
        }
        tmp = self.paths.serve_json.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.paths.serve_json)

    def _link_kubectl(self) -> None:
        source = Path(sys.executable).parent / "kubectl"
        target = self.paths.bin / "kubectl"
        if not source.exists():
            self.notes.append("no kubectl next to the interpreter: bin/kubectl not linked")
            return
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        target.symlink_to(source)

    def _write_talosconfig(self) -> None:
        assert self.cluster is not None
        machine_secrets = self._secrets
        assert machine_secrets is not None
        endpoints = [str(n.ip) for n in self.cluster.nodes if n.is_control_plane]
        write_admin(self.paths.talosconfig, machine_secrets, self.cluster.name, endpoints, [])

    # -- Talos state seen from the Kubernetes side --------------------------------------------

    def _site(self) -> Site:
        assert self._kv is not None
        return SiteStore(self._kv).load()

    def _site_view(self) -> Site:
        """The site for readers that never change it, decoded again only when etcd changed.

        Every API request reads it (audit policy, PodSecurity config, node
        proxy); with ``--nodes`` that is a thousand machines to decode per
        request.  Stamp first, then load: a change in between only costs an
        extra load next time, never a stale answer.  Callers must not mutate it.
        """
        assert self._kv is not None
        stamp = self._kv.stamp(SITE_PREFIX)
        cached = self._site_cache
        if cached is not None and cached[0] == stamp:
            return cached[1]
        site = SiteStore(self._kv).load()
        self._site_cache = (stamp, site)
        return site

    def _serving(self) -> tuple[Machine, ConfigView] | None:
        """:func:`apiserver.serving_machine` of :meth:`_site_view`, once per site version."""
        site = self._site_view()
        cached = self._serving_cache
        if cached is not None and cached[0] is site:
            return cached[1]
        serving = apiserver.serving_machine(site)
        self._serving_cache = (site, serving)
        return serving

    def _pod_security_config(self) -> Any:
        serving = self._serving()
        return apiserver.pod_security_config(serving[0]) if serving is not None else None

    def _audit_policy(self) -> tuple[str, Mapping[str, Any] | None] | None:
        serving = self._serving()
        if serving is None:
            return None
        return apiserver.audit_policy(*serving)

    def _storage_classes(self) -> list[dict[str, Any]]:
        rt = self._store.registry.lookup("storage.k8s.io", "v1", "storageclasses")
        assert rt is not None
        items: list[dict[str, Any]] = self._store.list(rt).get("items") or []
        return items

    def _namespace_labels(self, namespace: str) -> Mapping[str, str]:
        rt = self._store.registry.lookup("", "v1", "namespaces")
        assert rt is not None
        try:
            obj = self._store.get(rt, "", namespace)
        except ApiError:
            return {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    def _resolve_address(self, host: str, port: int) -> tuple[str, int] | str:
        """The address proxy's resolver: a declared address -> the front, while it answers."""
        front = self._front
        if front is None or not front.serving:
            return "the Kubernetes API is not serving"
        why = apiserver.api_unserved_reason(self._site_view(), host, port)
        return why if why is not None else ("127.0.0.1", front.port)

    def _kubeconfig_bytes(self) -> bytes:
        assert self._front is not None
        site = self._site()
        serving = apiserver.serving_machine(site)
        if serving is None or not self._front.sync(site):
            raise TalosError("Unavailable", "kubeconfig is not available: etcd is not bootstrapped")
        _, view = serving
        ca = self._front.ca
        lifetime = apiserver.admin_cert_lifetime(view)
        now = dt.datetime.now(dt.UTC)
        issued = ca.issue_client_cert(
            apiserver.ADMIN_USER,
            apiserver.ADMIN_GROUPS,
            not_before=now - dt.timedelta(minutes=5),
            not_after=now + lifetime,
        )
        scratch = self.paths.pki / f"kubeconfig.{threading.get_ident()}.tmp"
        assert self._proxy is not None
        write_kubeconfig(
            scratch,
            view.endpoint or self._front.url,
            ca.cert_pem,
            issued.cert_pem,
            issued.key_pem,
            view.cluster_name,
            proxy_url=self._proxy.url,
        )
        try:
            return scratch.read_bytes()
        finally:
            scratch.unlink()

    # -- reacting to changes ------------------------------------------------------------------

    def _after_talos_call(self) -> None:
        assert self._front is not None
        assert self._kv is not None
        # Reads (get, version, read, health) change nothing: skip the pass they would cost.
        entries, _ = self._kv.range(SITE_PREFIX)
        signature = tuple((e.key, e.mod_revision) for e in entries)
        if signature == self._talos_signature:
            return
        self._talos_signature = signature
        site = self._join_synthetic_workers()
        was_serving = self._front.serving
        serving = self._front.sync(site)
        if serving:
            self._ensure_system_namespaces()
            if not was_serving or not self.paths.kubeconfig.exists():
                with contextlib.suppress(TalosError):
                    write_private_file(self.paths.kubeconfig, self._kubeconfig_bytes())
        if self._lock_handle is not None and self._talos is not None:
            self.write_serve_json()
        if self._reconciler is not None:
            self._reconciler.run_now()

    def _join_synthetic_workers(self) -> Site:
        """The site after ``--nodes`` workers still in maintenance joined (see ``synthetic``)."""
        assert self._kv is not None
        store = SiteStore(self._kv)
        site = store.load()
        joined = join_synthetic_workers(site)
        if not joined:
            return site
        try:
            store.save(site)
        except RevisionConflict:  # a concurrent Talos call: the next call joins them
            return SiteStore(self._kv).load()
        self.notes.append(f"{len(joined)} synthetic workers joined with a worker config")
        entries, _ = self._kv.range(SITE_PREFIX)
        self._talos_signature = tuple((e.key, e.mod_revision) for e in entries)
        return site

    def _ensure_system_namespaces(self) -> None:
        """kube-apiserver's own system-namespaces controller creates these at start."""
        rt = self._store.registry.lookup("", "v1", "namespaces")
        assert rt is not None
        for name in SYSTEM_NAMESPACES:
            try:
                self._store.get(rt, "", name)
            except ApiError as exc:
                if exc.code != 404:
                    raise
                with contextlib.suppress(ApiError):  # created concurrently
                    self._store.create(rt, "", {"metadata": {"name": name}})

    def _after_write(self, event: WatchEvent) -> None:
        if self._reconciler is not None:
            self._reconciler.trigger()

    def _reconcile_pass(self) -> None:
        if self._reconcile is None:
            return
        now = dt.datetime.now(dt.UTC)
        if self.pod_start_delay > 0:
            self._reconcile(
                self._site(), self._store, now=now, pod_start_delay=self.pod_start_delay
            )
        else:
            self._reconcile(self._site(), self._store, now=now)


__all__ = [
    "CONTROLLER_MODULE",
    "SYSTEM_NAMESPACES",
    "KubeFront",
    "Reconcile",
    "Reconciler",
    "Simulator",
    "load_reconcile",
]
