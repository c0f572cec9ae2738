"""The parallel-provision benchmark's reading of a run, on recorded inputs (no cluster).

The runs themselves are the machine's; how their JUnit file and output are
read, and whether the batch is called all green, are the script's own logic.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import parallel_provision as bench

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="steps.test_topology" name="test_every_node_ready"/>
<testcase classname="steps.test_longhorn" name="test_storage_nodes_schedulable">
  <failure message="StorageClass/longhorn: absent"/></testcase>
<testcase classname="steps.test_audit" name="test_audit_policy"><skipped message="x"/></testcase>
<testcase classname="steps.test_etcd" name="test_members"><error message="boom"/></testcase>
</testsuite></testsuites>
"""

OUTPUT = """provision: apply on target simulated:/x: 19 steps
provision: [  3.9s] apply-config node01: done
provision: helm cilium: not ready yet (15s): k8s-node02: no agent pod
provision: [ 12.5s] helm cilium: done
provision: [  0.1s] wait longhorn: failed
provisioning failed: step wait longhorn (longhorn ready as the controls define it) failed: ...
"""


def test_junit_counts_every_outcome_and_names_what_did_not_pass(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    counts, not_passed = bench.junit_outcomes(path)
    assert counts == {"passed": 1, "failed": 1, "error": 1, "skipped": 1}
    assert not_passed == ["failed: test_storage_nodes_schedulable", "error: test_members"]


def test_a_run_without_junit_has_no_outcomes(tmp_path: Path) -> None:
    assert bench.junit_outcomes(tmp_path / "absent.xml") == ({}, [])


def test_output_gives_each_step_s_time_and_the_provisioning_failure() -> None:
    steps, failed = bench.parse_output(OUTPUT)
    assert steps == [
        ("apply-config node01", "done", 3.9),
        ("helm cilium", "done", 12.5),
        ("wait longhorn", "failed", 0.1),
    ]
    assert failed.startswith("provisioning failed: step wait longhorn")


def test_the_command_is_a_fresh_provision_on_its_own_copy(tmp_path: Path) -> None:
    argv = bench.command(tmp_path)
    assert argv[1:5] == ["-m", "pytest", "steps", "--provision"]
    assert "--allow-destructive" in argv
    assert argv[argv.index("--cluster") + 1] == str(tmp_path / "cluster")
    assert argv[argv.index("--sim-state") + 1] == str(tmp_path / "state")


def test_report_says_not_all_green_and_lists_what_failed() -> None:
    record = {
        "runs": 2,
        "burners": 1,
        "cpus": 2,
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [3.0, 2.0, 1.0],
        "all_green": False,
        "results": [
            {
                "index": 1,
                "exit_code": 0,
                "seconds": 60.0,
                "outcomes": {"passed": 45, "failed": 0},
                "not_passed": [],
                "provisioning_failed": "",
            },
            {
                "index": 2,
                "exit_code": None,
                "seconds": 2400.0,
                "outcomes": {},
                "not_passed": ["failed: test_x"],
                "provisioning_failed": "provisioning failed: step helm cilium",
            },
        ],
    }
    text = bench.report(record)
    assert "  1     0     60.0  45 passed" in text
    assert "  2  kill   2400.0  no JUnit" in text
    assert "failed: test_x" in text
    assert text.endswith("NOT all green")
