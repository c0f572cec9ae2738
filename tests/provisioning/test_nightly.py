"""Nightly runs: the per-control comparison, run naming and pruning, exit statuses, end to end.

The end-to-end test is the issue's acceptance check: two consecutive
``python -m provisioning nightly`` runs against a simulator target, with a
drift injected into the cluster definition between them, and the second run
must report that drift as new (exit 1).  It runs only the two config-hygiene
controls the drift breaks (``--tests`` and ``-- -m``), which read the
definition and need no running simulator, so the pair takes seconds; the
target is still the simulator (``--sim-state``), and nothing starts it because
no selected scenario asks.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from provisioning.__main__ import main
from provisioning.definition import yamlfiles
from provisioning.operations import nightly, nightly_runs
from provisioning.operations.nightly_changes import (
    ControlResult,
    SummaryError,
    compare,
    controls_of,
    load_summary,
    to_markdown,
)
from simulator.controllers import psa

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 3, 0, 0, tzinfo=UTC)
HYGIENE = "steps/test_config_hygiene.py"
DRIFTED = "HYG-01 or HYG-04"


def results(**outcomes: str) -> dict[str, ControlResult]:
    """Control id (``HYG_01`` spelled with ``_``) -> result, for compact test tables."""
    return {
        name.replace("_", "-"): ControlResult(name.replace("_", "-"), result, title=f"{name} title")
        for name, result in outcomes.items()
    }


# --- comparison -----------------------------------------------------------------------------


def test_compare_sorts_each_bad_control_into_one_list() -> None:
    previous = results(
        A_01="passed", A_02="failed", A_03="failed", A_04="broken", A_05="failed", A_06="failed"
    )
    current = results(
        A_01="failed",
        A_02="passed",
        A_03="broken",
        A_04="remediated",
        A_05="skipped",
        A_07="broken",
    )
    changes = compare(current, previous, run="r2", previous_run="r1")
    assert [(c.control, c.previous, c.now) for c in changes.new_failures] == [
        ("A-01", "passed", "failed"),
        ("A-07", "absent", "broken"),
    ]
    assert [(c.control, c.now) for c in changes.fixed] == [
        ("A-02", "passed"),
        ("A-04", "remediated"),
    ]
    assert [(c.control, c.previous, c.now) for c in changes.still_failing] == [
        ("A-03", "failed", "broken")
    ]
    assert [(c.control, c.now) for c in changes.no_longer_verified] == [
        ("A-05", "skipped"),
        ("A-06", "absent"),
    ]
    assert changes.new_failures[0].title == "A_01 title"


def test_good_or_skipped_controls_are_not_changes() -> None:
    changes = compare(
        results(A_01="passed", A_02="skipped", A_03="remediated"),
        results(A_01="skipped", A_02="passed", A_03="passed"),
        run="r2",
        previous_run="r1",
    )
    assert changes.new_failures == changes.fixed == []
    assert changes.still_failing == changes.no_longer_verified == []


def test_waived_controls_are_listed_apart_and_are_neither_new_nor_fixed() -> None:
    changes = compare(
        results(A_01="waived", A_02="waived", A_03="failed"),
        results(A_01="failed", A_02="passed", A_03="waived"),
        run="r2",
        previous_run="r1",
    )
    assert [(c.control, c.previous) for c in changes.waived] == [
        ("A-01", "failed"),
        ("A-02", "passed"),
    ]
    assert [c.control for c in changes.new_failures] == ["A-03"]
    assert changes.fixed == changes.still_failing == []
    assert [c["control"] for c in json.loads(changes.to_json())["waived"]] == ["A-01", "A-02"]
    text = to_markdown(changes)
    assert "### Waived (accepted exceptions, see summary.md): 2" in text
    assert "| A-02 |  | A_02 title |  | passed | waived |" in text
    assert "2 waived (since r1)" in changes.headline()


def test_first_run_counts_every_failure_as_new() -> None:
    changes = compare(results(A_01="failed", A_02="passed"), None, run="r1")
    assert [c.control for c in changes.new_failures] == ["A-01"]
    assert changes.previous_run is None
    assert "No previous run" in to_markdown(changes)


def test_changes_render_as_json_and_markdown() -> None:
    changes = compare(
        results(A_01="failed", A_02="passed"),
        results(A_01="passed", A_02="failed"),
        run="r2",
        previous_run="r1",
        totals={"passed": 1, "failed": 1},
    )
    document = json.loads(changes.to_json())
    assert document["previous_run"] == "r1"
    assert [c["control"] for c in document["new_failures"]] == ["A-01"]
    assert [c["control"] for c in document["fixed"]] == ["A-02"]
    text = to_markdown(changes)
    assert text.startswith("## Nightly run r2: 1 new failure(s), 1 fixed, 0 still failing")
    assert "| A-01 |  | A_01 title |  | passed | failed |" in text
    assert "### Still failing: none" in text


def test_summary_of_the_wrong_shape_names_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(SummaryError, match=r"s\.json: controls\.X-01\.result: expected a string"):
        controls_of({"controls": {"X-01": {"passed": 1}}}, "s.json")
    with pytest.raises(SummaryError, match="controls: expected an object"):
        controls_of({"totals": {}}, "s.json")
    broken = tmp_path / "summary.json"
    broken.write_text("{not json")
    with pytest.raises(SummaryError, match=r"summary\.json: not JSON"):
        load_summary(broken)


# --- run directories ------------------------------------------------------------------------


def test_runs_started_in_the_same_second_get_ordered_suffixes(tmp_path: Path) -> None:
    made = [nightly_runs.new_run(tmp_path, NOW).name for _ in range(3)]
    assert made == ["20261126T030000Z", "20261126T030000Z-1", "20261126T030000Z-2"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "20261126T020000Z").mkdir()
    assert [r.name for r in nightly_runs.list_runs(tmp_path)] == [
        "20261126T020000Z",
        *made,
    ]


def make_runs(directory: Path, names: list[str], with_summary: set[str]) -> None:
    for name in names:
        (directory / name).mkdir(parents=True)
        if name in with_summary:
            (directory / name / "summary.json").write_text("{}")


def test_prune_keeps_the_newest_runs_and_the_newest_baseline(tmp_path: Path) -> None:
    names = [f"2026112{d}T020000Z" for d in range(1, 6)]
    # The last two runs could not run the suite: the newest baseline is the third.
    make_runs(tmp_path, names, with_summary=set(names[:3]))
    (tmp_path / "history").mkdir()
    removed = nightly_runs.prune(tmp_path, keep=2)
    assert [r.name for r in removed] == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == [*names[2:], "history"]


def test_prune_keep_one_leaves_only_the_newest(tmp_path: Path) -> None:
    names = ["20261121T020000Z", "20261122T020000Z"]
    make_runs(tmp_path, names, with_summary=set(names))
    nightly_runs.prune(tmp_path, keep=1)
    assert [p.name for p in tmp_path.iterdir()] == [names[1]]
    with pytest.raises(ValueError, match="at least 1"):
        nightly_runs.runs_to_prune([], keep=0)


def test_history_and_baseline_come_from_the_newest_earlier_run(tmp_path: Path) -> None:
    make_runs(tmp_path, ["20261121T020000Z", "20261122T020000Z"], with_summary={"20261121T020000Z"})
    (tmp_path / "20261122T020000Z" / "history.jsonl").write_text('{"n": 2}\n')
    runs = nightly_runs.list_runs(tmp_path)
    current = nightly_runs.new_run(tmp_path, NOW)
    baseline = nightly_runs.previous_with(runs, current, "summary.json")
    assert baseline is not None
    assert baseline.name == "20261121T020000Z"
    source = nightly.carry_history(runs, current)
    assert source is not None
    assert source.name == "20261122T020000Z"
    assert (current.path / "history.jsonl").read_text() == '{"n": 2}\n'


# --- exit statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--live", "--talosconfig", "t"], "--live needs --kubeconfig"),
        (["--live", "--kubeconfig", "nope", "--talosconfig", "nope"], "--kubeconfig nope: no such"),
        (["--kubeconfig", "k"], "--kubeconfig only applies with --live"),
        (["--cluster", "no-such-definition"], "--cluster no-such-definition: no cluster.yaml"),
        (["--tests", "steps/no_such_test.py"], "--tests steps/no_such_test.py: no such file"),
    ],
)
def test_usage_errors_exit_2_and_create_no_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    runs = tmp_path / "runs"
    assert main(["nightly", "--runs-dir", str(runs), *extra]) == nightly.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert nightly_runs.list_runs(runs) == []


def test_keep_below_one_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nightly", "--runs-dir", "x", "--keep", "0"])
    assert exc.value.code == 2
    assert "--keep: 0 is less than 1" in capsys.readouterr().err


def nightly_args(runs: Path, cluster: Path, sim: Path, *pytest_args: str) -> list[str]:
    return [
        "nightly",
        "--runs-dir",
        str(runs),
        "--cluster",
        str(cluster),
        "--sim-state",
        str(sim),
        "--tests",
        HYGIENE,
        "--no-html",
        "--",
        *pytest_args,
    ]


def test_suite_that_cannot_start_exits_3_and_keeps_its_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    argv = nightly_args(runs, ROOT / "cluster", tmp_path / "sim", "--no-such-pytest-option")
    assert main(argv) == nightly.EXIT_SUITE_DID_NOT_RUN
    err = capsys.readouterr().err
    assert "the suite could not run: pytest exited 4" in err
    assert "--no-such-pytest-option" in err  # the tail of pytest's own complaint
    (run,) = nightly_runs.list_runs(runs)
    assert json.loads((run.path / "run.json").read_text())["suite_exit"] == 4
    assert not (run.path / "changes.json").exists()


def test_a_checkout_without_the_suite_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    nightly.add_nightly_command(parser.add_subparsers())
    args = parser.parse_args(["nightly", "--runs-dir", str(tmp_path / "runs")])
    assert nightly.run_nightly(args, root=tmp_path) == nightly.EXIT_SUITE_DID_NOT_RUN
    assert "no conformance suite" in capsys.readouterr().err


def test_a_suite_over_its_time_is_stopped(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(nightly.SuiteDidNotRun, match=r"did not finish within 0\.2s"):
        nightly.run_suite(command, tmp_path, tmp_path / "log", timeout=0.2)


# --- end to end -----------------------------------------------------------------------------


def run_nightly_cli(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioning", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def inject_hostname_drift(definition: Path) -> None:
    """node03 also sets its hostname the legacy way, beside its HostnameConfig (HYG-04)."""
    (definition / "patches" / "legacy-hostname.yaml").write_text(
        "machine:\n    network:\n        hostname: k8s-node03\n"
    )
    inventory = definition / "cluster.yaml"
    stack = "patches: [patches/k8s-node03.yaml,"
    text = inventory.read_text()
    assert stack in text
    inventory.write_text(
        text.replace(stack, "patches: [patches/k8s-node03.yaml, patches/legacy-hostname.yaml,")
    )


@pytest.mark.slow
def test_two_nightly_runs_report_a_drift_injected_between_them_as_new(tmp_path: Path) -> None:
    definition = tmp_path / "cluster"
    shutil.copytree(ROOT / "cluster", definition, ignore=shutil.ignore_patterns(".secrets"))
    runs, sim = tmp_path / "runs", tmp_path / "sim"
    # Only the two controls the drift breaks: both read the definition alone.
    argv = nightly_args(runs, definition, sim, "-m", DRIFTED)
    argv.remove("--no-html")  # the HTML and its history are part of what a nightly run keeps
    html = nightly.allure_cli(ROOT) is not None

    first = run_nightly_cli(argv)
    assert first.returncode == nightly.EXIT_OK, first.stdout + first.stderr
    (old,) = nightly_runs.list_runs(runs)
    inject_hostname_drift(definition)
    # --keep 1: the first run goes once the second has compared itself with it.
    second = run_nightly_cli([*argv[:-3], "--keep", "1", *argv[-3:]])
    assert second.returncode == nightly.EXIT_NEW_FAILURES, second.stdout + second.stderr

    (new,) = nightly_runs.list_runs(runs)
    assert f"pruned run {old.name}" in second.stdout
    changes = json.loads((new.path / "changes.json").read_text())
    assert changes["previous_run"] == old.name
    assert {c["control"]: (c["previous"], c["now"]) for c in changes["new_failures"]} == {
        "HYG-01": ("passed", "failed"),  # Talos rejects the doubled hostname too
        "HYG-04": ("passed", "failed"),
    }
    assert changes["fixed"] == changes["still_failing"] == []
    assert "NEW FAILURE HYG-04 (passed -> failed)" in second.stdout
    assert "| HYG-04 |" in (new.path / "changes.md").read_text()
    assert json.loads((new.path / "run.json").read_text())["target"] == f"simulated:{sim}"
    assert not (sim / "serve.json").exists(), "the hygiene controls must not start a simulator"
    assert (new.path / "junit.xml").is_file()
    assert list((new.path / "allure-results").glob("*-result.json"))
    if html:
        assert (new.path / "html" / "index.html").is_file()
        history = (new.path / "history.jsonl").read_text().splitlines()
        assert len(history) == 2, "the first run's Allure history was not carried forward"
    else:
        assert "HTML report skipped" in second.stdout


@pytest.mark.slow
def test_a_waived_drift_is_listed_as_waived_and_metrics_land_beside_the_runs(
    tmp_path: Path,
) -> None:
    definition = tmp_path / "cluster"
    shutil.copytree(ROOT / "cluster", definition, ignore=shutil.ignore_patterns(".secrets"))
    inject_hostname_drift(definition)
    (definition / "waivers.yaml").write_text(
        "waivers:\n"
        + "".join(
            f"  - {{control: {c}, scope: [node03], owner: team-nodes, reason: moving to "
            "HostnameConfig, expires: 2099-06-30}\n"
            for c in ("HYG-01", "HYG-04")
        )
    )
    runs = tmp_path / "runs"
    proc = run_nightly_cli(nightly_args(runs, definition, tmp_path / "sim", "-m", DRIFTED))
    assert proc.returncode == nightly.EXIT_OK, proc.stdout + proc.stderr
    (run,) = nightly_runs.list_runs(runs)
    changes = json.loads((run.path / "changes.json").read_text())
    assert changes["new_failures"] == []
    assert [c["control"] for c in changes["waived"]] == ["HYG-01", "HYG-04"]
    assert "### Waived (accepted exceptions, see summary.md): 2" in (
        (run.path / "changes.md").read_text()
    )
    metrics = runs / nightly.METRICS_FILE
    families = {f.name: f.samples for f in text_string_to_metric_families(metrics.read_text())}
    outcomes = {
        s.labels["control"]: s.labels["outcome"]
        for s in families["talos_conformance_control_status"]
    }
    assert outcomes == {"HYG-01": "waived", "HYG-04": "waived"}
    assert sorted(p.name for p in runs.iterdir()) == sorted([run.name, nightly.METRICS_FILE])


# --- the shipped Kubernetes manifests -------------------------------------------------------


def manifests(name: str) -> list[dict[str, Any]]:
    """The documents of a shipped manifest, read by the suite's own YAML loader."""
    path = ROOT / "deploy" / "kubernetes" / name
    documents = yamlfiles.load_documents(path, loader=yamlfiles.KubeLoader)
    return [d.value for d in documents if d.value]


