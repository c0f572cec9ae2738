"""The Talos driver: ``talosctl`` subcommands in, plain values out.

Everything the suite asks a Talos node goes through :class:`TalosDriver`,
one subprocess per call (talos.md §4).  Reads name every node in one
invocation (``-n a,b,c -o json``) because the snapshot takes one read per
resource type, not per node.  Output formats are parsed here and nowhere
else:

* ``get -o json`` is a *stream* of separately pretty-printed objects, not an
  array, so it is read with repeated :meth:`json.JSONDecoder.raw_decode`;
* ``etcd members`` is a tabwriter table whose headers contain spaces
  (``PEER URLS``), so cells are cut at the header's column offsets;
* ``etcd snapshot`` prints two fixed lines; ``version`` tab-indented blocks.

Failures are classified from talosctl's gRPC wording: ``rpc error: code = X
desc = Y`` is parsed into :class:`RpcStatus` (the code decides; ``connection
refused`` and friends in the description mean nothing was delivered), so the
shared retry loop in :mod:`provisioning.drivers` retries only what can
succeed on a second try; certificate failures are final (a stale
talosconfig does not heal itself).

Several nodes in one call fail the way real talosctl v1.12 fails
(https://github.com/siderolabs/talos/blob/v1.12.5/cmd/talosctl/pkg/talos/helpers/resources.go,
``pkg/machinery/client/reply.go``, ``cmd/talosctl/cmd/talos/{get,version,etcd}.go``):

* ``get`` resolves the resource type on the *first* node: when that node is
  down the command prints nothing at all and exits 1, whatever the others
  hold; a later node's failure is collected (without the node's name) and
  the command exits 1 after printing everyone else's resources.
  :meth:`TalosDriver.get_each` therefore asks each node that printed nothing
  on its own, so a down node costs only its own data.  A node that hangs
  (accepts, never answers) holds the whole call until its timeout; then every
  node is asked alone, in parallel, so only the hung one goes unread.
* ``version``, ``etcd members`` and ``etcd status`` print what the answering
  nodes said, a ``WARNING: N error(s) occurred:`` block naming each failed
  node (``\t* <node>: rpc error: ...``) on stderr, and exit 0;
  :meth:`TalosDriver.version` reports those nodes as unanswered
  (:func:`warned_nodes`), never as absent data (``etcd members`` is asked
  of one node at a time, whose failure is an error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from provisioning.drivers import (
    CommandLine,
    Completed,
    Failure,
    Idempotence,
    RetryPolicy,
    Runner,
    Target,
    errors,
    find_executable,
    run_subprocess,
)

APPLY_MODES = ("auto", "no-reboot", "reboot", "staged", "try")

_UNDELIVERED = ("connection refused", "no route to host", "is not reachable", "dial tcp")
_TRANSIENT = (
    "code = unavailable",
    "code = deadlineexceeded",
    "connection reset",
    "i/o timeout",
    "broken pipe",
)


# gRPC codes a second try can cure (https://grpc.io/docs/guides/status-codes/).
_TRANSIENT_CODES = frozenset({"Unavailable", "DeadlineExceeded", "ResourceExhausted", "Aborted"})
# Codes that judge the request, not the node that answered it.
_REQUEST_CODES = frozenset({"NotFound", "InvalidArgument", "PermissionDenied", "Unauthenticated"})
_RPC_ERROR = re.compile(
    r"(?:(?P<node>[^\s:*]+): )?rpc error: code = (?P<code>[A-Za-z]+) desc = (?P<desc>.*)"
)
_WARNED = re.compile(r"^\t\* (?P<node>[^\s:]+): (?P<error>.+)$")


@dataclass(frozen=True)
class RpcStatus:
    """One ``rpc error: code = X desc = Y`` talosctl printed; *node* when it names one."""

    code: str
    desc: str
    node: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.desc}"


def rpc_errors(text: str) -> list[RpcStatus]:
    """Every gRPC status in *text*, in order (one per line at most)."""
    found = []
    for line in text.splitlines():
        match = _RPC_ERROR.search(line)
        if match is not None:
            found.append(RpcStatus(match["code"], match["desc"].strip(), match["node"]))
    return found


def warned_nodes(stderr: str, nodes: Sequence[str]) -> dict[str, str]:
    """Nodes a one-to-many call's ``WARNING:`` block names as failed: node -> why.

    Only the multierror bullets under a ``WARNING:`` line count: the version
    check's ``WARNING: <node>: server version ... is older`` names a node
    that answered.
    """
    failed: dict[str, str] = {}
    in_warning = False
    for line in stderr.splitlines():
        if line.startswith("WARNING: "):
            in_warning = "error" in line and "occurred:" in line
            continue
        match = _WARNED.match(line) if in_warning else None
        if match is None:
            in_warning = in_warning and line.startswith("\t")
            continue
        if match["node"] in nodes:
            statuses = rpc_errors(match["error"])
            failed[match["node"]] = str(statuses[0]) if statuses else match["error"]
    return failed


def classify(stderr: str) -> Failure:
    """How a failed talosctl run should be retried, judged from its stderr."""
    text = stderr.lower()
    if "certificate" in text:  # x509/tls failures come as Unavailable but never heal
        return Failure.PERMANENT
    if any(marker in text for marker in _UNDELIVERED):
        return Failure.UNDELIVERED
    if any(s.code in _TRANSIENT_CODES for s in rpc_errors(stderr)):
        return Failure.TRANSIENT
    if any(marker in text for marker in _TRANSIENT):  # a transport error wrapped as Unknown
        return Failure.TRANSIENT
    return Failure.PERMANENT


@dataclass(frozen=True)
class EtcdMemberRow:
    """One row of ``talosctl etcd members``; *node* is None when the column is absent."""

    node: str | None
    id: str
    hostname: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


@dataclass(frozen=True)
class SnapshotInfo:
    """What ``talosctl etcd snapshot`` reported about the file it wrote."""

    path: Path
    size_bytes: int
    hash: str
    revision: int
    total_keys: int
    total_size: int


@dataclass(frozen=True)
class ServerVersion:
    """One node's block under ``Server:`` in ``talosctl version``."""

    node: str
    tag: str
    sha: str
    go_version: str
    os_arch: str
    enabled: str


