"""``python -m provisioning diff``: rendered against running, Talos's verdict, exit codes.

The running configs come from a fake talosctl driver answering as real
talosctl v1.12.5 does: ``get machineconfig -o json`` objects whose ``spec``
is the config's YAML text (the MachineConfig special case of
https://github.com/siderolabs/talos/blob/v1.12.5/cmd/talosctl/pkg/talos/helpers/resources.go), and
``apply-config --dry-run`` printing ``Dry run summary:\\n<mode details>
(skipped in dry-run).\\nConfig diff:\\n\\n<diff>`` (``ApplyConfiguration``,
siderolabs/talos v1.12.5 v1alpha1_server.go).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.__main__ import main
from provisioning.config import render
from provisioning.config.secrets import MachineSecrets, SecretStore
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from provisioning.operations import diff

ROOT = Path(__file__).resolve().parents[2]
NO_REBOOT = "Applied configuration without a reboot"
REBOOT = "Applied configuration with a reboot"


def dry_run_output(details: str, config_diff: str = "--- a\n+++ b\n") -> str:
    return f"Dry run summary:\n{details} (skipped in dry-run).\nConfig diff:\n\n{config_diff}"


@dataclass
class FakeTalos:
    """Answers ``get machineconfig`` from *running* (node IP -> YAML text) and dry-runs."""

    running: dict[str, str]
    details: str = NO_REBOOT
    down: set[str] = field(default_factory=set)
    persistent: dict[str, str] = field(default_factory=dict)  # staged configs by node IP
    dry_runs: list[tuple[str, str]] = field(default_factory=list)

    def get(
        self,
        resource: str,
        nodes: Sequence[str],
        *,
        namespace: str | None = None,
        id: str | None = None,
        insecure: bool = False,
    ) -> list[dict[str, Any]]:
        assert resource == "machineconfig"
        (node,) = nodes
        if node in self.down:
            raise errors.DriverError(
                f"rpc error: code = Unavailable desc = connection error: dial tcp {node}:50000"
            )
        text = self.running[node]
        meta = {"namespace": "config", "type": "MachineConfigs.config.talos.dev"}
        return [
            {"metadata": {**meta, "id": "v1alpha1"}, "node": node, "spec": text},
            {
                "metadata": {**meta, "id": "persistent"},
                "node": node,
                "spec": self.persistent.get(node, text),
            },
        ]

    def apply_config(
        self,
        node: str,
        config_file: Path,
        *,
        patches: Sequence[Path] = (),
        insecure: bool = False,
        mode: str = "auto",
        dry_run: bool = False,
    ) -> str:
        assert dry_run
        assert mode == "auto"
        assert (config_file.stat().st_mode & 0o077) == 0, "the rendered config is private"
        self.dry_runs.append((node, config_file.read_text()))
        # Talos's unified diff carries the secrets it differs in: the command must drop it.
        return dry_run_output(self.details, "-    token: SECRETVALUE\n+    token: OTHER\n")


@dataclass(frozen=True)
class Definition:
    cluster: inventory.Cluster
    secrets: MachineSecrets
    rendered: dict[str, str]  # node name -> YAML text with secrets


@pytest.fixture(scope="module")
def definition(tmp_path_factory: pytest.TempPathFactory) -> Definition:
    base = tmp_path_factory.mktemp("diff")
    shutil.copytree(ROOT / "cluster", base / "cluster", ignore=shutil.ignore_patterns(".secrets"))
    cluster = inventory.load_cluster(base / "cluster", display="cluster")
    store = SecretStore(
        cluster.secrets.directory, cluster.secrets.recipient, cluster.secrets.identity_file
    )
    machine_secrets = store.load_or_create()
    rendered = render.render_cluster(cluster, machine_secrets)
    return Definition(
        cluster, machine_secrets, {name: node.to_yaml() for name, node in rendered.items()}
    )


def talosish(text: str) -> str:
    """*text* as Talos keeps it: documents reordered (v1alpha1 last here), comments gone."""
    docs = list(yaml.safe_load_all(text))
    return yaml.safe_dump_all([*docs[1:], docs[0]], sort_keys=True)


def running_of(definition: Definition, **edits: str) -> dict[str, str]:
    texts = {str(n.ip): talosish(definition.rendered[n.name]) for n in definition.cluster.nodes}
    for name, text in edits.items():
        texts[str(definition.cluster.node(name).ip)] = text
    return texts


def edited(definition: Definition, node: str, change: Any) -> str:
    docs = list(yaml.safe_load_all(definition.rendered[node]))
    change(docs[0])
    return yaml.safe_dump_all(docs)


def test_a_freshly_provisioned_cluster_shows_no_difference(definition: Definition) -> None:
    talos = FakeTalos(running_of(definition))
    report = diff.diff_cluster(definition.cluster, talos, definition.secrets)
    assert [(n.node, n.changes, n.error) for n in report.nodes] == [
        (n.name, (), None) for n in definition.cluster.nodes
    ]
    assert not report.differs
    assert talos.dry_runs == []  # nothing to apply: no dry run asked
    assert diff.format_text(report).endswith("0 of 6 node(s) differ from the rendered config")


def test_a_differing_node_names_its_paths_and_talos_verdict(definition: Definition) -> None:
    def sysctl(doc: dict[str, Any]) -> None:
        doc["machine"].setdefault("sysctls", {})["vm.max_map_count"] = "1048576"

    talos = FakeTalos(running_of(definition, node03=edited(definition, "node03", sysctl)))
    report = diff.diff_cluster(definition.cluster, talos, definition.secrets)
    (node,) = [n for n in report.nodes if n.differs]
    assert node.node == "node03"
    assert [c.describe() for c in node.changes] == [
        'v1alpha1: machine.sysctls["vm.max_map_count"] added: observed 1048576'
    ]
    assert (node.apply, node.apply_details) == ("no reboot", f"{NO_REBOOT} (skipped in dry-run).")
    ((address, sent),) = talos.dry_runs
    assert address == "10.10.20.18"
    assert sent == definition.rendered["node03"]
    text = diff.format_text(report)
    assert "node03 (10.10.20.18): 1 difference(s); applying the rendered config: no reboot" in text
    assert "SECRETVALUE" not in text


def test_a_changed_secret_is_reported_as_changed_and_never_printed(
    definition: Definition,
) -> None:
    token = definition.secrets.trustd_token

    def rotate(doc: dict[str, Any]) -> None:
        doc["machine"]["token"] = "zzzzzz.zzzzzzzzzzzzzzzz"

    talos = FakeTalos(running_of(definition, node01=edited(definition, "node01", rotate)), REBOOT)
    report = diff.diff_cluster(
        definition.cluster, talos, definition.secrets, [definition.cluster.node("node01")]
    )
    (change,) = report.nodes[0].changes
    assert (change.path, change.kind.value, change.expected, change.observed) == (
        "machine.token",
        "changed",
        "<redacted>",
        "<redacted>",
    )
    assert report.nodes[0].apply == "reboot"
    shown = diff.format_text(report) + json.dumps(report.nodes[0].as_dict())
    assert token not in shown
    assert "zzzzzz" not in shown


def test_a_node_that_does_not_answer_differs_with_the_reason(definition: Definition) -> None:
    talos = FakeTalos(running_of(definition), down={"10.10.20.19"})
    report = diff.diff_cluster(definition.cluster, talos, definition.secrets)
    (node,) = [n for n in report.nodes if n.differs]
    assert node.node == "node04"
    assert node.error is not None
    assert node.error.startswith("running config not read: rpc error: code = Unavailable")
    assert report.differs


def test_verdicts_follow_talos_mode_details() -> None:
    assert diff.verdict(dry_run_output(NO_REBOOT))[0] == "no reboot"
    assert diff.verdict(dry_run_output(REBOOT))[0] == "reboot"
    staged = "Staged configuration to be applied after the next reboot"
    assert diff.verdict(dry_run_output(staged))[0] == "staged"
    maintenance = (
        "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."
    )
    assert diff.verdict(maintenance) == (
        None,
        "Node is running in maintenance mode and does not have a config yet.",
    )
    assert diff.verdict("") == (None, "talosctl printed nothing")


def test_an_unparsable_running_config_is_refused_without_quoting_it() -> None:
    resource = {"metadata": {"id": "v1alpha1"}, "spec": "machine: [token: SECRET"}
    with pytest.raises(ValueError, match="not YAML documents") as caught:
        diff.running_documents([resource], "node01")
    assert "SECRET" not in str(caught.value)
    with pytest.raises(ValueError, match="has no MachineConfig v1alpha1"):
        diff.running_documents([], "node01")


# -- command line ----------------------------------------------------------------------


@pytest.fixture
def sim_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    (state / "talosconfig").write_text("context: sim\ncontexts: {}\n")
    return state


def run_cli(
    monkeypatch: pytest.MonkeyPatch, talos: FakeTalos, *args: str
) -> tuple[int, list[Target]]:
    targets: list[Target] = []

    def driver(target: Target) -> FakeTalos:
        targets.append(target)
        return talos

    monkeypatch.setattr("provisioning.drivers.talosctl.TalosDriver", driver)
    return main(["diff", *args]), targets


def test_exit_0_when_no_node_differs_and_1_when_one_does(
    definition: Definition,
    sim_state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = ["--cluster", str(definition.cluster.root), "--sim-state", str(sim_state)]
    code, targets = run_cli(monkeypatch, FakeTalos(running_of(definition)), *where)
    assert code == 0
    assert targets[0].talosconfig == sim_state / "talosconfig"
    assert targets[0].bin_dir == sim_state / "bin"

    def image(doc: dict[str, Any]) -> None:
        doc["machine"]["install"]["image"] = "ghcr.io/siderolabs/installer:v1.12.5"

    talos = FakeTalos(running_of(definition, node02=edited(definition, "node02", image)))
    capsys.readouterr()
    code, _ = run_cli(monkeypatch, talos, *where, "--node", "node02", "--json")
    assert code == 1
    (node,) = json.loads(capsys.readouterr().out)["nodes"]
    assert node["node"] == "node02"
    assert node["apply"] == "no reboot"
    assert node["changes"] == [
        {
            "document": "v1alpha1",
            "path": "machine.install.image",
            "change": "changed",
            "expected": definition.cluster.node("node02") and node["changes"][0]["expected"],
            "observed": "ghcr.io/siderolabs/installer:v1.12.5",
        }
    ]
    assert node["changes"][0]["expected"].startswith("factory.talos.dev/installer/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--node", "node09"], "--node node09: not a node of"),
        (["--live"], "--live needs --talosconfig"),
        (["--live", "--talosconfig", "/nonexistent/tc"], "--talosconfig /nonexistent/tc: no such"),
        (["--talosconfig", "x"], "--kubeconfig and --talosconfig are for --live"),
    ],
)
def test_usage_mistakes_exit_2_naming_the_option(
    definition: Definition,
    sim_state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    where = ["--cluster", str(definition.cluster.root)]
    if "--live" not in args:
        where += ["--sim-state", str(sim_state)]
    code, targets = run_cli(monkeypatch, FakeTalos({}), *where, *args)
    assert code == 2
    assert message in capsys.readouterr().err
    assert targets == []


def test_a_malformed_live_talosconfig_is_refused_naming_file_and_line(
    definition: Definition,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "talosconfig"
    bad.write_text("context: a\ncontext: b\n")
    args = ["--cluster", str(definition.cluster.root), "--live", "--talosconfig", str(bad)]
    code, _ = run_cli(monkeypatch, FakeTalos({}), *args)
    assert code == 2
    err = capsys.readouterr().err
    assert f"--talosconfig {bad}" in err
    assert "context" in err


def test_a_state_without_talosconfig_says_how_to_start_the_simulator(
    definition: Definition,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--cluster", str(definition.cluster.root), "--sim-state", str(tmp_path / "none")]
    code, _ = run_cli(monkeypatch, FakeTalos({}), *args)
    assert code == 2
    assert "no talosconfig in it" in capsys.readouterr().err


def test_missing_secrets_are_an_error_never_created(
    tmp_path: Path,
    sim_state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(
        ROOT / "cluster", tmp_path / "cluster", ignore=shutil.ignore_patterns(".secrets")
    )
    args = ["--cluster", str(tmp_path / "cluster"), "--sim-state", str(sim_state)]
    code, _ = run_cli(monkeypatch, FakeTalos({}), *args)
    assert code == 1
    assert "secret store not found" in capsys.readouterr().err
    assert not (tmp_path / ".secrets").exists()


def test_a_staged_config_waiting_for_a_reboot_is_said(definition: Definition) -> None:
    def sysctl(doc: dict[str, Any]) -> None:
        doc["machine"].setdefault("sysctls", {})["vm.swappiness"] = "1"

    staged = {"10.10.20.21": edited(definition, "node06", sysctl)}
    talos = FakeTalos(running_of(definition), persistent=staged)
    report = diff.diff_cluster(definition.cluster, talos, definition.secrets)
    assert [n.node for n in report.nodes if n.staged_pending] == ["node06"]
    assert not report.differs  # the active config is the rendered one
    assert (
        "node06 (10.10.20.21): a staged config (MachineConfig persistent) waits for the next "
        "reboot" in diff.format_text(report)
    )


def test_unread_nodes_are_counted_as_not_compared_not_as_differing() -> None:
    report = diff.DiffReport(
        [
            diff.NodeDiff("node01", "10.10.20.16"),
            diff.NodeDiff("node02", "10.10.20.17", error="running config not read: refused"),
        ]
    )
    text = diff.format_text(report)
    assert "node02 (10.10.20.17): not compared: running config not read: refused" in text
    assert text.endswith("0 of 2 node(s) differ from the rendered config; 1 not compared")
    assert report.differs  # exit 1: an unread node is never "no difference"
