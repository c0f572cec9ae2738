"""Reading and writing the definition's YAML, with locations for errors.

PyYAML gives line numbers only while composing; once values are plain dicts
they are gone.  :func:`load_documents` therefore composes each document,
records where every mapping value and sequence item starts in a
:class:`LineMap`, and only then constructs plain Python values (through the
safe constructor, so anchors and aliases work as operators expect).  Syntax
errors become a :class:`~provisioning.problems.DefinitionError` naming the
file and line, never a traceback.

Output follows Talos's encoder where it matters for diffs: four-space
indentation, keys in insertion order, ``---`` between documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioning.problems import DefinitionError, Problem

PathKey = tuple[str | int, ...]


@dataclass
class LineMap:
    """Where each value of one YAML document starts (1-based lines)."""

    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int | None:
        """The line of *path*, or of its nearest located ancestor."""
        for cut in range(len(path), -1, -1):
            found = self.lines.get(path[:cut])
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class Document:
    """One YAML document: its value and where its parts are."""

    value: Any
    lines: LineMap


def field_path(path: PathKey) -> str:
    """Render ``("nodes", 2, "ip")`` as ``nodes[2].ip`` for messages."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _record(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], seen: set[int]) -> None:
    if id(node) in seen:  # an alias points back at an already walked node
        return
    seen.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _record(value_node, (*path, key_node.value), lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), lines, seen)


def _syntax_problem(display: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc)
    return Problem(display, "", f"not valid YAML: {reason}", line)


class TalosLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans, as Talos (Go yaml.v3) reads them.

    YAML 1.1 makes ``off``/``on``/``yes``/``no`` booleans; Talos does not, and
    its docs write ``HostnameConfig`` as ``auto: off`` unquoted.  Reading that
    as ``False`` would turn a valid patch into an invalid one.
    """


TalosLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
TalosLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def parse_documents(text: str, display: str) -> list[Document]:
    """Parse every document of *text*; *display* names the source in errors."""
    documents: list[Document] = []
    try:
        loader = TalosLoader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:  # pragma: no cover - check_node said there is one
                    break
                lines: dict[PathKey, int] = {}
                _record(node, (), lines, set())
                documents.append(Document(loader.construct_document(node), LineMap(lines)))
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise DefinitionError([_syntax_problem(display, exc)]) from None
    return documents


def read_text(path: Path, display: str) -> str:
    """Read a definition file, turning OS and encoding errors into problems."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem(display, "", "file not found")]) from None
    except IsADirectoryError:
        raise DefinitionError([Problem(display, "", "is a directory, not a file")]) from None
    except PermissionError:
        raise DefinitionError([Problem(display, "", "file is not readable")]) from None
    except UnicodeDecodeError as exc:
        raise DefinitionError([Problem(display, "", f"not UTF-8 text: {exc.reason}")]) from None
    except OSError as exc:
        raise DefinitionError([Problem(display, "", f"cannot read: {exc.strerror}")]) from None


def load_documents(path: Path, display: str | None = None) -> list[Document]:
    """Load every document of the YAML file at *path*."""
    name = display if display is not None else str(path)
    return parse_documents(read_text(path, name), name)


class _TalosDumper(yaml.SafeDumper):
    """Indents sequences inside mappings, as Talos's encoder does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_TalosDumper.add_representer(str, _str_representer)


def dump_document(value: Any) -> str:
    """One document as YAML, keys in insertion order, 4-space indents."""
    return yaml.dump(
        value, Dumper=_TalosDumper, indent=4, sort_keys=False, default_flow_style=False, width=4096
    )


def dump_documents(values: list[Any]) -> str:
    """Several documents joined by ``---`` lines, as Talos writes them."""
    return "---\n".join(dump_document(value) for value in values)


def iter_paths(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """Every (path, leaf) of a nested value, for searches such as secret scans."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from iter_paths(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_paths(item, (*path, index))
    else:
        yield path, value
