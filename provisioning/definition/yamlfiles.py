"""The one YAML loader of the suite, with locations for errors; and Talos-style output.

Every YAML the suite reads from an operator -- the definition, its patches,
Helm values, manifests, and the talosconfig/kubeconfig passed on the command
line -- goes through :func:`parse_documents` (text) or :func:`load_documents`
(a file), never through ``yaml.safe_load``.  What that buys:

* **Safe tags only**: the loaders derive from PyYAML's ``SafeLoader``, so a
  ``!!python/...`` tag is a located error, never code.
* **Duplicate keys refused**, as Go's ``yaml.v3`` (and therefore Talos)
  refuses them: ``mapping key "machine" already defined at line 3``.  PyYAML
  would silently keep the last one, so a second ``machine:`` in a patch
  would drop the first.
* **Bounded**: a file over :data:`MAX_BYTES` is refused before parsing; a
  document nested deeper than :data:`MAX_DEPTH` is refused while composing
  (before Python's recursion limit turns it into a traceback); an alias
  that refers to its own anchor is refused (``yaml.v3``: "anchor ... value
  contains itself"); and a document whose aliases would expand to more than
  :data:`MAX_NODES` values (a "billion laughs" bomb) is refused before any
  value is built or copied.
* **Files**: :func:`read_text` opens only regular files (a FIFO or device is
  refused from its ``stat``, never opened for reading), reads at most
  :data:`MAX_BYTES`, and with *within* refuses a path whose real location
  (symlinks followed) is outside that directory.

PyYAML gives line numbers only while composing; once values are plain dicts
they are gone.  :func:`parse_documents` therefore composes each document,
records where every mapping value and sequence item starts in a
:class:`LineMap`, and only then constructs plain Python values.  Every
failure becomes a :class:`~provisioning.definition.problems.DefinitionError` naming the
file, line and field, never a traceback.

Output follows Talos's encoder where it matters for diffs: four-space
indentation, keys in insertion order, ``---`` between documents.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioning.definition.problems import DefinitionError, Problem, printable

PathKey = tuple[str | int, ...]

MAX_BYTES = 4 * 1024 * 1024
"""Largest YAML file read; the reference definition's biggest file is a few KiB."""
MAX_DEPTH = 100
"""Deepest nesting accepted (aliases expanded); Kubernetes CRD schemas stay under 40."""
MAX_NODES = 1_000_000
"""Most values one document may expand to through aliases."""


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


def _record(
    node: yaml.Node, path: PathKey, lines: dict[PathKey, int], seen: set[int], display: str
) -> None:
    if id(node) in seen:  # an alias points back at an already walked node
        return
    seen.add(id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in first:
                    name = shown_text(key_node.value)
                    message = f"mapping key {name} already defined at line {first[key]}"
                    raise DefinitionError(
                        [Problem(display, field_path((*path, key_node.value)), message, line)]
                    )
                first[key] = line
            _record(value_node, (*path, key_node.value), lines, seen, display)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), lines, seen, display)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(node: yaml.Node, display: str) -> None:
    """Refuse a self-containing anchor, and aliases expanding past the bounds.

    Sizes and heights are computed once per distinct node (aliases share
    nodes), iteratively, so the check itself costs what the file costs,
    however large the expansion it refuses.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if children_done:
            parts = _children(current)
            size[key] = 1 + sum(size[id(c)] for c in parts)
            height[key] = 1 + max((height[id(c)] for c in parts), default=0)
            on_path.discard(key)
            line = current.start_mark.line + 1
            if height[key] > MAX_DEPTH:
                message = f"nests deeper than {MAX_DEPTH} levels once its aliases are expanded"
                raise DefinitionError([Problem(display, "", message, line)])
            if size[key] > MAX_NODES:
                message = f"its aliases expand to more than {MAX_NODES} values (an alias bomb?)"
                raise DefinitionError([Problem(display, "", message, line)])
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((current, True))
        for child in _children(current):
            if id(child) in on_path:
                line = child.start_mark.line + 1
                message = "an anchor's value contains an alias to itself"
                raise DefinitionError([Problem(display, "", message, line)])
            if id(child) not in size:
                stack.append((child, False))


def _syntax_problem(display: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc)
    return Problem(display, "", f"not valid YAML: {reason}", line)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than :data:`MAX_DEPTH` while composing.

    PyYAML's composer recurses once per level; 3,000 nested ``[`` would end in
    a RecursionError traceback rather than a located problem.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_bounded_int(self, node: yaml.ScalarNode) -> int:
        """An integer; one past Python's digit limit is a located error, not a ValueError."""
        try:
            value: int = self.construct_yaml_int(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {len(node.value)} digits is too large", node.start_mark
            ) from None
        return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_bounded_int)


