"""The config-hygiene feature run end to end, the way an operator runs it.

Each test copies the shipped definition, breaks one thing the way an operator
could, and runs ``pytest`` on the real feature files against the copy: the
matching control must fail naming the file or node, and the others must keep
passing (a clean copy passes everything).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.suite.harness import NO_TEST_PLUGINS

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = ("HYG-01", "HYG-02", "HYG-03", "HYG-04")


def run_suite(cluster: Path, results: Path) -> tuple[int, str, dict[str, str]]:
    """Run the conformance suite on *cluster*; return exit code, output, status per control."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "steps/test_config_hygiene.py",
            "--cluster",
            str(cluster),
            "--alluredir",
            str(results),
            "-p",
            "no:cacheprovider",
            *NO_TEST_PLUGINS,
            "-q",
            # The definition controls only: HYG-05/06/07 observe a cluster (their drift tests
            # are in test_drift_cluster_hygiene.py and test_remediate_running_config.py).
            "-m",
            "not HYG-05 and not HYG-06 and not HYG-07",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    status: dict[str, str] = {}
    for result in results.glob("*-result.json"):
        data = json.loads(result.read_text())
        tags = {label["value"] for label in data["labels"] if label["name"] == "tag"}
        for control in CONTROLS:
            if control in tags:
                status[control] = data["status"]
    return proc.returncode, proc.stdout + proc.stderr, status


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    target = tmp_path / "cluster"
    shutil.copytree(ROOT / "cluster", target, ignore=shutil.ignore_patterns(".secrets"))
    return target


def test_clean_definition_passes_every_control(definition: Path, tmp_path: Path) -> None:
    code, output, status = run_suite(definition, tmp_path / "results")
    assert code == 0, output
    assert status == dict.fromkeys(CONTROLS, "passed"), output


def test_committed_private_key_fails_only_the_secrets_control(
    definition: Path, tmp_path: Path
) -> None:
    leak = "# -----BEGIN EC PRIVATE KEY-----\n# MHcCAQEEIB\n"
    patch = definition / "patches" / "cilium-cni.yaml"
    patch.write_text(patch.read_text() + leak)
    code, output, status = run_suite(definition, tmp_path / "results")
    assert code == 1
    assert status["HYG-02"] == "failed"
    assert "patches/cilium-cni.yaml" in output
    assert "a PEM private key" in output
    assert "MHcCAQEEIB" not in output, "the leaked value itself must not be echoed"
    assert {c: s for c, s in status.items() if c != "HYG-02"} == dict.fromkeys(
        ("HYG-01", "HYG-03", "HYG-04"), "passed"
    )


def test_stale_installer_fails_schematic_controls_naming_nodes(
    definition: Path, tmp_path: Path
) -> None:
    patch = definition / "patches" / "longhorn-extensions.yaml"
    stale = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
    text = patch.read_text()
    assert "613e1592" in text
    patch.write_text(
        text.replace("613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245", stale)
    )
    code, output, status = run_suite(definition, tmp_path / "results")
    assert code == 1
    assert status["HYG-03"] == "failed"
    assert status["HYG-01"] == "failed"  # the consistency check sees it too
    assert "node node01" in output
    assert stale in output


def test_legacy_hostname_beside_hostname_config_fails(definition: Path, tmp_path: Path) -> None:
    (definition / "patches" / "legacy-hostname.yaml").write_text(
        "# the article's form, invalid beside v1.12's HostnameConfig\n"
        "machine:\n    network:\n        hostname: k8s-node03\n"
    )
    inventory = definition / "cluster.yaml"
    text = inventory.read_text()
    stack = "patches: [patches/k8s-node03.yaml,"
    assert stack in text
    inventory.write_text(
        text.replace(stack, "patches: [patches/k8s-node03.yaml, patches/legacy-hostname.yaml,")
    )
    code, output, status = run_suite(definition, tmp_path / "results")
    assert code == 1
    assert status["HYG-01"] == "failed"
    assert status["HYG-04"] == "failed"
    assert "static hostname is already set in v1alpha1 config" in output
    assert "node03" in output
