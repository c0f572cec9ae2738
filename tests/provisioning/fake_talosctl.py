"""A runner that answers as real talosctl v1.12.5 does when some nodes are down.

Why a recording rather than the simulator: the driver must handle the real
tool's behaviour, which the simulator's look-alike only reproduces, so these
unit tests take the shapes from talosctl's source
(https://github.com/siderolabs/talos/blob/v1.12.5/cmd/talosctl/pkg/talos/helpers/resources.go:
``get`` resolves the type on the first node and returns its error before
printing anything; later nodes' errors are a hashicorp multierror without a
node prefix; ``pkg/machinery/client/reply.go`` + ``pkg/cli/output.go``:
``version`` and ``etcd members`` warn ``WARNING: N error(s) occurred:`` with
``\\t* <node>: rpc error: ...`` bullets and exit 0 while some node answered;
``cmd/talosctl/cmd/root.go`` prints a returned error on its own line).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from provisioning.drivers import Completed

TAG = "v1.12.5"
BLOCK = (
    f"\tTag:         {TAG}\n\tSHA:         0c2ad6d3\n\tBuilt:       \n"
    "\tGo version:  go1.25.7\n\tOS/Arch:     linux/amd64\n"
)


def unavailable(ip: str) -> str:
    return (
        "rpc error: code = Unavailable desc = connection error: desc = "
        f'"transport: Error while dialing: dial tcp {ip}:50000: connect: no route to host"'
    )


def multierror(errors: Sequence[str]) -> str:
    """hashicorp/go-multierror's ListFormatFunc."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


@dataclass
class RealShapedTalosctl:
    """``Runner`` for :class:`~provisioning.drivers.talosctl.TalosDriver`.

    *down*: nodes that do not answer; *hung*: nodes that accept and never
    answer, so a call naming one waits its whole timeout (real talosctl
    waits on every node's reply; the runner then raises ``TimeoutError`` as
    :func:`~provisioning.drivers.run_subprocess` does); *holding*: nodes with a HostnameStatus
    (every node that answers when None); *refuse*: an error every request
    gets (a wrong type, no permission); *client_tag*: the version talosctl
    itself reports (the nodes run :data:`TAG`).
    """

    down: set[str] = field(default_factory=set)
    hung: set[str] = field(default_factory=set)
    holding: set[str] | None = None
    refuse: str | None = None
    client_tag: str = TAG
    argvs: list[list[str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def calls(self) -> int:
        return len(self.argvs)

    def __call__(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
    ) -> Completed:
        with self._lock:
            self.argvs.append(list(argv))
        at = list(argv).index("--nodes")
        nodes, command = argv[at + 1].split(","), list(argv[at + 2 :])
        if self.hung.intersection(nodes):
            time.sleep(timeout)
            raise TimeoutError(f"talosctl did not finish within {timeout:g}s")
        if command[0] == "get":
            return self._get(nodes)
        if command[0] == "version":
            return self._version(nodes)
        if command[:2] == ["etcd", "members"]:
            return self._members(nodes)
        raise AssertionError(f"the recording has no answer for {command}")

    def _get(self, nodes: Sequence[str]) -> Completed:
        if self.refuse is not None:
            return Completed(1, b"", self.refuse + "\n")
        if nodes[0] in self.down:  # ResolveResourceKind on the first node
            return Completed(1, b"", unavailable(nodes[0]) + "\n")
        out, errors = "", []
        for node in nodes:
            if node in self.down:
                errors.append(unavailable(node))
            elif self.holding is None or node in self.holding:
                resource = {
                    "metadata": {"id": "hostname"},
                    "node": node,
                    "spec": {"hostname": node},
                }
                out += json.dumps(resource, indent=4, sort_keys=True) + "\n"
        if errors:
            return Completed(1, out.encode(), multierror(errors) + "\n")
        return Completed(0, out.encode(), "")

    def _version(self, nodes: Sequence[str]) -> Completed:
        failed = [f"{n}: {unavailable(n)}" for n in nodes if n in self.down]
        answered = [n for n in nodes if n not in self.down]
        head = f"Client:\n{BLOCK.replace(TAG, self.client_tag)}Server:\n"
        if failed and not answered:
            return Completed(1, head.encode(), f"error getting version: {multierror(failed)}\n")
        body = "".join(f"\tNODE:        {n}\n{BLOCK}\tEnabled:     RBAC\n" for n in answered)
        warning = ("WARNING: " + multierror(failed)) if failed else ""
        return Completed(0, (head + body).encode(), warning)

    def _members(self, nodes: Sequence[str]) -> Completed:
        failed = [f"{n}: {unavailable(n)}" for n in nodes if n in self.down]
        answered = [n for n in nodes if n not in self.down]
        if failed and not answered:
            return Completed(1, b"", f"error getting members: {multierror(failed)}\n")
        rows = [["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]]
        rows += [
            [n, "6b4bd4e1e8e3f8c1", "k8s-node01", f"https://{n}:2380", f"https://{n}:2379", "false"]
            for n in answered
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        table = "".join(
            "".join(c.ljust(w + 3) for c, w in zip(row[:-1], widths, strict=False)) + row[-1] + "\n"
            for row in rows
        )
        return Completed(0, table.encode(), ("WARNING: " + multierror(failed)) if failed else "")
