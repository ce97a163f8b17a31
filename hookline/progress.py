"""What the CLI shows of a command: a progress line on stderr, JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from hookline.client import DoneEvent, GoneEvent, HookEvent, StatusEvent, StreamEvent


class ProgressLine:
    """One line that shows a command's progress, rewritten in place on a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.hooks = 0
        self.status = "?"
        self.name = ""

    def update(self, event: StreamEvent) -> None:
        if isinstance(event, StatusEvent):
            self.status, self.name = str(event.status), event.name
        elif isinstance(event, HookEvent):
            self.hooks += 1
        elif isinstance(event, DoneEvent):
            self.status = str(event.document.status)
        elif isinstance(event, GoneEvent):
            self.status = "gone"
        self._show(event)

    def _show(self, event: StreamEvent) -> None:
        text = f"{self.name} {self.status} · {self.hooks} hook run(s)"
        if isinstance(event, HookEvent):
            run = event.run
            text += f" · {run.event} → {run.module}.{run.handler} {run.status}"
        if self.stream.isatty():
            end = "\n" if isinstance(event, DoneEvent | GoneEvent) else ""
            self.stream.write(f"\r\033[K{text}{end}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def print_json(data: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(data, indent=2) + "\n")
