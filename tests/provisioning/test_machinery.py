"""Finding and running the talos-machinery helper (provisioning.config.machinery)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning.config import machinery

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_helper_runs_the_machinery_version_go_mod_pins() -> None:
    assert machinery.version() == "v1.12.5"
    assert machinery.call({"op": "version"}) == {"version": machinery.version()}


def test_answers_come_back_in_request_order() -> None:
    answers = machinery.call_many(
        [{"op": "version"}, {"op": "nonsense"}, {"op": "load", "patches": ["[]"]}]
    )
    assert answers == [
        {"version": "v1.12.5"},
        {"error": 'unknown op "nonsense"'},
        {"kinds": ["json6902"]},
    ]


def test_make_builds_where_python_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(machinery.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    done = subprocess.run(
        ["make", "-n", "machinery"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
    )
    with pytest.raises(machinery.MachineryUnavailable) as missing:
        machinery.binary()
    (problem,) = missing.value.problems
    assert f"-o {problem.file}.tmp" in done.stdout
    assert "run `make machinery`" in problem.message
    assert "building talos-machinery v1.12.5 (first time, a few minutes)..." in done.stdout


def test_an_override_must_name_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(machinery.ENV, str(tmp_path / "nope"))
    with pytest.raises(machinery.MachineryUnavailable, match="nope is not a file"):
        machinery.binary()


def test_a_failing_helper_is_reported_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "talos-machinery"
    broken.write_text("#!/bin/sh\necho 'talos-machinery: reading request: boom' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv(machinery.ENV, str(broken))
    with pytest.raises(machinery.MachineryUnavailable, match="failed: talos-machinery: reading"):
        machinery.call({"op": "version"})


def test_talos_messages_become_one_line_with_the_line_talos_names() -> None:
    text = (
        "error decoding document v1alpha1/HostnameConfig/ (line 36): "
        "unknown keys found during decoding:\nhostnme: k8s-node04\n"
    )
    assert machinery.located(text) == (
        "error decoding document v1alpha1/HostnameConfig/ (line 36): "
        "unknown keys found during decoding: hostnme (values not shown)",
        36,
    )
    assert machinery.located("cluster controlplane endpoint is required") == (
        "cluster controlplane endpoint is required",
        None,
    )


def test_unknown_keys_are_listed_by_path_and_their_values_never_shown() -> None:
    text = (
        "error decoding document /v1alpha1/ (line 1): unknown keys found during decoding:\n"
        "machine:\n    network:\n        hostnme: SECRET-1\n"
        "        more: {x: [SECRET-2, {y: SECRET-3}]}\n    tokn: SECRET-4\n"
    )
    shown, line = machinery.located(text)
    assert line == 1
    assert "SECRET" not in shown
    assert shown.endswith(
        "unknown keys found during decoding: machine.network.hostnme, "
        "machine.network.more.x[], machine.network.more.x[].y, machine.tokn (values not shown)"
    )


def test_an_unreadable_unknown_keys_fragment_shows_nothing_of_it() -> None:
    shown, _ = machinery.located("unknown keys found during decoding:\n  a: [SECRET\n")
    assert shown == (
        "unknown keys found during decoding: (the keys could not be listed; values are not shown)"
    )
