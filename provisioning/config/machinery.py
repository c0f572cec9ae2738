"""Talos's own config code, asked through the project's ``talos-machinery`` helper.

What a machine config means -- how a patch stack applies, whether a node
would accept the result and in which words it refuses it -- is decided by
``github.com/siderolabs/talos/pkg/machinery`` (v1.12.5,
https://github.com/siderolabs/talos/tree/v1.12.5/pkg/machinery/config), the
code behind ``talosctl machineconfig patch``, ``talosctl validate`` and a
node's ``apply-config``.  ``talosctl`` itself is not built: the Go module
proxy refuses the Talos root module (403), while ``pkg/machinery`` is a
module of its own.  ``gotools/talos-machinery`` is a small program of this
project on that module; ``make machinery`` (part of ``make venv``) builds it
once per machine into ``${XDG_CACHE_HOME:-~/.cache}/talos-conformance/go/``,
keyed by the machinery version and a hash of the helper's source, the same
key this module computes to find it.  ``TALOS_MACHINERY`` names another
binary (tests, a machine with a prebuilt one).

The helper reads JSON requests on stdin and answers each with one JSON line,
so one process serves a whole cluster: :func:`call_many` sends a batch
through a single process.  This module only carries requests; what the
project keeps around Talos's answers (inventory, stacking order, secrets,
redaction, the ``file:line: field: message`` report) lives in
:mod:`provisioning.config.patches`, :mod:`provisioning.config.validation` and
:mod:`provisioning.config.render`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem

__all__ = [
    "ENV",
    "MachineryUnavailable",
    "binary",
    "call",
    "call_many",
    "located",
    "version",
]

ENV = "TALOS_MACHINERY"
SOURCE = Path(__file__).resolve().parents[2] / "gotools" / "talos-machinery"
_MODULE = re.compile(r"^\s*github\.com/siderolabs/talos/pkg/machinery (v\S+)", re.MULTILINE)
_TIMEOUT_SECONDS = 120.0
_LINE = re.compile(r"\(line (\d+)\)")
_UNKNOWN_KEYS = "unknown keys found during decoding:"


def located(message: str) -> tuple[str, int | None]:
    """Talos's *message* on one line, and the YAML line it names (``(line 36)``), if any.

    Talos's decoder lists unknown keys as a YAML fragment of the document
    holding them -- values included, so a mistyped ``tokn: <secret>`` would
    print the secret.  The fragment is replaced by the dotted paths of the
    unknown keys (:func:`unknown_key_paths`); values are never shown.
    """
    found = _LINE.search(message)
    head, marker, fragment = message.partition(_UNKNOWN_KEYS)
    if marker:
        message = f"{head}{marker} {unknown_key_paths(fragment)}"
    text = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    return text, int(found.group(1)) if found else None


def unknown_key_paths(fragment: str) -> str:
    """The keys of Talos's unknown-keys *fragment* as dotted paths, without any value."""
    try:
        tree = yamlfiles.parse_one(fragment, "talos", loader=yamlfiles.TalosLoader)
    except DefinitionError:
        return "(the keys could not be listed; values are not shown)"
    paths: list[str] = []

    def walk(value: object, prefix: str) -> None:
        if isinstance(value, Mapping) and value:
            for key, child in value.items():
                walk(child, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            for item in value:
                walk(item, f"{prefix}[]")
        elif prefix:
            paths.append(prefix)

    walk(tree, "")
    listed = ", ".join(dict.fromkeys(paths)) or "(none listed)"
    return f"{listed} (values not shown)"


class MachineryUnavailable(DefinitionError):
    """The helper is not built or did not answer; nothing about the config is known."""


def version() -> str:
    """The pkg/machinery version the helper is built on (from its ``go.mod``)."""
    found = _MODULE.search((SOURCE / "go.mod").read_text(encoding="utf-8"))
    if found is None:
        raise MachineryUnavailable(
            [Problem(str(SOURCE / "go.mod"), "require", "pkg/machinery is not required")]
        )
    return found.group(1)


def _source_hash() -> str:
    """The Makefile's key: sha256 of go.mod, go.sum, then the ``*.go`` files in byte order."""
    digest = hashlib.sha256()
    names = ["go.mod", "go.sum", *sorted(p.name for p in SOURCE.glob("*.go"))]
    for name in names:
        digest.update((SOURCE / name).read_bytes())
    return digest.hexdigest()[:16]


def binary() -> Path:
    """The helper to run: ``$TALOS_MACHINERY``, else the one ``make machinery`` built.

    :raises MachineryUnavailable: it is not there, saying how to build it.
    """
    override = os.environ.get(ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise MachineryUnavailable([Problem(ENV, "", f"{override} is not a file")])
        return path
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    ver = version()
    path = cache / "talos-conformance" / "go" / f"talos-machinery-{ver}-{_source_hash()}"
    path = path / "talos-machinery"
    if not path.is_file():
        message = (
            f"Talos's config code (talos-machinery {ver}) is not built: "
            "run `make machinery` (or `make venv`) in the checkout; it needs Go"
        )
        raise MachineryUnavailable([Problem(str(path), "", message)])
    return path


def call_many(requests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Answers to *requests*, in order, from one helper process.

    :raises MachineryUnavailable: the helper is missing, failed or answered
        something other than one JSON object per request.
    """
    if not requests:
        return []
    exe = binary()
    payload = "".join(json.dumps(dict(r)) + "\n" for r in requests)
    try:
        done = subprocess.run(
            [str(exe)],
            input=payload,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MachineryUnavailable([Problem(str(exe), "", f"could not run: {exc}")]) from None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != len(requests):
        detail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise MachineryUnavailable([Problem(str(exe), "", f"failed: {detail[0]}")])
    answers: list[dict[str, Any]] = []
    for line in lines:
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise MachineryUnavailable([Problem(str(exe), "", "answered something not an object")])
        answers.append(answer)
    return answers


def call(request: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to one request (its own process; batch with :func:`call_many`)."""
    return call_many([request])[0]
