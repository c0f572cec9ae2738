"""How a bad cluster definition is reported.

Every loader and validator in :mod:`provisioning` collects :class:`Problem`
values instead of raising on the first one, so an operator fixing a
definition sees every mistake of a run at once, each naming the file, the
field (a dotted path such as ``nodes[2].ip``) and, where known, the line.
:class:`DefinitionError` carries them to the command line, which prints them
and exits 1 -- never a traceback.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# A word longer than this in a problem is a value echoed from a file, not prose or a path.
MAX_WORD = 200
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD + 1},}}")


def printable(text: str) -> str:
    """*text* with control and bidi-override characters written as escapes (``\\x1b``).

    File names, field names and values in a problem come from files a
    stranger may have written; printed raw, an ESC sequence would drive the
    operator's terminal and a newline would forge a second problem line.
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def bounded(text: str) -> str:
    """*text* with every word longer than :data:`MAX_WORD` cut, saying how long it was.

    Messages quote values from the definition (a hostname, Talos's echo of a
    field); a 3 MB value would otherwise be printed whole, line after line.
    """

    def cut(match: re.Match[str]) -> str:
        word = match.group()
        return f"{word[: MAX_WORD // 2]}...({len(word)} characters)"

    return _LONG_WORD.sub(cut, text)


class Severity(enum.Enum):
    """Errors stop rendering; warnings are printed and rendering goes on."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the definition, located as precisely as known."""

    file: str
    field: str
    message: str
    line: int | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"{self.field}: {self.message}" if self.field else self.message
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return printable(bounded(f"{where}: {prefix}{what}"))


class DefinitionError(Exception):
    """The definition cannot be used; :attr:`problems` says why, all of it."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that stop rendering (warnings left out)."""
    return [p for p in problems if p.severity is Severity.ERROR]


def raise_if_errors(problems: Iterable[Problem]) -> None:
    """Raise :class:`DefinitionError` with *all* problems if any is an error."""
    collected = list(problems)
    if errors(collected):
        raise DefinitionError(collected)
