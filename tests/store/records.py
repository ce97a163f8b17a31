"""Records the store tests write: one hook run, as the runner traces it."""

from __future__ import annotations

from events import HookRun, HookRunStatus


def hook_run(
    handler: str, status: HookRunStatus = HookRunStatus.SUCCEEDED, attempts: int = 1
) -> HookRun:
    """A try of ``handler`` (``module.handler``) on event ``e1``; a failed one says why."""
    return HookRun(
        event="wallet_credited",
        event_id="e1",
        module=handler.split(".", maxsplit=1)[0],
        handler=handler.split(".")[1],
        priority=50,
        status=status,
        attempts=attempts,
        duration_ms=1.5,
        error="boom" if status is HookRunStatus.FAILED else None,
    )