@dataclass(frozen=True)
class PartialGet:
    """What ``talosctl get`` found when some nodes answered and others did not.

    *unanswered* names each node that did not answer, with why (``Unavailable:
    connection error: ...``); every other node answered, with the resources
    in *resources* or none.  *error* sums *unanswered* up in one line, empty
    when every node answered.
    """

    resources: list[dict[str, Any]]
    error: str = ""
    unanswered: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    """``talosctl version``; *unanswered*: nodes its ``WARNING:`` names, with why."""

    client_tag: str
    servers: tuple[ServerVersion, ...]
    unanswered: Mapping[str, str] = field(default_factory=dict)


def parse_json_stream(text: str) -> list[dict[str, Any]]:
    """Objects of a concatenated JSON stream (``talosctl get -o json``)."""
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return objects
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON stream at character {exc.pos}: {exc.msg}") from None
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        objects.append(value)


@dataclass(frozen=True)
class EtcdAlarmRow:
    """One row of ``talosctl etcd alarm list``: the node asked, the member, the alarm type."""

    node: str
    member_id: str
    alarm: str


_ALARM_ROW = re.compile(r"^(?P<node>\S+)\s+(?P<member>[0-9a-f]{16})\s+(?P<alarm>[A-Z]+)$")


def parse_etcd_alarms(text: str) -> list[EtcdAlarmRow]:
    """Rows of ``etcd alarm list`` (NODE MEMBER ALARM); no alarm prints nothing at all."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].split() != ["NODE", "MEMBER", "ALARM"]:
        raise ValueError(f"unexpected etcd alarm list header: {lines[0]!r}")
    rows: list[EtcdAlarmRow] = []
    for line in lines[1:]:
        match = _ALARM_ROW.match(line)
        if match is None:
            raise ValueError(f"unexpected etcd alarm list row: {line!r}")
        rows.append(EtcdAlarmRow(match["node"], match["member"], match["alarm"]))
    return rows


_MEMBER_HEADERS = ("NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER")


def _column(header: str, name: str) -> int | None:
    match = re.search(rf"(?:^|(?<=\s)){name}(?=\s|$)", header)
    return None if match is None else match.start()


def parse_etcd_members(text: str) -> list[EtcdMemberRow]:
    """Rows of the ``etcd members`` table, cut at the header's column offsets."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    found = {name: _column(header, name) for name in _MEMBER_HEADERS}
    names = [name for name in _MEMBER_HEADERS if found[name] is not None]
    if names not in (list(_MEMBER_HEADERS), list(_MEMBER_HEADERS[1:])):
        raise ValueError(f"unexpected etcd members header: {header.strip()!r}")
    starts = [found[name] or 0 for name in names]
    rows: list[EtcdMemberRow] = []
    for line in lines[1:]:
        bounds = [*starts[1:], None]
        cells = {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, bounds, strict=True)
        }
        if cells["LEARNER"] not in ("true", "false") or not re.fullmatch(
            r"[0-9a-f]{16}", cells["ID"]
        ):
            raise ValueError(f"unexpected etcd members row: {line.strip()!r}")
        rows.append(
            EtcdMemberRow(
                node=cells.get("NODE"),
                id=cells["ID"],
                hostname=cells["HOSTNAME"],
                peer_urls=tuple(u for u in cells["PEER URLS"].split(",") if u),
                client_urls=tuple(u for u in cells["CLIENT URLS"].split(",") if u),
                is_learner=cells["LEARNER"] == "true",
            )
        )
    return rows


