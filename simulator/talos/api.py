"""The simulator's Talos machine API: JSON over mutual-TLS HTTPS on loopback, one call per node.

Real talosctl speaks gRPC to apid on the node IPs of its talosconfig.  Those
IPs are data here and are never dialled, so the simulator serves its own
small protocol on ``127.0.0.1`` and the ``talosctl`` shim
(:mod:`simulator.talos.cli`) translates.  This module only translates too
(moto's ``responses`` layer): a call loads the :class:`Site` from the KV,
runs one :class:`Lifecycle` operation, saves what changed, and answers.

Reads (:data:`READ_ONLY_OPS`: get, version, read, health, etcd members and
snapshot, kubeconfig) are the bulk of the traffic -- a verification run
asks every node for every resource type -- so they neither load nor save:
they run on a decoded, settled copy of the site kept with the KV's
:meth:`~simulator.store.kv.KV.stamp` of ``/talos-sim/``, which moves on any
write by anyone (this server, the cluster controller, a drift injector
writing the KV directly), so the copy is re-read exactly when it went stale.
A read falls back to the full load-settle-save path when settling would
change something (a paced stage or a ``try`` rollback falls due, or the
stored state is not converged), so reads persist what they settle as before.

Transport security is apid's (:mod:`simulator.talos.tls`): the server
certificate is signed by the cluster's machine CA, a client certificate must
chain to that CA or the handshake fails, and its Organization gives the
caller's roles, checked per call by :mod:`simulator.talos.authz`.  A
connection without a client certificate is a maintenance connection: it may
only make ``--insecure`` calls, which reach nodes in maintenance mode alone
(the lifecycle refuses the rest as a real configured node would).  Whether a
call is insecure is decided by the connection, never by the request body.

Protocol (``POST /v1/call``, JSON body ``{"node": str, "op": str, "args": {}}``):

* ``200 {"result": {...}}`` on success; ``lines`` holds what talosctl prints;
* ``200 {"error": {"code": "InvalidArgument", "message": "..."}}`` when the
  node answers with a Talos (gRPC status) error -- a normal API outcome;
* ``400 {"malformed": "..."}`` for a request this server cannot read;
* ``500 {"failure": "..."}`` when the simulator itself fails (datastore down).

``GET /v1/health`` answers ``200 {"ok": true}`` once the server listens.

Calls are serialised by one lock, and the :class:`SiteStore` save is
optimistic: a :class:`RevisionConflict` (another writer of the same KV, e.g.
a drift injector) reruns the call once on fresh state.

Deviations: ``node`` may be a node IP or an inventory name / hostname (real
talosctl would resolve a name through DNS); the health check runs the
Talos-side checks only and does not wait for them to pass.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from simulator.pki import ServingTLS
from simulator.state.machines import PREFIX, Machine, Site, SiteStore, Stage
from simulator.store.etcd import DatastoreError
from simulator.store.kv import KV, RevisionConflict
from simulator.talos import authz, convergence, errors, resources, tls
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle, ResetOptions
from simulator.talos.ops import READ_ONLY_OPS

LifecycleFactory = Callable[[Site], Lifecycle]
KubeconfigProvider = Callable[[], bytes]
FileReader = Callable[[str, str], bytes | None]  # (machine name, path) -> bytes or None

_MAINTENANCE = (Stage.MAINTENANCE, Stage.INSTALLING)
_ADMIN_ROLES = frozenset({authz.ADMIN})
CERTIFICATE_REQUIRED = (
    'connection error: desc = "error reading server preface: remote error: tls: '
    'certificate required"'
)


class MalformedRequest(Exception):
    """The request body is not a call this server understands."""


def default_lifecycle(site: Site) -> Lifecycle:
    """Immediate transitions on the wall clock (resource timestamps are real times)."""
    return Lifecycle(site, clock=time.time)


def _arg(args: Mapping[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = args.get(name, default)
    if value is None and default is None:
        raise MalformedRequest(f"argument {name!r} is required")
    if not isinstance(value, kind):
        raise MalformedRequest(f"argument {name!r} must be of type {kind.__name__}")
    return value


def _strings(args: Mapping[str, Any], name: str) -> list[str]:
    value = args.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedRequest(f"argument {name!r} must be a list of strings")
    return list(value)


@dataclass(frozen=True)
class _View:
    """A settled site exactly as stored at *stamp*; shared by reads, so never mutated."""

    stamp: tuple[int, int]
    site: Site
    next_due: float | None  # the earliest paced stage or try rollback: settling changes it


def _next_due(site: Site) -> float | None:
    dues = [m.try_revert_at for m in site.machines.values() if m.try_revert_at is not None]
    dues += [m.pending[0].due for m in site.machines.values() if m.pending]
    return min(dues, default=None)


class MachineApi:
    """The machine API server over one site in *kv*.

    :param lifecycle_factory: builds the Lifecycle for a loaded Site (pacing,
        clock and validator are chosen there).
    :param kubeconfig_provider: returns an admin kubeconfig; wired by the
        serve command to the Kubernetes side.
    :param file_reader: answers ``talosctl read`` for (machine, path).
    :param tls: the serving certificate and the machine CA client
        certificates must chain to; :meth:`start` serves nothing without it.
    """

    def __init__(
        self,
        kv: KV,
        *,
        lifecycle_factory: LifecycleFactory = default_lifecycle,
        kubeconfig_provider: KubeconfigProvider | None = None,
        file_reader: FileReader | None = None,
        tls: ServingTLS | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.kv = kv
        self.lifecycle_factory = lifecycle_factory
        self.kubeconfig_provider = kubeconfig_provider
        self.file_reader = file_reader
        self._tls = tls
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._view: _View | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ops: dict[str, Callable[[Lifecycle, str, Mapping[str, Any]], dict[str, Any]]] = {
            "version": self._version,
            "get": self._get,
            "apply_config": self._apply_config,
            "bootstrap": lambda life, ip, a: {"lines": life.bootstrap(ip)},
            "reboot": lambda life, ip, a: {"lines": life.reboot(ip)},
            "shutdown": lambda life, ip, a: {"lines": life.shutdown(ip)},
            "reset": self._reset,
            "upgrade": self._upgrade,
            "wipe_disk": self._wipe_disk,
            "etcd_members": self._etcd_members,
            "etcd_status": lambda life, ip, a: life.etcd_status(ip),
            "etcd_alarm_list": lambda life, ip, a: _alarms(life.etcd_alarms(ip)),
            "etcd_alarm_disarm": lambda life, ip, a: _alarms(life.etcd_alarm_disarm(ip)),
            "etcd_leave": lambda life, ip, a: {"lines": life.etcd_leave(ip)},
            "etcd_remove_member": self._etcd_remove_member,
            "etcd_snapshot": self._etcd_snapshot,
            "kubeconfig": self._kubeconfig,
            "read": self._read,
            "health": self._health,
        }

    # -- server ------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the machine API is not started")
        host, port = self._server.server_address[:2]
        return f"https://{host!s}:{port}"

    def start(self) -> None:
        """Listen on loopback (mutual TLS only) and serve in a background thread."""
        if self._server is not None:
            return
        if self._tls is None:
            raise RuntimeError("the machine API serves only over TLS: no serving material given")
        api = self
        context = tls.server_context(self._tls.client_ca_pem, self._tls.cert_pem, self._tls.key_pem)

        class Handler(_Handler):
            machine_api = api
            tls_context = context

        self._server = _Server((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="talos-machine-api", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> MachineApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- calls -------------------------------------------------------------

    def call(
        self,
        node: str,
        op: str,
        args: Mapping[str, Any],
        *,
        roles: frozenset[str] | None = _ADMIN_ROLES,
    ) -> dict[str, Any]:
        """Run one operation; returns the response body (``result`` or ``error``).

        :param roles: the roles of the caller's client certificate; None for a
            connection without one (maintenance mode).  The HTTPS handler
            always passes what the connection proved.
        :raises MalformedRequest: unknown op or bad arguments.
        :raises DatastoreError: the KV failed.
        """
        handler = self._ops.get(op)
        if handler is None:
            raise MalformedRequest(f"unknown operation {op!r}")
        try:
            args = _authorized(op, args, roles)
        except TalosError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        with self._lock:
            if op in READ_ONLY_OPS:
                site = self._settled_view()
                if site is not None:
                    try:
                        result = handler(self.lifecycle_factory(site), _address(site, node), args)
                    except TalosError as exc:
                        return {"error": {"code": exc.code, "message": exc.message}}
                    return {"result": result}
            for attempt in (1, 2):
                stamp = self.kv.stamp(PREFIX)
                store = SiteStore(self.kv)
                site = store.load()
                life = self.lifecycle_factory(site)
                life.settle()
                try:
                    result = handler(life, _address(site, node), args)
                except TalosError as exc:
                    return {"error": {"code": exc.code, "message": exc.message}}
                try:
                    wrote = store.save(site)
                except RevisionConflict:
                    self._view = None
                    if attempt == 2:
                        raise
                    continue
                # Unchanged: the site is what was stored at the stamp, a valid view.
                self._view = None if wrote else _View(stamp, site, _next_due(site))
                return {"result": result}
        raise AssertionError("unreachable")  # pragma: no cover

    def _settled_view(self) -> Site | None:
        """The stored site, settled, if settling it now changes nothing; else None.

        The stamp is read before the site: a write in between makes the next
        stamp differ, which costs a reload, never a stale answer.
        """
        stamp = self.kv.stamp(PREFIX)
        view = self._view
        if view is None or view.stamp != stamp:
            self._view = None
            store = SiteStore(self.kv)
            site = store.load()
            self.lifecycle_factory(site).settle()
            if store.dirty(site):
                return None  # the full path settles and saves it
            view = self._view = _View(stamp, site, _next_due(site))
        if view.next_due is not None and view.next_due <= self.lifecycle_factory(view.site).clock():
            return None
        return view.site

    # -- operations ----------------------------------------------------------

    def _admin_node(self, life: Lifecycle, ip: str, insecure: bool) -> Machine:
        """A node for APIs that need os:admin, which maintenance mode does not grant."""
        machine = life.node(ip, insecure=insecure)
        if machine.stage in _MAINTENANCE:
            raise errors.not_in_maintenance_api()
        return machine

    def _version(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        machine = self._admin_node(life, ip, bool(args.get("insecure", False)))
        return {"tag": machine.talos_version}

    def _get(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        insecure = bool(args.get("insecure", False))
        machine = life.node(ip, insecure=insecure)
        typedef = resources.resolve_type(_arg(args, "type", str))
        if typedef.sensitive and insecure:
            # maintenance mode grants os:reader, which may not read Sensitive types
            raise TalosError("PermissionDenied", "not authorized")
        namespace = _arg(args, "namespace", str, "") or typedef.namespace
        wanted = _arg(args, "id", str, "")
        items = (
            []
            if namespace != typedef.namespace
            else resources.resources(life.site, machine, typedef)
        )
        if wanted:
            items = [r for r in items if r.id == wanted]
            if not items:
                raise TalosError(
                    "NotFound",
                    f"resource {typedef.type}({namespace}/{wanted}@undefined) doesn't exist",
                )
        return {
            "resources": [
                {
                    "type": r.typedef.type,
                    "id": r.id,
                    "version": r.version,
                    "owner": r.owner,
                    "spec": r.spec,
                    "created": r.created,
                    "updated": r.updated,
                    "labels": dict(r.labels),
                }
                for r in items
            ]
        }

    def _apply_config(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        lines = life.apply_config(
            ip,
            _arg(args, "config", str),
            mode=_arg(args, "mode", str, "auto"),
            insecure=bool(args.get("insecure", False)),
            dry_run=bool(args.get("dry_run", False)),
        )
        return {"lines": lines}

    def _reset(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        options = ResetOptions(
            graceful=bool(args.get("graceful", True)),
            reboot=bool(args.get("reboot", False)),
            system_labels_to_wipe=tuple(_strings(args, "labels")),
        )
        return {"lines": life.reset(ip, options, insecure=bool(args.get("insecure", False)))}

    def _upgrade(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        image = _arg(args, "image", str)
        return {"lines": life.upgrade(ip, image, force=bool(args.get("force", False)))}

    def _wipe_disk(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        devices = _strings(args, "devices")
        return {"lines": life.wipe_disk(ip, devices, insecure=bool(args.get("insecure", False)))}

    def _etcd_members(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        rows = life.etcd_members(ip)
        return {
            "members": [
                {"id": m, "hostname": h, "peer_urls": p, "client_urls": c, "learner": lrn}
                for m, h, p, c, lrn in rows
            ]
        }

    def _etcd_remove_member(
        self, life: Lifecycle, ip: str, args: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"lines": life.etcd_remove_member(ip, _arg(args, "id", int))}

    def _etcd_snapshot(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        def take(path: Path) -> None:
            try:
                self.kv.snapshot(path)
            except (NotImplementedError, DatastoreError) as exc:
                raise TalosError("Unknown", f"failed reading etcd snapshot: {exc}") from None

        with tempfile.TemporaryDirectory(prefix="talos-sim-snapshot-") as tmp:
            path = Path(tmp) / "snapshot.db"
            life.etcd_snapshot(ip, take, path)
            data = path.read_bytes()
        return {"data": base64.b64encode(data).decode("ascii")}

    def _control_plane(self, life: Lifecycle, ip: str, api: str) -> Machine:
        machine = self._admin_node(life, ip, insecure=False)
        view = convergence.view_of(machine)
        if view is None or not view.is_control_plane:
            raise errors.control_plane_only(api)
        return machine

    def _kubeconfig(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        self._control_plane(life, ip, "kubeconfig")
        if self.kubeconfig_provider is None:
            raise TalosError(
                "Unavailable",
                "kubeconfig is not available: the simulated Kubernetes API is not running",
            )
        return {"data": base64.b64encode(self.kubeconfig_provider()).decode("ascii")}

    def _read(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        machine = self._admin_node(life, ip, insecure=False)
        path = _arg(args, "path", str)
        data = self.file_reader(machine.name, path) if self.file_reader is not None else None
        if data is None:
            raise TalosError("Unknown", f"open {path}: no such file or directory")
        return {"data": base64.b64encode(data).decode("ascii")}

    def _health(self, life: Lifecycle, ip: str, args: Mapping[str, Any]) -> dict[str, Any]:
        self._admin_node(life, ip, insecure=False)
        return health_report(life.site)


def health_report(site: Site) -> dict[str, Any]:
    """The Talos-side checks of ``talosctl health`` (server mode), in Talos's order.

    Returns ``{"discovered": [ips], "checks": [(name, "OK" | error)], "ok": bool}``;
    the run stops at the first failing check, as talosctl's does (after its
    wait, which the simulator does not spend).
    """
    configured = [
        m for m in sorted(site.machines.values(), key=lambda m: m.name) if m.config is not None
    ]
    views = {m.name: convergence.view_of(m) for m in configured}
    control_planes = {n for n, v in views.items() if v is not None and v.is_control_plane}
    checks: list[tuple[str, Callable[[], str]]] = [
        ("etcd to be healthy", lambda: _etcd_health(site)),
        ("etcd members to be consistent across nodes", lambda: _etcd_health(site)),
        (
            "etcd members to be control plane nodes",
            lambda: next(
                (
                    f"etcd member {m.name} is not a control plane node"
                    for m in site.etcd_members
                    if m.node not in control_planes
                ),
                "OK",
            ),
        ),
        ("apid to be ready", lambda: _all_running(configured)),
        ("all nodes to finish boot sequence", lambda: _all_running(configured)),
    ]
    results: list[tuple[str, str]] = []
    for name, check in checks:
        outcome = check()
        results.append((name, outcome))
        if outcome != "OK":
            break
    return {
        "discovered": [m.ip for m in configured],
        "checks": results,
        "ok": all(outcome == "OK" for _, outcome in results),
    }


def _etcd_health(site: Site) -> str:
    if not site.bootstrapped or not site.etcd_members:
        return "etcd is not bootstrapped"
    for member in site.etcd_members:
        if not convergence.is_reachable(site, member):
            return f"{member.name}: etcd member is not healthy"
    if not convergence.has_quorum(site):
        return "etcd cluster has no quorum"
    return "OK"


def _all_running(machines: list[Machine]) -> str:
    for machine in machines:
        if machine.stage is not Stage.RUNNING:
            return f"{machine.ip}: machine is in stage {machine.stage.value!r}"
    return "OK"


def _authorized(op: str, args: Mapping[str, Any], roles: frozenset[str] | None) -> dict[str, Any]:
    """*args* with ``insecure`` set by the connection, if the caller may make this call.

    :raises TalosError: Unavailable (a secure call without a client
        certificate: apid's handshake would fail) or PermissionDenied.
    """
    if roles is None:
        if not args.get("insecure", False):
            raise TalosError("Unavailable", CERTIFICATE_REQUIRED)
        return {**args, "insecure": True}
    sensitive = op == "get" and resources.resolve_type(_arg(args, "type", str)).sensitive
    authz.authorize(op, roles, sensitive=sensitive)
    return {**args, "insecure": False}


def _address(site: Site, node: str) -> str:
    """The IP a ``--nodes`` value reaches: an IP as is, else an inventory name or hostname."""
    if site.machine_at(node) is not None:
        return node
    for machine in site.machines.values():
        if node == machine.name:
            return machine.ip
        view = convergence.view_of(machine)
        if view is not None and convergence.hostname_of(machine, view) == node:
            return machine.ip
    return node


class _Server(ThreadingHTTPServer):
    """One thread per connection; a refused handshake is the caller's problem, not a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent: failed handshakes and dropped connections are normal outcomes here."""


class _Handler(BaseHTTPRequestHandler):
    """HTTPS <-> :meth:`MachineApi.call`; nothing else."""

    machine_api: MachineApi
    tls_context: ssl.SSLContext
    protocol_version = "HTTP/1.1"
    _roles: frozenset[str] | None = None

    def setup(self) -> None:
        """The TLS handshake, in this connection's thread (a slow peer blocks nobody else)."""
        raw: socket.socket = self.request
        self.request = tls.accept(self.tls_context, raw)
        self._roles = tls.peer_roles(self.request)
        super().setup()

    def finish(self) -> None:
        """Close the TLS socket too: the server only closes the raw one it accepted."""
        try:
            super().finish()
        finally:
            self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines would only add noise to test output."""

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/v1/health":
            self._send(200, {"ok": True})
        else:
            self._send(404, {"malformed": f"no such path {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/v1/call":
            self._send(404, {"malformed": f"no such path {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(request, dict):
                raise MalformedRequest("the body must be a JSON object")
            node, op, args = request.get("node"), request.get("op"), request.get("args", {})
            if not isinstance(node, str) or not isinstance(op, str) or not isinstance(args, dict):
                raise MalformedRequest("expected {node: str, op: str, args: object}")
            body = self.machine_api.call(node, op, args, roles=self._roles)
        except (MalformedRequest, ValueError) as exc:
            self._send(400, {"malformed": str(exc)})
            return
        except (DatastoreError, RevisionConflict) as exc:
            self._send(500, {"failure": f"simulator datastore: {exc}"})
            return
        self._send(200, body)


def _alarms(rows: list[tuple[int, str]]) -> dict[str, Any]:
    return {"alarms": [{"member_id": member, "alarm": alarm} for member, alarm in rows]}
