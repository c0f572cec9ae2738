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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from simulator.talos.resources import Resource

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
    """``-o jsonpath={.a.b}``: scalars raw, maps and lists as indented JSON."""
    path = expression.strip()
    if not (path.startswith("{.") and path.endswith("}")):
        raise ValueError(f"unsupported jsonpath expression {expression!r}")
    out = []
    for node, res in items:
        value = _lookup(_as_json_map(node, res), path[2:-1])
        if value is None:
            continue
        if isinstance(value, dict | list):
            out.append(json.dumps(value, indent=4))
        else:
            out.append(_cell(value))
    return "".join(line + "\n" for line in out)


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
