"""The verification benchmark's counting and judging, on recorded inputs (no cluster).

Why these are tested while the benchmark is not: the timings are the
machine's, but how a request is classified, how talosctl invocations are
logged and counted, and whether a target is judged met are the script's own
logic, and a mistake there would print a wrong verdict beside right numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import verification as bench


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/api/v1/nodes", "list nodes"),
        ("GET", "/api/v1/nodes/k8s-node01", "get nodes"),
        ("GET", "/api/v1/nodes/k8s-node01/proxy/configz", "get nodes/proxy"),
        ("GET", "/api/v1/namespaces", "list namespaces"),
        ("GET", "/api/v1/namespaces/kube-system", "get namespaces"),
        ("GET", "/api/v1/namespaces/kube-system/pods?limit=500", "list pods"),
        ("GET", "/apis/apps/v1/daemonsets", "list daemonsets.apps"),
        ("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium", "get daemonsets.apps"),
        ("GET", "/api/v1/pods?watch=true", "watch pods"),
        ("POST", "/api/v1/namespaces/default/pods?dryRun=All", "create pods"),
        ("DELETE", "/api/v1/namespaces/x/secrets/s", "delete secrets"),
        ("DELETE", "/api/v1/namespaces/x/secrets?labelSelector=a", "deletecollection secrets"),
        (
            "PATCH",
            "/apis/longhorn.io/v1beta2/namespaces/l/settings/s",
            "patch settings.longhorn.io",
        ),
        ("PUT", "/api/v1/namespaces/x/configmaps/c", "update configmaps"),
        ("GET", "/version", "get /version"),
        ("GET", "/apis", "get /apis"),
        ("GET", "/api/v1", "get /api/v1"),
    ],
)
def test_requests_are_classified_by_verb_and_resource(
    method: str, target: str, expected: str
) -> None:
    assert bench.classify(method, target) == expected


def test_access_log_lines_are_counted_and_other_lines_ignored() -> None:
    lines = [
        'kube-api 127.0.0.1 "GET /api/v1/nodes HTTP/1.1" 200 -',
        'kube-api 127.0.0.1 "GET /api/v1/nodes HTTP/1.1" 200 -',
        'kube-api 127.0.0.1 "GET /api/v1/nodes/n1/proxy/configz HTTP/1.1" 503 -',
        "kube-api 127.0.0.1 code 400, message Bad request syntax",
        "",
    ]
    assert bench.count_requests(lines) == {"get nodes/proxy": 1, "list nodes": 2}


def test_talosctl_subcommands_skip_the_global_flags() -> None:
    base = ["--talosconfig", "/s/talosconfig", "--nodes", "10.0.0.1,10.0.0.2"]
    assert bench.talosctl_subcommand([*base, "get", "volumestatuses", "-o", "json"]) == (
        "get volumestatuses"
    )
    assert bench.talosctl_subcommand([*base, "etcd", "members"]) == "etcd"
    assert bench.talosctl_subcommand(["--nodes=10.0.0.1", "version"]) == "version"
    assert bench.talosctl_subcommand([]) == ""


def test_the_talosctl_wrapper_logs_each_invocation_and_runs_the_original(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    original = bin_dir / "talosctl"
    original.write_text('#!/bin/sh\necho "ran: $*"\nexit 3\n', encoding="utf-8")
    original.chmod(0o755)
    log = tmp_path / "talosctl.log"
    bench.install_talosctl_counter(bin_dir, log)
    bench.install_talosctl_counter(bin_dir, log)  # twice: the original is not lost

    runs = [
        ["--talosconfig", "/a b/c", "--nodes", "10.0.0.1", "get", "machineconfig", "-o", "json"],
        ["--nodes", "10.0.0.1", "read", "/var/log/it's here.log"],
    ]
    for argv in runs:
        done = subprocess.run(
            [str(bin_dir / "talosctl"), *argv], capture_output=True, text=True, check=False
        )
        assert done.returncode == 3
        assert done.stdout == f"ran: {' '.join(argv)}\n"
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [line.split(bench._US)[:-1] for line in lines] == runs
    assert bench.count_talosctl(lines) == {"get machineconfig": 1, "read": 1}


def _run(wall: float, requests: dict[str, int], talosctl: dict[str, int]) -> dict[str, Any]:
    return {
        "wall_s": wall,
        "cpu_s": wall / 2,
        "peak_rss_mib": wall * 10,
        "outcomes": {"passed": 3},
        "requests": requests,
        "talosctl": talosctl,
    }


def test_a_size_is_summarised_by_medians_and_its_counts_checked_for_stability() -> None:
    stable = bench.summarise(
        [_run(3.0, {"list nodes": 1}, {"version": 1}), _run(1.0, {"list nodes": 1}, {})]
    )
    assert stable["verify_s"] == 2.0
    assert stable["verify_peak_rss_mib"] == 30.0
    assert stable["requests_total"] == 1
    assert stable["requests_stable"] is True
    assert stable["talosctl_stable"] is False
    with pytest.raises(ValueError, match="no verification run"):
        bench.summarise([])


def _result(nodes: int, verify: float, requests: dict[str, int]) -> dict[str, Any]:
    talosctl = {"get machineconfig": 1}
    return {
        "nodes": nodes,
        **bench.summarise([_run(verify, requests, talosctl)]),
        "collect_s": verify / 4,
        "collect_cpu_s": verify / 8,
        "floor_s": 1.0,
        "floor_cpu_s": 0.5,
        "floor_requests_total": 17,
    }


def test_targets_are_met_only_when_counts_are_flat_and_times_within_bounds() -> None:
    flat = {"list nodes": 1, "get nodes/proxy": 6}
    met = bench.targets([_result(1000, 5.9, flat), _result(6, 2.0, flat)])
    assert {name: verdict["met"] for name, verdict in met.items()} == {
        "requests independent of node count": True,
        "talosctl independent of node count": True,
        "verify at 1000 < 3x verify at 6": True,
        "verification at 6 within 3x its native floor": True,
        "verification at 1000 within 3x its native floor": False,
    }
    growing = {"list nodes": 1, "get nodes/proxy": 1000}
    missed = bench.targets([_result(6, 3.5, flat), _result(1000, 10.5, growing)])
    assert not missed["requests independent of node count"]["met"]
    assert missed["requests independent of node count"]["detail"] == ("7 at 6 nodes, 1001 at 1000")
    assert missed["talosctl independent of node count"]["met"]
    assert not missed["verify at 1000 < 3x verify at 6"]["met"]
    assert not missed["verification at 6 within 3x its native floor"]["met"]
    assert bench.targets([]) == {}


def test_the_talosctl_log_gives_back_each_invocations_argv_for_the_floor(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "talosctl").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (bin_dir / "talosctl").chmod(0o755)
    log = tmp_path / "talosctl.log"
    bench.install_talosctl_counter(bin_dir, log)
    runs = [
        ["--nodes", "10.0.0.1,10.0.0.2", "get", "members", "-o", "json"],
        ["--nodes", "10.0.0.1", "read", "/var/log/a b.log"],
        ["version", ""],
    ]
    for argv in runs:
        subprocess.run([str(bin_dir / "talosctl"), *argv], check=True)
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    assert bench.talosctl_argvs([*lines, "\n"]) == runs


def test_each_size_is_judged_against_its_own_floor_with_the_single_control() -> None:
    small = {**_result(6, 2.9, {}), "single_s": 3.1}
    large = {**_result(1000, 2.0, {}), "floor_s": 0.5, "single_s": 1.4}
    verdicts = bench.floor_verdicts([large, small])
    assert {name: v["met"] for name, v in verdicts.items()} == {
        "verification at 6 within 3x its native floor": True,
        "pytest -m CIL-02 at 6 within 3x its native floor": False,
        "verification at 1000 within 3x its native floor": False,
        "pytest -m CIL-02 at 1000 within 3x its native floor": True,
    }
    assert verdicts["verification at 1000 within 3x its native floor"]["detail"] == (
        "2 s / 0.5 s = 4.00x"
    )
    # No single-control figure: no verdict on it (never a pass by absence).
    assert list(bench.floor_verdicts([_result(6, 2.0, {})])) == [
        "verification at 6 within 3x its native floor"
    ]


def test_table_and_breakdown_show_every_size() -> None:
    results = [
        _result(6, 2.0, {"list nodes": 1}),
        _result(100, 2.5, {"list nodes": 1, "get /version": 1}),
    ]
    text = bench.table(results).splitlines()
    assert text[0].split()[:3] == ["nodes", "verify", "s"]
    assert text[1].split()[:2] == ["6", "2"]
    assert text[2].split()[:2] == ["100", "2.5"]
    rows = {
        line.split()[0] + " " + line.split()[1]: line.split()[2:]
        for line in bench.breakdown(results).splitlines()
        if line.startswith(("list", "get"))
    }
    assert rows == {
        "get /version": ["0", "1"],
        "get machineconfig": ["1", "1"],
        "list nodes": ["1", "1"],
    }


def test_outcomes_come_from_the_last_summary_line() -> None:
    output = "....s.F\n= 1 failed, 40 passed, 2 skipped in 12.3s =\n"
    assert bench.outcomes(output) == {"failed": 1, "passed": 40, "skipped": 2}
    assert bench.outcomes("no summary") == {}


def test_results_are_written_with_their_verdicts_and_bad_sizes_refused(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    results = [_result(6, 2.0, {"list nodes": 1})]
    bench._write(out, results, "python benchmarks/verification.py 6")
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["results"] == results
    assert document["targets"]["verification at 6 within 3x its native floor"]["met"] is True
    with pytest.raises(SystemExit) as refused:
        bench.main(["0", "--out", str(out)])
    assert refused.value.code == 2


def test_measured_runs_cache_bytecode_in_the_work_directory_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    cached = bench.child_env(tmp_path, bytecode_cache=True)
    assert "PYTHONDONTWRITEBYTECODE" not in cached
    assert cached["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")
    assert cached["PATH"] == os.environ["PATH"]
    as_is = bench.child_env(tmp_path, bytecode_cache=False)
    assert as_is["PYTHONDONTWRITEBYTECODE"] == "1"
    assert as_is.get("PYTHONPYCACHEPREFIX") == os.environ.get("PYTHONPYCACHEPREFIX")
