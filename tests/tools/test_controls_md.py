"""CONTROLS.md is what ``python -m tools.controls`` generates today, and its index resolves.

Why: the table is only worth reading if it is current -- a control added,
renamed, given a planner or a drift without regenerating it would send a
newcomer to the wrong file.  The freshness test regenerates the table in
memory and compares; the others keep the generator itself honest (a mapping
that silently found nothing would still be "fresh").
"""

from __future__ import annotations

import difflib
import importlib
import textwrap
from pathlib import Path

import pytest

from tools import controls

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def collected() -> list[controls.Control]:
    return controls.collect()


def test_committed_controls_md_is_fresh(collected: list[controls.Control]) -> None:
    committed = (ROOT / "CONTROLS.md").read_text(encoding="utf-8")
    generated = controls.render(collected)
    if committed != generated:
        diff = difflib.unified_diff(
            committed.splitlines(),
            generated.splitlines(),
            "CONTROLS.md",
            "generated",
            n=0,
            lineterm="",
        )
        pytest.fail(
            f"CONTROLS.md is stale: run `{controls.COMMAND}` and commit it\n"
            + "\n".join(list(diff)[:40]),
            pytrace=False,
        )


def test_every_control_resolves_to_its_step_module_and_a_check(
    collected: list[controls.Control],
) -> None:
    assert len(collected) >= 40, "the generator found too few controls"
    problems = []
    for row in collected:
        if not (ROOT / row.step_module).is_file() or not row.step_module.startswith("steps/"):
            problems.append(f"{row.control}: no step module binds {row.feature}")
        if not row.checks:
            problems.append(f"{row.control}: its steps hand no check to verify")
        for dotted in row.checks:
            module, _, name = dotted.rpartition(".")
            if not module.startswith("checks.") or not callable(
                getattr(importlib.import_module(module), name, None)
            ):
                problems.append(f"{row.control}: {dotted} is not a check function")
        if row.severity == "" or row.remediation == "":
            problems.append(f"{row.control}: severity or remediation tag missing")
        manual = row.remediation == "manual"
        if manual == bool(row.planner):
            problems.append(f"{row.control}: @remediation:{row.remediation} vs {row.planner!r}")
    assert not problems, "\n".join(problems)


def _step_like(verify, value):
    verify(textwrap.dedent, value)
    verify(difflib.unified_diff, value, value)
    verify(lambda: None)


def test_verified_checks_resolves_module_attributes_and_skips_what_it_cannot_name() -> None:
    assert controls.verified_checks(_step_like) == ("difflib.unified_diff", "textwrap.dedent")


def test_check_flag_fails_on_a_stale_file_and_passes_once_regenerated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "CONTROLS.md"
    output.write_text("stale\n", encoding="utf-8")
    assert controls.main(["--check", "--output", str(output)]) == 1
    assert controls.COMMAND in capsys.readouterr().err
    assert controls.main(["--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8").startswith("# Controls")
    assert controls.main(["--check", "--output", str(output)]) == 0
