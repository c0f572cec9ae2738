"""Every YAML the suite reads goes through its one loader (provisioning.definition.yamlfiles).

PyYAML's own ``safe_load`` keeps the last of two duplicate keys, expands
alias bombs, recurses until a RecursionError and raises tracebacks instead of
located problems; the loader refuses all of these.  A stray ``yaml.safe_load``
in the project is how such input slips back in (issue #17 found three), so
this test forbids PyYAML's loading functions everywhere but the loader.

Exempt, on purpose:

* ``simulator/`` stands in for real tools (kubectl, helm, talosctl, the nodes)
  that read YAML with their own libraries, and reads back mostly what it
  wrote itself; it is the cluster under test, not the suite.
* ``tests/`` parse what the code under test wrote, and some compare the
  loader with PyYAML's own reading on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOADER = ROOT / "provisioning" / "definition" / "yamlfiles.py"
EXEMPT = ("simulator", "tests")
SCANNED = ("provisioning", "checks", "remediation", "fixtures", "steps", "reports", "tools")
BANNED = {"load", "safe_load", "load_all", "safe_load_all", "full_load", "unsafe_load"}


def _sources() -> list[Path]:
    found = [ROOT / "conftest.py"]
    for top in (*SCANNED, "benchmarks"):
        found += sorted((ROOT / top).rglob("*.py"))
    return [path for path in found if path != LOADER]


def _stray_loads(path: Path, root: Path = ROOT) -> list[str]:
    shown = path.relative_to(root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in BANNED
            and isinstance(node.value, ast.Name)
            and node.value.id == "yaml"
        ):
            found.append(f"{shown}:{node.lineno}: yaml.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "yaml":
            found += [
                f"{shown}:{node.lineno}: from yaml import {alias.name}"
                for alias in node.names
                if alias.name in BANNED
            ]
    return found


def test_no_yaml_is_loaded_outside_the_loader() -> None:
    sources = _sources()
    assert len(sources) > 100  # the scan covers the project, not an empty glob
    assert not any(part in EXEMPT for path in sources for part in path.relative_to(ROOT).parts)
    stray = [line for path in sources for line in _stray_loads(path)]
    assert stray == [], "load YAML through provisioning.definition.yamlfiles:\n" + "\n".join(stray)


def test_the_guard_sees_a_stray_load(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("import yaml\nfrom yaml import safe_load_all\nyaml.safe_load('a: 1')\n")
    assert _stray_loads(source, tmp_path) == [
        "x.py:2: from yaml import safe_load_all",
        "x.py:3: yaml.safe_load",
    ]
