"""Which Talos roles may make which machine-API call (machined's and apid's authz rules).

Upstream keeps one rule set per gRPC method
(https://github.com/siderolabs/talos/blob/main/internal/app/machined/pkg/system/services/machined.go,
``rules``); a method without a rule falls back to ``os:admin``, and a caller
whose certificate holds none of the method's roles gets
``PermissionDenied: not authorized``.  Reading a ``Sensitive`` resource type
(MachineConfig, the secrets.* types) needs ``os:admin`` on top
(https://github.com/siderolabs/talos/blob/main/internal/app/resources/access.go).

Maintenance connections (no client certificate) are not judged here: the
maintenance service grants ``os:reader`` and its own per-call rules, which
:class:`simulator.talos.lifecycle.Lifecycle` models.
"""

from __future__ import annotations

from simulator.talos.errors import TalosError

ADMIN = "os:admin"
OPERATOR = "os:operator"
READER = "os:reader"
ETCD_BACKUP = "os:etcd:backup"

_READERS = frozenset({ADMIN, OPERATOR, READER})
_ONLY_ADMIN = frozenset({ADMIN})

# simulator op -> upstream method's roles
RULES: dict[str, frozenset[str]] = {
    "version": _READERS,  # MachineService/Version
    "get": _READERS,  # cosi.resource.State/Get, List
    "health": _READERS,  # ClusterService/HealthCheck
    "etcd_members": _READERS | {ETCD_BACKUP},  # EtcdMemberList
    "etcd_status": _READERS | {ETCD_BACKUP},  # EtcdStatus
    "etcd_alarm_list": _READERS | {ETCD_BACKUP},  # EtcdAlarmList
    "etcd_alarm_disarm": frozenset({ADMIN, OPERATOR}),  # EtcdAlarmDisarm
    "etcd_snapshot": frozenset({ADMIN, OPERATOR, ETCD_BACKUP}),  # EtcdSnapshot
    "reboot": frozenset({ADMIN, OPERATOR}),
    "shutdown": frozenset({ADMIN, OPERATOR}),
    "apply_config": _ONLY_ADMIN,
    "bootstrap": _ONLY_ADMIN,
    "reset": _ONLY_ADMIN,
    "upgrade": _ONLY_ADMIN,
    "wipe_disk": _ONLY_ADMIN,  # StorageService/BlockDeviceWipe
    "etcd_leave": _ONLY_ADMIN,
    "etcd_remove_member": _ONLY_ADMIN,  # EtcdRemoveMemberByID
    "kubeconfig": _ONLY_ADMIN,
    "read": _ONLY_ADMIN,
}


def not_authorized() -> TalosError:
    return TalosError("PermissionDenied", "not authorized")


def authorize(op: str, roles: frozenset[str], *, sensitive: bool = False) -> None:
    """Refuse *op* for a certificate holding *roles*, as apid's authorizer would.

    :raises TalosError: PermissionDenied.
    """
    if not roles & RULES.get(op, _ONLY_ADMIN):
        raise not_authorized()
    if sensitive and ADMIN not in roles:
        raise not_authorized()
