"""Only fixtures/target.py names the simulator in code: nothing else can start it.

The import contract "Nothing imports the simulator" (pyproject.toml) cannot
see a subprocess: ``[sys.executable, "-m", "simulator", "serve"]`` imports
nothing.  This test reads the suite's packages instead and reports, by
file:line, every string literal or identifier that names the simulator
outside docstrings and comments; the target fixture is the one place allowed
to start it (``python -m simulator serve|status``).  Other mentions must be
listed below with the reason they start nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("provisioning", "checks", "remediation", "fixtures", "steps", "reports")
STARTER = "fixtures/target.py"
WORD = re.compile("simulator", re.IGNORECASE)

# (file, exact string or identifier) -> why it starts nothing.
ALLOWED: dict[tuple[str, str], str] = {
    (
        "provisioning/operations/nightly.py",
        "state directory of the simulator (without --live)",
    ): "help text of --sim-state, which nightly only hands on to pytest's own --sim-state",
    (
        "provisioning/operations/nightly.py",
        "simulator ",
    ): "the progress line saying which target a nightly run verified",
}


def mentions(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string literal or identifier naming the simulator in *path*.

    Docstrings and other bare string statements are documentation, comments
    never reach the syntax tree, so neither is reported.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    documentation = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in documentation:
                names = [node.value]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.alias):
            names = [node.name, node.asname or ""]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.keyword):
            names = [node.arg or ""]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        found += [(getattr(node, "lineno", 0), n) for n in names if WORD.search(n)]
    return sorted(found)


def _package_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_only_the_target_fixture_names_the_simulator_in_code() -> None:
    problems = []
    for path in _package_files():
        name = path.relative_to(ROOT).as_posix()
        if name == STARTER:
            continue
        problems += [
            f"{name}:{line}: {text!r}"
            for line, text in mentions(path)
            if (name, text) not in ALLOWED
        ]
    assert not problems, (
        f"only {STARTER} may start the simulator; these name it in code "
        "(remove, or add to ALLOWED with the reason it starts nothing):\n" + "\n".join(problems)
    )


def test_the_target_fixture_is_seen_starting_the_simulator() -> None:
    # The scan is only worth its silence if it sees the one real start.
    assert "simulator" in {text for _, text in mentions(ROOT / STARTER)}


def test_every_allowed_mention_still_exists() -> None:
    seen = {
        (path.relative_to(ROOT).as_posix(), text)
        for path in _package_files()
        for _, text in mentions(path)
    }
    assert sorted(set(ALLOWED) - seen) == []


def test_code_is_reported_and_documentation_is_not(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        '"""Starts the simulator."""\n'
        "import subprocess, sys\n"
        "# the simulator, in a comment\n"
        "def run() -> None:\n"
        '    """Run the simulator."""\n'
        '    subprocess.run([sys.executable, "-m", "simulator", "serve"], check=True)\n'
        "    simulator_state = 1\n"
        '    print(f"Simulator {simulator_state}")\n',
        encoding="utf-8",
    )
    assert mentions(source) == [
        (6, "simulator"),
        (7, "simulator_state"),
        (8, "Simulator "),
        (8, "simulator_state"),
    ]
