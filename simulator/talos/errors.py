"""Errors a simulated Talos node answers with, as gRPC status code + description.

Real ``talosctl`` prints server errors as ``rpc error: code = <Code> desc =
<text>`` (``status.Error`` on the server, ``grpc`` formatting on the client);
errors a server returns without a status become ``code = Unknown``.  Keeping
the code and the text apart lets the machine API serialise them and the
``talosctl`` shim print them exactly that way.
"""

from __future__ import annotations


class TalosError(Exception):
    """An error a node returned for an API call."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)

    def rpc_text(self) -> str:
        """How talosctl prints it."""
        return f"rpc error: code = {self.code} desc = {self.message}"


def unavailable(ip: str) -> TalosError:
    """The node does not answer (powered off, rebooting, no such address)."""
    return TalosError(
        "Unavailable",
        "connection error: desc = "
        f'"transport: Error while dialing: dial tcp {ip}:50000: connect: no route to host"',
    )


def not_in_maintenance() -> TalosError:
    """``--insecure`` against a configured node: apid demands a client certificate."""
    return TalosError(
        "Unavailable",
        'connection error: desc = "error reading server preface: remote error: tls: '
        'certificate required"',
    )


def needs_insecure() -> TalosError:
    """mTLS against a maintenance-mode node: its certificate is self-signed."""
    return TalosError(
        "Unavailable",
        'connection error: desc = "transport: authentication handshake failed: tls: failed to '
        'verify certificate: x509: certificate signed by unknown authority"',
    )


def not_in_maintenance_api() -> TalosError:
    """Admin-only APIs over the maintenance LAN listener (maintenance/server.go)."""
    return TalosError("Unimplemented", "API is not implemented in maintenance mode")


def control_plane_only(api: str) -> TalosError:
    """``checkControlplane`` in v1alpha1_server.go."""
    return TalosError("Unimplemented", f"{api} is only available on control plane nodes")
