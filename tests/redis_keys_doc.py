"""docs/redis-keys.md read as data, so the tests and the page cannot drift apart.

Each table row names one key pattern (placeholders in braces), its type, what it
holds and its lifetime; a lifetime that starts with ``no TTL`` is a key the page
says lives without one, and why that is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "redis-keys.md"
HOOKLINE_SECTION = "## Hookline's keys"
BROKER_SECTION = "## The broker's keys"
# How a lifetime cell starts: a TTL, no TTL (then its bound follows), or no key at all.
LIFETIMES = ("TTL", "no TTL", "no key")
NO_TTL = "no TTL"

_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+) \| [^|]+ \| ([^|]+) \|$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class KeyRow:
    pattern: str
    kind: str
    lifetime: str

    @property
    def without_ttl(self) -> bool:
        """The page says this key lives without a TTL (and what bounds it)."""
        return self.lifetime.startswith(NO_TTL)

    @property
    def glob(self) -> str:
        """The pattern with each placeholder as ``*`` (as ``core/keys.py`` writes globs)."""
        return _PLACEHOLDER.sub("*", self.pattern)

    def matcher(self, values: Mapping[str, Iterable[str]]) -> re.Pattern[str]:
        """A regex for the keys of this row: a placeholder named in ``values`` stands for one
        of those values, any other for one or more characters (ids may hold colons)."""
        parts = _PLACEHOLDER.split(self.pattern)
        regex = "".join(
            re.escape(part)
            if i % 2 == 0
            else (
                "(?:" + "|".join(map(re.escape, sorted(values[part]))) + ")"
                if part in values
                else ".+"
            )
            for i, part in enumerate(parts)
        )
        return re.compile(regex)

    @property
    def literal_chars(self) -> int:
        """How much of the pattern is fixed text: of two rows matching a key, the one with
        more is the more specific."""
        return len(_PLACEHOLDER.sub("", self.pattern))


def rows(section: str, text: str | None = None) -> list[KeyRow]:
    """The rows of the table under ``section`` (a ``## `` heading) of the page."""
    lines = (DOC.read_text() if text is None else text).splitlines()
    start = lines.index(section)
    found: list[KeyRow] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        match = _ROW.match(line)
        if match:
            pattern, kind, lifetime = (group.strip() for group in match.groups())
            found.append(KeyRow(pattern, kind, lifetime))
    return found
