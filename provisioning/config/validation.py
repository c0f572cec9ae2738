"""Validating a rendered machine config with Talos's own validator, offline.

A node must never receive a config that ``talosctl validate --mode metal
--strict`` or ``apply-config`` would refuse, and the operator should learn
that before touching a node -- in Talos's own words, so a message can be
looked up upstream.  The config is loaded by ``configloader`` (unknown keys,
unknown kinds, duplicate documents, values of the wrong type) and judged by
``Container.Validate`` (every document kind's rules and the conflicts
between documents) of ``pkg/machinery`` v1.12.5, through
:mod:`provisioning.config.machinery`.

Every finding is a :class:`~provisioning.definition.problems.Problem`: ``file``
names the config, ``field`` is the document Talos names (``v1alpha1.Config``,
``HostnameConfig``, ``VolumeConfig/STATE``; empty for a config that does not
load or for conflicts between documents, whose text names them), ``message``
is Talos's text without its multierror framing.  In strict mode Talos turns
v1alpha1 warnings into errors worded ``warning: ...``; other documents'
warnings stay :attr:`~provisioning.definition.problems.Severity.WARNING`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioning.config import machinery
from provisioning.definition import yamlfiles
from provisioning.definition.problems import Problem, Severity

__all__ = ["MODES", "load_problems", "problems_of", "validate_config", "validate_texts"]

MODES = ("metal", "cloud", "container")


def problems_of(answer: Mapping[str, Any], display: str) -> list[Problem]:
    """The helper's answer to a ``validate`` request as problems about *display*."""
    if answer.get("load_error"):
        text, line = machinery.located(str(answer["load_error"]))
        return [Problem(display, "", text, line)]
    found = [
        Problem(display, str(item.get("document", "")), str(item.get("message", "")))
        for item in answer.get("errors", [])
    ]
    found += [
        Problem(display, "", str(w), severity=Severity.WARNING) for w in answer.get("warnings", [])
    ]
    return found


def load_problems(text: str, display: str) -> list[Problem]:
    """What stops Talos from loading *text* at all (unknown keys, a bad document), at its lines.

    Asked of the base file as written, before secrets are merged in and
    patches applied: otherwise Talos refuses the first patch applied on it
    and the base's own mistake is blamed on every node's patch file.  Only
    the loading counts here -- the base alone is no complete config.
    """
    answer = machinery.call({"op": "validate", "config": text, "mode": "metal", "strict": False})
    if not answer.get("load_error"):
        return []
    return problems_of({"load_error": answer["load_error"]}, display)


def validate_texts(
    configs: Sequence[tuple[str, str]], mode: str = "metal", *, strict: bool = True
) -> list[list[Problem]]:
    """Talos's verdict on each ``(config text, display)``, from one helper process.

    :raises ValueError: for an unknown *mode* (a programming error).
    """
    if mode not in MODES:
        raise ValueError(f"unknown validation mode {mode!r}; expected one of {MODES}")
    requests = [
        {"op": "validate", "config": text, "mode": mode, "strict": strict} for text, _ in configs
    ]
    answers = machinery.call_many(requests)
    return [
        problems_of(answer, display) for (_, display), answer in zip(configs, answers, strict=True)
    ]


def validate_config(
    documents: Sequence[Mapping[str, Any]],
    display: str,
    mode: str = "metal",
    *,
    strict: bool = True,
) -> list[Problem]:
    """Everything Talos v1.12.5 would reject or warn about in *documents*.

    :param documents: the machine config, one plain value per YAML document.
    :param display: names the config in every problem (``Problem.file``).
    :param mode: ``talosctl validate --mode``: ``metal`` requires install
        instructions, ``container`` requires host DNS forwarding.
    """
    text = yamlfiles.dump_documents([dict(d) for d in documents])
    return validate_texts([(text, display)], mode, strict=strict)[0]
