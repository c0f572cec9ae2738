"""`python -m provisioning validate|render`: exit codes, messages, file modes, no tracebacks."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provisioning.config import render

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioning", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    target = tmp_path / "cluster"
    shutil.copytree(ROOT / "cluster", target, ignore=shutil.ignore_patterns(".secrets"))
    return target


def test_validate_shipped_definition() -> None:
    result = cli("validate", "--cluster", "cluster")
    assert result.returncode == 0, result.stderr
    assert "K8S-CLUSTER: definition is valid: 6 nodes (6 control plane, 5 storage)" in result.stdout
    assert "prefer an odd count" in result.stderr  # the etcd quorum warning


def test_validate_reports_every_problem_with_file_field_and_line(definition: Path) -> None:
    text = (definition / "cluster.yaml").read_text()
    text = text.replace("ip: 10.10.20.17", "ip: 10.10.20.16")  # node02 duplicates node01
    text = text.replace("vip: 10.10.20.10", "vip: 10.10.99.10")  # VIP outside the subnet
    (definition / "cluster.yaml").write_text(text)
    (definition / "patches" / "cilium-cni.yaml").unlink()
    result = cli("validate", "--cluster", str(definition))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert any("cluster.yaml:" in line and "nodes[1].ip" in line for line in lines), lines
    assert any("controlPlane.vip" in line for line in lines), lines
    assert any("patches/cilium-cni.yaml" in line for line in lines), lines
    assert lines[-1].endswith("problem(s); nothing was changed")


def test_validate_yaml_syntax_error_names_line(definition: Path) -> None:
    patch = definition / "patches" / "allow-scheduling-cp.yaml"
    patch.write_text("cluster:\n    allowSchedulingOnControlPlanes: [true\n")
    result = cli("validate", "--cluster", str(definition))
    assert result.returncode == 1
    assert "patches/allow-scheduling-cp.yaml:" in result.stderr
    assert "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_definition_directory() -> None:
    result = cli("validate", "--cluster", "/nonexistent/cluster")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "/nonexistent/cluster" in result.stderr


def test_bad_flags_exit_2_with_usage() -> None:
    result = cli("render", "--cluster", "cluster")  # --out is required
    assert result.returncode == 2
    assert "--out" in result.stderr


def test_render_redacted_by_default(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("render", "--cluster", "cluster", "--out", str(out))
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"node0{i}.yaml" for i in range(1, 7)]
    documents = list(yaml.safe_load_all((out / "node03.yaml").read_text()))
    assert documents[0]["machine"]["ca"]["key"] == render.REDACTED_BYTES  # "<redacted>", base64
    assert {
        "apiVersion": "v1alpha1",
        "kind": "HostnameConfig",
        "auto": "off",
        "hostname": "k8s-node03",
    } in documents
    assert [d.get("name") for d in documents if d.get("kind") == "VolumeConfig"] == [
        "STATE",
        "EPHEMERAL",
    ]


def test_render_with_secrets_is_private_and_reuses_the_store(
    definition: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = cli("render", "--cluster", str(definition), "--out", str(out), "--with-secrets")
    assert first.returncode == 0, first.stderr
    node = out / "node01.yaml"
    assert stat.S_IMODE(node.stat().st_mode) == 0o600
    doc = next(yaml.safe_load_all(node.read_text()))
    key = doc["machine"]["ca"]["key"]
    assert key != "<redacted>"
    assert key not in first.stdout + first.stderr
    store = (definition / "../.secrets/K8S-CLUSTER/secrets.yaml.age").resolve()
    assert store.exists()
    assert b"PRIVATE KEY" not in store.read_bytes()  # encrypted at rest
    second = cli("render", "--cluster", str(definition), "--out", str(out), "--with-secrets")
    assert second.returncode == 0, second.stderr
    assert next(yaml.safe_load_all(node.read_text()))["machine"]["ca"]["key"] == key
