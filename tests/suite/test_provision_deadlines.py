"""The provisioning deadlines as options: ``pytest --*-timeout`` and ``python -m provisioning``.

Defaults suit real hardware (minutes); a value that is not a positive
number of seconds is a usage error, never a traceback or a silent zero.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.provision import timeouts
from provisioning.__main__ import build_parser
from provisioning.plan import Timeouts

ROOT = Path(__file__).resolve().parents[2]


def test_pytest_deadline_options_default_to_minutes(pytestconfig: pytest.Config) -> None:
    chosen = timeouts(pytestconfig)
    assert chosen == Timeouts(configured=600, etcd=300, nodes=600, addons=900)
    assert min(chosen.configured, chosen.etcd, chosen.nodes, chosen.addons) >= 60


def test_a_deadline_that_is_not_positive_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--addon-timeout", "0", "--collect-only", "-q", "steps"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--addon-timeout: 0 is not a positive number of seconds" in done.stderr
    assert "Traceback" not in done.stderr


def test_readdress_takes_the_install_and_etcd_deadlines() -> None:
    base = ["readdress", "--node", "node03", "--from", "10.10.20.99", "--talosconfig", "t"]
    args = build_parser().parse_args(base)
    assert (args.install_timeout, args.etcd_timeout) == (600, 300)
    args = build_parser().parse_args([*base, "--install-timeout", "900", "--etcd-timeout", "45"])
    assert (args.install_timeout, args.etcd_timeout) == (900, 45)
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args([*base, "--etcd-timeout", "soon"])
    assert refused.value.code == 2
