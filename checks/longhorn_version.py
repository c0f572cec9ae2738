"""Longhorn control LH-07: Longhorn runs the declared version.

Apart from :mod:`checks.longhorn` because it judges the release (images and
the version Setting), not the nodes.  The chart (v1.8.1) names the manager
DaemonSet, its container and its pods' ``app`` label ``longhorn-manager``;
longhorn-manager keeps Setting ``current-longhorn-version`` (types/setting.go)
up to date on every upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks import judged, longhorn
from checks import snapshot as snap
from checks.findings import Finding
from checks.snapshot import Snapshot
from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError

UPGRADE_DOC = "https://longhorn.io/docs/1.8.1/deploy/upgrade/"
MANAGER = "longhorn-manager"
# The chart's image.longhorn.manager.repository (chart/values.yaml @v1.8.1); a private
# registry mirror is declared by setting that value in the release's values file.
MANAGER_REPOSITORY = "longhornio/longhorn-manager"
VERSION_SETTING = "current-longhorn-version"


@dataclass(frozen=True)
class LonghornVersionMismatch(Finding):
    """Longhorn runs a version other than the declared one."""


def image_tag(image: str) -> str:
    """The tag of an image reference (``repo:tag@sha256:...`` -> ``tag``); "" when untagged."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def image_repository(image: str) -> str:
    """The repository of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def _declared_repository(definition: Any) -> str:
    release = definition.helm.get("longhorn")
    if release is None:
        return MANAGER_REPOSITORY
    try:
        values = yamlfiles.load_one(release.values)
    except DefinitionError:
        return MANAGER_REPOSITORY
    found = snap.dotted(values, "image.longhorn.manager.repository") if values else None
    return str(found) if isinstance(found, str) and found else MANAGER_REPOSITORY


def _image_ok(image: str, repository: str, expected: str) -> bool:
    # Docker Hub's implicit prefixes name the same repository.
    name = image_repository(image).removeprefix("docker.io/").removeprefix("library/")
    return name == repository.removeprefix("docker.io/") and image_tag(image) == expected


def _manager_image(pod_spec: Mapping[str, Any]) -> str:
    containers = [c for c in pod_spec.get("containers") or [] if isinstance(c, Mapping)]
    for container in containers:
        if container.get("name") == MANAGER:
            return str(container.get("image") or "")
    return str(containers[0].get("image") or "") if containers else ""


@judged.judges(pods=lambda s, **_: len(s.objects(snap.PODS)))
def longhorn_version_declared(snapshot: Snapshot) -> list[Finding]:
    """Longhorn runs the declared version.

    Observed: the image of the ``longhorn-manager`` DaemonSet and of each of
    its pods, by repository (the chart's ``longhornio/longhorn-manager``
    unless the values name another) and tag (a pod still running an older
    image shows an unfinished upgrade; a look-alike repository with the
    right tag is not Longhorn's build), and the ``current-longhorn-version``
    Setting the manager keeps when it exists.
    """
    definition = snapshot.definition
    expected = "v" + definition.versions.longhorn.removeprefix("v")
    repository = _declared_repository(definition)
    ns = longhorn.namespace(definition)
    findings: list[Finding] = []
    daemonset = snap.named(snapshot.objects(snap.DAEMONSETS), MANAGER, ns)
    if not daemonset:
        findings.append(
            LonghornVersionMismatch(
                f"DaemonSet {ns}/{MANAGER}",
                f"longhorn-manager {expected}",
                "no such DaemonSet",
                UPGRADE_DOC,
            )
        )
    else:
        image = _manager_image(snap.dotted(daemonset, "spec.template.spec", {}) or {})
        if not _image_ok(image, repository, expected):
            findings.append(
                LonghornVersionMismatch(
                    f"DaemonSet {ns}/{MANAGER}",
                    f"image {repository}:{expected}",
                    image,
                    UPGRADE_DOC,
                )
            )
    for pod in snap.in_namespace(snapshot.objects(snap.PODS), ns):
        meta = pod.get("metadata") or {}
        if (meta.get("labels") or {}).get("app") != MANAGER:
            continue
        image = _manager_image(pod.get("spec") or {})
        if not _image_ok(image, repository, expected):
            node = snap.dotted(pod, "spec.nodeName", "unscheduled")
            findings.append(
                LonghornVersionMismatch(
                    f"Pod {ns}/{meta.get('name')} on {node}",
                    f"image {repository}:{expected}",
                    image,
                    UPGRADE_DOC,
                )
            )
    setting = snap.named(snapshot.objects(snap.LONGHORN_SETTINGS), VERSION_SETTING, ns)
    if setting and str(setting.get("value") or "") != expected:
        findings.append(
            LonghornVersionMismatch(
                f"Setting {ns}/{VERSION_SETTING}", expected, repr(setting.get("value")), UPGRADE_DOC
            )
        )
    return findings
