"""Waivers on the embedded cluster: a drifted control waived by node, then the waiver expired.

The README's promise, end to end: node03's system volumes lose LUKS2
(``disk_encryption.strip_luks``), which fails ENC-01 -- a Scenario Outline, so
both of its scenarios (STATE, EPHEMERAL) -- naming node03.  A waiver scoped to
node03 makes the run exit 0 with the control *waived*; the same waiver past
its date makes it exit 1 naming owner, reason and expiry; a waiver scoped to
another node waives nothing.  The waiver and the edit that expires it are
the README's own (:mod:`tests.readme_examples`), so the README's commands are
what runs here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioning.definition import waivers as waivers_file
from tests import readme_examples

pytestmark = pytest.mark.slow

WAIVER = """\
waivers:
  - control: ENC-01
    scope: [{node}]
    owner: team-storage
    reason: node03 is reinstalled encrypted next window
    expires: {expires}
"""


def waivers(directory: Path, name: str, *, node: str, expires: str) -> str:
    path = directory / f"{name}.yaml"
    path.write_text(WAIVER.format(node=node, expires=expires))
    return str(path)


def test_a_node_scoped_waiver_waives_the_drift_until_it_expires(
    cluster_with: Any, tmp_path: Path
) -> None:
    example = readme_examples.waiver_example()
    (readme,) = waivers_file.parse_waivers(example, "README.md")
    old, new, _ = readme_examples.expiry_edit()
    valid = tmp_path / "valid.yaml"
    valid.write_text(example)
    lapsed = tmp_path / "lapsed.yaml"
    lapsed.write_text(example.replace(old, new))
    elsewhere = waivers(tmp_path, "elsewhere", node="k8s-node04", expires="2099-12-31")
    steps = "steps/test_disk_encryption.py"
    with cluster_with(("disk_encryption.strip_luks", "node03")) as running:
        truth = running.run_suite(steps, "--waivers", str(valid), "--no-waivers")
        waived = running.run_suite(steps, "--waivers", str(valid))
        expired = running.run_suite(steps, "--waivers", str(lapsed))
        other = running.run_suite(steps, "--waivers", elsewhere)

    assert truth.returncode == 1, truth.output
    assert truth.summary["controls"]["ENC-01"]["result"] == "failed"

    assert waived.returncode == 0, waived.output
    control = waived.summary["controls"]["ENC-01"]
    assert (control["result"], control["waived"]) == ("waived", 2), waived.output
    assert "WAIVED: 2" in waived.output
    assert f"ENC-01 waived until {old} by {readme.owner}" in waived.output

    assert expired.returncode == 1, expired.output
    assert expired.summary["controls"]["ENC-01"]["result"] == "failed"
    assert (
        f"waiver for ENC-01 expired on {new}: owner {readme.owner}, reason: {readme.reason}"
    ) in expired.output

    assert other.returncode == 1, other.output
    assert other.summary["controls"]["ENC-01"]["result"] == "failed"
    assert "waiver for ENC-01 matched no finding" in other.output
