"""Reading a Server-Sent Events stream: lines in, events out.

``EventParser`` takes one line at a time, so the sync and the async client read their
streams with the same code, and a caller can look at the clock between lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class _Pending:
    """The fields of the event being read."""

    event: str = "message"
    data: list[str] = field(default_factory=list)
    id: str | None = None

    def take(self, line: str) -> None:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        elif name == "id":
            self.id = value

    def finish(self) -> ServerEvent | None:
        return ServerEvent(self.event, "\n".join(self.data), self.id) if self.data else None


class EventParser:
    """The events of a ``text/event-stream`` body, fed line by line (comments are skipped)."""

    def __init__(self) -> None:
        self._pending = _Pending()

    def feed(self, line: str) -> ServerEvent | None:
        """The event this line completes (a blank line ends one), if any."""
        if line.startswith(":"):
            return None
        if line:
            self._pending.take(line)
            return None
        return self.close()

    def close(self) -> ServerEvent | None:
        """The event left unfinished when the stream ended, if any."""
        event, self._pending = self._pending.finish(), _Pending()
        return event


def iter_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """Events from the lines of a ``text/event-stream`` body."""
    parser = EventParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event
    last = parser.close()
    if last is not None:
        yield last
