"""Bad and hostile definitions: one clear ``file:line: field: message``, exit 1, nothing else.

A corpus in the shape of issue #17's 53 cases, as a careful operator and a
local attacker would write them: paths leading out of the definition folder
(``..``, absolute, ``~``, symlinks), files that are not files (a FIFO, a
device, a directory), YAML built to exhaust the loader (alias bombs, deep
nesting, huge files and numbers), duplicate keys, unsafe tags, and names
carrying terminal escape sequences.  Each case breaks a copy of the shipped
``cluster/`` and runs ``python -m provisioning validate`` (and ``render``
where it writes) in-process: exit status 1, every stderr line a located
problem, no traceback, no raw control character, nothing written outside
``--out`` -- and the line that names the case's file, field and reason.

The hypothesis fuzz at the end throws the same shapes, mixed with random
text, at ``cluster.yaml`` and at a patch, and hostile path shapes (``../``,
absolute, ``~``, NUL, very long, escapes) at every field naming a file: the
base, a node's patches, Helm values and the manifests folder.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrage import x25519

from fixtures import target
from provisioning import __main__ as cli
from provisioning.config import render
from provisioning.definition import inventory, yamlfiles
from provisioning.definition.problems import DefinitionError

SHIPPED = Path(__file__).resolve().parents[2] / "cluster"
ESC = "\x1b"
# A located problem: `file[:line]: [field: ]message`; summary lines end the output.
LOCATED = re.compile(r"^\S[^:]*(:\d+)?: .+")


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
    return path


def _cluster(d: Path, old: str, new: str) -> Path:
    return _edit(d / "cluster.yaml", old, new)


def _patch(d: Path, text: str, name: str = "k8s-node01.yaml") -> None:
    (d / "patches" / name).write_text(text)


def _values(d: Path, text: str) -> None:
    (d / "helm" / "cilium-values.yaml").write_text(text)


def _outside(d: Path) -> Path:
    """A readable YAML file beside (not inside) the definition folder."""
    target = d.parent / "outside.yaml"
    target.write_text("machine:\n    network:\n        hostname: stolen\n")
    return target


def _symlink(link: Path, target: Path) -> Path:
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)
    return link


def _replace_with_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _bomb(levels: int = 9, width: int = 9, key: str = "a") -> str:
    """A "billion laughs": *width* ** *levels* values from a few hundred bytes."""
    lines = [f"{key}0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [
        f"{key}{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)
    ]
    return "\n".join(lines) + "\n"


def _deep_flow(depth: int = 3000) -> str:
    return "machine: " + "[" * depth + "]" * depth + "\n"


def _deep_mapping(depth: int = 3000) -> str:
    return "machine: " + "{a: " * depth + "1" + "}" * depth + "\n"


def _alias_chain(depth: int = 300) -> str:
    lines = ["x0: &x0 [1]"]
    lines += [f"x{i}: &x{i} [*x{i - 1}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


NODE01_PATCH = "patches: [patches/k8s-node01.yaml, *features]"
CILIUM_VALUES = "values: helm/cilium-values.yaml"


@dataclass(frozen=True)
class Case:
    """One broken definition and the problem it must produce."""

    id: str
    breaks: Callable[[Path], object]
    file: str  # the file the problem names (shown path)
    says: str  # a fragment of the message
    field: str = ""  # the field, when the problem is inside a file's structure


CORPUS = [
    # --- traversal: every file named stays in the definition folder -----------------
    Case(
        "patch-dotdot",
        lambda d: (_outside(d), _cluster(d, NODE01_PATCH, "patches: [../outside.yaml]")),
        "cluster/cluster.yaml",
        "must not lead out of the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "patch-dotdot-deep",
        lambda d: _cluster(d, NODE01_PATCH, "patches: [../../../../etc/passwd]"),
        "cluster/cluster.yaml",
        "must not lead out of the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "patch-dotdot-inside-then-out",
        lambda d: (_outside(d), _cluster(d, NODE01_PATCH, "patches: [patches/../../outside.yaml]")),
        "cluster/cluster.yaml",
        "must not lead out of the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "patch-absolute",
        lambda d: _cluster(d, NODE01_PATCH, "patches: [/etc/passwd]"),
        "cluster/cluster.yaml",
        "must be a path relative to the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "patch-home",
        lambda d: _cluster(d, NODE01_PATCH, "patches: [~/.ssh/id_ed25519]"),
        "cluster/cluster.yaml",
        "must be a path relative to the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "base-dotdot",
        lambda d: (_outside(d), _cluster(d, "base: controlplane.yaml", "base: ../outside.yaml")),
        "cluster/cluster.yaml",
        "must not lead out of the definition folder",
        "base",
    ),
    Case(
        "values-absolute",
        lambda d: _cluster(d, CILIUM_VALUES, "values: /etc/hostname"),
        "cluster/cluster.yaml",
        "must be a path relative to the definition folder",
        "helm.cilium.values",
    ),
    Case(
        "manifests-root",
        lambda d: _cluster(d, "manifests: manifests/", "manifests: /"),
        "cluster/cluster.yaml",
        "must be a path relative to the definition folder",
        "manifests",
    ),
    Case(
        "manifests-dotdot",
        lambda d: _cluster(d, "manifests: manifests/", "manifests: ../"),
        "cluster/cluster.yaml",
        "must not lead out of the definition folder",
        "manifests",
    ),
    Case(
        "path-with-nul",
        lambda d: _cluster(d, NODE01_PATCH, 'patches: ["patches/a\\0.yaml"]'),
        "cluster/cluster.yaml",
        "must not contain a NUL character",
        "nodes[0].patches[0]",
    ),
    Case(
        "manifests-dot",
        lambda d: _cluster(d, "manifests: manifests/", "manifests: ."),
        "cluster/cluster.yaml",
        "the manifests folder must be a folder of its own, not the definition folder",
        "manifests",
    ),
    # --- the files in the manifests folder: read by validate, as the apply step reads them
    Case(
        "manifest-symlink-out",
        lambda d: _symlink(d / "manifests" / "lb-ip-pool.yaml", _outside(d)),
        "cluster/manifests/lb-ip-pool.yaml",
        "is a symlink leading out of the manifests folder",
    ),
    Case(
        "manifest-symlink-dev-zero",
        lambda d: _symlink(d / "manifests" / "lb-ip-pool.yaml", Path("/dev/zero")),
        "cluster/manifests/lb-ip-pool.yaml",
        "is a symlink leading out of the manifests folder",
    ),
    Case(
        "manifest-fifo",
        lambda d: _fifo(d / "manifests" / "lb-ip-pool.yaml"),
        "cluster/manifests/lb-ip-pool.yaml",
        "is a FIFO (named pipe), not a regular file",
    ),
    Case(
        "manifest-duplicate",
        lambda d: (d / "manifests" / "extra.yaml").write_text(
            "apiVersion: v1\nkind: Namespace\nkind: Secret\nmetadata: {name: x}\n"
        ),
        "cluster/manifests/extra.yaml",
        'mapping key "kind" already defined at line 2',
        "kind",
    ),
    Case(
        "manifest-bomb",
        lambda d: (d / "manifests" / "extra.yaml").write_text(_bomb()),
        "cluster/manifests/extra.yaml",
        "aliases expand to more than",
    ),
    Case(
        "manifest-deep",
        lambda d: (d / "manifests" / "extra.yaml").write_text(_deep_mapping()),
        "cluster/manifests/extra.yaml",
        "nesting deeper than 100 levels",
    ),
    Case(
        "manifest-not-an-object",
        lambda d: (d / "manifests" / "extra.yaml").write_text("- a\n- b\n"),
        "cluster/manifests/extra.yaml",
        "must be a Kubernetes object (a mapping), not a list",
    ),
    # --- symlinks out ------------------------------------------------------------------
    Case(
        "patch-symlink-out",
        lambda d: _symlink(d / "patches" / "k8s-node01.yaml", _outside(d)),
        "cluster/cluster.yaml",
        "symlink leading out of the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "patch-symlink-etc-passwd",
        lambda d: _symlink(d / "patches" / "k8s-node01.yaml", Path("/etc/passwd")),
        "cluster/cluster.yaml",
        "symlink leading out of the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "patches-folder-symlink-out",
        lambda d: (
            shutil.copytree(d / "patches", d.parent / "elsewhere"),
            _symlink(d / "patches", d.parent / "elsewhere"),
        ),
        "cluster/cluster.yaml",
        "symlink leading out of the definition folder",
        "nodes[0].patches[0]",
    ),
    Case(
        "values-symlink-out",
        lambda d: _symlink(d / "helm" / "cilium-values.yaml", _outside(d)),
        "cluster/cluster.yaml",
        "symlink leading out of the definition folder",
        "helm.cilium.values",
    ),
    Case(
        "base-symlink-out",
        lambda d: _symlink(d / "controlplane.yaml", _outside(d)),
        "cluster/cluster.yaml",
        "symlink leading out of the definition folder",
        "base",
    ),
    Case(
        "manifests-symlink-out",
        lambda d: _symlink(d / "manifests", Path("/etc")),
        "cluster/cluster.yaml",
        "symlink leading out of the definition folder",
        "manifests",
    ),
    Case(
        "patch-symlink-dev-zero",
        lambda d: _symlink(d / "patches" / "k8s-node01.yaml", Path("/dev/zero")),
        "cluster/cluster.yaml",
        "symlink leading out of the definition folder",
        "nodes[0].patches[0]",
    ),
    # --- not regular files: refused without being opened ----------------------------
    Case(
        "patch-fifo",
        lambda d: _fifo(d / "patches" / "k8s-node01.yaml"),
        "cluster/patches/k8s-node01.yaml",
        "is a FIFO (named pipe), not a regular file",
    ),
    Case(
        "values-fifo",
        lambda d: _fifo(d / "helm" / "cilium-values.yaml"),
        "cluster/helm/cilium-values.yaml",
        "is a FIFO (named pipe), not a regular file",
    ),
    Case(
        "base-fifo",
        lambda d: _fifo(d / "controlplane.yaml"),
        "cluster/controlplane.yaml",
        "is a FIFO (named pipe), not a regular file",
    ),
    Case(
        "cluster-yaml-fifo",
        lambda d: _fifo(d / "cluster.yaml"),
        "cluster/cluster.yaml",
        "is a FIFO (named pipe), not a regular file",
    ),
    Case(
        "patch-is-a-directory",
        lambda d: _replace_with_directory(d / "patches" / "k8s-node01.yaml"),
        "cluster/cluster.yaml",
        "is a directory, not a file",
        "nodes[0].patches[0]",
    ),
    # --- alias bombs and self-reference ----------------------------------------------
    Case(
        "patch-alias-bomb",
        lambda d: _patch(d, _bomb()),
        "cluster/patches/k8s-node01.yaml",
        "aliases expand to more than",
    ),
    Case(
        "cluster-alias-bomb",
        lambda d: _cluster(d, "name: K8S-CLUSTER", "name: K8S-CLUSTER\n" + _bomb(key="x-a")),
        "cluster/cluster.yaml",
        "aliases expand to more than",
    ),
    Case(
        "values-alias-bomb",
        lambda d: _values(d, _bomb()),
        "cluster/helm/cilium-values.yaml",
        "aliases expand to more than",
    ),
    Case(
        "patch-self-alias",
        lambda d: _patch(d, "machine: &m\n    network: *m\n"),
        "cluster/patches/k8s-node01.yaml",
        "an anchor's value contains an alias to itself",
    ),
    # --- deep nesting -----------------------------------------------------------------
    Case(
        "patch-deep-flow",
        lambda d: _patch(d, _deep_flow()),
        "cluster/patches/k8s-node01.yaml",
        "nesting deeper than 100 levels",
    ),
    Case(
        "patch-deep-mapping",
        lambda d: _patch(d, _deep_mapping()),
        "cluster/patches/k8s-node01.yaml",
        "nesting deeper than 100 levels",
    ),
    Case(
        "cluster-deep",
        lambda d: _cluster(
            d, "name: K8S-CLUSTER", "name: K8S-CLUSTER\nx-deep: " + "[" * 3000 + "]" * 3000
        ),
        "cluster/cluster.yaml",
        "nesting deeper than 100 levels",
    ),
    Case(
        "values-deep",
        lambda d: _values(d, _deep_mapping()),
        "cluster/helm/cilium-values.yaml",
        "nesting deeper than 100 levels",
    ),
    Case(
        "patch-deep-alias-chain",
        lambda d: _patch(d, _alias_chain()),
        "cluster/patches/k8s-node01.yaml",
        "nests deeper than 100 levels once its aliases are expanded",
    ),
    Case(
        "patch-deep-json",
        lambda d: _patch(d, "[" * 3000 + "]" * 3000),
        "cluster/patches/k8s-node01.yaml",
        "nesting deeper than 100 levels",
    ),
    # --- duplicate keys (Talos's yaml.v3 refuses them; PyYAML would keep the last) ---
    Case(
        "patch-second-machine",
        lambda d: _patch(d, "machine:\n    type: controlplane\nmachine:\n    network: {}\n"),
        "cluster/patches/k8s-node01.yaml",
        'mapping key "machine" already defined at line 1',
        "machine",
    ),
    Case(
        "cluster-second-nodes",
        lambda d: _cluster(d, "helm:\n", "nodes: []\nhelm:\n"),
        "cluster/cluster.yaml",
        'mapping key "nodes" already defined at line',
        "nodes",
    ),
    Case(
        "node-second-ip",
        lambda d: _cluster(
            d, "    ip: 10.10.20.16\n", "    ip: 10.10.20.16\n    ip: 10.10.20.99\n"
        ),
        "cluster/cluster.yaml",
        'mapping key "ip" already defined at line',
        "nodes[0].ip",
    ),
    Case(
        "values-duplicate",
        lambda d: _values(d, "kubeProxyReplacement: true\nkubeProxyReplacement: false\n"),
        "cluster/helm/cilium-values.yaml",
        'mapping key "kubeProxyReplacement" already defined at line 1',
        "kubeProxyReplacement",
    ),
    Case(
        "json-patch-duplicate",
        lambda d: _patch(d, '[{"op": "add", "op": "remove", "path": "/machine/x", "value": 1}]'),
        "cluster/patches/k8s-node01.yaml",
        'mapping key "op" already defined at line 1',
        "[0].op",
    ),
    # --- huge ------------------------------------------------------------------------
    Case(
        "patch-5mib",
        lambda d: _patch(d, "machine:\n    x: " + "a" * (5 * 1024 * 1024) + "\n"),
        "cluster/patches/k8s-node01.yaml",
        "is larger than 4 MiB",
    ),
    Case(
        "cluster-5mib",
        lambda d: _cluster(
            d, "name: K8S-CLUSTER", "name: K8S-CLUSTER\n# " + "x" * (5 * 1024 * 1024)
        ),
        "cluster/cluster.yaml",
        "is larger than 4 MiB",
    ),
    Case(
        "huge-integer",
        lambda d: _cluster(d, "cpu: 4\n", "cpu: " + "9" * 5000 + "\n"),
        "cluster/cluster.yaml",
        "not valid YAML",
    ),
    Case(
        "huge-hostname",
        lambda d: _cluster(d, "hostname: k8s-node01", "hostname: " + "a" * 100_000),
        "cluster/cluster.yaml",
        "is not a DNS label",
        "nodes[0].hostname",
    ),
    # --- unsafe and unknown tags ----------------------------------------------------
    Case(
        "patch-python-tag",
        lambda d: _patch(d, 'machine: !!python/object/apply:os.system ["touch /tmp/pwned"]\n'),
        "cluster/patches/k8s-node01.yaml",
        "could not determine a constructor",
    ),
    Case(
        "values-custom-tag",
        lambda d: _values(d, "password: !vault secret\n"),
        "cluster/helm/cilium-values.yaml",
        "could not determine a constructor",
    ),
    Case(
        "patch-not-utf8",
        lambda d: (d / "patches" / "k8s-node01.yaml").write_bytes(b"machine: \xff\xfe\n"),
        "cluster/patches/k8s-node01.yaml",
        "not UTF-8",
    ),
    # --- names: validated as what they become ----------------------------------------
    Case(
        "node-name-traversal",
        lambda d: _cluster(d, "name: node01", "name: ../../ESCAPED"),
        "cluster/cluster.yaml",
        "is not a node name",
        "nodes[0].name",
    ),
    Case(
        "node-name-slash",
        lambda d: _cluster(d, "name: node01", "name: a/b"),
        "cluster/cluster.yaml",
        "is not a node name",
        "nodes[0].name",
    ),
    Case(
        "node-name-dot",
        lambda d: _cluster(d, "name: node01", 'name: "."'),
        "cluster/cluster.yaml",
        "is not a node name",
        "nodes[0].name",
    ),
    Case(
        "node-name-uppercase",
        lambda d: _cluster(d, "name: node01", "name: Node01"),
        "cluster/cluster.yaml",
        "is not a node name",
        "nodes[0].name",
    ),
    Case(
        "cluster-name-slash",
        lambda d: _cluster(d, "name: K8S-CLUSTER", "name: ../K8S"),
        "cluster/cluster.yaml",
        "is not a cluster name",
        "name",
    ),
    # --- terminal escapes: shown escaped, never raw ---------------------------------
    Case(
        "node-name-escape",
        lambda d: _cluster(d, "name: node01", 'name: "\\e]0;pwned\\a\\e[2J"'),
        "cluster/cluster.yaml",
        "\\x1b]0;pwned\\x07",
        "nodes[0].name",
    ),
    Case(
        "unknown-key-escape",
        lambda d: _cluster(d, "name: K8S-CLUSTER", 'name: K8S-CLUSTER\n"\\e[31mred": 1'),
        "cluster/cluster.yaml",
        "unknown field",
        "\\x1b[31mred",
    ),
    Case(
        "patch-path-escape",
        lambda d: _cluster(d, NODE01_PATCH, 'patches: ["patches/\\e[2Jx.yaml"]'),
        "cluster/cluster.yaml",
        "\\x1b[2Jx.yaml: not found",
        "nodes[0].patches[0]",
    ),
    Case(
        "hostname-newline",
        lambda d: _cluster(d, "hostname: k8s-node01", 'hostname: "k8s\\nforged.yaml:1: ok"'),
        "cluster/cluster.yaml",
        "k8s\\nforged",
        "nodes[0].hostname",
    ),
    Case(
        "cluster-name-bidi",
        lambda d: _cluster(d, "name: K8S-CLUSTER", 'name: "K8S\\u202eRETSULC"'),
        "cluster/cluster.yaml",
        "\\u202e",
        "name",
    ),
    Case(
        "duplicate-key-escape",
        lambda d: _patch(d, '"\\e[8m": 1\n"\\e[8m": 2\n'),
        "cluster/patches/k8s-node01.yaml",
        'mapping key "\\x1b[8m" already defined at line 1',
    ),
]


@pytest.fixture
def definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of ``cluster/`` at ``<tmp>/work/cluster``, with the working directory at ``work``.

    One level deeper than tmp_path so a case can put files *beside* the
    folder (``../outside.yaml``) without touching anything else.
    """
    work = tmp_path / "work"
    target = work / "cluster"
    shutil.copytree(SHIPPED, target)
    monkeypatch.chdir(work)
    return target


