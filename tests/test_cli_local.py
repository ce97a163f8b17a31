"""The ``hookline`` commands that need no running stack: ``modules`` and ``new-module``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.sealing import KeyRing

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("events", "modules", "core", "workers", "api_gateway", "hookline")
CLI_TIMEOUT_S = 60
GENERATED_TEST_TIMEOUT_S = 180


def hookline(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hookline", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def test_modules_prints_load_order_and_hooks_in_dispatch_order() -> None:
    """``modules`` shows dependencies before dependents, each event's hooks in order, and
    which of them are critical."""
    result = hookline("modules")
    assert result.returncode == 0, result.stderr
    order_line = result.stdout.splitlines()[0]
    order = order_line.removeprefix("Load order: ").split(" → ")
    assert order.index("user_management") < order.index("wallet") < order.index("transactions")
    lines = result.stdout.splitlines()
    start = lines.index("  user_created") + 1
    section = [line for line in lines[start : start + 4] if line.startswith("    ")]
    assert [line.split()[1] for line in section] == [
        "wallet.open_wallet",
        "notifications.notify",
        "audit.record",
        "webhooks.fan_out",
    ]
    assert [line.endswith("(critical)") for line in section] == [True, False, False, False]


def test_modules_json_has_the_same_table() -> None:
    """``modules --json`` gives load order, commands and the hooks table as data."""
    result = hookline("modules", "--json")
    table = json.loads(result.stdout)
    assert "POST /wallet/deposit -> wallet.deposit" in table["modules"]["wallet"]["commands"]
    assert [h["hook"] for h in table["hooks"]["wallet_credited"]] == [
        "notifications.notify",
        "audit.record",
        "webhooks.fan_out",
    ]
    created = table["hooks"]["user_created"]
    assert [(h["hook"], h["critical"]) for h in created] == [
        ("wallet.open_wallet", True),
        ("notifications.notify", False),
        ("audit.record", False),
        ("webhooks.fan_out", False),
    ]


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project's code, so scaffolding never touches the real tree."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_new_module_scaffolds_a_module_whose_test_passes(project_copy: Path) -> None:
    """``new-module`` writes the module, its orchestrator and a harness test that passes at once."""
    result = hookline("new-module", "greeting_cards", "--root", str(project_copy), cwd=project_copy)
    assert result.returncode == 0, result.stderr
    for path in (
        "modules/greeting_cards/module.py",
        "modules/greeting_cards/models.py",
        "workers/orchestrators/greeting_cards.py",
        "tests/modules/test_greeting_cards.py",
    ):
        assert (project_copy / path).is_file(), path
    written = [str(project_copy / p) for p in ("modules/greeting_cards", "workers/orchestrators")]
    for lint in (["check"], ["format", "--check"]):
        linted = subprocess.run(
            [sys.executable, "-m", "ruff", *lint, *written],
            cwd=project_copy,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        assert linted.returncode == 0, linted.stdout + linted.stderr
    generated = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/modules"],
        cwd=project_copy,
        env={**os.environ, "PYTHONPATH": str(project_copy)},
        capture_output=True,
        text=True,
        timeout=GENERATED_TEST_TIMEOUT_S,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout[-4000:] + generated.stderr[-2000:]
    assert "3 passed" in generated.stdout
    # The new module is wired like the others: its declarations load with everyone else's.
    listed = json.loads(hookline("modules", "--json", cwd=project_copy).stdout)
    assert (
        listed["hooks"]["greeting_cards_item_created"][0]["hook"] == "greeting_cards.announce_item"
    )


def test_new_module_refuses_a_bad_or_taken_name(project_copy: Path) -> None:
    """A name that is not lower_snake_case, or a module that exists, is refused with a message."""
    bad = hookline("new-module", "Greeting-Cards", "--root", str(project_copy), cwd=project_copy)
    assert bad.returncode == 1 and "lower_snake_case" in bad.stderr
    taken = hookline("new-module", "wallet", "--root", str(project_copy), cwd=project_copy)
    assert taken.returncode == 1 and "exists already" in taken.stderr
    assert not (project_copy / "tests" / "modules").exists()


def test_seal_key_prints_a_key_entry_the_ring_accepts() -> None:
    """``seal-key`` prints KEY_ID:KEY, ready for HOOKLINE_BUS_SEAL_KEY; a new key each time."""
    first, second = hookline("seal-key", "--id", "k2026"), hookline("seal-key")
    assert first.returncode == second.returncode == 0, first.stderr
    ring = KeyRing.parse(f"{first.stdout.strip()},{second.stdout.strip()}")
    assert ring.sealing_key.key_id == "k2026" and len(ring.keys) == 2