def nightly_pod() -> dict[str, Any]:
    (cronjob,) = [d for d in manifests("cronjob.yaml") if d["kind"] == "CronJob"]
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nightly"}, **template}


def test_the_cronjob_pod_is_admitted_by_its_namespace_pod_security() -> None:
    (namespace,) = manifests("namespace.yaml")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = nightly_pod()
    decision = psa.admit_pod(psa.PodSecurityConfig(), "talos-conformance", labels, pod)
    assert decision.allowed, decision
    assert decision.warnings == ()
    escalating = copy.deepcopy(pod)
    del escalating["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    assert not psa.admit_pod(
        psa.PodSecurityConfig(), "talos-conformance", labels, escalating
    ).allowed


def test_the_cronjob_runs_nightly_read_only_with_the_minted_talosconfig() -> None:
    pod = nightly_pod()
    (container,) = pod["spec"]["containers"]
    parser = argparse.ArgumentParser()
    nightly.add_nightly_command(parser.add_subparsers())
    args = parser.parse_args(["nightly", *container["args"]])
    assert args.live
    assert args.talosconfig == "/var/run/secrets/talos.dev/config"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/run/secrets/talos.dev"]["readOnly"]
    assert args.runs_dir.startswith("/var/lib/talos-conformance/")
    assert args.kubeconfig.startswith("/etc/talos-conformance/")
    talos_secret = next(v for v in pod["spec"]["volumes"] if "secret" in v)["secret"]["secretName"]
    rbac = manifests("rbac.yaml")
    (talos_account,) = [d for d in rbac if d["apiVersion"] == "talos.dev/v1alpha1"]
    assert talos_account["metadata"]["name"] == talos_secret
    assert talos_account["spec"]["roles"] == ["os:reader"]
    (role,) = [d for d in rbac if d["kind"] == "ClusterRole"]
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs <= {"get", "list", "watch"}, "the nightly ClusterRole must stay read-only"
    assert not any("secrets" in rule.get("resources", []) for rule in role["rules"])


