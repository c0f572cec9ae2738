"""Every ``tests/**/test_*.py`` is collected by ``pytest tests``: none is silently left out.

Why: a ``norecursedirs`` entry meant for the report outputs (``reports``) also
pruned ``tests/reports/``, so its 47 tests never ran in CI and nobody saw it
(issue #14).  A file pytest does not collect, or collects without a single
test, shows up here by name.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_file_under_tests_is_collected() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    collected = {line.split("::", 1)[0] for line in done.stdout.splitlines() if "::" in line}
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    }
    assert on_disk, "no test files found under tests/"
    assert sorted(on_disk - collected) == []
