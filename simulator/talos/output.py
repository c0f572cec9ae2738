"""talosctl's text output, byte for byte: ``get -o table|yaml|json|jsonpath``, etcd, version.

The suite parses what ``talosctl`` prints, so the shim must print exactly
what the real one does (facts §4.5, §4.9, §4.10; talosctl
``cmd/talos/output/*.go``): a Go ``tabwriter`` table (padding 3, header even
without rows), YAML with ``node:`` then ``metadata`` in COSI's key order and
4-space indents, JSON as a stream of separately pretty-printed objects whose
keys are all sorted (it is built by a YAML round trip), and JSONPath over that
same map.

Deviation: PyYAML's scalar quoting can differ from Go's in rare cases (keys
or values that only Go considers ambiguous); values the simulator emits are
plain strings, numbers and booleans where both agree.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml

from simulator.talos import jsonpath as jsonpath_module
from simulator.talos.resources import Resource, TypeDef, pretty_size

PADDING = 3


class _Timestamp(str):
    """A ``time.Time`` field: Go writes it as a plain, unquoted scalar."""


class _Empty:
    """An empty string metadata field (owner): Go writes the key with no value."""


class _Dumper(yaml.SafeDumper):
    """4-space indents with indented sequences, as Go's encoder writes them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(
    _Timestamp, lambda d, v: d.represent_scalar("tag:yaml.org,2002:timestamp", str(v))
)
_Dumper.add_representer(_Empty, lambda d, v: d.represent_scalar("tag:yaml.org,2002:null", ""))
_Dumper.add_representer(
    str,
    lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None),
)


def _dump(value: Any) -> str:
    return yaml.dump(
        value, Dumper=_Dumper, indent=4, sort_keys=False, default_flow_style=False, width=4096
    )


def tabwriter(rows: Sequence[Sequence[str]]) -> str:
    """Go ``text/tabwriter`` (minwidth 0, padding 3, spaces); the last cell is not padded."""
    widths: dict[int, int] = {}
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths.get(index, 0), len(cell))
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i] + PADDING) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "".join(line + "\n" for line in lines)


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(resource: Resource) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "namespace": resource.typedef.namespace,
        "type": resource.typedef.type,
        "id": resource.id,
        "version": resource.version,
        "owner": resource.owner or _Empty(),
        "phase": "running",
        "created": _Timestamp(_timestamp(resource.created)),
        "updated": _Timestamp(_timestamp(resource.updated)),
    }
    if resource.labels:
        meta["labels"] = dict(resource.labels)
    return meta


def _lookup(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_cell(v) for v in value) + "]"
    return str(value)


def table(items: Sequence[tuple[str, Resource]], columns: Sequence[tuple[str, str]]) -> str:
    """``-o table`` for (node, resource) pairs of one type."""
    header = ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", *(h for h, _ in columns)]
    rows = [header]
    for node, res in items:
        row = [node, res.typedef.namespace, res.typedef.display, res.id, str(res.version)]
        row += [_cell(_lookup(res.spec, path)) for _, path in columns]
        rows.append(row)
    return tabwriter(rows)


def yaml_stream(items: Sequence[tuple[str, Resource]]) -> str:
    """``-o yaml``: ``---`` between resources, each ``node:`` + metadata + spec."""
    parts = []
    for node, res in items:
        parts.append(_dump({"node": node}) + _dump({"metadata": _metadata(res), "spec": res.spec}))
    return "---\n".join(parts)


def _as_json_map(node: str, res: Resource) -> dict[str, Any]:
    """What talosctl's JSON output marshals: the YAML form re-read as untyped values."""
    data: dict[str, Any] = yaml.safe_load(_dump({"metadata": _metadata(res), "spec": res.spec}))
    meta = data["metadata"]
    # Metadata scalars are untagged when re-read: "0" becomes a number,
    # timestamps stay the strings JSON shows.
    meta["id"] = yaml.safe_load(str(res.id)) if res.id else res.id
    meta["created"] = _timestamp(res.created)
    meta["updated"] = _timestamp(res.updated)
    data["node"] = node
    return data


def json_stream(items: Sequence[tuple[str, Resource]]) -> str:
    """``-o json``: one 4-space pretty object per resource, keys sorted, concatenated."""
    return "".join(
        json.dumps(_as_json_map(node, res), indent=4, sort_keys=True) + "\n" for node, res in items
    )


