"""docs/security.md lists every attack test, and every test any doc names exists.

The security document is the list of attacks Hookline is tested against; this
keeps it honest in both directions: a new test in tests/security/ must be listed
there, and a renamed or removed test cannot stay cited — there or in any other
document (the README, docs/http.md…).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
CITED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def declared_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def cited(doc: Path = DOC) -> set[tuple[str, str]]:
    return set(CITED.findall(doc.read_text()))


def test_every_cited_test_exists() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        missing = [
            f"{path}::{name}"
            for path, name in sorted(cited(doc))
            if not (ROOT / path).is_file() or name not in declared_tests(ROOT / path)
        ]
        assert not missing, f"{doc.relative_to(ROOT)} cites tests that do not exist: {missing}"


def test_every_attack_test_is_listed() -> None:
    listed = cited()
    unlisted = [
        f"{path.relative_to(ROOT)}::{name}"
        for path in sorted((ROOT / "tests" / "security").glob("test_*.py"))
        for name in sorted(declared_tests(path))
        if (str(path.relative_to(ROOT)), name) not in listed
    ]
    assert not unlisted, f"docs/security.md does not list: {unlisted}"
