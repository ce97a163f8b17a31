"""docs/redis-keys.md has a row for every key core/keys.py makes, and no other row.

The page is where an operator learns how long each key lives (a TTL, or what
bounds a key without one); this keeps it honest in both directions, as
test_security_doc.py does for docs/security.md. What counts in core/keys.py:

- each public function (but ``NOT_KEYS``): called with ``{parameter}`` for each of its
  parameters, it gives the pattern its row must name (``keys.command`` gives
  ``hookline:cmd:{command_id}``);
- each upper-case string constant: ``PREFIX`` and ``*_PREFIX`` are prefixes, ``*_PATTERN``
  globs, any other a key. A glob needs a row whose pattern, placeholders as ``*``, is that
  glob. A prefix that no key function builds on is handed to a library (``RATE_LIMIT_PREFIX``
  to ``limits``): it needs a row ``<prefix>:{placeholder}`` standing for the library's keys.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import pytest

from core import keys
from tests.redis_keys_doc import (
    BROKER_SECTION,
    HOOKLINE_SECTION,
    LIFETIMES,
    KeyRow,
    rows,
)

# Functions of core/keys.py that make no key.
NOT_KEYS = {"command_id_from_channel": "reads a command id out of a channel name"}
ADD_A_ROW = (
    "add a row to the table under {section!r} of docs/redis-keys.md: "
    "| `{pattern}` | type | what it holds | TTL `ITS_SETTING` … (or: no TTL: what bounds it) |"
)


def key_functions() -> dict[str, str]:
    """``keys.<name>()`` → the pattern it makes, for each key function of core/keys.py."""
    found: dict[str, str] = {}
    for name, value in vars(keys).items():
        if name.startswith("_") or name in NOT_KEYS or not inspect.isfunction(value):
            continue
        if value.__module__ == keys.__name__:
            make: Callable[..., str] = value
            placeholders = [f"{{{p}}}" for p in inspect.signature(make).parameters]
            found[f"keys.{name}()"] = make(*placeholders)
    return found


def constants(kind: str) -> dict[str, str]:
    """``keys.<NAME>`` → its value, for the constants of ``kind``: prefix, glob or key."""
    found: dict[str, str] = {}
    for name, value in vars(keys).items():
        if not (name.isupper() and isinstance(value, str)):
            continue
        of_kind = (
            "prefix"
            if name == "PREFIX" or name.endswith("_PREFIX")
            else "glob"
            if name.endswith("_PATTERN")
            else "key"
        )
        if of_kind == kind:
            found[f"keys.{name}"] = value
    return found


def named_keys() -> dict[str, str]:
    """Every key pattern core/keys.py spells out: its functions' and its key constants."""
    return {**key_functions(), **constants("key")}


def library_prefixes() -> dict[str, str]:
    """Prefixes no key of core/keys.py builds on: their keys are a library's."""
    made = named_keys().values()
    return {
        name: prefix
        for name, prefix in constants("prefix").items()
        if not any(pattern.startswith(prefix) for pattern in made)
    }


def stands_for_a_library(row: KeyRow) -> bool:
    """The row is ``<library prefix>:{placeholder}``."""
    return any(
        re.fullmatch(re.escape(prefix) + r":\{\w+\}", row.pattern)
        for prefix in library_prefixes().values()
    )


def hookline_rows() -> list[KeyRow]:
    return rows(HOOKLINE_SECTION)


def test_every_key_of_core_keys_has_its_row() -> None:
    """Every key function, key constant, glob and library prefix of core/keys.py is named by
    a row of the page's Hookline table."""
    documented = hookline_rows()
    patterns = {row.pattern for row in documented}
    missing = [
        f"`{pattern}` ({origin}): " + ADD_A_ROW.format(section=HOOKLINE_SECTION, pattern=pattern)
        for origin, pattern in named_keys().items()
        if pattern not in patterns
    ]
    missing += [
        f"glob `{glob}` ({origin}) matches no row: its keys need a row whose pattern, "
        f"placeholders as *, is `{glob}`"
        for origin, glob in constants("glob").items()
        if glob not in {row.glob for row in documented}
    ]
    missing += [
        f"`{prefix}:{{key}}` ({origin}, a library's keys): "
        + ADD_A_ROW.format(section=HOOKLINE_SECTION, pattern=f"{prefix}:{{key}}")
        for origin, prefix in library_prefixes().items()
        if not any(row.pattern.startswith(prefix + ":") for row in documented)
    ]
    if missing:
        pytest.fail(
            "core/keys.py makes keys docs/redis-keys.md does not list:\n" + "\n".join(missing)
        )


def test_every_row_names_a_key_core_keys_makes() -> None:
    """No row of the page's Hookline table names a key that core/keys.py does not make."""
    made = set(named_keys().values())
    extra = [
        f"`{row.pattern}` is in docs/redis-keys.md under {HOOKLINE_SECTION!r}, but no function "
        "or constant of core/keys.py makes it: add the key to core/keys.py, or remove the row"
        for row in hookline_rows()
        if row.pattern not in made and not stands_for_a_library(row)
    ]
    if extra:
        pytest.fail("\n".join(extra))


def test_every_row_says_how_long_its_key_lives_once() -> None:
    """Each row's lifetime starts with "TTL", "no TTL" (then its bound) or "no key", which the
    e2e scan reads; each pattern has one row; Hookline's keys all start with its prefix."""
    both = rows(HOOKLINE_SECTION) + rows(BROKER_SECTION)
    assert rows(BROKER_SECTION) and hookline_rows()
    unclear = [row.pattern for row in both if not row.lifetime.startswith(LIFETIMES)]
    assert not unclear, f"rows whose lifetime starts with none of {LIFETIMES}: {unclear}"
    patterns = [row.pattern for row in both]
    assert sorted(set(patterns)) == sorted(patterns), "a pattern has two rows"
    outside = [p for p in named_keys().values() if not p.startswith(keys.PREFIX + ":")]
    assert not outside, f"keys outside the {keys.PREFIX}: prefix: {outside}"
