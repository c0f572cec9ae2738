"""Image Factory schematics: their IDs and the installer image they name.

A schematic's ID is the SHA-256 of its canonical YAML (Image Factory's
``Schematic.ID()``: Go YAML marshalling of the parsed struct, four-space
indent, struct field order, empty fields omitted).  Because the ID is a content
hash, adding an extension produces a new schematic and a new installer image
(article lesson 4); the suite computes the ID from the definition instead of
trusting a hand-copied one, so a stale installer reference is caught.

Only the schematic fields an operator of this kind of cluster uses are
modelled (overlay, extraKernelArgs, meta, systemExtensions, secureboot);
anything else is rejected, as Image Factory's strict decoder rejects unknown
fields, rather than hashed into a wrong ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import yaml

from provisioning.definition.problems import DefinitionError, Problem

_INDENT = "    "


def _scalar(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=4096).strip()
    return text.removesuffix("\n...").strip()


class _Emitter:
    """Writes the canonical YAML of the struct shape Image Factory marshals."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.lines: list[str] = []
        self.problems: list[Problem] = []

    def bad(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.display, field, message))

    def strings(self, value: object, field: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(field, "must be a list of strings")
            return []
        return list(value)

    def mapping(self, value: object, field: str, known: tuple[str, ...]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.bad(field, "must be a mapping")
            return {}
        for key in value:
            if key not in known:
                self.bad(f"{field}.{key}", f"field {key} not found in type (known: {known})")
        return value

    def emit(self, depth: int, text: str) -> None:
        self.lines.append(_INDENT * depth + text)

    def overlay(self, value: object) -> None:
        overlay = self.mapping(value, "overlay", ("image", "name", "options"))
        if not overlay:
            return
        self.emit(0, "overlay:")
        self.emit(1, f"image: {_scalar(str(overlay.get('image', '')))}")
        self.emit(1, f"name: {_scalar(str(overlay.get('name', '')))}")
        options = overlay.get("options")
        if options:
            dumped = yaml.safe_dump(options, indent=4, sort_keys=True, default_flow_style=False)
            self.emit(1, "options:")
            self.lines.extend(_INDENT * 2 + line for line in dumped.splitlines())

    def customization(self, value: object) -> None:
        known = ("extraKernelArgs", "meta", "systemExtensions", "secureboot")
        custom = self.mapping(value, "customization", known)
        body: list[str] = []
        args = self.strings(custom.get("extraKernelArgs"), "customization.extraKernelArgs")
        if args:
            body.append(f"{_INDENT}extraKernelArgs:")
            body.extend(f"{_INDENT * 2}- {_scalar(a)}" for a in args)
        meta = custom.get("meta") or []
        if not isinstance(meta, list):
            self.bad("customization.meta", "must be a list of {key, value}")
            meta = []
        if meta:
            body.append(f"{_INDENT}meta:")
            for index, item in enumerate(meta):
                ok = isinstance(item, Mapping) and isinstance(item.get("key"), int)
                if not ok or not 0 <= item["key"] <= 255:
                    self.bad(f"customization.meta[{index}]", "key must be an integer 0-255")
                    continue
                body.append(f"{_INDENT * 2}- key: {item['key']}")
                body.append(f"{_INDENT * 3}value: {_scalar(str(item.get('value', '')))}")
        ext = self.mapping(
            custom.get("systemExtensions"),
            "customization.systemExtensions",
            ("officialExtensions",),
        )
        names = self.strings(
            ext.get("officialExtensions"), "customization.systemExtensions.officialExtensions"
        )
        if names:
            body.append(f"{_INDENT}systemExtensions:")
            body.append(f"{_INDENT * 2}officialExtensions:")
            body.extend(f"{_INDENT * 3}- {_scalar(n)}" for n in names)
        secure = self.mapping(
            custom.get("secureboot"), "customization.secureboot", ("includeWellKnownCertificates",)
        )
        if secure.get("includeWellKnownCertificates"):
            body.append(f"{_INDENT}secureboot:")
            body.append(f"{_INDENT * 2}includeWellKnownCertificates: true")
        self.lines.append("customization: {}" if not body else "customization:")
        self.lines.extend(body)


def canonical_yaml(schematic: Mapping[str, Any], display: str = "schematic") -> str:
    """The text whose SHA-256 is the schematic ID; problems raise DefinitionError."""
    emitter = _Emitter(display)
    top = emitter.mapping(schematic, "", ("overlay", "customization"))
    emitter.overlay(top.get("overlay"))
    emitter.customization(top.get("customization"))
    if emitter.problems:
        raise DefinitionError(emitter.problems)
    return "\n".join(emitter.lines) + "\n"


def schematic_id(schematic: Mapping[str, Any], display: str = "schematic") -> str:
    """Image Factory's ID of *schematic* (lowercase hex SHA-256)."""
    return hashlib.sha256(canonical_yaml(schematic, display).encode()).hexdigest()


def official_extensions(schematic: Mapping[str, Any]) -> tuple[str, ...]:
    """Extension names as they show on a node: without the ``siderolabs/`` prefix."""
    custom = schematic.get("customization") or {}
    names = (custom.get("systemExtensions") or {}).get("officialExtensions") or []
    return tuple(str(n).rsplit("/", 1)[-1] for n in names)


def installer_image(repository: str, schematic: Mapping[str, Any], talos_version: str) -> str:
    """``factory.talos.dev/installer/<id>:<version>``, the article's form."""
    return f"{repository.rstrip('/')}/{schematic_id(schematic)}:{talos_version}"
