"""Modules stay pure: no I/O libraries, no environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_ROOT = REPO_ROOT / "modules"
# The benchmark's probe module is held to the same rule.
PROBE_MODULES_ROOT = REPO_ROOT / "bench" / "probe" / "modules"
FORBIDDEN_IMPORTS = {"pymongo", "bson", "redis", "celery", "kombu", "starlette", "jwt", "httpx"}
SOURCES = sorted([*MODULES_ROOT.rglob("*.py"), *PROBE_MODULES_ROOT.rglob("*.py")])


def violations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv"}:
            found.append(f"line {node.lineno}: reads the environment (os.{node.attr})")
            continue
        else:
            continue
        found += [
            f"line {node.lineno}: imports {n}"
            for n in names
            if n.split(".")[0] in FORBIDDEN_IMPORTS
        ]
    return found


def test_there_are_modules_to_check() -> None:
    """The scan sees the reference modules and the probe (an empty glob cannot pass silently)."""
    assert any(p.parent.name == "user_management" for p in SOURCES)
    assert any(p.parent.name == "probe" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_module_source_is_pure(path: Path) -> None:
    """No file under modules/ imports an I/O library or reads the environment."""
    assert violations(path) == []


def test_the_checker_catches_violations(tmp_path: Path) -> None:
    """The scan itself flags an import of redis and a read of os.environ."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom redis import Redis\nx = os.environ['A']\n")
    assert violations(bad) == [
        "line 2: imports redis",
        "line 3: reads the environment (os.environ)",
    ]
