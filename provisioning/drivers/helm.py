"""The Helm driver: releases installed, listed, read and removed through ``helm``.

Cilium and Longhorn are installed by Helm after bootstrap (mission.md), so
the suite both drives ``helm upgrade --install`` and reads releases back
(``helm list -o json``, ``helm get values -o json``) to compare them with the
definition's values files.  Only JSON output is parsed, never tables.

``upgrade --install`` is a write: repeating one the server already started
leaves "another operation is in progress", so it is retried only when the
connection was refused (the request never left).  ``--set`` is deliberately
not offered: values come from files in the definition, which keeps secrets
out of argument lists (and so out of process listings and error messages).

``upgrade_install`` with *wait_timeout* runs ``--wait --timeout <N>s`` as an
operator would: Helm returns only when the release's workloads are ready by
its own rules, or fails with ``context deadline exceeded`` (see
:func:`deadline_exceeded`); the process is given that long plus a margin.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from provisioning.drivers import (
    CommandLine,
    Completed,
    Failure,
    Idempotence,
    RetryPolicy,
    Runner,
    Target,
    errors,
)

_UNDELIVERED = ("connection refused", "no route to host", "no such host")
_DEADLINE = "context deadline exceeded"
WAIT_MARGIN = 120.0  # seconds helm may take beyond --timeout (render, apply, record)
_TRANSIENT = (
    "connection reset",
    "i/o timeout",
    "tls handshake timeout",
    "the server is currently unable to handle the request",
    "serviceunavailable",
    "client.timeout exceeded",
    "unexpected eof",
)


def classify(stderr: str) -> Failure:
    """How a failed helm run should be retried, judged from its stderr."""
    text = stderr.lower()
    if "certificate" in text or "unauthorized" in text or "forbidden" in text:
        return Failure.PERMANENT
    if any(marker in text for marker in _UNDELIVERED):
        return Failure.UNDELIVERED
    if any(marker in text for marker in _TRANSIENT):
        return Failure.TRANSIENT
    return Failure.PERMANENT


def deadline_exceeded(exc: errors.DriverError) -> bool:
    """Whether helm failed because ``--wait`` ran out of ``--timeout``."""
    return _DEADLINE in exc.stderr


class HelmRelease(TypedDict):
    """One row of ``helm list -o json`` (Helm 3 field names)."""

    name: str
    namespace: str
    revision: str
    updated: str
    status: str
    chart: str
    app_version: str


class HelmDriver:
    """``helm`` against the target's kubeconfig; every method is one invocation."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 300.0,
        retries: int = 3,
        backoff: float = 0.5,
        runner: Runner | None = None,
        repository_config: Path | None = None,
    ) -> None:
        self.target = target
        env = {"HELM_REPOSITORY_CONFIG": str(repository_config)} if repository_config else None
        self._cli = CommandLine(
            "helm",
            target,
            policy=RetryPolicy(timeout=timeout, retries=retries, backoff=backoff),
            classify=classify,
            runner=runner,
            env=env,
        )

    def _run(
        self, args: Sequence[str], *, kind: Idempotence, timeout: float | None = None
    ) -> Completed:
        base = ["--kubeconfig", str(self.target.kubeconfig)] if self.target.kubeconfig else []
        return self._cli.run([*args, *base], kind=kind, timeout=timeout)

    def _json(self, what: str, done: Completed) -> Any:
        try:
            return json.loads(done.text or "null")
        except json.JSONDecodeError as exc:
            raise errors.UnexpectedOutput(
                f"helm {what} printed output this driver cannot read on target "
                f"{self.target.name}: {exc.msg} at character {exc.pos}",
                stderr=done.stderr,
            ) from None

    def upgrade_install(
        self,
        release: str,
        chart: str,
        *,
        namespace: str,
        version: str,
        values_files: Sequence[Path],
        create_namespace: bool = True,
        wait_timeout: float | None = None,
    ) -> str:
        """Install or upgrade *release* to *chart* at *version*; returns helm's report.

        :param wait_timeout: seconds for ``--wait --timeout``; None returns once applied.
        """
        args = ["upgrade", "--install", release, chart, "--namespace", namespace]
        args += ["--version", version]
        for values in values_files:
            args += ["--values", str(values)]
        if create_namespace:
            args.append("--create-namespace")
        if wait_timeout is None:
            return self._run(args, kind=Idempotence.WRITE).text
        args += ["--wait", "--timeout", f"{max(1, round(wait_timeout))}s"]
        return self._run(args, kind=Idempotence.WRITE, timeout=wait_timeout + WAIT_MARGIN).text

    def list(self, namespace: str | None = None) -> list[HelmRelease]:
        """Deployed releases in *namespace*, or in every namespace when None."""
        scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
        done = self._run(["list", *scope, "--output", "json"], kind=Idempotence.READ)
        rows = self._json("list", done)
        if not isinstance(rows, list):
            raise errors.UnexpectedOutput(f"helm list did not print a JSON array: {rows!r}")
        releases: list[HelmRelease] = rows
        return releases

    def get_values(self, release: str, namespace: str) -> dict[str, Any]:
        """The user-supplied values of *release* (``{}`` when none were given)."""
        args = ["get", "values", release, "--namespace", namespace, "--output", "json"]
        values = self._json("get values", self._run(args, kind=Idempotence.READ))
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise errors.UnexpectedOutput(
                f"helm get values did not print a JSON object: {values!r}"
            )
        return values

    def uninstall(self, release: str, namespace: str) -> None:
        self._run(["uninstall", release, "--namespace", namespace], kind=Idempotence.WRITE)

    def repo_add(self, name: str, url: str) -> None:
        """Register a chart repository (a no-op when it is already there as *url*)."""
        self._run(["repo", "add", name, url], kind=Idempotence.READ)
