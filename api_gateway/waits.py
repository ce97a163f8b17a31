"""A cap on the waits a gateway process holds open: per caller, and in all.

A wait is a request parked until its command is done (``Prefer: wait=N``, or a
query or admin route waiting for its answer) or an event stream
(``GET /commands/{id}/stream``). Each holds a connection, a task and a watcher
registration for as long as it lasts; unbounded, a few hundred of them slow
every other request of the process. A caller may hold
``max_open_waits_per_caller`` at once and the process ``max_open_waits``; one
more is refused with 429 and ``Retry-After``, taken before anything is claimed
or reserved for the request, so a refusal leaves nothing behind.

The count lives in the process, not in Redis: what it protects (sockets, tasks,
the event loop) is the process's, and a count that dies with its process can
never be stranded by a crash. A caller spreading over n gateways may hold n
times its cap.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from api_gateway.errors import TooManyRequests

# Waits last up to max_wait_s and streams until their command is done: a few seconds is a
# fair guess at when one of them has ended.
RETRY_AFTER_S = 5


class TooManyWaits(TooManyRequests):
    """The caller, or the whole process, holds as many open waits as allowed."""

    problem = "too-many-waits"
    title = "Too many open waits"


class WaitSlot:
    """One open wait, counted until ``release`` (which may be called more than once)."""

    def __init__(self, waits: OpenWaits, identity: str) -> None:
        self._waits: OpenWaits | None = waits
        self._identity = identity

    def release(self) -> None:
        if self._waits is not None:
            self._waits.release(self._identity)
            self._waits = None


class OpenWaits:
    def __init__(self, per_caller: int, total: int) -> None:
        self._per_caller = per_caller
        self._total = total
        self._open: Counter[str] = Counter()
        self._count = 0

    def take(self, identity: str) -> WaitSlot:
        """Count one more open wait for ``identity``, or raise ``TooManyWaits``."""
        if self._open[identity] >= self._per_caller:
            raise TooManyWaits(
                f"you already hold {self._per_caller} open waits and event streams on this "
                "gateway; close one, or ask without Prefer: wait and poll",
                retry_after_s=RETRY_AFTER_S,
            )
        if self._count >= self._total:
            raise TooManyWaits(
                "this gateway holds as many open waits and event streams as it may; "
                "try again shortly",
                retry_after_s=RETRY_AFTER_S,
            )
        self._open[identity] += 1
        self._count += 1
        return WaitSlot(self, identity)

    @contextlib.contextmanager
    def held(self, identity: str, wait_s: float = 1) -> Iterator[None]:
        """An open wait for ``identity`` while the block runs; none when ``wait_s`` is 0."""
        if not wait_s:
            yield
            return
        slot = self.take(identity)
        try:
            yield
        finally:
            slot.release()

    def release(self, identity: str) -> None:
        self._count -= 1
        self._open[identity] -= 1
        if self._open[identity] <= 0:
            del self._open[identity]
