"""Run pytest in a child process, as an operator would, for the report tests to read back.

Why a child process: the report files (Allure results, summary, JUnit) are
written by plugin hooks at session start and end, so only a separate run
shows what a real run leaves on disk -- and a run inside this one would share
its plugins and options.  Every report test launches it the same way; the
one place keeps the flags (no cache directory in the child's tree, quiet
output) and the captured, never-raising call identical across them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.suite.harness import NO_TEST_PLUGINS


def run_pytest(
    cwd: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS -p no:cacheprovider -q`` in *cwd*; the caller judges the exit."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", *NO_TEST_PLUGINS, "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
