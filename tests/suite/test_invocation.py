"""The README's command lines parse as an operator types them, from any directory.

The suite is an installed pytest plugin (``pytest11`` entry point
``talos_conformance`` -> :mod:`fixtures.suite`), so its options are known
before pytest reads the command line: space-separated values naming files
outside the project no longer make pytest pick their folder as rootdir and
stop with "unrecognized arguments".  Collect-only runs: parsing, rootdir and
path resolution are what is tested; the live run itself is
``test_live_option.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = 45  # scenarios collected from steps/


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def operator_files(tmp_path: Path) -> tuple[Path, Path]:
    """A kubeconfig and talosconfig kept outside the project, as ~/.kube and ~/.talos are."""
    kubeconfig = tmp_path / "home" / ".kube" / "config"
    talosconfig = tmp_path / "home" / ".talos" / "config"
    for path in (kubeconfig, talosconfig):
        path.parent.mkdir(parents=True)
        path.write_text("{}\n")
    return kubeconfig, talosconfig


def collected(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == 0 and f"{CONTROLS} tests collected" in done.stdout


def test_the_readme_live_line_parses_in_the_project(operator_files: tuple[Path, Path]) -> None:
    kubeconfig, talosconfig = operator_files
    done = pytest_run(
        ROOT,
        "--live",
        "--kubeconfig",
        str(kubeconfig),
        "--talosconfig",
        str(talosconfig),
        "--collect-only",
    )
    assert collected(done), done.stdout + done.stderr
    assert f"rootdir: {ROOT}" in done.stdout


@pytest.mark.parametrize("form", ["space", "equals"])
def test_options_parse_in_both_forms_from_another_directory(
    form: str, operator_files: tuple[Path, Path], tmp_path: Path
) -> None:
    kubeconfig, talosconfig = operator_files
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "mydef").mkdir(parents=True)
    options = {
        "--kubeconfig": str(kubeconfig),
        "--talosconfig": str(talosconfig),
        "--sim-state": str(tmp_path / "state"),
        "--cluster": "mydef",
    }
    args = [
        arg
        for name, value in options.items()
        for arg in ([name, value] if form == "space" else [f"{name}={value}"])
    ]
    done = pytest_run(elsewhere, str(ROOT / "steps"), "--live", *args, "--collect-only")
    assert collected(done), done.stdout + done.stderr
    assert f"rootdir: {ROOT}" in done.stdout
    # A relative path typed on the command line is the operator's, not the project's.
    assert f"cluster definition: {elsewhere / 'mydef'}" in done.stdout


def test_the_default_definition_is_the_projects_wherever_pytest_runs(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, str(ROOT / "steps"), "--collect-only")
    assert collected(done), done.stdout + done.stderr
    assert "cluster definition: cluster\n" in done.stdout
    assert f"state {ROOT / '.sim'}" in done.stdout or "state .sim" in done.stdout


@pytest.mark.parametrize(
    ("place", "name", "text"),
    [
        # A bare pyproject.toml above the folder: pytest's fallback rootdir marker.
        pytest.param("above", "pyproject.toml", "", id="pyproject-above"),
        # A pytest.ini beside the files, whose addopts would deselect every control.
        pytest.param(
            "beside", "pytest.ini", "[pytest]\naddopts = -k no_such_control\n", id="ini-beside"
        ),
    ],
)
def test_a_config_file_near_the_operator_files_does_not_become_the_runs(
    place: str, name: str, text: str, tmp_path: Path
) -> None:
    folder = tmp_path / "mycluster"
    folder.mkdir()
    for file in ("kubeconfig", "talosconfig"):
        (folder / file).write_text("{}\n")
    (folder if place == "beside" else tmp_path).joinpath(name).write_text(text)
    done = pytest_run(
        ROOT,
        "--live",
        "--kubeconfig",
        str(folder / "kubeconfig"),
        "--talosconfig",
        str(folder / "talosconfig"),
        "--collect-only",
    )
    assert collected(done), done.stdout + done.stderr
    assert f"rootdir: {ROOT}" in done.stdout
    assert "configfile: pyproject.toml" in done.stdout
