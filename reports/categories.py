"""Allure defect categories: why a control did not pass, sorted for an operator.

A red control means one of three different things, and each has a different
owner: the cluster *drifted* from its definition (fix the cluster, or run
``--remediate``), the target could not be *observed* (fix access: network,
credentials, a missing tool), or the *suite* itself broke (fix the suite).
Allure sorts results into categories by status and message regex; this module
holds those rules so they live next to the code whose messages they match:

* drift: ``verify`` raises ``AssertionError`` listing the findings, which
  allure-pytest-bdd records as status ``failed`` with message
  ``AssertionError: ...``;
* unobservable: ``verify`` skips with ``... could not observe the cluster: ...``
  (:class:`checks.findings.Unobservable`), and driver failures surface as
  ``provisioning.drivers.errors.<Class>: ...`` (status ``broken``);
* suite errors: every other ``broken`` result;
* waived: :mod:`fixtures.waive` ends a scenario whose every finding a valid
  waiver covers with ``pytest.xfail("waived: ...")``, which
  allure-pytest-bdd records as ``skipped`` with message ``XFailed: waived:
  ...`` -- kept out of "unobservable" even if a waiver's reason says so.

Allure 2 (and Allure 3's ``classic`` plugin) read ``categories.json`` from the
results directory, written at session end by :mod:`reports.plugin`; Allure 3's
default report reads them from its config instead, so ``reports/allurerc.json``
holds the same list (a test keeps the two equal).  The regexes are written for
both readers: Allure 2 requires the pattern to
match the whole message (Java ``matches``) and may put a result in every
category that matches; Allure 3 searches (JavaScript ``RegExp.test``) and takes
the first match.  So each pattern spans the whole message (``[\\s\\S]`` because
JavaScript has no inline DOTALL) and the categories exclude each other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from provisioning.drivers import errors as driver_errors

UNOBSERVABLE_TEXT = "could not observe the cluster"
DRIVER_ERRORS_MODULE = driver_errors.__name__


@dataclass(frozen=True)
class Category:
    name: str
    description: str
    statuses: tuple[str, ...]
    message_regex: str

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "matchedStatuses": list(self.statuses),
            "messageRegex": self.message_regex,
        }


# Plain text and escaped dots only: the pattern must mean the same in Java, JavaScript and Python.
_DRIVER_PREFIX = DRIVER_ERRORS_MODULE.replace(".", r"\.") + r"\."
_UNREACHABLE_MARKERS = f"(?:{UNOBSERVABLE_TEXT}|{_DRIVER_PREFIX})"
WAIVED_MESSAGE = r"(?:_pytest\.outcomes\.)?XFailed: waived: "


DRIFT = Category(
    name="Drift from the definition",
    description="The cluster does not match its definition: each finding names the node or "
    "object, what the definition expects and what was observed.",
    statuses=("failed",),
    message_regex=r"^AssertionError[\s\S]*$",
)
UNREACHABLE = Category(
    name="Target unreachable or unobservable",
    description="The suite could not observe the target (network, credentials, missing tool, "
    "API error): the control is neither passed nor failed.",
    statuses=("broken", "skipped"),
    message_regex=rf"^(?!{WAIVED_MESSAGE})[\s\S]*{_UNREACHABLE_MARKERS}[\s\S]*$",
)
SUITE_ERROR = Category(
    name="Suite errors",
    description="The conformance suite itself failed (a bug, or a broken fixture): fix the "
    "suite, not the cluster.",
    statuses=("broken",),
    message_regex=rf"^(?![\s\S]*{_UNREACHABLE_MARKERS})[\s\S]*$",
)

WAIVED = Category(
    name="Waived",
    description="Every finding of the control is covered by a valid waiver (cluster/waivers.yaml): "
    "an accepted exception with an owner, a reason and an expiry, shown as the result's "
    "parameter.",
    statuses=("skipped",),
    message_regex=rf"^{WAIVED_MESSAGE}[\s\S]*$",
)

CATEGORIES: tuple[Category, ...] = (DRIFT, UNREACHABLE, SUITE_ERROR, WAIVED)


def categories_json(categories: tuple[Category, ...] = CATEGORIES) -> str:
    """The ``categories.json`` Allure reads from the results directory."""
    return json.dumps([c.as_json() for c in categories], indent=2) + "\n"


def categorize(status: str, message: str, categories: tuple[Category, ...] = CATEGORIES) -> str:
    """The category a result lands in (Allure 3's rule: the first match), or ``""``.

    Python's ``re`` agrees with both Allure readers on these patterns, so the
    tests can check the rules without running Allure.
    """
    for category in categories:
        if status in category.statuses and re.fullmatch(category.message_regex, message):
            return category.name
    return ""