_SAVED = re.compile(r'^etcd snapshot saved to "(?P<path>.*)" \((?P<size>\d+) bytes\)$')
_INFO = re.compile(
    r"^snapshot info: hash (?P<hash>[0-9a-f]{8}), revision (?P<revision>\d+), "
    r"total keys (?P<keys>\d+), total size (?P<total>\d+)$"
)


def parse_snapshot_output(text: str) -> SnapshotInfo:
    """The two lines ``etcd snapshot`` prints on success."""
    lines = [line for line in text.splitlines() if line.strip()]
    saved = _SAVED.match(lines[0]) if len(lines) == 2 else None
    info = _INFO.match(lines[1]) if saved is not None else None
    if saved is None or info is None:
        raise ValueError(f"unexpected etcd snapshot output: {text.strip()[:300]!r}")
    return SnapshotInfo(
        path=Path(saved["path"]),
        size_bytes=int(saved["size"]),
        hash=info["hash"],
        revision=int(info["revision"]),
        total_keys=int(info["keys"]),
        total_size=int(info["total"]),
    )


def version_skew(info: VersionInfo) -> str:
    """Why this talosctl may not speak for the cluster: its version differs from the nodes'.

    Empty when every answering node runs the client's version.  talosctl
    decodes and validates configs with its own copy of Talos's code, so a
    client of another release can accept what the nodes refuse (or the
    reverse); the suite says so rather than silently judging with it.
    """
    servers: dict[str, list[str]] = {}
    for server in info.servers:
        if server.tag != info.client_tag:
            servers.setdefault(server.tag, []).append(server.node)
    if not servers:
        return ""
    found = "; ".join(f"{tag} on {', '.join(nodes)}" for tag, nodes in sorted(servers.items()))
    return (
        f"talosctl is {info.client_tag or 'of unknown version'} but the cluster runs Talos "
        f"{found}: use the talosctl of the cluster's Talos version"
    )


