"""Modules stay pure: they import only what is on an allow-list and call no I/O builtin.

Everything under ``modules/`` (and the benchmark's probe module) may import only
``events``, ``modules``, ``pydantic`` and the standard-library modules in
``PURE_STDLIB``; relative imports stay inside the package. Anything else is
refused (the probe may also import its own package, ``bench.probe.modules``),
so a new library is a decision made here, not an accident: ``os``,
``socket``, ``urllib``, ``subprocess``, ``sqlite3``, ``pathlib``, ``logging``
and the like all fail, as does any name of ``IO_BUILTINS`` (called or passed on).

Why each standard-library module on the list is pure — it computes in memory,
opening no file, socket, process or environment:

- ``__future__``, ``typing``, ``abc``, ``collections``, ``collections.abc``,
  ``dataclasses``, ``enum``, ``functools``, ``itertools``, ``operator``,
  ``heapq``, ``bisect``, ``copy``: language and container machinery.
- ``datetime``: arithmetic on the values it is given (an orchestrator passes
  ``now``); ``zoneinfo`` reads the system's tz files, so it is not listed.
- ``decimal``, ``fractions``, ``math``, ``statistics``, ``numbers``: arithmetic.
- ``re``, ``string``, ``textwrap``, ``unicodedata``: text (``unicodedata`` is a
  compiled table, used for identifier folding in ``user_management``).
- ``uuid``: ``uuid5`` derives ids from a namespace and a name (``transactions``);
  only ``uuid1``/``getnode`` would read the host's hardware address.
- ``hashlib``, ``hmac``, ``base64``, ``binascii``: digests and encodings of bytes
  already in hand.
- ``json``: ``loads``/``dumps`` of strings; ``load``/``dump`` need a file object
  a module has no way to open.

Not listed: ``os``, ``sys`` (environment, streams), ``io``, ``pathlib``,
``shutil``, ``tempfile``, ``glob`` (files), ``socket``, ``ssl``, ``http``,
``urllib``, ``email``, ``smtplib`` (network), ``subprocess``, ``threading``,
``multiprocessing``, ``asyncio``, ``signal`` (processes), ``sqlite3``, ``dbm``,
``shelve``, ``pickle`` (stores), ``logging`` (handlers write streams and files),
``time``, ``random``, ``secrets`` (clocks and the OS's entropy: a module is given
``now`` and ids), ``importlib``, ``pkgutil``, ``inspect`` (load and read code;
discovery tells a class with ``isinstance(obj, type)`` rather than ``inspect``).

Two files of the framework under ``modules/`` need one more each, named in
``FRAMEWORK_EXTRAS`` with the reason: discovery imports module packages by name,
and the loader logs a module that fails to start.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_ROOT = REPO_ROOT / "modules"
# The benchmark's probe module is held to the same rule.
PROBE_MODULES_ROOT = REPO_ROOT / "bench" / "probe" / "modules"
SOURCES = sorted([*MODULES_ROOT.rglob("*.py"), *PROBE_MODULES_ROOT.rglob("*.py")])

PROJECT_PACKAGES = frozenset({"events", "modules", "pydantic"})
PURE_STDLIB = frozenset(
    {
        "__future__",
        "typing",
        "abc",
        "collections",
        "collections.abc",
        "dataclasses",
        "enum",
        "functools",
        "itertools",
        "operator",
        "heapq",
        "bisect",
        "copy",
        "datetime",
        "decimal",
        "fractions",
        "math",
        "statistics",
        "numbers",
        "re",
        "string",
        "textwrap",
        "unicodedata",
        "uuid",
        "hashlib",
        "hmac",
        "base64",
        "binascii",
        "json",
    }
)
# Builtins that read or write outside the process, or run code built at run time.
IO_BUILTINS = frozenset(
    {"open", "input", "print", "breakpoint", "exec", "eval", "compile", "__import__"}
)
# Framework files under modules/ (not business modules) and what else each may import.
FRAMEWORK_EXTRAS: dict[str, frozenset[str]] = {
    # Discovery's job is importing the module packages it finds by name.
    "modules/discovery.py": frozenset({"importlib", "pkgutil"}),
    # The loader logs, with its traceback, a module that fails to start; the rest keep running.
    "modules/loader.py": frozenset({"logging"}),
}


def allowed(name: str, packages: frozenset[str], extras: frozenset[str]) -> bool:
    """Whether importing ``name`` is allowed: inside one of ``packages``, or a listed module
    (a standard-library name must be listed itself: ``json`` does not admit ``json.tool``)."""
    inside = any(name == p or name.startswith(f"{p}.") for p in packages)
    return inside or name in PURE_STDLIB or name in extras


def violations(
    source: str, extras: frozenset[str] = frozenset(), package: str = "modules"
) -> list[str]:
    """Each import off the allow-list and each use of an I/O builtin in ``source``, a file of
    the module package ``package`` (which, with ``PROJECT_PACKAGES``, it may import from)."""
    packages = PROJECT_PACKAGES | {package}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import (``from . import x``) stays inside its package.
            names = [] if node.level else [node.module or ""]
        elif isinstance(node, ast.Name) and node.id in IO_BUILTINS:
            found.append(f"line {node.lineno}: uses the builtin {node.id}()")
            continue
        else:
            continue
        found += [
            f"line {node.lineno}: imports {n}" for n in names if not allowed(n, packages, extras)
        ]
    return found


def file_violations(path: Path) -> list[str]:
    where = path.relative_to(REPO_ROOT).as_posix()
    extras = FRAMEWORK_EXTRAS.get(where, frozenset())
    package = "bench.probe.modules" if path.is_relative_to(PROBE_MODULES_ROOT) else "modules"
    return [f"{where} {found}" for found in violations(path.read_text(), extras, package)]


def test_there_are_modules_to_check() -> None:
    """The scan sees the reference modules and the probe (an empty glob cannot pass silently)."""
    assert any(p.parent.name == "user_management" for p in SOURCES)
    assert any(p.parent.name == "probe" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_module_source_is_pure(path: Path) -> None:
    """No file under modules/ imports off the allow-list or uses an I/O builtin."""
    assert file_violations(path) == []


def test_the_allow_list_names_standard_library_modules() -> None:
    """Each listed name is a standard-library module (a typo cannot admit a third party)."""
    stdlib = sys.stdlib_module_names
    assert all(name.split(".")[0] in stdlib for name in PURE_STDLIB | {"importlib", "logging"})


def test_the_framework_extras_name_real_files() -> None:
    """Each exemption names a file that exists (a moved file cannot keep a stale pass)."""
    for where in FRAMEWORK_EXTRAS:
        assert (REPO_ROOT / where).is_file(), where


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import socket\n", "line 1: imports socket"),
        ("from urllib.request import urlopen\n", "line 1: imports urllib.request"),
        ("import urllib\n", "line 1: imports urllib"),
        ("import subprocess\n", "line 1: imports subprocess"),
        ("import sqlite3\n", "line 1: imports sqlite3"),
        ("import os\nx = os.environ['A']\n", "line 1: imports os"),
        ("from redis import Redis\n", "line 1: imports redis"),
        ("import logging\n", "line 1: imports logging"),
        ("import collections.abc, zoneinfo\n", "line 1: imports zoneinfo"),
        ("x = 1\nwith open('f') as f:\n    pass\n", "line 2: uses the builtin open()"),
        ("reader = open\n", "line 1: uses the builtin open()"),
        ("print('hi')\n", "line 1: uses the builtin print()"),
        ("eval('1')\n", "line 1: uses the builtin eval()"),
        ("__import__('os')\n", "line 1: uses the builtin __import__()"),
    ],
)
def test_the_checker_refuses_io(source: str, expected: str) -> None:
    """Each sample imports a library off the list or uses an I/O builtin: one finding, named."""
    assert violations(source) == [expected]


def test_the_checker_accepts_pure_imports() -> None:
    """The allow-list itself, the project's packages and relative imports pass."""
    source = (
        "from __future__ import annotations\nimport uuid\nfrom collections.abc import Mapping\n"
        "from pydantic import BaseModel\nfrom events import EventSpec\nfrom modules.base import"
        " BaseModule\nfrom .models import Item\n"
    )
    assert violations(source) == []


def test_framework_extras_hold_for_their_file_only() -> None:
    """Discovery may import importlib; a business module importing it is refused."""
    source = "import importlib\n"
    assert violations(source, FRAMEWORK_EXTRAS["modules/discovery.py"]) == []
    assert violations(source) == ["line 1: imports importlib"]
