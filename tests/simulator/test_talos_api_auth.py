"""The machine API answers only callers apid would: mutual TLS, roles from the certificate.

A local process that can reach the loopback port must not get the machine
secrets: without a client certificate, or with one from another CA, it gets
nothing; with an ``os:reader`` certificate it may read but not read secrets
nor change anything -- as on a real node.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from provisioning.config import pki, secrets
from provisioning.config.bundle import MachineSecrets
from simulator.state.machines import SiteStore
from simulator.store.kv import MemoryKV
from simulator.talos import cli, talosconfig, tls
from simulator.talos.api import MachineApi
from tests.simulator import talos_site

IP1, IP2, IP3 = talos_site.ip(1), talos_site.ip(2), talos_site.ip(3)
NOT_AUTHORIZED = "rpc error: code = PermissionDenied desc = not authorized"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class Served:
    api: MachineApi
    talosctl: Path
    tmp: Path
    secrets: MachineSecrets

    def talosconfig(self, roles: list[str], ca: MachineSecrets | None = None) -> Path:
        """A talosconfig trusting this cluster's CA, its certificate from *ca* (default: ours)."""
        issuer = (ca or self.secrets).os_ca
        crt, key = pki.issue_client_certificate(
            issuer.crt, issuer.key, "", roles, timedelta(hours=1)
        )
        entry = {
            "endpoints": [IP1],
            "nodes": [IP1],
            "ca": _b64(self.secrets.os_ca.crt),
            "crt": _b64(crt),
            "key": _b64(key),
        }
        path = self.tmp / f"talosconfig-{'-'.join(roles)}-{len(list(self.tmp.iterdir()))}"
        talosconfig.write(path, {"context": "ctx", "contexts": {"ctx": entry}})
        return path

    def run(self, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.talosctl), "--talosconfig", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def cluster_secrets() -> MachineSecrets:
    return secrets.generate_secrets()


@pytest.fixture
def served(
    tmp_path: Path, cluster_secrets: MachineSecrets, command_server: str
) -> Iterator[Served]:
    kv = MemoryKV()
    SiteStore(kv).save(talos_site.running_cluster(3).site)
    with MachineApi(kv, tls=talos_site.serving_tls(cluster_secrets)) as api:
        cli.install_executables(tmp_path / "bin", api.url, command_server)
        configs = tmp_path / "configs"
        configs.mkdir()
        yield Served(api, tmp_path / "bin" / "talosctl", configs, cluster_secrets)


def _port(api: MachineApi) -> int:
    parts = urlsplit(api.url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port is not None
    return parts.port


def _post(api: MachineApi, context: ssl.SSLContext, body: dict[str, Any]) -> dict[str, Any]:
    conn = http.client.HTTPSConnection("127.0.0.1", _port(api), timeout=30, context=context)
    try:
        conn.request("POST", "/v1/call", json.dumps(body).encode())
        answer: dict[str, Any] = json.loads(conn.getresponse().read())
        return answer
    finally:
        conn.close()


def _unverified(cert: tuple[bytes, bytes] | None = None) -> ssl.SSLContext:
    """A local attacker's client: trusts any server, presents *cert* if given."""
    context = tls.insecure_context()
    if cert is not None:
        tls.load_pair(context, *cert)
    return context


GET_CONFIG = {"node": IP1, "op": "get", "args": {"type": "machineconfig"}}


def _plain_post(api: MachineApi, body: dict[str, Any]) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", _port(api), timeout=30)
    try:
        conn.request("POST", "/v1/call", json.dumps(body).encode())
        return conn.getresponse().read()
    finally:
        conn.close()


def test_plain_http_gets_nothing(served: Served) -> None:
    with pytest.raises((http.client.HTTPException, OSError)):
        _plain_post(served.api, GET_CONFIG)


def test_a_call_without_a_client_certificate_is_refused(served: Served) -> None:
    answer = _post(served.api, _unverified(), GET_CONFIG)
    assert "result" not in answer
    assert answer["error"]["code"] == "Unavailable"
    assert "certificate required" in answer["error"]["message"]
    # claiming maintenance mode does not help: the node is configured
    insecure = {**GET_CONFIG, "args": {"type": "machineconfig", "insecure": True}}
    assert "result" not in _post(served.api, _unverified(), insecure)


def test_a_certificate_from_another_ca_fails_the_handshake(served: Served) -> None:
    other = secrets.generate_secrets().os_ca
    foreign = pki.issue_client_certificate(
        other.crt, other.key, "", ["os:admin"], timedelta(hours=1)
    )
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        _post(served.api, _unverified(foreign), GET_CONFIG)


def test_talosctl_with_a_foreign_certificate_gets_the_tls_error(served: Served) -> None:
    config = served.talosconfig(["os:admin"], ca=secrets.generate_secrets())
    done = served.run(config, "get", "machineconfig")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "rpc error: code = Unavailable desc = connection error" in done.stderr
    assert "tls: unknown certificate authority" in done.stderr


def test_os_reader_reads_but_neither_secrets_nor_changes(served: Served) -> None:
    reader = served.talosconfig(["os:reader"])
    members = served.run(reader, "get", "members")
    assert (members.returncode, members.stderr) == (0, "")
    assert "k8s-node01" in members.stdout
    version = served.run(reader, "version")
    assert (version.returncode, version.stderr) == (0, "")
    assert "Tag:" in version.stdout
    config = served.run(reader, "get", "machineconfig")
    assert config.returncode == 1
    assert NOT_AUTHORIZED in config.stderr
    assert config.stdout.splitlines()[1:] == []  # talosctl's table header, no resource
    patch = served.tmp / "node01.yaml"
    patch.write_text(talos_site.config(1))
    applied = served.run(reader, "apply-config", "-f", str(patch))
    assert applied.returncode == 1
    assert NOT_AUTHORIZED in applied.stderr


def test_os_admin_reads_the_machine_config(served: Served) -> None:
    done = served.run(served.talosconfig(["os:admin"]), "get", "machineconfig", "-o", "yaml")
    assert (done.returncode, done.stderr) == (0, "")
    assert "clusterName: K8S-CLUSTER" in done.stdout


@pytest.mark.parametrize(
    ("roles", "op", "args", "allowed"),
    [
        ({"os:reader"}, "etcd_members", {}, True),
        ({"os:reader"}, "etcd_snapshot", {}, False),
        ({"os:reader"}, "kubeconfig", {}, False),
        ({"os:reader"}, "reboot", {}, False),
        ({"os:operator"}, "reboot", {}, True),
        ({"os:operator"}, "get", {"type": "machineconfig"}, False),
        ({"os:etcd:backup"}, "get", {"type": "members"}, False),
        ({"os:etcd:backup"}, "etcd_members", {}, True),
        ({"os:reader"}, "etcd_alarm_list", {}, True),
        ({"os:reader"}, "etcd_alarm_disarm", {}, False),
        ({"os:operator"}, "etcd_alarm_disarm", {}, True),
        (set(), "version", {}, False),
        ({"os:impostor"}, "version", {}, False),
    ],
)
def test_roles_follow_the_upstream_rules(
    roles: set[str], op: str, args: dict[str, Any], allowed: bool
) -> None:
    kv = MemoryKV()
    SiteStore(kv).save(talos_site.running_cluster(3).site)
    answer = MachineApi(kv).call(IP1, op, args, roles=frozenset(roles))
    denied = answer.get("error") == {"code": "PermissionDenied", "message": "not authorized"}
    assert denied is not allowed