def parse_version(text: str) -> VersionInfo:
    """``talosctl version`` output: the client tag and one block per server node."""
    client_tag = ""
    servers: list[dict[str, str]] = []
    section = ""
    for raw in text.splitlines():
        if raw in ("Client:", "Server:"):
            section = raw
            continue
        key, sep, value = raw.strip().partition(":")
        if not sep:
            continue
        value = value.strip()
        if section == "Client:" and key == "Tag":
            client_tag = value
        elif section == "Server:":
            if key == "NODE":
                servers.append({"NODE": value})
            elif servers:
                servers[-1][key] = value
    return VersionInfo(
        client_tag=client_tag,
        servers=tuple(
            ServerVersion(
                node=s["NODE"],
                tag=s.get("Tag", ""),
                sha=s.get("SHA", ""),
                go_version=s.get("Go version", ""),
                os_arch=s.get("OS/Arch", ""),
                enabled=s.get("Enabled", ""),
            )
            for s in servers
        ),
    )


def _why(exc: errors.DriverError) -> str:
    """The gRPC status talosctl printed (``Unavailable: ...``), else the driver's message."""
    statuses = rpc_errors(exc.stderr)
    if statuses:
        return str(statuses[-1])
    return str(exc).splitlines()[0]


def _flag(name: str, value: bool) -> str:
    # talosctl bool flags take a value only as --flag=value (pflag)
    return f"--{name}={'true' if value else 'false'}"


