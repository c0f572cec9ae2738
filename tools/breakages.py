"""The catalogue of ways each control's property can be broken: ``features/breakages/<area>.yaml``.

Why a catalogue apart from the drifts: a drift is written by the same hands
as the check it proves, so a check can learn a drift's shape.  The catalogue
is written first, from upstream semantics (Kubernetes, Talos, Cilium,
Longhorn, age/etcd), one entry per way a real cluster can break the property
a scenario states; each entry then names the drift that reproduces it and the
text (the object) its control's failure must name.  The guard test
(``tests/suite/test_breakages.py``) applies every entry's drift and runs the
area's scenarios, so a way written down that the suite does not catch is a
red test, not a silent gap.

One file per feature area, a list of entries::

    - control: PSA-01
      way: a non-exempt namespace labelled pod-security.kubernetes.io/enforce=privileged
      upstream: https://kubernetes.io/docs/concepts/security/pod-security-admission/
      drift: pod_security.label_namespace_privileged
      node: null            # optional: the drift's --node
      names: [default]      # texts the control's failure message must contain
      fix: auto             # auto: --remediate fixes it; manual: the plan says [manual]
      group: labels         # optional: ways applied together on one copy (default: the area)

A malformed file is reported naming the file, the entry and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
DIRECTORY = ROOT / "features" / "breakages"
FIXES = ("auto", "manual")
_CONTROL_TAG = re.compile(r"@([A-Z]{2,5}-\d{2})\b")
_FIELDS = {"control", "way", "upstream", "drift", "node", "names", "fix", "group"}


class CatalogueError(ValueError):
    """A catalogue file that cannot be read as written; the message names file and field."""


@dataclass(frozen=True)
class Way:
    """One way a control's property can be broken, and the drift that reproduces it."""

    area: str
    control: str
    way: str
    upstream: str
    drift: str
    node: str | None
    names: tuple[str, ...]
    fix: str
    group: str

    @property
    def where(self) -> str:
        """``features/breakages/<area>.yaml: <control>: <way>`` -- for assertion messages."""
        return f"features/breakages/{self.area}.yaml: {self.control}: {self.way}"


def area_controls(area: str, root: Path = ROOT) -> list[str]:
    """The control ids tagged in ``features/<area>.feature``, in file order."""
    text = (root / "features" / f"{area}.feature").read_text(encoding="utf-8")
    return list(dict.fromkeys(_CONTROL_TAG.findall(text)))


def areas(root: Path = ROOT) -> list[str]:
    """Every feature area, by its ``features/<area>.feature`` file."""
    return sorted(p.stem for p in (root / "features").glob("*.feature"))


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value.strip()


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    return None if entry.get(key) is None else _text(entry, key, where)


def _entry(area: str, index: int, entry: object, display: str, known: set[str]) -> Way:
    where = f"{display}: entry {index + 1}"
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: expected a mapping, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    control = _text(entry, "control", where)
    if control not in known:
        raise CatalogueError(
            f"{where}: control: {control} is not a scenario of features/{area}.feature"
        )
    upstream = _text(entry, "upstream", where)
    if not upstream.startswith("https://"):
        raise CatalogueError(f"{where}: upstream: expected an https:// URL, got {upstream!r}")
    names = entry.get("names")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        raise CatalogueError(f"{where}: names: expected a non-empty list of texts, got {names!r}")
    fix = _text(entry, "fix", where)
    if fix not in FIXES:
        raise CatalogueError(f"{where}: fix: expected one of {', '.join(FIXES)}, got {fix!r}")
    return Way(
        area=area,
        control=control,
        way=_text(entry, "way", where),
        upstream=upstream,
        drift=_text(entry, "drift", where),
        node=_optional_text(entry, "node", where),
        names=tuple(n.strip() for n in names),
        fix=fix,
        group=_optional_text(entry, "group", where) or area,
    )


def load_area(area: str, root: Path = ROOT) -> list[Way]:
    """The ways of one area; ``[]`` when the area has no catalogue file yet."""
    path = root / "features" / "breakages" / f"{area}.yaml"
    display = f"features/breakages/{area}.yaml"
    if not path.is_file():
        return []
    try:
        data = yamlfiles.load_one(path, display, loader=yamlfiles.KubeLoader)
    except DefinitionError as exc:
        raise CatalogueError(str(exc)) from None
    if not isinstance(data, list):
        raise CatalogueError(f"{display}: expected a list of entries, got {type(data).__name__}")
    known = set(area_controls(area, root))
    return [_entry(area, i, e, display, known) for i, e in enumerate(data)]


def load(root: Path = ROOT) -> list[Way]:
    """Every way of every area, in area and file order."""
    return [way for area in areas(root) for way in load_area(area, root)]