def jsonpath(items: Sequence[tuple[str, Resource]], expression: str) -> str:
    """``-o jsonpath=...`` over (node, resource) pairs (:mod:`simulator.talos.jsonpath`)."""
    segments = jsonpath_module.parse(expression)
    return "".join(jsonpath_module.render(segments, _as_json_map(n, r)) for n, r in items)


class Writer:
    """talosctl's ``output.Writer`` for one ``get``: resources arrive node by node.

    The table is one tabwriter flushed at the end (its header is printed even
    with no rows); yaml, json and jsonpath stream each node's resources as
    they come, so output printed before a later error stays printed.
    """

    def __init__(
        self,
        fmt: str,
        typedef: TypeDef,
        template: Sequence[jsonpath_module.Segment] | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.fmt, self.typedef, self.template = fmt, typedef, template
        self.out = out if out is not None else sys.stdout
        self._rows: list[tuple[str, Resource]] = []
        self._written = False

    def write(self, node: str, resources: Sequence[Resource]) -> None:
        """One node's resources; :class:`ValueError` when the jsonpath finds a key missing."""
        items = [(node, res) for res in resources]
        if self.fmt == "table":
            self._rows.extend(items)
            return
        for item in items:
            if self.fmt == "yaml":
                text = ("---\n" if self._written else "") + yaml_stream([item])
            elif self.fmt == "json":
                text = json_stream([item])
            else:
                assert self.template is not None
                text = jsonpath_module.render(self.template, _as_json_map(*item))
            self.out.write(text)
            self._written = True

    def flush(self) -> None:
        if self.fmt == "table":
            self.out.write(table(self._rows, self.typedef.columns))
        self.out.flush()


def etcd_status(rows: Sequence[Mapping[str, Any]]) -> str:
    """``talosctl etcd status``: one row per answering node (etcd.go ``etcdStatusCmd``)."""
    table_rows = [
        [
            "NODE",
            "MEMBER",
            "DB SIZE",
            "IN USE",
            "LEADER",
            "RAFT INDEX",
            "RAFT TERM",
            "RAFT APPLIED INDEX",
            "LEARNER",
            "PROTOCOL",
            "STORAGE",
            "ERRORS",
        ]
    ]
    for row in rows:
        size, in_use = int(row["db_size"]), int(row["db_size_in_use"])
        ratio = in_use / size * 100.0 if size > 0 else 0.0
        table_rows.append(
            [
                str(row["node"]),
                f"{int(row['member_id']):016x}",
                pretty_size(size),
                f"{pretty_size(in_use)} ({ratio:.2f}%)",
                f"{int(row['leader']):016x}",
                str(row["raft_index"]),
                str(row["raft_term"]),
                str(row["raft_applied_index"]),
                "true" if row["learner"] else "false",
                str(row["protocol"]),
                str(row["storage"]),
                ", ".join(row["errors"]),
            ]
        )
    return tabwriter(table_rows)


def etcd_members(rows: Sequence[tuple[str, int, str, Sequence[str], Sequence[str], bool]]) -> str:
    """``talosctl etcd members``: (node, id, hostname, peer URLs, client URLs, learner)."""
    table_rows = [["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]]
    for node, member_id, hostname, peers, clients, learner in rows:
        table_rows.append(
            [
                node,
                f"{member_id:016x}",
                hostname,
                ",".join(peers),
                ",".join(clients),
                _cell(learner),
            ]
        )
    return tabwriter(table_rows)


def etcd_alarms(rows: Sequence[tuple[str, int, str]]) -> str:
    """``talosctl etcd alarm list``/``disarm``: (node, member ID, alarm type) per alarm."""
    table = [["NODE", "MEMBER", "ALARM"], *([n, f"{m:016x}", a] for n, m, a in rows)]
    return tabwriter(table)


def _version_block(tag: str, sha: str, go: str) -> str:
    return (
        f"\tTag:         {tag}\n"
        f"\tSHA:         {sha}\n"
        "\tBuilt:       \n"
        f"\tGo version:  {go}\n"
        "\tOS/Arch:     linux/amd64\n"
    )


def version(
    client_tag: str, servers: Sequence[tuple[str, str]], *, sha: str = "", go: str = "go1.25.7"
) -> str:
    """``talosctl version``: the client block, then one block per (node, tag)."""
    out = "Client:\n" + _version_block(client_tag, sha, go)
    for node, tag in servers:
        out += "Server:\n" + f"\tNODE:        {node}\n" + _version_block(tag, sha, go)
        out += "\tEnabled:     RBAC\n"
    return out
