"""The names of a hook and of its runs, formatted here and nowhere else.

A hook is named ``<module>.<handler>`` (its key); one run of it on one event is
``<event id>/<hook key>`` (its run id). Registration, the hook runner, the
completion records, the pending set, the trace readers and the tests all call
these two functions, so the formats cannot drift apart.
"""

from __future__ import annotations

from typing import NewType

HookRunId = NewType("HookRunId", str)


def hook_key(module: str, handler: str) -> str:
    """The stable name of one hook: its module and its handler, ``<module>.<handler>``."""
    return f"{module}.{handler}"


def hook_run_id(event_id: str, hook_key: str) -> HookRunId:
    """The id of one hook's run on one event: the idempotency key of everything it writes.

    Every try and every delivery of the same (event, hook) has the same run id; the
    completion record, the pending-set member of a retry, the cause of the run's own
    events and the keys of the hook's writes are all made from it.
    """
    return HookRunId(f"{event_id}/{hook_key}")
