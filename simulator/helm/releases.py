"""Helm 3 release records, stored as Helm stores them.

What belongs here: :class:`Release` and the codec between it and the Secret
Helm's default ``secrets`` storage driver writes: name
``sh.helm.release.v1.<release>.v<revision>``, type ``helm.sh/release.v1``,
labels ``owner=helm``, ``name``, ``status``, ``version`` and ``modifiedAt``,
and ``data.release`` = base64(gzip(JSON)) -- which the Secret's own ``data``
encoding base64-encodes once more on the wire (Helm's
``pkg/storage/driver/util.go`` ``encodeRelease`` + ``secrets.go``).

Why faithful: ``helm list`` on a live cluster, and checks that read release
Secrets to learn the installed chart version and values, must work the same
on the simulator.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from dataclasses import dataclass, field, replace
from typing import Any

SECRET_TYPE = "helm.sh/release.v1"
STATUSES = ("deployed", "superseded", "failed", "uninstalled", "pending-install", "pending-upgrade")


def secret_name(release: str, revision: int) -> str:
    """``sh.helm.release.v1.<release>.v<revision>``."""
    return f"sh.helm.release.v1.{release}.v{revision}"


def now() -> str:
    """The current time as Go's RFC 3339 with nanoseconds, in UTC."""
    stamp = dt.datetime.now(dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}000Z"


@dataclass(frozen=True)
class Release:
    """One revision of a release, with the fields Helm's JSON carries."""

    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str
    config: dict[str, Any]
    manifest: str
    first_deployed: str
    last_deployed: str
    description: str
    chart_values: dict[str, Any] = field(default_factory=dict)
    deleted: str = ""

    def with_status(self, status: str, description: str | None = None) -> Release:
        """The same revision in another state (superseded, uninstalled ...)."""
        return replace(
            self,
            status=status,
            description=self.description if description is None else description,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object Helm marshals (``pkg/release.Release``)."""
        info: dict[str, Any] = {
            "first_deployed": self.first_deployed,
            "last_deployed": self.last_deployed,
            "deleted": self.deleted,
            "description": self.description,
            "status": self.status,
        }
        return {
            "name": self.name,
            "info": info,
            "chart": {
                "metadata": {
                    "name": self.chart_name,
                    "version": self.chart_version,
                    "appVersion": self.app_version,
                    "apiVersion": "v2",
                },
                "values": self.chart_values,
            },
            "config": self.config,
            "manifest": self.manifest,
            "version": self.version,
            "namespace": self.namespace,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Release:
        """Parse Helm's JSON; missing optional parts read as empty."""
        info = body.get("info") or {}
        chart = body.get("chart") or {}
        metadata = chart.get("metadata") or {}
        return cls(
            name=str(body["name"]),
            namespace=str(body.get("namespace", "")),
            version=int(body["version"]),
            status=str(info.get("status", "")),
            chart_name=str(metadata.get("name", "")),
            chart_version=str(metadata.get("version", "")),
            app_version=str(metadata.get("appVersion", "")),
            config=dict(body.get("config") or {}),
            manifest=str(body.get("manifest", "")),
            first_deployed=str(info.get("first_deployed", "")),
            last_deployed=str(info.get("last_deployed", "")),
            description=str(info.get("description", "")),
            chart_values=dict(chart.get("values") or {}),
            deleted=str(info.get("deleted", "")),
        )


def encode(release: Release) -> str:
    """base64(gzip(JSON)), the string Helm stores under ``release``."""
    raw = json.dumps(release.to_json(), separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw)).decode()


def decode(payload: str) -> Release:
    """Inverse of :func:`encode`; plain (non-gzip) JSON is accepted as Helm does.

    :raises ValueError: not base64, or not a release JSON object.
    """
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError as exc:
        raise ValueError("release payload is not base64") from exc
    if data[:3] == b"\x1f\x8b\x08":
        data = gzip.decompress(data)
    try:
        body = json.loads(data)
        if not isinstance(body, dict):
            raise TypeError(type(body).__name__)
        return Release.from_json(body)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError("release payload is not a Helm release") from exc


def to_secret(release: Release, modified_at: int) -> dict[str, Any]:
    """The Secret object (API JSON) that stores *release*."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(release.name, release.version),
            "namespace": release.namespace,
            "labels": {
                "owner": "helm",
                "name": release.name,
                "status": release.status,
                "version": str(release.version),
                "modifiedAt": str(modified_at),
            },
        },
        "type": SECRET_TYPE,
        # Secret data is base64 on the wire, on top of Helm's own base64.
        "data": {"release": base64.b64encode(encode(release).encode()).decode()},
    }


def from_secret(secret: dict[str, Any]) -> Release:
    """The release a Secret from the API holds.

    :raises ValueError: the Secret holds no decodable release.
    """
    wire = (secret.get("data") or {}).get("release")
    if not isinstance(wire, str):
        raise ValueError("secret has no release data")
    return decode(base64.b64decode(wire).decode())