class TalosDriver:
    """``talosctl`` against one target; every method is one invocation."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        runner: Runner | None = None,
    ) -> None:
        self.target = target
        self._runner: Runner = runner if runner is not None else run_subprocess
        self._cli = CommandLine(
            "talosctl",
            target,
            policy=RetryPolicy(timeout=timeout, retries=retries, backoff=backoff),
            classify=classify,
            runner=runner,
        )
        # After a node hung a whole call, each node is asked once: a retry would wait on the
        # hung node again while the budget (and the collector's workers) run out.
        self._once = CommandLine(
            "talosctl",
            target,
            policy=RetryPolicy(timeout=timeout, retries=0, backoff=backoff),
            classify=classify,
            runner=runner,
        )

    def _run(
        self,
        args: Sequence[str],
        nodes: Sequence[str],
        *,
        kind: Idempotence,
        once: bool = False,
    ) -> Completed:
        if not nodes or any(not n or "," in n for n in nodes):
            raise ValueError(f"nodes must be non-empty names without commas, got {list(nodes)}")
        base = ["--talosconfig", str(self.target.talosconfig)] if self.target.talosconfig else []
        cli = self._once if once else self._cli
        return cli.run([*base, "--nodes", ",".join(nodes), *args], kind=kind)

    def _unreadable(self, what: str, done: Completed, exc: ValueError) -> errors.DriverError:
        return errors.UnexpectedOutput(
            f"talosctl {what} printed output this driver cannot read on target "
            f"{self.target.name}: {exc}",
            stderr=done.stderr,
        )

    def get(
        self,
        resource: str,
        nodes: Sequence[str],
        *,
        namespace: str | None = None,
        id: str | None = None,  # talosctl's own word for the resource ID
        insecure: bool = False,
        once: bool = False,
    ) -> list[dict[str, Any]]:
        """Resources of one type on every node, in node order (one ``talosctl get``).

        *once*: a single attempt, no retries.
        """
        args = ["get", resource, *([id] if id else []), "-o", "json"]
        if namespace:
            args += ["--namespace", namespace]
        if insecure:
            args.append("--insecure")
        done = self._run(args, nodes, kind=Idempotence.READ, once=once)
        try:
            return parse_json_stream(done.text)
        except ValueError as exc:
            raise self._unreadable(f"get {resource}", done, exc) from None

    def get_each(
        self, resource: str, nodes: Sequence[str], *, namespace: str | None = None
    ) -> PartialGet:
        """Like :meth:`get`, but a node that fails costs only its own resources.

        One ``talosctl get`` names every node.  When it fails, the nodes that
        printed nothing are asked again each alone, in parallel (with
        :meth:`get`'s retries for transient failures): a first node that is
        down has aborted the whole command (module docstring), and a later
        node's error does not say which node it was.  When it timed out, one
        node hung and held everyone's answer, so every node is asked alone.
        Each node then either answered -- with resources or none -- or is in
        :attr:`PartialGet.unanswered` with its own error; a missing talosctl,
        or a spent budget (nothing more may be asked), still raises.
        """
        args = ["get", resource, "-o", "json", *(["--namespace", namespace] if namespace else [])]
        if not nodes or any(not n or "," in n for n in nodes):
            raise ValueError(f"nodes must be non-empty names without commas, got {list(nodes)}")
        base = ["--talosconfig", str(self.target.talosconfig)] if self.target.talosconfig else []
        executable = find_executable("talosctl", self.target.bin_dir)
        argv = [str(executable), *base, "--nodes", ",".join(nodes), *args]
        try:
            done = self._runner(argv, timeout=self._cli.policy.timeout, env=None)
        except FileNotFoundError:
            return PartialGet(self.get(resource, nodes, namespace=namespace))
        except errors.TimedOut:
            raise  # the budget is spent (provisioning.drivers.budget)
        except TimeoutError:
            return self._each_alone(resource, nodes, [], namespace, once=True)
        try:
            found = parse_json_stream(done.text)
        except ValueError as exc:
            raise self._unreadable(f"get {resource}", done, exc) from None
        if done.returncode == 0:
            return PartialGet(found)
        statuses = rpc_errors(done.stderr)
        if not found and statuses and statuses[0].code in _REQUEST_CODES:
            # The request itself is wrong (an unknown type): every node would say the same.
            why = str(statuses[0])
            return PartialGet([], why, dict.fromkeys(nodes, why))
        return self._each_alone(resource, nodes, found, namespace, once=False)

    def _each_alone(
        self,
        resource: str,
        nodes: Sequence[str],
        found: list[dict[str, Any]],
        namespace: str | None,
        *,
        once: bool,
    ) -> PartialGet:
        """*found* plus what each node that printed none of it says when asked alone.

        *once* after a timeout: one attempt each, so the hung node costs one timeout.
        """
        printed = {str(r.get("node") or "") for r in found}
        ask = [node for node in nodes if node not in printed]

        def alone(node: str) -> list[dict[str, Any]] | str:
            try:
                return self.get(resource, [node], namespace=namespace, once=once)
            except errors.ToolMissing:
                raise
            except errors.DriverError as exc:
                return _why(exc)

        unanswered: dict[str, str] = {}
        if ask:
            with ThreadPoolExecutor(max_workers=len(ask), thread_name_prefix="talos-node") as pool:
                for node, answer in zip(ask, pool.map(alone, ask), strict=True):
                    if isinstance(answer, str):
                        unanswered[node] = answer
                    else:
                        found.extend(answer)
        order = {node: index for index, node in enumerate(nodes)}
        found.sort(key=lambda r: order.get(str(r.get("node") or ""), len(order)))
        error = "; ".join(f"{node}: {why}" for node, why in unanswered.items())
        return PartialGet(found, error, unanswered)

    def apply_config(
        self,
        node: str,
        config_file: Path,
        *,
        patches: Sequence[Path] = (),
        insecure: bool = False,
        mode: str = "auto",
        dry_run: bool = False,
    ) -> str:
        """Send a machine config; returns what talosctl reported (stderr + stdout)."""
        if mode not in APPLY_MODES:
            raise ValueError(f"mode must be one of {', '.join(APPLY_MODES)}, got {mode!r}")
        args = ["apply-config", "--file", str(config_file), "--mode", mode]
        for patch in patches:
            args += ["--config-patch", f"@{patch}"]
        if insecure:
            args.append("--insecure")
        if dry_run:
            args.append("--dry-run")
        kind = Idempotence.READ if dry_run else Idempotence.WRITE
        done = self._run(args, [node], kind=kind)
        return "\n".join(p for p in (done.stderr.strip(), done.text.strip()) if p)

    def bootstrap(self, node: str) -> None:
        """Start etcd on the first control-plane node (once per cluster)."""
        self._run(["bootstrap"], [node], kind=Idempotence.WRITE)

    def kubeconfig(self, path: Path, node: str, *, force: bool = True) -> None:
        """Write the admin kubeconfig to *path* alone (no merge into another file)."""
        args = ["kubeconfig", str(path), _flag("merge", False)]
        if force:
            args.append("--force")
        self._run(args, [node], kind=Idempotence.READ)

    def etcd_members(self, node: str) -> list[EtcdMemberRow]:
        """The etcd member list as *node* sees it."""
        done = self._run(["etcd", "members"], [node], kind=Idempotence.READ)
        try:
            return parse_etcd_members(done.text)
        except ValueError as exc:
            raise self._unreadable("etcd members", done, exc) from None

    def etcd_alarms(self, node: str) -> list[EtcdAlarmRow]:
        """etcd's active alarms (all members'), as *node*'s etcd lists them."""
        done = self._run(["etcd", "alarm", "list"], [node], kind=Idempotence.READ)
        try:
            return parse_etcd_alarms(done.text)
        except ValueError as exc:
            raise self._unreadable("etcd alarm list", done, exc) from None

    def etcd_remove_member(self, node: str, member_id: str) -> None:
        """Ask *node* to remove another (unreachable or stale) member by its hex ID."""
        if not re.fullmatch(r"[0-9a-f]{16}", member_id):
            raise ValueError(f"member_id must be 16 hex digits, got {member_id!r}")
        self._run(["etcd", "remove-member", member_id], [node], kind=Idempotence.WRITE)

    def etcd_snapshot(self, node: str, path: Path) -> SnapshotInfo:
        """Stream an etcd snapshot from *node* into *path*."""
        done = self._run(["etcd", "snapshot", str(path)], [node], kind=Idempotence.READ)
        try:
            return parse_snapshot_output(done.text)
        except ValueError as exc:
            raise self._unreadable("etcd snapshot", done, exc) from None

    def reset(
        self,
        node: str,
        *,
        graceful: bool = True,
        reboot: bool = False,
        labels: Sequence[str] = (),
    ) -> None:
        """Wipe *node* (only the volumes in *labels*, if given); see talos.md §4.6."""
        args = ["reset", _flag("graceful", graceful), _flag("reboot", reboot)]
        for label in labels:
            args += ["--system-labels-to-wipe", label]
        self._run(args, [node], kind=Idempotence.WRITE)

    def upgrade(self, node: str, image: str, *, wait: bool = True) -> None:
        """Install *image* on *node* and reboot into it."""
        self._run(
            ["upgrade", "--image", image, _flag("wait", wait)], [node], kind=Idempotence.WRITE
        )

    def reboot(self, node: str) -> None:
        self._run(["reboot"], [node], kind=Idempotence.WRITE)

    def version(self, nodes: Sequence[str]) -> VersionInfo:
        """Client tag and each node's Talos version (one invocation).

        Nodes that failed while others answered are in
        :attr:`VersionInfo.unanswered` (talosctl warns and exits 0); when none
        answered talosctl exits 1 and this raises.
        """
        done = self._run(["version"], nodes, kind=Idempotence.READ)
        info = parse_version(done.text)
        return replace(info, unanswered=warned_nodes(done.stderr, nodes))

    def read(self, node: str, path: str) -> bytes:
        """The bytes of a file on *node* (``talosctl read``)."""
        return self._run(["read", path], [node], kind=Idempotence.READ).stdout

    def wipe_disk(self, node: str, devices: Sequence[str], *, insecure: bool = False) -> None:
        """Wipe block devices by name without ``/dev/`` (``sdb``, ``sda5``)."""
        if not devices:
            raise ValueError("wipe_disk needs at least one device")
        args = ["wipe", "disk", *devices, *(["--insecure"] if insecure else [])]
        self._run(args, [node], kind=Idempotence.WRITE)