class _Hung(Exception):
    pass


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Turn a blocking read (a FIFO opened for reading) into a failure, not a stuck run."""

    def fire(_signum: int, _frame: FrameType | None) -> None:
        raise _Hung("the command blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _assert_clean_failure(status: int, out: str, err: str) -> list[str]:
    assert status == 1, (status, out, err)
    assert "Traceback" not in err
    assert ESC not in out + err, "a raw escape sequence reached the terminal"
    assert not any(ch in out + err for ch in "\x07\x9b\u202e"), "raw control characters"
    lines = err.splitlines()
    assert lines
    for line in lines[:-1]:
        assert LOCATED.match(line), line
    assert lines[-1].endswith("problem(s); nothing was changed")
    return lines


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_validate_names_file_field_and_reason(
    case: Case, definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case.breaks(definition)
    lines = _assert_clean_failure(*_run(["validate", "--cluster", "cluster"], capsys))
    prefix = re.escape(case.file) + r"(:\d+)?: "
    field = re.escape(case.field) + r": .*" if case.field else r".*"
    wanted = re.compile(prefix + field + re.escape(case.says))
    assert any(wanted.search(line) for line in lines), (case.says, lines)


def test_the_corpus_keeps_its_shape() -> None:
    """Every family of the issue's corpus is here, and ids are unique."""
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids)) >= 53
    for family in ("dotdot", "symlink", "fifo", "bomb", "deep", "duplicate", "5mib", "escape"):
        assert any(family in i for i in ids), family


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize(
    "case",
    [c for c in CORPUS if c.id in ("node-name-traversal", "patch-dotdot", "patch-symlink-out")],
    ids=lambda c: c.id,
)
def test_render_writes_nothing_for_a_hostile_definition(
    case: Case, definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case.breaks(definition)
    work = definition.parent
    before = set(work.parent.rglob("*"))
    _assert_clean_failure(*_run(["render", "--cluster", "cluster", "--out", "out/a/b"], capsys))
    assert set(work.parent.rglob("*")) == before, "render wrote although the definition is bad"
    assert not list(work.parent.parent.glob("ESCAPED*"))


def test_render_does_not_write_through_a_planted_symlink(
    definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = definition.parent / "out"
    out.mkdir()
    victim = definition.parent / "victim.txt"
    victim.write_text("keep me")
    (out / "node01.yaml").symlink_to(victim)
    status, _, err = _run(["render", "--cluster", "cluster", "--out", "out"], capsys)
    assert status == 1
    assert "is a symlink; refusing to write through it" in err
    assert victim.read_text() == "keep me"


def test_a_device_is_refused_from_stat_without_reading(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        yamlfiles.load_documents(Path("/dev/zero"), "cluster/patches/zero.yaml")
    (problem,) = caught.value.problems
    assert str(problem) == (
        "cluster/patches/zero.yaml: is a character device, not a regular file; not read"
    )


# --- values are never echoed whole: a mistyped secret key, a 3 MB value ---------------

SECRET = "TOKEN-7f3a9c1e5b2d4086"


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        pytest.param(
            "patches/k8s-node01.yaml", "machine:\n", f"machine:\n    tokn: {SECRET}\n", id="patch"
        ),
        pytest.param(
            "controlplane.yaml",
            "machine:\n    type: controlplane\n",
            f"machine:\n    type: controlplane\n    tokn: {SECRET}\n",
            id="base",
        ),
    ],
)
def test_a_mistyped_secret_key_is_named_without_its_value(
    file: str, old: str, new: str, definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(definition / file, old, new)
    status, out, err = _run(["validate", "--cluster", "cluster"], capsys)
    assert status == 1, (out, err)
    assert "machine.tokn (values not shown)" in err, err
    assert SECRET not in out + err


def test_an_unknown_key_of_the_base_is_blamed_on_the_base_at_its_line(
    definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = definition / "controlplane.yaml"
    _edit(
        base,
        "machine:\n    type: controlplane\n",
        "machine:\n    type: controlplane\n    tokn: x\n",
    )
    line = base.read_text().splitlines().index("version: v1alpha1") + 1
    status, out, err = _run(["validate", "--cluster", "cluster"], capsys)
    assert status == 1, (out, err)
    problems = [entry for entry in err.splitlines() if "unknown keys" in entry]
    assert problems == [
        f"controlplane.yaml:{line}: error decoding document /v1alpha1/ (line {line}): "
        "unknown keys found during decoding: machine.tokn (values not shown)"
    ]
    assert "patches/" not in err


def test_a_huge_value_is_cut_in_messages(
    definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _patch(definition, "machine:\n    network:\n        hostname: " + "a" * 3_000_000 + "\n")
    status, out, err = _run(["validate", "--cluster", "cluster"], capsys)
    assert status == 1
    assert "a" * 100 + "...(3000000 characters)" in err
    assert len(out + err) < 20_000


# --- the secrets a definition points at: the age identity and the stores -------------
# They live outside the definition folder by design (``../.secrets``), so they are not held
# inside it; but they are read as the definition's files are -- regular files only, bounded.

SECRETS_LINE = "  recipient: auto\n  identityFile: ../.secrets/K8S-CLUSTER/age-identity.txt"


def _secrets_dir(d: Path) -> Path:
    directory = d.parent / ".secrets" / "K8S-CLUSTER"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def _identity_fifo(d: Path) -> Path:
    path = _secrets_dir(d) / "age-identity.txt"
    os.mkfifo(path)
    return path


def _identity_dev_zero(d: Path) -> Path:
    _cluster(d, SECRETS_LINE, "  recipient: auto\n  identityFile: /dev/zero")
    return Path("/dev/zero")


def _store_fifo(d: Path) -> Path:
    path = _secrets_dir(d) / "secrets.yaml.age"
    os.mkfifo(path)
    return path


@dataclass(frozen=True)
class SecretCase:
    """A secrets file that is not a file; *breaks* returns the path the error must name."""

    id: str
    breaks: Callable[[Path], Path]
    says: str


SECRET_CORPUS = [
    SecretCase("identity-fifo", _identity_fifo, "is a FIFO (named pipe), not a regular file"),
    SecretCase("identity-dev-zero", _identity_dev_zero, "is a character device"),
    SecretCase("store-fifo", _store_fifo, "is a FIFO (named pipe), not a regular file"),
]


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("case", SECRET_CORPUS, ids=[case.id for case in SECRET_CORPUS])
def test_render_with_secrets_refuses_a_secrets_file_that_is_not_a_file(
    case: SecretCase, definition: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    named = case.breaks(definition)
    argv = ["render", "--cluster", "cluster", "--out", "out", "--with-secrets"]
    lines = _assert_clean_failure(*_run(argv, capsys))
    assert any(line.startswith(f"{named}: {case.says}") for line in lines), lines
    assert not (definition.parent / "out").exists()


def _backup_fifo(d: Path) -> Path:
    path = d.parent / "etcd-20260101T000000Z.snapshot.age"
    os.mkfifo(path)
    return path


def _identity(d: Path) -> Path:
    path = d.parent / "identity.txt"
    path.write_text(str(x25519.Identity.generate()) + "\n")
    return path


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize(
    ("identity", "backup", "says"),
    [
        pytest.param(
            lambda d: _identity_fifo(d),
            lambda d: d / "cluster.yaml",
            "is a FIFO (named pipe), not a regular file",
            id="identity-fifo",
        ),
        pytest.param(
            lambda d: Path("/dev/zero"),
            lambda d: d / "cluster.yaml",
            "is a character device",
            id="identity-dev-zero",
        ),
        pytest.param(_identity, _backup_fifo, "is not a regular file", id="store-fifo"),
    ],
)
def test_backup_restore_check_refuses_a_file_that_is_not_a_file(
    identity: Callable[[Path], Path],
    backup: Callable[[Path], Path],
    says: str,
    definition: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, snapshot = identity(definition), backup(definition)
    named = snapshot if says == "is not a regular file" else key
    argv = ["backup", "--cluster", "cluster", "--restore-check"]
    status, out, err = _run([*argv, "--identity", str(key), "--file", str(snapshot)], capsys)
    assert status == 1, (out, err)
    assert "Traceback" not in err
    assert err.startswith(f"backup failed: {named}: {says}"), err


# --- fuzz: the same shapes, mixed with random text, never escape as anything else ----

HOSTILE_TEXTS = [
    _bomb(),
    _bomb(4, 40),
    _deep_flow(),
    _deep_mapping(200),
    _alias_chain(),
    "a: &a [*a]\n",
    "machine: {}\nmachine: {}\n",
    "machine:\n    network: {hostname: a, hostname: b}\n",
    "machine: !!python/name:os.system\n",
    "x: " + "9" * 5000 + "\n",
    f'"{ESC}[2J": 1\n',
    "- op: add\n  path: /machine/network/hostname\n  value: ../../x\n",
    "[" * 500,
    "\ufeffmachine: {}\n",
]
_texts = st.sampled_from(HOSTILE_TEXTS) | st.text(max_size=300)
_pieces = st.lists(_texts, min_size=1, max_size=3).map("".join)


def _assert_reports(display_dir: Path) -> None:
    try:
        cluster = inventory.load_cluster(display_dir, display="cluster")
        render.render_cluster(cluster)
    except DefinitionError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.message
            assert ESC not in str(problem)
            assert problem.file


@pytest.fixture(scope="module")
def fuzz_definition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fuzz") / "cluster"
    shutil.copytree(SHIPPED, target)
    return target


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_pieces)
def test_fuzzed_patch_yields_a_config_or_problems(fuzz_definition: Path, text: str) -> None:
    _patch(fuzz_definition, text, "longhorn-extensions.yaml")
    _assert_reports(fuzz_definition)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["../../ESCAPED", f"{ESC}]0;x", "a/b", "..", "node\n01"])
    | st.text(max_size=20),
    extra=_pieces,
)
def test_fuzzed_cluster_yaml_yields_a_cluster_or_problems(
    fuzz_definition: Path, name: str, extra: str
) -> None:
    shipped = (SHIPPED / "cluster.yaml").read_text()
    quoted = yamlfiles.dump_document(name).strip()
    if quoted.endswith("..."):
        quoted = quoted[:-3].strip()
    text = shipped.replace("name: node01", f"name: {quoted}", 1)
    (fuzz_definition / "cluster.yaml").write_text(text + "\n" + extra)
    try:
        _assert_reports(fuzz_definition)
    finally:
        (fuzz_definition / "cluster.yaml").write_text(shipped)


# --- the operator's own talosconfig / kubeconfig, through the same loader --------------


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("context: a\ncontext: b\n", r'context: mapping key "context" already defined at line 1'),
        (_bomb(), "aliases expand to more than"),
        (_deep_flow(), "nesting deeper than 100 levels"),
        ("ctx: !!python/name:os.system\n", "could not determine a constructor"),
        (None, r"is a FIFO \(named pipe\), not a regular file"),
    ],
    ids=["duplicate", "bomb", "deep", "python-tag", "fifo"],
)
@pytest.mark.parametrize("option", ["--kubeconfig", "--talosconfig"])
def test_live_config_files_go_through_the_one_loader(
    tmp_path: Path, option: str, text: str | None, says: str
) -> None:
    good = tmp_path / "good"
    good.write_text("apiVersion: v1\n")
    bad = tmp_path / "bad"
    if text is None:
        os.mkfifo(bad)
    else:
        bad.write_text(text)
    files = {"--kubeconfig": str(good), "--talosconfig": str(good), option: str(bad)}
    with pytest.raises(
        pytest.UsageError, match=rf"^{option} {re.escape(str(bad))}(:\d+)?: .*{says}"
    ):
        target.live_target(files["--kubeconfig"], files["--talosconfig"])


# Paths as an operator mistypes them and an attacker writes them, for every field naming a file.
HOSTILE_PATHS = [
    "../outside.yaml",
    "../../../../etc/passwd",
    "patches/../../outside.yaml",
    "patches/" + "../" * 40 + "etc/passwd",
    "/etc/passwd",
    "/dev/zero",
    "/",
    "~",
    "~/.ssh/id_ed25519",
    "~root/x.yaml",
    ".",
    "..",
    "patches/a\0.yaml",
    "\0",
    "a" * 5000,
    "patches/" + "a" * 300 + ".yaml",
    "/".join(["d"] * 3000),
    f"patches/{ESC}[2Jx.yaml",
    "patches\\k8s-node01.yaml",
    "",
]
PATH_FIELDS = {
    "patch": NODE01_PATCH,
    "values": CILIUM_VALUES,
    "base": "base: controlplane.yaml",
    "manifests": "manifests: manifests/",
}


def _inside(path: Path, root: Path) -> bool:
    return not yamlfiles.outside(path, root)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(sorted(PATH_FIELDS)),
    path=st.sampled_from(HOSTILE_PATHS) | st.text(max_size=40),
)
def test_fuzzed_paths_stay_inside_the_definition_or_are_problems(
    fuzz_definition: Path, field: str, path: str
) -> None:
    shipped = (SHIPPED / "cluster.yaml").read_text()
    quoted = yamlfiles.dump_document(path).strip()
    if quoted.endswith("..."):
        quoted = quoted[:-3].strip()
    key = PATH_FIELDS[field].split(":", 1)[0]
    written = f"{key}: [{quoted}, *features]" if field == "patch" else f"{key}: {quoted}"
    (fuzz_definition / "cluster.yaml").write_text(shipped.replace(PATH_FIELDS[field], written, 1))
    try:
        try:
            cluster = inventory.load_cluster(fuzz_definition, display="cluster")
        except DefinitionError as exc:
            assert exc.problems
            assert all(ESC not in str(problem) and problem.file for problem in exc.problems)
            return
        root = fuzz_definition
        named = [cluster.base.path, cluster.manifests]
        named += [release.values for release in cluster.helm.values()]
        named += [ref.path for node in cluster.nodes for ref in node.patches]
        assert all(_inside(p, root) for p in named), [str(p) for p in named]
        assert all(p.is_file() for p in named if p != cluster.manifests)
    finally:
        (fuzz_definition / "cluster.yaml").write_text(shipped)
