"""Failpoints: the setting's syntax, probabilities 0 and 1, each action, unknown names."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import failpoints
from core.failpoints import (
    DECLARED,
    EXIT_CODE,
    Action,
    FailpointFired,
    FailpointSpecError,
    Trigger,
    failpoint,
    install,
    parse,
)
from core.settings import Settings
from hookline.cli import main
from hookline.failpoint_commands import listing

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("core", "workers", "modules", "events", "api_gateway", "hookline")


@pytest.fixture(autouse=True)
def disarmed() -> Iterator[None]:
    """Every test starts and ends with nothing armed in this process."""
    install("")
    yield
    install("")


def test_a_spec_arms_each_entry_with_its_action_and_probability() -> None:
    """Entries are comma-separated; sleep takes seconds; the probability defaults to 1."""
    spec = (
        "transactions.after_debit=exit:0.2, hooks.after_effect=sleep(1.5):1 ,hooks.after_mark=raise"
    )
    assert parse(spec) == {
        "transactions.after_debit": Trigger("transactions.after_debit", Action.EXIT, 0.2),
        "hooks.after_effect": Trigger("hooks.after_effect", Action.SLEEP, 1.0, 1.5),
        "hooks.after_mark": Trigger("hooks.after_mark", Action.RAISE, 1.0),
    }


def test_an_empty_spec_arms_nothing_and_leaves_the_fast_path_on() -> None:
    """No setting: nothing armed, the module-level check is None, a call does nothing."""
    assert parse("") == {} and parse(" , ") == {}
    assert install("") == {}
    assert failpoints._armed is None
    failpoint("hooks.after_effect")


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("hooks.after_efect=exit:1", "unknown failpoint 'hooks.after_efect'"),
        ("hooks.after_effect", "'hooks.after_effect' is not NAME="),
        ("hooks.after_effect=crash:1", "'hooks.after_effect=crash:1' is not NAME="),
        ("hooks.after_effect=sleep:1", "'hooks.after_effect=sleep:1' is not NAME="),
        ("hooks.after_effect=sleep(x):1", "'hooks.after_effect=sleep(x):1' is not NAME="),
        ("hooks.after_effect=exit:1.5", "probability must be in 0..1"),
        ("hooks.after_effect=exit:0.1.2", "probability '0.1.2' is not a number"),
        ("hooks.after_effect=exit:1,hooks.after_effect=raise:1", "armed twice"),
    ],
)
def test_an_unknown_name_or_a_malformed_entry_is_refused_naming_it(spec: str, named: str) -> None:
    """Each mistake raises FailpointSpecError whose message names the entry at fault."""
    with pytest.raises(FailpointSpecError, match=re.escape(named)):
        parse(spec)


def test_settings_refuse_a_bad_spec_so_a_process_stops_as_it_reads_them() -> None:
    """Settings() raises the same error, naming the failpoint, before anything starts."""
    with pytest.raises(FailpointSpecError, match=re.escape("unknown failpoint 'nope.never'")):
        Settings(failpoints="nope.never=exit:1")
    assert Settings(failpoints="command.after_result=exit:0.5").failpoints


def test_a_worker_with_a_bad_spec_stops_at_start_naming_it() -> None:
    """Importing the worker's Celery app (what `celery worker` does first) fails, naming it."""
    env = {**os.environ, "HOOKLINE_FAILPOINTS": "wallet.after_everything=exit:1"}
    done = subprocess.run(
        [sys.executable, "-c", "import workers.app"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "unknown failpoint 'wallet.after_everything'" in done.stderr


def test_probability_zero_never_fires_and_one_always_does() -> None:
    """raise:0 passes a thousand times; raise:1 raises on every pass."""
    install("hooks.after_effect=raise:0,hooks.after_mark=raise:1")
    for _ in range(1000):
        failpoint("hooks.after_effect")
    for _ in range(100):
        with pytest.raises(FailpointFired) as fired:
            failpoint("hooks.after_mark")
        assert fired.value.name == "hooks.after_mark"


def test_a_probability_fires_about_that_often() -> None:
    """raise:0.3 over 4,000 passes fires between 25 % and 35 % of the time."""
    install("command.after_result=raise:0.3")
    fires = 0
    for _ in range(4000):
        try:
            failpoint("command.after_result")
        except FailpointFired:
            fires += 1
    assert 1000 < fires < 1400


def test_only_the_armed_failpoint_acts() -> None:
    """Another failpoint, or an undeclared name, passes untouched while one is armed."""
    install("hooks.after_mark=raise:1")
    failpoint("hooks.after_effect")
    failpoint("not.declared")
    with pytest.raises(FailpointFired):
        failpoint("hooks.after_mark")


def test_sleep_stalls_then_carries_on() -> None:
    """sleep(0.2):1 returns after at least 0.2 s, raising nothing."""
    install("wallet.after_ledger_insert=sleep(0.2):1")
    started = time.monotonic()
    failpoint("wallet.after_ledger_insert")
    assert time.monotonic() - started >= 0.2


_EXITING = """
import sys
from core.failpoints import failpoint, install
install("transactions.after_debit=exit:1")
try:
    failpoint("transactions.after_debit")
finally:
    print("finally ran")
print("carried on")
"""


def test_exit_logs_one_flushed_line_and_stops_the_process_with_no_cleanup() -> None:
    """In a subprocess: exit status EXIT_CODE, the line naming it, no `finally`, nothing after."""
    done = subprocess.run(
        [sys.executable, "-c", _EXITING],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_CODE
    assert done.stderr.count("failpoint transactions.after_debit fired: exit") == 1
    assert done.stdout == ""


def test_the_cli_lists_every_failpoint_and_marks_the_armed_ones() -> None:
    """One line per declared failpoint, with its description; armed ones show their trigger."""
    lines = listing("hooks.after_effect=sleep(1.5):1,transactions.after_debit=exit:0.2")
    assert len(lines) == len(DECLARED)
    shown = {line.split()[0]: line for line in lines}
    assert shown.keys() == DECLARED.keys()
    assert shown["hooks.after_effect"].endswith("[armed: sleep(1.5):1]")
    assert shown["transactions.after_debit"].endswith("[armed: exit:0.2]")
    assert DECLARED["command.after_result"].description in shown["command.after_result"]
    assert "armed" not in shown["command.after_result"]


def test_the_cli_refuses_a_bad_setting_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hookline failpoints` with an unknown name exits 1 and says which."""
    monkeypatch.setenv("HOOKLINE_FAILPOINTS", "hooks.after_all=exit:1")
    assert main(["failpoints"]) == 1
    assert "unknown failpoint 'hooks.after_all'" in capsys.readouterr().err


def _call_sites() -> list[tuple[str, str]]:
    """(failpoint name, file) of every ``failpoint("...")`` call in the project's packages."""
    sites = []
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "failpoint"
                ):
                    [argument] = node.args
                    assert isinstance(argument, ast.Constant), f"{path}: name not a literal"
                    sites.append((str(argument.value), str(path.relative_to(ROOT))))
    return sites


def test_every_call_site_names_a_declared_failpoint_and_each_is_placed_once() -> None:
    """A misspelt call site would never fire: each names a declared one, each declared once."""
    names = [name for name, _ in _call_sites()]
    assert set(names) <= DECLARED.keys()
    assert sorted(names) == sorted(DECLARED.keys())
