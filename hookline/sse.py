"""Reading a Server-Sent Events stream: lines in, events out."""

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


def iter_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """Events from the lines of a ``text/event-stream`` body (comments are skipped)."""
    pending = _Pending()
    for line in lines:
        if line.startswith(":"):
            continue
        if line:
            pending.take(line)
            continue
        event = pending.finish()
        if event is not None:
            yield event
        pending = _Pending()
    last = pending.finish()
    if last is not None:
        yield last
