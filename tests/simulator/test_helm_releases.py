"""Helm release records: the Secret format and the encode/decode round trip."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.helm import releases
from simulator.helm.releases import Release


def _release(**changes: Any) -> Release:
    base = Release(
        name="cilium",
        namespace="kube-system",
        version=2,
        status="deployed",
        chart_name="cilium",
        chart_version="1.19.1",
        app_version="1.19.1",
        config={"operator": {"replicas": 2}},
        manifest="---\nkind: ConfigMap\n",
        first_deployed="2025-01-01T00:00:00.000000000Z",
        last_deployed="2025-01-02T00:00:00.000000000Z",
        description="Upgrade complete",
    )
    return Release(**{**base.__dict__, **changes})


def test_secret_matches_helm_storage_format() -> None:
    secret = releases.to_secret(_release(), 1700000000)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.cilium.v2"
    assert secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"]["labels"] == {
        "owner": "helm",
        "name": "cilium",
        "status": "deployed",
        "version": "2",
        "modifiedAt": "1700000000",
    }
    helm_payload = base64.b64decode(secret["data"]["release"])  # Secret's own encoding
    body = json.loads(gzip.decompress(base64.b64decode(helm_payload)))
    assert body["info"]["status"] == "deployed"
    assert body["chart"]["metadata"] == {
        "name": "cilium",
        "version": "1.19.1",
        "appVersion": "1.19.1",
        "apiVersion": "v2",
    }
    assert body["config"] == {"operator": {"replicas": 2}}
    assert body["version"] == 2


def test_decode_accepts_uncompressed_json() -> None:
    raw = json.dumps(_release().to_json()).encode()
    assert releases.decode(base64.b64encode(raw).decode()) == _release()


@pytest.mark.parametrize("payload", ["not base64!", base64.b64encode(b"[1]").decode()])
def test_decode_rejects_garbage(payload: str) -> None:
    with pytest.raises(ValueError, match="release"):
        releases.decode(payload)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda children: st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    version=st.integers(1, 500),
    status=st.sampled_from(releases.STATUSES),
    config=st.dictionaries(st.text(min_size=1, max_size=6), _json, max_size=4),
    manifest=st.text(max_size=60),
)
def test_round_trip(version: int, status: str, config: dict[str, Any], manifest: str) -> None:
    release = _release(version=version, status=status, config=config, manifest=manifest)
    secret = releases.to_secret(release, 1)
    assert releases.from_secret(secret) == release
    assert secret["metadata"]["labels"]["status"] == status


def test_superseded_keeps_description() -> None:
    old = _release().with_status("superseded")
    assert old.status == "superseded"
    assert old.description == "Upgrade complete"