class TalosLoader(_BoundedLoader):
    """The bounded safe loader with YAML 1.2 booleans, as Talos (Go yaml.v3) reads them.

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


class KubeLoader(_BoundedLoader):
    """The bounded safe loader with YAML 1.1 scalars, for Helm values and kubeconfigs.

    Helm and client-go read YAML through ``sigs.k8s.io/yaml`` (go-yaml v2,
    YAML 1.1), where ``on``/``yes`` are booleans -- as PyYAML's own resolvers.
    """


def shown_text(text: str, limit: int = 60) -> str:
    """*text* quoted for a message, control characters escaped, cut at *limit*.

    Names come from files a stranger may have written; echoing an ESC raw
    would let the file drive the operator's terminal.
    """
    quoted = '"' + printable(text).replace('"', '\\"') + '"'
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + '..."'


def parse_documents(
    text: str, display: str, *, loader: type[_BoundedLoader] = TalosLoader
) -> list[Document]:
    """Parse every document of *text*; *display* names the source in errors.

    *loader* is :class:`TalosLoader` (machine configs, the definition) or
    :class:`KubeLoader` (Helm values, manifests, kubeconfigs).
    """
    if len(text) > MAX_BYTES:
        message = f"is larger than {MAX_BYTES // (1024 * 1024)} MiB; not a definition file"
        raise DefinitionError([Problem(display, "", message)])
    documents: list[Document] = []
    try:
        composer = loader(text)
        try:
            while composer.check_node():
                node = composer.get_node()
                if node is None:  # pragma: no cover - check_node said there is one
                    break
                _check_expansion(node, display)
                lines: dict[PathKey, int] = {}
                _record(node, (), lines, set(), display)
                documents.append(Document(composer.construct_document(node), LineMap(lines)))
        finally:
            composer.dispose()
    except yaml.YAMLError as exc:
        raise DefinitionError([_syntax_problem(display, exc)]) from None
    except RecursionError:  # pragma: no cover - the bounds above should make this unreachable
        message = "too deeply nested to read"
        raise DefinitionError([Problem(display, "", message)]) from None
    return documents


def _refuse(display: str, message: str) -> DefinitionError:
    return DefinitionError([Problem(display, "", message)])


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def outside(path: Path, within: Path) -> bool:
    """Whether *path*, symlinks followed, leaves the directory *within*."""
    real = Path(os.path.realpath(path))
    base = Path(os.path.realpath(within))
    return real != base and base not in real.parents


def read_bytes(
    path: Path,
    display: str,
    *,
    within: Path | None = None,
    limit: int = MAX_BYTES,
    noun: str = "file",
) -> bytes:
    """Read a file a definition names, turning every way it can be wrong into a problem.

    The file must be a regular file (a FIFO would block, ``/dev/zero`` never
    ends: both are refused from ``stat`` without being opened for reading), at
    most *limit* bytes and -- with *within* -- really inside that directory
    once symlinks are followed.  It is opened non-blocking and re-checked
    through the open descriptor, so a file swapped for a FIFO between the
    check and the open cannot hang the run either.  *noun* names the file in
    "not found" and "not readable" messages.
    """
    if within is not None and outside(path, within):
        raise _refuse(display, f"resolves outside the definition folder {within}")
    too_large = f"is larger than {_size(limit)}"
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise _refuse(display, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(display, f"is {_kind(info.st_mode)}, not a regular file; not read")
        if info.st_size > limit:
            raise _refuse(display, f"{too_large}; not a definition file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise _refuse(display, "changed into something other than a file while read")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise _refuse(display, f"{noun} not found") from None
    except PermissionError:
        raise _refuse(display, f"{noun} is not readable") from None
    except OSError as exc:
        raise _refuse(display, f"cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise _refuse(display, too_large)
    return data


def _size(limit: int) -> str:
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if limit >= unit and limit % unit == 0:
            return f"{limit // unit} {name}"
    return f"{limit} bytes"


def read_text(path: Path, display: str, *, within: Path | None = None) -> str:
    """:func:`read_bytes` of a UTF-8 text file of at most :data:`MAX_BYTES`."""
    data = read_bytes(path, display, within=within)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(display, f"not UTF-8 text: {exc.reason}") from None


def load_documents(
    path: Path,
    display: str | None = None,
    *,
    within: Path | None = None,
    loader: type[_BoundedLoader] = TalosLoader,
) -> list[Document]:
    """Load every document of the YAML file at *path* (see :func:`read_text`)."""
    name = display if display is not None else str(path)
    return parse_documents(read_text(path, name, within=within), name, loader=loader)


def single_value(documents: list[Document], display: str) -> Any:
    """The value of the one document in *documents* (``None`` when there is none)."""
    present = [d for d in documents if d.value is not None]
    if len(present) > 1:
        message = f"holds {len(present)} YAML documents; expected one"
        raise DefinitionError([Problem(display, "", message, present[1].lines.line(()))])
    return present[0].value if present else None


def parse_one(text: str, display: str, *, loader: type[_BoundedLoader] = KubeLoader) -> Any:
    """The value of a one-document YAML text, as :func:`parse_documents` reads it."""
    return single_value(parse_documents(text, display, loader=loader), display)


def load_one(
    path: Path,
    display: str | None = None,
    *,
    within: Path | None = None,
    loader: type[_BoundedLoader] = KubeLoader,
) -> Any:
    """The value of a one-document YAML file (Helm values, a kubeconfig, a talosconfig)."""
    name = display if display is not None else str(path)
    return single_value(load_documents(path, name, within=within, loader=loader), name)


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
