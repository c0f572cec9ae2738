"""``python -m tools.controls``: regenerate CONTROLS.md, one row per control across every layer.

A newcomer looking for control ``CIL-02`` should find, in one table, the
scenario that states it, the step module that binds it, the check function
that judges it, the planner that fixes it, the drifts that break it and the
tests that name it.  Every column is read from the code itself, never typed
by hand, so the table cannot say what the code does not:

- control, title, severity, remediation: the Gherkin tags and scenario names
  of ``features/*.feature``, parsed by pytest-bdd's own parser;
- step module: ``steps/test_<area>.py`` when it binds ``<area>.feature``;
- checks: the ``verify(<module>.<function>, ...)`` calls inside the step
  functions that pytest-bdd would bind to the scenario's steps (the same
  matching the ambiguity guard in tests/suite/test_step_definitions.py uses),
  resolved through the step module's imports to a dotted name;
- planner: :data:`remediation.registry.REGISTRY` after
  :func:`remediation.catalogue.loaded`, keyed by control id;
- drifts: :func:`simulator.drifts.list_drifts`, read in-process -- allowed
  here because this is a developer script outside the packages that
  pyproject.toml's import contracts keep away from the simulator;
- tests: files under ``tests/`` whose text names the control id.

``python -m tools.controls --check`` exits 1 when the committed file is stale;
tests/tools/test_controls_md.py does the same comparison in ``make test``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUTPUT = ROOT / "CONTROLS.md"
COMMAND = ".venv/bin/python -m tools.controls"
CONTROL_ID = re.compile(r"^[A-Z]{2,5}-\d{2}$")  # fixtures/plugin.py's tag shape


@dataclass(frozen=True)
class Control:
    """One control as every layer knows it; tuples are sorted, empty when a layer has none."""

    control: str
    title: str
    feature: str
    severity: str
    remediation: str
    step_module: str
    checks: tuple[str, ...]
    planner: str
    drifts: tuple[str, ...]
    tests: tuple[str, ...]


def _tag(tags: Iterable[str], prefix: str) -> str:
    found = sorted(t.removeprefix(prefix) for t in tags if t.startswith(prefix))
    return ", ".join(found)


def _load_step_modules() -> None:
    """Import every step module so its decorators register its step definitions.

    ``scenarios("<area>.feature")`` is muted meanwhile: it looks for the
    features through a running pytest's ini, which a script does not have, and
    the index needs only the step definitions, not the generated tests.  A
    module already imported (inside pytest) is left as it is.
    """
    import pytest_bdd

    with mock.patch.object(pytest_bdd, "scenarios", return_value=None):
        for module in sorted((ROOT / "steps").glob("*.py")):
            importlib.import_module(f"steps.{module.stem}")


def _dotted(node: ast.expr, scope: dict[str, Any]) -> str | None:
    """``checks.cilium.no_kube_proxy`` for the expression *node* in a step's *scope*."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = scope.get(node.value.id)
        if isinstance(owner, ModuleType):
            return f"{owner.__name__}.{node.attr}"
    if isinstance(node, ast.Name):
        function = scope.get(node.id)
        if callable(function) and hasattr(function, "__module__"):
            return f"{function.__module__}.{getattr(function, '__qualname__', node.id)}"
    return None


