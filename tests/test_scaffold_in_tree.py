"""A scaffolded module joins the whole project and everything still passes.

``tests/test_cli_local.py`` proves the scaffold's own test passes in a bare copy
of the packages. This proves more: the whole tree (every reference module,
``bench/probe``, ``tests/``) plus a new module passes the generated test and the
unit tests that check every module's declarations — permissions, declarations,
module packages and purity.

It scaffolds into a copy of the whole tree rather than into the real
``modules/`` and ``workers/orchestrators/``: the copy has the same files, so the
result is the same, but a run killed half-way (a timeout, ^C) cannot leave a
half-written module behind in the worktree, to break every later run or be
committed, and a test running at the same time in the real tree never sees it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from core.security import RoleTable
from hookline.scaffold import scaffold
from modules import discover
from modules.introspection import declared

ROOT = Path(__file__).resolve().parent.parent
NAME = "scaffold_probe"
TIMEOUT_S = 120
DECLARATION_TESTS = (
    "tests/unit/test_permissions.py",
    "tests/unit/test_declarations.py",
    "tests/unit/test_module_packages.py",
    "tests/unit/test_module_purity.py",
)
_USER_PERMISSIONS = (
    "import json; from core.security import RoleTable; from modules import discover;"
    "from modules.introspection import declared; d = declared(discover());"
    "t = RoleTable.compose(d.permissions, d.permission_uses);"
    "print(json.dumps(sorted(t.of_roles(['user']))))"
)
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
)


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_the_tree_plus_a_scaffolded_module_passes_its_declaration_checks(
    tmp_path: Path,
) -> None:
    """Scaffold a module into a copy of the whole tree: its test and the declaration tests
    pass, and users gain exactly the new module's permission."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=IGNORED)
    written = scaffold(tree, NAME)
    assert tree / "modules" / NAME / "module.py" in written
    for lint in (["check"], ["format", "--check"]):
        linted = run(["-m", "ruff", *lint, *map(str, written)], tree)
        assert linted.returncode == 0, linted.stdout + linted.stderr
    tested = run(
        [
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            f"tests/modules/test_{NAME}.py",
            *DECLARATION_TESTS,
        ],
        tree,
    )
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    # The generated tests ran and passed, all three of them.
    assert tested.stdout.count(f"PASSED tests/modules/test_{NAME}.py::") == 3, tested.stdout
    users = run(["-c", _USER_PERMISSIONS], tree)
    assert users.returncode == 0, users.stderr
    found = declared(discover())
    reference = RoleTable.compose(found.permissions, found.permission_uses).of_roles(["user"])
    assert set(json.loads(users.stdout)) == reference | {f"{NAME}:create"}
