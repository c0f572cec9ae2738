"""HelmDriver against the ``helm`` look-alike and the simulated API server (127.0.0.1).

One server (MemoryKV) per module; the driver finds ``helm`` in the target's
bin dir and keeps its repository list in a temporary file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from provisioning.drivers import Completed, Target, errors, helm
from simulator.helm.cli import install_helm
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.kube.server import KubeApiServer
from simulator.pki import ClusterCA, write_kubeconfig
from simulator.store.kv import MemoryKV

ROOT = Path(__file__).resolve().parents[2]
CILIUM_VALUES = ROOT / "cluster" / "helm" / "cilium-values.yaml"


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[helm.HelmDriver]:
    ca = ClusterCA.generate()
    store = ObjectStore(MemoryKV(), builtin_registry())
    namespaces = store.registry.lookup("", "v1", "namespaces")
    assert namespaces is not None
    for name in ("default", "kube-system"):
        store.create(namespaces, "", {"metadata": {"name": name}})
    with KubeApiServer(store, ca.serving_tls()) as server:
        work = tmp_path_factory.mktemp("helm")
        kubeconfig = work / "kubeconfig"
        issued = ca.issue_client_cert("admin", ["system:masters"])
        write_kubeconfig(
            kubeconfig, server.url, ca.cert_pem, issued.cert_pem, issued.key_pem, "k8s"
        )
        install_helm(work / "bin")
        target = Target("simulated", kubeconfig, None, work / "bin")
        yield helm.HelmDriver(target, repository_config=work / "repositories.yaml")


def test_install_list_and_values(driver: helm.HelmDriver) -> None:
    with pytest.raises(errors.DriverError, match="repo cilium not found") as raised:
        driver.upgrade_install(
            "cilium",
            "cilium/cilium",
            namespace="kube-system",
            version="1.19.1",
            values_files=[CILIUM_VALUES],
        )
    assert type(raised.value) is errors.DriverError

    driver.repo_add("cilium", "https://helm.cilium.io/")
    driver.repo_add("cilium", "https://helm.cilium.io/")  # already there: not an error
    report = driver.upgrade_install(
        "cilium",
        "cilium/cilium",
        namespace="kube-system",
        version="1.19.1",
        values_files=[CILIUM_VALUES],
    )
    assert report.startswith('Release "cilium" does not exist. Installing it now.\n')

    [row] = driver.list("kube-system")
    assert (row["name"], row["namespace"], row["status"], row["chart"]) == (
        "cilium",
        "kube-system",
        "deployed",
        "cilium-1.19.1",
    )
    assert [r["name"] for r in driver.list()] == ["cilium"]
    assert driver.list("default") == []

    values = driver.get_values("cilium", "kube-system")
    assert values["k8sServicePort"] == 7445
    assert values["kubeProxyReplacement"] in (True, "true")

    driver.uninstall("cilium", "kube-system")
    assert driver.list("kube-system") == []


def test_missing_release_is_a_clear_error(driver: helm.HelmDriver) -> None:
    with pytest.raises(errors.DriverError) as raised:
        driver.get_values("nope", "kube-system")
    assert "release: not found" in raised.value.stderr
    assert "command: helm get values nope --namespace kube-system --output json" in str(
        raised.value
    )


class Scripted:
    def __init__(self, *answers: Completed) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []
        self.envs: list[Mapping[str, str] | None] = []
        self.timeouts: list[float] = []

    def __call__(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None
    ) -> Completed:
        self.calls.append(list(argv))
        self.envs.append(env)
        self.timeouts.append(timeout)
        return self.answers.pop(0)


def test_upgrade_is_not_repeated_after_a_delivered_failure(tmp_path: Path) -> None:
    (tmp_path / "helm").write_text("#!/bin/sh\n")
    (tmp_path / "helm").chmod(0o755)
    reset = Completed(1, b"", "Error: read tcp 127.0.0.1:5->127.0.0.1:6: connection reset by peer")
    refused = Completed(1, b"", "Error: dial tcp 127.0.0.1:6443: connect: connection refused")
    ok = Completed(0, b"[]", "")
    runner = Scripted(reset, refused, ok, reset, ok)
    target = Target("t", tmp_path / "kc", None, tmp_path)
    driver = helm.HelmDriver(target, runner=runner, backoff=0, repository_config=tmp_path / "r")

    with pytest.raises(errors.Unreachable):
        driver.upgrade_install("x", "r/x", namespace="n", version="1", values_files=[])
    assert len(runner.calls) == 1
    assert runner.calls[0][-2:] == ["--kubeconfig", str(tmp_path / "kc")]
    assert runner.envs[0] == {"HELM_REPOSITORY_CONFIG": str(tmp_path / "r")}

    driver.upgrade_install("x", "r/x", namespace="n", version="1", values_files=[])
    assert len(runner.calls) == 3  # refused, then done

    assert driver.list() == []  # a read survives a reset
    assert len(runner.calls) == 5


def test_unreadable_json_is_reported(tmp_path: Path) -> None:
    (tmp_path / "helm").write_text("#!/bin/sh\n")
    (tmp_path / "helm").chmod(0o755)
    target = Target("t", None, None, tmp_path)
    driver = helm.HelmDriver(target, runner=Scripted(Completed(0, b"NAME\tNAMESPACE\n", "")))
    with pytest.raises(errors.UnexpectedOutput, match="helm list printed output"):
        driver.list()


def test_wait_runs_helm_with_wait_and_timeout_and_outlives_it(tmp_path: Path) -> None:
    (tmp_path / "helm").write_text("#!/bin/sh\n")
    (tmp_path / "helm").chmod(0o755)
    late = Completed(1, b"", "Error: UPGRADE FAILED: context deadline exceeded")
    runner = Scripted(Completed(0, b"", ""), late)
    target = Target("t", None, None, tmp_path)
    driver = helm.HelmDriver(target, runner=runner, backoff=0)
    driver.upgrade_install(
        "x", "r/x", namespace="n", version="1", values_files=[], wait_timeout=900
    )
    assert runner.calls[0][-3:] == ["--wait", "--timeout", "900s"]
    assert runner.timeouts[0] == 900 + helm.WAIT_MARGIN  # the process outlives helm's own wait
    with pytest.raises(errors.DriverError) as raised:
        driver.upgrade_install(
            "x", "r/x", namespace="n", version="1", values_files=[], wait_timeout=5
        )
    assert helm.deadline_exceeded(raised.value)
    assert len(runner.calls) == 2  # a write helm may have applied is not repeated
