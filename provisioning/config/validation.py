"""Validating a rendered machine config the way Talos v1.12.5 does, offline.

A node must never receive a config that ``talosctl validate -m metal`` or
``apply-config`` would refuse, and the operator should learn that before
touching a node -- in Talos's own words, so a message can be looked up
upstream.  This module re-implements the rules that matter for the reference
cluster, read from the Talos source at tag v1.12.5:

* ``configloader/internal/decoder/decoder.go`` and ``siderolabs/gen`` xyaml
  (document identity, unknown kinds, unknown keys, duplicates),
* ``config/container/container.go`` (conflicting documents, the ``Kind`` /
  ``Kind/name`` prefix of per-document errors, cross-document conflicts),
* ``types/v1alpha1/v1alpha1_validation.go``, ``types/network/hostname.go``,
  ``types/network/layer2_vip.go``, ``types/block/volume_config.go`` and
  ``types/block/encryption.go``.

Every finding is a :class:`~provisioning.definition.problems.Problem`: ``field`` is the
config path (``machine.network.interfaces[0].vip``) or the document id Talos
prints (``HostnameConfig``, ``VolumeConfig/STATE``); ``message`` is Talos's
text without its multierror framing and YAML line numbers (plain values have
none).  Talos's warnings and the deprecations the project chose to flag are
:attr:`~provisioning.definition.problems.Severity.WARNING`; warnings worded by this suite
rather than Talos end with ``(this suite)``.

As in Talos, a document that does not decode (unknown key, wrong value type,
unknown enum value) is not validated further; unlike Talos, the other
documents still are, so one run shows every broken document.

Not modelled, because each needs machinery Talos has and we do not: CEL disk
selectors, disk-size matchers, bond/bridge/wireguard options, and the rules of
document kinds other than HostnameConfig, VolumeConfig and Layer2VIPConfig
(their keys are not checked either).  Values that can be secrets (CA keys,
tokens, passphrases) are only tested for presence; no message contains one.

Layout: this module is the entry point and the order of the stages;
:mod:`provisioning.config.validation_schema` holds the key/type tables and the loader,
:mod:`provisioning.config.validation_v1alpha1` the v1alpha1 rules (its interface
rules in :mod:`provisioning.config.validation_network`),
:mod:`provisioning.config.validation_documents` the rules of the other documents, and
:mod:`provisioning.config.govalues` / :mod:`provisioning.config.goparse` read any value the
way Go would (zero values instead of exceptions; Go's address and URL parsing)
-- arbitrary input must yield problems, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioning.config.validation_documents import validate_document
from provisioning.config.validation_schema import KINDS, Report, decode
from provisioning.config.validation_v1alpha1 import validate_v1alpha1
from provisioning.definition.problems import Problem

__all__ = ["KINDS", "MODES", "validate_config"]

MODES = ("metal", "cloud", "container")


def validate_config(
    documents: Sequence[Mapping[str, Any]], display: str, mode: str = "metal"
) -> list[Problem]:
    """Everything Talos v1.12.5 would reject or warn about in *documents*.

    :param documents: the machine config, one plain value per YAML document.
    :param display: names the config in every problem (``Problem.file``).
    :param mode: ``talosctl validate --mode``: ``metal`` requires install
        instructions, ``container`` requires host DNS forwarding.
    :raises ValueError: for an unknown *mode* (a programming error).
    """
    if mode not in MODES:
        raise ValueError(f"unknown validation mode {mode!r}; expected one of {MODES}")
    report = Report(display)
    decoded = decode(documents, report)
    v1alpha1 = decoded.v1alpha1
    if not decoded.has_v1alpha1:
        report.error(
            "",
            "the applied machine configuration doesn't contain v1alpha1 config, "
            "did you mean to patch the machine config instead?",
        )
    elif v1alpha1 is not None:
        validate_v1alpha1(v1alpha1, mode, report)
    for doc in decoded.docs:
        validate_document(doc, v1alpha1, report)
    return report.problems