def test_the_cronjob_keeps_its_metrics_on_the_runs_volume_and_pushes_them() -> None:
    """The Job's metrics reach Prometheus: written on the PVC, pushed where egress allows."""
    pod = nightly_pod()
    (container,) = pod["spec"]["containers"]
    parser = argparse.ArgumentParser()
    nightly.add_nightly_command(parser.add_subparsers())
    args = parser.parse_args(["nightly", *container["args"]])
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    written = nightly.metrics_path(args)
    (mount,) = [
        m for m in container["volumeMounts"] if written.is_relative_to(Path(m["mountPath"]))
    ]
    assert not mount.get("readOnly", False), f"{written} is on a read-only mount"
    (claim,) = [d for d in manifests("cronjob.yaml") if d["kind"] == "PersistentVolumeClaim"]
    assert (
        volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == (claim["metadata"]["name"])
    )

    assert args.push_gateway, "the CronJob does not push its metrics"
    gateway = urllib.parse.urlsplit(args.push_gateway)
    assert gateway.hostname is not None
    service, namespace, *_ = gateway.hostname.split(".")
    port = str(gateway.port or (443 if gateway.scheme == "https" else 80))
    pod_labels = pod["metadata"]["labels"]
    allowed = [
        rule
        for policy in manifests("network-policy.yaml")
        if policy["spec"]["endpointSelector"].get("matchLabels", {}).items() <= pod_labels.items()
        for rule in policy["spec"].get("egress", [])
        if any(
            selector.get("matchLabels", {}).get("io.kubernetes.pod.namespace") == namespace
            for selector in rule.get("toEndpoints", [])
        )
        and any(p["port"] == port for to in rule.get("toPorts", []) for p in to["ports"])
    ]
    assert allowed, f"no egress from the nightly pod to {namespace}/{service} port {port}"


def test_a_suite_that_exits_6_ran_and_its_unverified_controls_are_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 6 (nothing failed, some controls not verified) is a run, not a failure to run."""

    def not_verified(command: list[str], root: Path, log: Path, timeout: float) -> int:
        out = Path(command[command.index("--summary-dir") + 1])
        out.mkdir(parents=True, exist_ok=True)
        controls = {"HYG-01": {"result": "passed"}, "ENC-01": {"result": "skipped"}}
        (out / "summary.json").write_text(
            json.dumps({"run": {}, "totals": {}, "controls": controls})
        )
        log.write_text("Conformance: NOT VERIFIED: 1 control\n")
        return 6

    monkeypatch.setattr(nightly, "run_suite", not_verified)
    runs = tmp_path / "runs"
    argv = nightly_args(runs, ROOT / "cluster", tmp_path / "sim")
    assert main(argv) == nightly.EXIT_OK, capsys.readouterr().err
    (run,) = nightly_runs.list_runs(runs)
    assert json.loads((run.path / "run.json").read_text())["suite_exit"] == 6
