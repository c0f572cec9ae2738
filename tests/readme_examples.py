"""The README's worked examples, read from the README itself.

Tests that check a promise the README makes ("exit 0, ENC-01 waived") take
the example from the text an operator copies, so the text cannot drift from
what is tested.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
_SED = re.compile(r"^sed -i 's/(?P<old>[^/]+)/(?P<new>[^/]+)/' (?P<file>\S+)", re.MULTILINE)


def code_blocks(language: str) -> list[str]:
    """The bodies of the README's fenced blocks in *language*, in order."""
    text = README.read_text(encoding="utf-8")
    return [m["body"] for m in _FENCE.finditer(text) if m["lang"] == language]


def waiver_example() -> str:
    """The waivers file the README's waiver section shows (its one ``waivers:`` block)."""
    (example,) = [b for b in code_blocks("yaml") if b.startswith("waivers:\n")]
    return example


def expiry_edit() -> tuple[str, str, str]:
    """The README's ``sed -i 's/OLD/NEW/' FILE`` that expires the example: OLD, NEW, FILE."""
    (edit,) = [m for b in code_blocks("sh") for m in _SED.finditer(b)]
    return edit["old"], edit["new"], edit["file"]
