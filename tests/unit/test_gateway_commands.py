"""Pure pieces of ``hookline submit/status/list/cancel``: time options, the progress line,
and the ``hookline`` package's names, which load on first use."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime

import pytest

import hookline
from hookline.client import (
    CommandDocument,
    CommandStatus,
    DoneEvent,
    HookEvent,
    HookRun,
    StatusEvent,
)
from hookline.gateway_commands import _when
from hookline.progress import ProgressLine


def test_time_options_take_seconds_or_an_aware_date_time() -> None:
    """``--not-before 600`` is seconds from now; a date-time needs its offset."""
    assert _when("600") == 600
    assert _when("2027-01-02T03:04:05Z") == datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("2027-01-02T03:04:05", "soon", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            _when(bad)


def test_the_progress_line_counts_hooks_and_ends_with_the_status() -> None:
    """Not on a terminal, each event prints one line: status, hooks so far, the last hook."""
    out = io.StringIO()
    progress = ProgressLine(out)
    status = StatusEvent(
        command_id="c1", name="wallet.deposit", status="running", attempts=1, hooks_pending=1
    )
    run = HookRun(
        event="wallet_credited",
        event_id="e1",
        module="audit",
        handler="record",
        priority=100,
        status="succeeded",
        attempts=1,
        duration_ms=1.5,
    )
    document = CommandDocument(
        command_id="c1",
        name="wallet.deposit",
        status=CommandStatus.SUCCEEDED,
        submitted_at=datetime(2026, 12, 1, tzinfo=UTC),
        hooks=(run,),
    )
    for event in (status, HookEvent(run=run), DoneEvent(document=document)):
        progress.update(event)
    assert out.getvalue().splitlines() == [
        "wallet.deposit running · 0 hook run(s)",
        "wallet.deposit running · 1 hook run(s) · wallet_credited → audit.record succeeded",
        "wallet.deposit succeeded · 1 hook run(s)",
    ]


def test_the_hookline_packages_names_all_load() -> None:
    """Every name ``hookline`` lists resolves (loaded on first use); others do not."""
    for name in hookline.__all__:
        assert getattr(hookline, name) is not None
    with pytest.raises(AttributeError):
        _ = hookline.nothing_here
