"""The Kubernetes API server's behaviour as Talos configures it, derived from Talos state.

What belongs here: pure functions from the simulated site (machines and
their applied configs) to what a real kube-apiserver on a Talos control
plane would run with -- which node serves the API, the Kubernetes CA and
serving SANs, the admin kubeconfig ``talosctl kubeconfig`` mints, the
PodSecurity admission plugin's configuration and decision, and the
kubelet's ``/configz`` -- plus the small adapters that plug them into
:mod:`simulator.kube` hooks.  The audit log is in
:mod:`simulator.apiserver_audit`; wiring (ports, files, threads) is in
:mod:`simulator.server`.

Why derived on every request instead of cached: re-applying a machine
config must take effect on the next request, as a real API server restarted
by Talos would; reading the site from the KV is cheap on loopback.

The kubeconfig names ``cluster.controlPlane.endpoint`` as Talos writes it;
the VIP and node addresses are data that nothing dials, so the kubeconfig
also names the simulator's address proxy (``proxy-url``,
:mod:`simulator.address_proxy`), and :func:`api_unserved_reason` says which
declared addresses answer now.  Deviation: every answering address reaches
the one simulated API server, whose serving node is the VIP holder (else the
first etcd member), as requests to the VIP land there.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provisioning.config.pki import load_certificate, load_private_key
from provisioning.definition.problems import DefinitionError
from simulator import apiserver_audit
from simulator.controllers import psa
from simulator.kube import errors
from simulator.kube.errors import ApiError
from simulator.kube.hooks import AdmissionHook, AdmissionRequest
from simulator.pki import ClusterCA
from simulator.state.machines import Machine, Site, Stage
from simulator.talos import convergence
from simulator.talos.configview import ConfigError, ConfigView

AUDIT_LOG_PATH = "/var/log/audit/kube/kube-apiserver.log"
DEFAULT_ADMIN_CERT_LIFETIME = dt.timedelta(days=365)
ADMIN_USER = "admin"
ADMIN_GROUPS = ("system:masters",)
DEFAULT_API_PORT = 6443

NodeProxy = Callable[[str, str], tuple[int, bytes]]

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


# -- which node serves the API ---------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> ConfigView | None:
    try:
        return ConfigView.parse(text)
    except ConfigError:
        return None


def config_view(machine: Machine) -> ConfigView | None:
    """The active config of *machine*, parsed once per distinct text.

    Keyed by the config text itself, so a re-applied config is seen at once;
    parsing a full machine config costs tens of milliseconds and every API
    request needs the serving node's.
    """
    return _parsed(machine.config) if machine.config is not None else None


def _control_planes(site: Site) -> list[tuple[Machine, ConfigView]]:
    found: list[tuple[Machine, ConfigView]] = []
    for machine in sorted(site.machines.values(), key=lambda m: m.name):
        view = config_view(machine)
        if view is not None and view.is_control_plane:
            found.append((machine, view))
    return found


def serving_machine(site: Site) -> tuple[Machine, ConfigView] | None:
    """The control plane whose kube-apiserver answers: VIP holder, else first etcd member.

    None before bootstrap: without etcd no kube-apiserver serves.
    """
    if not site.bootstrapped:
        return None
    control_planes = _control_planes(site)
    by_name = {m.name: (m, v) for m, v in control_planes}
    running = [name for name in by_name if by_name[name][0].stage is Stage.RUNNING] or list(by_name)
    for holder in site.vip_holders.values():
        if holder in running:
            return by_name[holder]
    for member in site.etcd_members:
        if member.node in running:
            return by_name[member.node]
    return by_name[running[0]] if running else None


def _endpoint(view: ConfigView) -> tuple[str, int]:
    """``cluster.controlPlane.endpoint``'s host and port (6443, Talos' API port, if unset)."""
    parts = urlsplit(view.endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "", port or DEFAULT_API_PORT)


def serving_sans(site: Site) -> list[str]:
    """SANs of the serving cert: loopback, the endpoint's host, VIPs, control-plane IPs.

    Talos adds the endpoint's host to the API server's certSANs by itself
    (https://docs.siderolabs.com/talos/v1.12/security/cert-management).
    """
    sans = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default"]
    for machine, view in _control_planes(site):
        host, _ = _endpoint(view)
        if host:
            sans.append(host)
        sans.extend(vip for _, vip in view.vips())
        sans.append(machine.ip)
    return list(dict.fromkeys(sans))


def api_unserved_reason(site: Site, host: str, port: int) -> str | None:
    """Why no kube-apiserver answers at the declared *host*:*port* now; None when one does.

    A control plane's own address answers while that node runs; the VIP (and
    the endpoint's host name, which resolves to it) while a running control
    plane holds it -- a VIP nobody holds answers nowhere.  Before bootstrap
    nothing answers.
    """
    control_planes = _control_planes(site)
    running = {m.name for m, _ in control_planes if m.stage is Stage.RUNNING}
    ports = {_endpoint(view)[1] for _, view in control_planes} or {DEFAULT_API_PORT}
    vips = {vip for _, view in control_planes for _, vip in view.vips()}
    addresses = {m.ip for m in site.machines.values()}
    names = {_endpoint(view)[0] for _, view in control_planes} - addresses
    address = f"{host}:{port}"
    machine = next((m for m in site.machines.values() if m.ip == host), None)
    if machine is None and host not in vips | names:
        return f"{host} is no address of this cluster"
    if port not in ports:
        return f"nothing listens on {address}"
    if not site.bootstrapped:
        return "etcd is not bootstrapped: no kube-apiserver runs"
    if machine is not None:
        if machine.name not in {m.name for m, _ in control_planes}:
            return f"{machine.name} runs no kube-apiserver"
        return None if machine.name in running else f"{machine.name} is {machine.stage.value}"
    held = [site.vip_holders.get(vip) for vip in ([host] if host in vips else sorted(vips))]
    if any(holder in running for holder in held):
        return None
    return f"no running control-plane node holds the VIP {host}"


# -- the Kubernetes CA and the admin kubeconfig ----------------------------------------------


def _pem(value: object) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def kubernetes_ca(view: ConfigView) -> ClusterCA | None:
    """The cluster's Kubernetes CA from ``cluster.ca`` (base64 PEM crt/key, as Talos keeps it).

    None when the config holds placeholders or anything that is not an
    ECDSA CA pair (Talos generates P-256; the simulator signs with it).
    """
    cluster = (view.v1alpha1 or {}).get("cluster")
    ca = cluster.get("ca") if isinstance(cluster, Mapping) else None
    if not isinstance(ca, Mapping):
        return None
    crt, key = _pem(ca.get("crt")), _pem(ca.get("key"))
    if crt is None or key is None:
        return None
    try:
        cert = load_certificate(crt)
        private = load_private_key(key)
    except (DefinitionError, ValueError):
        return None
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        return None
    if _public_der(cert.public_key()) != _public_der(private.public_key()):
        return None
    return ClusterCA(private, cert)


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def ca_fingerprint(ca: ClusterCA) -> str:
    """Identifies a CA without exposing anything secret (the certificate is public)."""
    return ca.cert.fingerprint(hashes.SHA256()).hex()


def parse_go_duration(text: str) -> dt.timedelta | None:
    """A Go ``time.Duration`` string (``8760h0m0s``, ``1h30m``); None if it does not parse."""
    text = text.strip()
    if not text or _GO_DURATION.sub("", text) != "":
        return None
    seconds = sum(float(n) * _GO_UNITS[unit] for n, unit in _GO_DURATION.findall(text))
    return dt.timedelta(seconds=seconds)


def admin_cert_lifetime(view: ConfigView) -> dt.timedelta:
    """``cluster.adminKubeconfig.certLifetime`` (Talos default: one year)."""
    cluster = (view.v1alpha1 or {}).get("cluster")
    admin = cluster.get("adminKubeconfig") if isinstance(cluster, Mapping) else None
    raw = admin.get("certLifetime") if isinstance(admin, Mapping) else None
    lifetime = parse_go_duration(raw) if isinstance(raw, str) else None
    if lifetime is None or lifetime <= dt.timedelta(0):
        return DEFAULT_ADMIN_CERT_LIFETIME
    return lifetime


# -- audit -----------------------------------------------------------------------------------


def audit_policy(machine: Machine, view: ConfigView) -> tuple[str, Mapping[str, Any]] | None:
    """(node, the audit policy its kube-apiserver logs to the Talos audit log with).

    Talos's default policy when ``auditPolicy`` is unset.  None when
    ``extraArgs`` moves ``audit-log-path`` (``-`` is stdout): then nothing
    reaches the log Talos keeps, which is the one ``talosctl read`` serves.
    """
    extra = view.api_server.get("extraArgs")
    path = extra.get("audit-log-path") if isinstance(extra, Mapping) else None
    if path is not None and str(path) != apiserver_audit.TALOS_LOG_PATH:
        return None
    policy = view.api_server.get("auditPolicy")
    if not isinstance(policy, Mapping):
        policy = apiserver_audit.TALOS_DEFAULT_POLICY
    return machine.name, policy


# -- PodSecurity admission -------------------------------------------------------------------


def pod_security_config(machine: Machine) -> psa.PodSecurityConfig | None:
    """The PodSecurity plugin configuration of *machine*'s kube-apiserver.

    Talos passes ``cluster.apiServer.admissionControl`` as the
    AdmissionConfiguration; no PodSecurity entry means the built-in default
    (everything privileged), as the plugin is on by default since 1.25.
    ``None`` when ``cluster.apiServer.extraArgs`` switches the plugin off
    with ``disable-admission-plugins`` (kube-apiserver then never runs it:
    https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/).

    :raises psa.PodSecurityConfigError: the configuration is unusable.
    """
    view = config_view(machine)
    extra = view.api_server.get("extraArgs") if view is not None else None
    disabled = extra.get("disable-admission-plugins") if isinstance(extra, Mapping) else None
    if "PodSecurity" in [p.strip() for p in str(disabled or "").split(",")]:
        return None
    plugins = view.api_server.get("admissionControl") if view is not None else None
    for index, plugin in enumerate(plugins if isinstance(plugins, list) else []):
        if isinstance(plugin, Mapping) and plugin.get("name") == "PodSecurity":
            configuration = plugin.get("configuration")
            return psa.PodSecurityConfig.from_configuration(
                configuration if isinstance(configuration, Mapping) else None,
                source=f"machine config of {machine.name}",
                field_prefix=f"cluster.apiServer.admissionControl[{index}].configuration",
            )
    return psa.PodSecurityConfig()


def forbidden_by_pod_security(request: AdmissionRequest, message: str) -> ApiError:
    """The 403 kube-apiserver sends; *message* already holds ``pods "x" is forbidden: ...``."""
    details: dict[str, Any] = {"kind": request.resource.plural}
    if request.name:
        details = {"name": request.name, **details}
    if request.resource.group:
        details["group"] = request.resource.group
    return ApiError(403, "Forbidden", message, details)


def pod_security_admission(
    config_of: Callable[[], psa.PodSecurityConfig | None],
    namespace_labels: Callable[[str], Mapping[str, str]],
) -> AdmissionHook:
    """An admission hook running PodSecurity with the config *config_of* returns now.

    :param config_of: the current plugin config; None when no API server
        config is known (the hook then admits, as there is nothing to run).
    :param namespace_labels: the stored labels of a namespace ({} if absent).
    """

    def admit(request: AdmissionRequest) -> None:
        if request.object is None or request.operation.value not in ("CREATE", "UPDATE"):
            return
        if psa.pod_spec_of(request.object) is None:
            return  # not PodSecurity's business; skip reading the config
        try:
            config = config_of()
        except psa.PodSecurityConfigError as exc:
            raise errors.internal_error(f"PodSecurity configuration: {exc}") from None
        if config is None:
            return
        decision = psa.admit_pod(
            config,
            request.namespace,
            namespace_labels(request.namespace) if request.namespace else {},
            request.object,
            username=request.user.username,
            operation=request.operation.value,
            subresource=request.subresource,
            old_pod=request.old_object,
        )
        for key, value in decision.audit_annotations.items():
            request.annotate(key, value)
            # The store does not hand the context back to the HTTP layer; the audit seam
            # collects per thread instead.
            apiserver_audit.collect_annotation(key, value)
        if not decision.allowed:
            raise forbidden_by_pod_security(request, decision.message or "forbidden")
        for warning in decision.warnings:
            request.warn(warning)

    return admit


def default_storage_class_admission(
    storage_classes: Callable[[], list[dict[str, Any]]],
) -> AdmissionHook:
    """The DefaultStorageClass admission plugin: a new claim without a class gets the default.

    kube-apiserver sets ``spec.storageClassName`` on CREATE when the claim
    leaves it unset (nil, not ``""``) and a default class exists (the newest
    when several are marked), so the class is on the claim from its first read:
    https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#defaultstorageclass
    With no default the claim stays without a class (the PV controller may
    assign one retroactively once a default appears).

    :param storage_classes: the stored StorageClasses now.
    """
    from simulator.controllers.longhorn_claims import default_class

    def admit(request: AdmissionRequest) -> None:
        if request.operation.value != "CREATE" or request.object is None:
            return
        if request.resource.plural != "persistentvolumeclaims" or request.resource.group:
            return
        spec = request.object.setdefault("spec", {})
        if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
            return
        found = default_class(storage_classes())
        if found is not None:
            spec["storageClassName"] = found["metadata"]["name"]

    return admit


# -- kubelet /configz ------------------------------------------------------------------------


def kubelet_configz(view: ConfigView) -> dict[str, Any]:
    """``{"kubeletconfig": {...}}`` as the kubelet Talos configures serves it.

    Values follow Talos's KubeletSpec controller
    (``internal/app/machined/pkg/controllers/k8s/kubelet_spec.go``) and
    ``pkg/machinery/constants``: systemReserved cpu 50m, pid 100,
    ephemeral-storage 256Mi, memory 512Mi (control plane) / 384Mi (worker);
    shutdown grace 30s / 10s; TLS 1.3; JSON logging; webhook authn/authz.
    ``seccompDefault`` is the protected field set from
    ``machine.kubelet.defaultRuntimeSeccompProfileEnabled``; ``extraConfig``
    fills in over the defaults but never over protected fields.  No
    ``kind``/``apiVersion`` inside, as configz marshals the internal struct.
    Deviation: a fixed cluster DNS of ``10.96.0.10`` unless ``clusterDNS``
    is set through ``extraConfig``.
    """
    kubelet = view.kubelet
    cluster = (view.v1alpha1 or {}).get("cluster")
    network = cluster.get("network") if isinstance(cluster, Mapping) else None
    domain = network.get("dnsDomain") if isinstance(network, Mapping) else None
    protected: dict[str, Any] = {
        "staticPodPath": "/etc/kubernetes/manifests",
        "port": 10250,
        "authentication": {
            "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"},
            "webhook": {"enabled": True, "cacheTTL": "2m0s"},
            "anonymous": {"enabled": False},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"},
        },
        "cgroupRoot": "/",
        "systemCgroups": "/system",
        "kubeletCgroups": "/podruntime/kubelet",
        "rotateCertificates": True,
        "protectKernelDefaults": True,
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        "seccompDefault": view.seccomp_default,
        "resolvConf": "/system/resolved/resolv.conf",
    }
    defaults: dict[str, Any] = {
        "enableServer": True,
        "address": "0.0.0.0",
        "oomScoreAdj": -450,
        "clusterDomain": str(domain or "cluster.local"),
        "clusterDNS": ["10.96.0.10"],
        "serializeImagePulls": False,
        "failSwapOn": False,
        "systemReserved": {
            "cpu": "50m",
            "pid": "100",
            "ephemeral-storage": "256Mi",
            "memory": "512Mi" if view.is_control_plane else "384Mi",
        },
        "logging": {"format": "json", "flushFrequency": "5s", "verbosity": 0},
        "shutdownGracePeriod": "30s",
        "shutdownGracePeriodCriticalPods": "10s",
        "streamingConnectionIdleTimeout": "5m0s",
        "tlsMinVersion": "VersionTLS13",
        "syncFrequency": "1m0s",
        "nodeStatusUpdateFrequency": "10s",
        "nodeStatusReportFrequency": "5m0s",
        "maxPods": 110,
        "podPidsLimit": -1,
        "cgroupDriver": "systemd",
        "registerNode": True,
    }
    extra = kubelet.get("extraConfig")
    if isinstance(extra, Mapping):
        defaults.update({k: v for k, v in extra.items() if k not in protected})
    return {"kubeletconfig": {**defaults, **protected}}


def _proxy_error(code: int, reason: str, message: str) -> tuple[int, bytes]:
    return code, json.dumps(ApiError(code, reason, message).status()).encode()


def node_proxy(site_of: Callable[[], Site]) -> NodeProxy:
    """``nodes/<n>/proxy/<path>``: the answer of the kubelet at the Node's address.

    The API server dials the address it resolved from the Node object (its
    InternalIP, see :func:`simulator.kube.handlers.kubelet_address`) on the
    kubelet port, whatever the Node is called: a kubelet whose machine was
    renamed still answers for the old Node, which keeps that machine's IP.
    Only ``/configz`` is served (404 ``404 page not found`` for other paths,
    as the kubelet mux); an address whose machine is down or runs no kubelet
    answers 503 like the real proxy's failed dial.  An address that is not a
    machine's IP is taken as a hostname (the handlers' fallback for a Node
    without addresses) and matched against the machines' current hostnames.
    """

    def proxy(address: str, path: str) -> tuple[int, bytes]:
        site = site_of()
        machines = [m for m in site.machines.values() if m.ip == address]
        if not machines:
            machines = [
                m
                for m in site.machines.values()
                if (view := config_view(m)) is not None
                and convergence.hostname_of(m, view) == address
            ]
        if not machines:
            return _proxy_error(
                503,
                "ServiceUnavailable",
                f"error trying to reach service: dial tcp {address}:10250: "
                "connect: no route to host",
            )
        machine = machines[0]
        view = config_view(machine)
        if view is None or not machine.installed or machine.stage is not Stage.RUNNING:
            return _proxy_error(
                503,
                "ServiceUnavailable",
                f"error trying to reach service: dial tcp {machine.ip}:10250: "
                "connect: connection refused",
            )
        if path.rstrip("/") != "/configz":
            return 404, b"404 page not found\n"
        return 200, json.dumps(kubelet_configz(view)).encode()

    return proxy
