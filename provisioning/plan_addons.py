"""Add-on steps: Helm releases, the manifests directory and the first etcd backup.

What belongs here: the steps that install things on a running cluster,
after the Kubernetes nodes are registered.  Split out of
:mod:`provisioning.plan_steps` because this is the part that changes with
the charts and manifests rather than with Talos.

Nothing is "done" because a command returned: a Helm release is installed
with ``--wait --timeout`` (Helm's own readiness: Deployments, DaemonSets,
StatefulSets, Services ... of the release), and then a ``wait <release>``
step waits, up to the same deadline, until the release is ready by the
definition the controls use (the :class:`~provisioning.plan_context.Readiness`
judge: Cilium agents Ready on every node, Longhorn Nodes with a schedulable
disk and the default StorageClass ...), which Helm's rules do not cover --
Longhorn's manager DaemonSet allows 100% unavailable, so ``--wait`` returns
before any manager runs.  While Helm waits (up to the deadline), a progress
line every ``timeouts.progress`` seconds says what the judge still finds not
ready.  The manifests step waits until every object it applied is served as
declared.

The backup step takes the first encrypted etcd snapshot; the daily schedule
is installed by the operator from ``deploy/backup/`` (systemd timer or cron),
not by the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioning.config.agestore import resolve_recipient
from provisioning.definition import inventory, yamlfiles
from provisioning.definition.problems import DefinitionError, Problem
from provisioning.drivers import errors
from provisioning.drivers import helm as helm_driver
from provisioning.operations.backup import create_backup
from provisioning.operations.backup_files import list_backups
from provisioning.plan_context import (
    KubeOps,
    PlanError,
    StepContext,
    StepSpec,
    wait_for,
    with_progress,
)

# The official chart repositories, by the repository part of ``chart: repo/name``.
CHART_REPOSITORIES: Mapping[str, str] = {
    "cilium": "https://helm.cilium.io",
    "longhorn": "https://charts.longhorn.io",
}

# -- helm, manifests, backup -----------------------------------------------------------


def _values(release: inventory.HelmRelease) -> dict[str, Any]:
    display = str(release.values)
    loaded = yamlfiles.load_one(release.values, display)
    return loaded if isinstance(loaded, dict) else {}


def helm_release(ctx: StepContext, name: str, release: inventory.HelmRelease) -> StepSpec:
    version = getattr(ctx.cluster.versions, name, None)
    repo, _, chart_name = release.chart.rpartition("/")

    def is_done() -> bool:
        if version is None:
            return False
        rows = ctx.helm.list(release.namespace)
        row = next((r for r in rows if r["name"] == name), None)
        if row is None or row["status"] != "deployed":
            return False
        if row["chart"] != f"{chart_name}-{version}":
            return False
        return ctx.helm.get_values(name, release.namespace) == _values(release)

    def apply() -> None:
        if version is None:
            raise DefinitionError(
                [Problem(str(ctx.cluster.file), f"versions.{name}", "no chart version set")]
            )
        url = CHART_REPOSITORIES.get(repo)
        if url is None:
            raise DefinitionError(
                [
                    Problem(
                        str(ctx.cluster.file),
                        f"helm.{name}.chart",
                        f"unknown chart repository {repo!r} (known: "
                        f"{', '.join(sorted(CHART_REPOSITORIES))})",
                    )
                ]
            )
        ctx.helm.repo_add(repo, url)
        ctx.log(f"helm {name}: upgrade --install --wait --timeout {ctx.timeouts.addons:g}s")
        readiness = ctx.readiness
        judge = None
        if readiness is not None and name in readiness.stages():

            def judge() -> list[str]:
                return readiness.not_ready(name)

        try:
            with_progress(
                ctx,
                f"helm {name}",
                lambda: ctx.helm.upgrade_install(
                    name,
                    release.chart,
                    namespace=release.namespace,
                    version=str(version),
                    values_files=[release.values],
                    wait_timeout=ctx.timeouts.addons,
                ),
                judge,
            )
        except errors.DriverError as exc:
            if not helm_driver.deadline_exceeded(exc):
                raise
            raise PlanError(_helm_deadline(ctx, name)) from None

    return StepSpec(
        f"helm {name}", f"{release.chart} {version} in {release.namespace}", is_done, apply
    )


def _helm_deadline(ctx: StepContext, name: str) -> str:
    """Helm's ``--wait`` ran out: the deadline, and what the judge still finds not ready."""
    said = (
        f"helm upgrade --install {name} --wait: its workloads were not ready within the "
        f"{ctx.timeouts.addons:g}s deadline (helm: context deadline exceeded)"
    )
    readiness = ctx.readiness
    if readiness is None or name not in readiness.stages():
        return said
    left = readiness.not_ready(name)
    return f"{said}; not ready yet: {'; '.join(left)}" if left else said


