"""What ``helm upgrade --install``, ``uninstall`` and the queries do to a cluster.

What belongs here: release history reads, install/upgrade/uninstall as
Helm 3's ``pkg/action`` performs them (render, ownership check, apply,
prune what the previous revision had and this one lacks, record the
revision, supersede the previous one), and chart lookup through the local
repository list.  Output formatting lives in :mod:`simulator.helm.cli`.

Deviations from Helm, on purpose:

* A render failure records nothing (as Helm: templates fail before a
  revision exists); an API failure while applying records the revision with
  status ``failed`` and description ``Release "<name>" failed: <message>``.
* ``--wait`` waits as Helm 3's waiter does (:mod:`simulator.helm.wait`):
  the revision is recorded ``pending-install``/``pending-upgrade`` while the
  objects are applied and waited for, then ``deployed`` (superseding the
  previous one), or ``failed`` with ``Release "<name>" failed: context
  deadline exceeded`` (install) / ``Upgrade "<name>" failed: ...`` (upgrade)
  when ``--timeout`` passes first, the previous revision staying deployed.
* Hooks are not run; history is not trimmed (``--history-max``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from simulator.helm import releases, values, wait
from simulator.helm.charts import Chart, RenderError, catalogue, charts_at
from simulator.helm.kubeapi import Cluster, KubeError, Ref
from simulator.helm.releases import Release


class HelmError(Exception):
    """A failure Helm reports as ``Error: <message>`` and exit status 1."""


@dataclass(frozen=True)
class Outcome:
    """What an upgrade did: the new revision and whether it was an install."""

    release: Release
    installed: bool


def resolve_chart(reference: str, version: str | None, repositories: Mapping[str, str]) -> Chart:
    """The built-in chart ``<repo>/<chart>`` names, at *version* if given.

    :param repositories: repository name -> URL, as ``helm repo add`` recorded.
    :raises HelmError: unknown repository, chart or version, worded as Helm.
    """
    repo, sep, name = reference.partition("/")
    if not sep or not name:
        raise HelmError(
            f"non-absolute URLs should be in form of repo_name/path_to_chart, got: {reference}"
        )
    url = repositories.get(repo)
    if url is None:
        raise HelmError(f"repo {repo} not found")
    served = charts_at(url) or ()
    chart = catalogue().get(name)
    if chart is None or name not in served:
        raise HelmError(
            f'chart "{name}" not found in {repo} index.'
            " (try 'helm repo update'): no chart name found"
        )
    if version and version.lstrip("v") != chart.version:
        raise HelmError(
            f'chart "{name}" matching {version} not found in {repo} index.'
            f" (try 'helm repo update'): no chart version found for {name}-{version}"
        )
    return chart


def history(cluster: Cluster, name: str, namespace: str | None) -> list[Release]:
    """Every stored revision of *name* (or of all releases if *name* is empty), oldest first."""
    selector = "owner=helm" + (f",name={name}" if name else "")
    found: list[Release] = []
    for secret in cluster.list("Secret", namespace, selector):
        try:
            found.append(releases.from_secret(secret))
        except ValueError:
            continue  # Helm skips records it cannot decode
    return sorted(found, key=lambda r: (r.namespace, r.name, r.version))


def _record(cluster: Cluster, release: Release, *, new: bool) -> None:
    secret = releases.to_secret(release, int(time.time()))
    if new:
        cluster.create(secret)
    else:
        cluster.replace(secret)


def manifest_text(objects: Sequence[Mapping[str, Any]]) -> str:
    """The rendered manifest as Helm stores it: YAML documents after ``---``."""
    return "".join("---\n" + yaml.safe_dump(dict(obj), sort_keys=False) for obj in objects)


def manifest_refs(cluster: Cluster, release: Release) -> list[Ref]:
    """Where the objects of a stored revision live."""
    refs = []
    for obj in yaml.safe_load_all(release.manifest):
        if isinstance(obj, dict) and obj.get("kind"):
            try:
                refs.append(cluster.ref(obj, release.namespace))
            except KubeError:
                continue
    return refs


def upgrade(
    cluster: Cluster,
    *,
    name: str,
    chart: Chart,
    namespace: str,
    user: values.Values,
    install: bool,
    create_namespace: bool,
    wait_timeout: float | None = None,
) -> Outcome:
    """``helm upgrade [--install]``: render, apply, record; see the module notes.

    :param wait_timeout: seconds to wait for the objects to be ready (``--wait``);
        None returns as soon as they are applied.

    :raises HelmError: with Helm's ``UPGRADE FAILED`` / ``INSTALLATION FAILED`` prefix.
    """
    past = history(cluster, name, namespace)
    installing = not past
    prefix = "INSTALLATION FAILED" if installing else "UPGRADE FAILED"
    if installing and not install:
        raise HelmError(f'UPGRADE FAILED: "{name}" has no deployed releases')
    if installing:
        ns_ref = Ref("Namespace", namespace, None)
        if cluster.get(ns_ref) is None:
            if not create_namespace:
                raise HelmError(
                    f'{prefix}: create: failed to create: namespaces "{namespace}" not found'
                )
            cluster.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
    try:
        objects = chart.render(
            values.coalesce(chart.defaults, user),
            release=name,
            namespace=namespace,
            version=chart.version,
        )
    except RenderError as exc:
        raise HelmError(f"{prefix}: {exc}") from None
    stamp = releases.now()
    previous = past[-1] if past else None
    revision = previous.version + 1 if previous else 1
    release = Release(
        name=name,
        namespace=namespace,
        version=revision,
        status="deployed",
        chart_name=chart.name,
        chart_version=chart.version,
        app_version=chart.app_version,
        config=dict(user),
        manifest=manifest_text(objects),
        first_deployed=past[0].first_deployed if past else stamp,
        last_deployed=stamp,
        description="Install complete" if installing else "Upgrade complete",
        chart_values=dict(chart.defaults),
    )
    pending = wait_timeout is not None
    if pending:
        state, note = (
            ("pending-install", "Initial install underway")
            if installing
            else ("pending-upgrade", "Preparing upgrade")
        )
        _record(cluster, release.with_status(state, note), new=True)
    try:
        for obj in objects:
            if previous is None or cluster.ref(obj, namespace) not in manifest_refs(
                cluster, previous
            ):
                cluster.check_ownership(obj, namespace, name)
        applied = [cluster.apply(obj, namespace, name) for obj in objects]
        if previous is not None:
            for ref in reversed(manifest_refs(cluster, previous)):
                if ref not in applied:
                    cluster.delete(ref)
    except KubeError as exc:
        failed = release.with_status("failed", f'Release "{name}" failed: {exc}')
        _record(cluster, failed, new=not pending)
        raise HelmError(f"{prefix}: {exc}") from None
    if wait_timeout is not None and wait.wait_ready(cluster, applied, wait_timeout):
        who = f'Release "{name}"' if installing else f'Upgrade "{name}"'
        failed = release.with_status("failed", f"{who} failed: {wait.DEADLINE_EXCEEDED}")
        _record(cluster, failed, new=False)
        raise HelmError(f"{prefix}: {wait.DEADLINE_EXCEEDED}")
    if previous is not None and previous.status == "deployed":
        _record(cluster, previous.with_status("superseded"), new=False)
    _record(cluster, release, new=not pending)
    return Outcome(release, installing)


def uninstall(cluster: Cluster, name: str, namespace: str, *, keep_history: bool) -> None:
    """``helm uninstall``: delete the objects, then the history (or mark it uninstalled).

    :raises HelmError: no such release, worded as Helm.
    """
    past = history(cluster, name, namespace)
    if not past:
        raise HelmError(f"uninstall: Release not loaded: {name}: release: not found")
    latest = past[-1]
    for ref in reversed(manifest_refs(cluster, latest)):
        cluster.delete(ref)
    if keep_history:
        gone = latest.with_status("uninstalled", "Uninstallation complete")
        _record(cluster, gone, new=False)
        return
    for release in past:
        cluster.delete(Ref("Secret", releases.secret_name(name, release.version), namespace))


def latest(cluster: Cluster, name: str, namespace: str) -> Release:
    """The newest revision of *name*.

    :raises HelmError: ``release: not found``.
    """
    past = history(cluster, name, namespace)
    if not past:
        raise HelmError("release: not found")
    return past[-1]