def verified_checks(step_function: Callable[..., object]) -> tuple[str, ...]:
    """The check functions *step_function* hands to ``verify``, as dotted names.

    Read from the function's source rather than by calling it: a step needs a
    cluster to run, its source does not.  A first argument that does not
    resolve to a module attribute or an imported function is left out.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(step_function)))
    scope: dict[str, Any] = getattr(step_function, "__globals__", {})
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "verify"
            and node.args
        ):
            name = _dotted(node.args[0], scope)
            if name is not None:
                found.add(name)
    return tuple(sorted(found))


def _step_functions(template: Any, contexts: Sequence[Any]) -> list[Callable[..., object]]:
    # Outline steps are matched as rendered with each Examples row, as pytest-bdd runs them.
    rows = [row for examples in template.examples for row in examples.as_contexts()]
    functions = []
    for step in [s for row in rows or [{}] for s in template.render(row).steps]:
        for context in contexts:
            if (
                context.type in (None, step.type)
                and context.parser.is_matching(step.name)
                and context.step_func not in functions
            ):
                functions.append(context.step_func)
    return functions


def _planners() -> Callable[[str], str]:
    from remediation import catalogue

    registry = catalogue.loaded()

    def planner(control: str) -> str:
        function = registry.get(control)
        risk = registry.risk(control)
        if function is None or risk is None:
            return ""
        return f"{function.__module__}.{function.__name__} ({risk.value})"

    return planner


def _drifts() -> dict[str, tuple[str, ...]]:
    from simulator.drifts import list_drifts

    by_control: dict[str, list[str]] = {}
    for drift in list_drifts():
        for control in drift.controls:
            by_control.setdefault(control, []).append(drift.name)
    return {control: tuple(sorted(names)) for control, names in by_control.items()}


def _test_files() -> list[tuple[str, str]]:
    files = []
    for path in sorted((ROOT / "tests").rglob("*")):
        parts = path.relative_to(ROOT).parts
        if not path.is_file() or any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        try:
            files.append((path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue  # binary fixtures name no control
    return files


def _naming(control: str, files: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    pattern = re.compile(rf"(?<![A-Za-z0-9-]){re.escape(control)}(?![0-9])")
    return tuple(name for name, text in files if pattern.search(text))


def collect() -> list[Control]:
    """Every control of ``features/``, in feature-file and scenario order."""
    from pytest_bdd.feature import get_features
    from pytest_bdd.steps import step_function_context_registry

    _load_step_modules()
    contexts = list(step_function_context_registry.values())
    planner = _planners()
    drifts = _drifts()
    tests = _test_files()
    controls = []
    for feature in sorted(get_features([str(ROOT / "features")]), key=lambda f: f.rel_filename):
        area = Path(feature.rel_filename).stem
        step_path = ROOT / "steps" / f"test_{area}.py"
        binds = step_path.is_file() and f'scenarios("{area}.feature")' in step_path.read_text(
            encoding="utf-8"
        )
        for title, template in feature.scenarios.items():
            for control in sorted(t for t in template.tags if CONTROL_ID.match(t)):
                checks = {
                    name
                    for function in _step_functions(template, contexts)
                    for name in verified_checks(function)
                }
                controls.append(
                    Control(
                        control=control,
                        title=title,
                        feature=Path(feature.rel_filename).as_posix(),
                        severity=_tag(template.tags, "severity:"),
                        remediation=_tag(template.tags, "remediation:"),
                        step_module=f"steps/test_{area}.py" if binds else "",
                        checks=tuple(sorted(checks)),
                        planner=planner(control),
                        drifts=drifts.get(control, ()),
                        tests=_naming(control, tests),
                    )
                )
    return controls


def _cell(values: str | Sequence[str], code: bool = True) -> str:
    items = [values] if isinstance(values, str) else list(values)
    items = [v.replace("|", "\\|") for v in items if v]
    if not items:
        return "—"
    return "<br>".join(f"`{v}`" if code else v for v in items)


def render(controls: Sequence[Control]) -> str:
    """CONTROLS.md's text for *controls*."""
    lines = [
        "# Controls",
        "",
        f"Generated by `{COMMAND}` from the features, step modules, remediation",
        "registry, simulator drifts and tests; do not edit by hand.",
        "`tests/tools/test_controls_md.py` fails when this file is stale.",
        "",
        "Columns: the scenario (title) in its feature file, the step module that binds it,",
        "the check functions its steps hand to `verify`, the planner registered for the",
        "control (its declared risk in brackets; `—` means manual), the simulator drifts",
        "declaring it, and the files under `tests/` that name it.",
        "",
        f"{len(controls)} controls.",
        "",
        "| control | title | feature | severity | remediation | step module | checks "
        "| planner | drifts | tests |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in controls:
        cells = [
            f"**{c.control}**",
            _cell(c.title, code=False),
            _cell(c.feature),
            _cell(c.severity, code=False),
            _cell(c.remediation, code=False),
            _cell(c.step_module),
            _cell(c.checks),
            _cell(c.planner),
            _cell(c.drifts),
            _cell(c.tests),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.controls", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: CONTROLS.md")
    args = parser.parse_args(argv)
    controls = collect()
    text = render(controls)
    current = args.output.read_text(encoding="utf-8") if args.output.is_file() else None
    if args.check:
        if current != text:
            sys.stderr.write(f"{args.output} is stale: run `{COMMAND}`\n")
            return 1
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
    sys.stdout.write(f"{args.output}: {len(controls)} controls\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