def release_ready(ctx: StepContext, name: str) -> StepSpec:
    """``wait <name>``: the release is ready by the controls' definition (see the module notes)."""
    readiness = ctx.readiness
    assert readiness is not None  # steps_for adds this step only with a judge

    def missing() -> list[str]:
        return readiness.not_ready(name)

    return StepSpec(
        f"wait {name}",
        f"{name} ready as the controls define it",
        lambda: not missing(),
        lambda: wait_for(
            ctx, ctx.timeouts.addons, missing, f"{name} to be ready", progress=f"wait {name}"
        ),
    )


def manifest_documents(directory: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        found = yamlfiles.load_documents(
            path, str(path), within=directory, loader=yamlfiles.KubeLoader
        )
        docs += [d.value for d in found if isinstance(d.value, dict)]
    return docs


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def _contains(have: Any, want: Any) -> bool:
    """*want* is a subset of *have*: server defaults and status are ignored."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_contains(have.get(k), v) for k, v in want.items())
    return bool(have == want)


def _identical(api: KubeOps, doc: Mapping[str, Any]) -> bool:
    # The plural is guessed from the kind; a wrong guess only means re-applying.
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    meta = doc.get("metadata") or {}
    kind = (group, version, _plural(str(doc.get("kind", ""))))
    try:
        live = api.get(kind, str(meta.get("name", "")), meta.get("namespace"))
    except errors.DriverError:
        return False
    body = {k: v for k, v in doc.items() if k not in ("metadata", "status")}
    labels = {k: meta.get(k) for k in ("labels", "annotations") if meta.get(k)}
    return _contains(live, body) and _contains(live.get("metadata") or {}, labels)


def manifests(ctx: StepContext) -> StepSpec:
    directory = ctx.cluster.manifests

    def is_done() -> bool:
        api = ctx.api()
        return all(_identical(api, doc) for doc in manifest_documents(directory))

    def apply() -> None:
        docs = manifest_documents(directory)
        last: list[str] = []

        def not_yet() -> list[str]:
            # A chart's CRDs (cilium.io/v2 ...) are served a moment after the release
            # is deployed; until then discovery answers 404. Create-or-replace is
            # idempotent, so the whole set is simply tried again.
            try:
                ctx.api().apply_manifest(docs)
            except errors.DriverError as exc:
                if not _not_served_yet(exc):
                    raise
                last[:] = [str(exc).splitlines()[0]]
                return last
            return []

        wait_for(
            ctx,
            ctx.timeouts.addons,
            not_yet,
            f"the kinds in {directory} to be served",
            progress="manifests",
        )
        api = ctx.api()

        def not_served() -> list[str]:
            return [_ref(doc) for doc in docs if not _identical(api, doc)]

        wait_for(
            ctx,
            ctx.timeouts.addons,
            not_served,
            f"the objects of {directory} to be served as declared",
            progress="manifests",
        )

    return StepSpec("manifests", f"create or replace {directory}", is_done, apply)


def _ref(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{doc.get('kind')} {where}{meta.get('name')}"


def _not_served_yet(exc: errors.DriverError) -> bool:
    """Discovery of a group/version 404s, or it does not list the kind yet."""
    text = str(exc)
    if isinstance(exc, errors.NotFound):
        return "GET /apis/" in text or "GET /api/" in text
    return "the server does not serve kind" in text


def backup(ctx: StepContext) -> StepSpec:
    settings = ctx.cluster.backup
    node = ctx.cluster.node(settings.snapshot_node)

    def apply() -> None:
        recipient = settings.age_recipient
        if recipient == "auto":
            recipient = resolve_recipient(
                ctx.cluster.secrets.recipient, ctx.cluster.secrets.identity_file
            )

        def take(snapshot: Path) -> None:
            ctx.talos.etcd_snapshot(str(node.ip), snapshot)

        path = create_backup(settings.directory, recipient, take)
        ctx.log(f"backup: wrote {path}")

    return StepSpec(
        "first backup",
        f"an encrypted etcd snapshot in {settings.directory}",
        lambda: list_backups(settings.directory).newest is not None,
        apply,
    )
