"""Which machine-API operations only read: shared by the server and the talosctl look-alike.

The server answers these from its decoded site without saving; the client
may send them again after a dropped keep-alive connection.  A write is never
sent twice: if the connection dropped after the server acted, a second send
would apply, reboot or reset a node twice.  The list lives apart from
``api.py`` so the client does not import the server to learn it.
"""

from __future__ import annotations

READ_ONLY_OPS = frozenset(
    {
        "version",
        "get",
        "etcd_members",
        "etcd_status",
        "etcd_snapshot",
        "kubeconfig",
        "read",
        "health",
    }
)
