"""Supervise a set of child processes: start them, forward their output, stop them all.

Every child runs in its own process group, so a Ctrl-C in the terminal reaches
only the supervisor, which then stops the children in reverse start order (the
gateway before the worker, the worker before the servers it needs). Stopping
sends SIGTERM to the child, waits a grace period, then SIGKILLs whatever is
left in its process group (Celery's pool processes included): ``spawn`` and
``terminate`` live in ``core.processes``, below the workers and the embedded
servers that use them too, and are re-exported here.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from core.processes import DEFAULT_GRACE_S, spawn, terminate

__all__ = ["DEFAULT_GRACE_S", "ProcessGroup", "spawn", "terminate"]

log = logging.getLogger(__name__)

_READER_JOIN_S = 2.0


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    reader: threading.Thread | None = None


class ProcessGroup:
    """The children of one supervisor; ``stop`` leaves none of them running."""

    def __init__(self, output: IO[str] | None = None, grace_s: float = DEFAULT_GRACE_S) -> None:
        self._output = output
        self._grace_s = grace_s
        self._children: list[_Child] = []
        self._write_lock = threading.Lock()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str]
    ) -> subprocess.Popen[bytes]:
        """Start a child whose output is forwarded line by line, prefixed with ``name``."""
        process = spawn(argv, env, output=subprocess.PIPE)
        child = _Child(name, process)
        self._children.append(child)
        child.reader = threading.Thread(
            target=self._forward, args=(child,), name=f"output-{name}", daemon=True
        )
        child.reader.start()
        log.info("started %s (pid %d): %s", name, process.pid, shlex.join(argv))
        return process

    def adopt(self, name: str, process: subprocess.Popen[bytes]) -> None:
        """Take charge of stopping a process started elsewhere (by ``spawn``)."""
        self._children.append(_Child(name, process))
        log.info("watching %s (pid %d)", name, process.pid)

    def pids(self) -> dict[str, int]:
        """The pid of every child, by name."""
        return {child.name: child.process.pid for child in self._children}

    def exited(self) -> list[tuple[str, int]]:
        """The children that have exited, with their exit codes."""
        codes = ((child.name, child.process.poll()) for child in self._children)
        return [(name, code) for name, code in codes if code is not None]

    def stop(self) -> None:
        """Stop every child, last started first."""
        while self._children:
            child = self._children.pop()
            log.info("stopping %s (pid %d)", child.name, child.process.pid)
            code = terminate(child.process, self._grace_s)
            log.info("%s exited with code %d", child.name, code)
            self._close(child)

    def _close(self, child: _Child) -> None:
        if child.reader is not None:
            child.reader.join(_READER_JOIN_S)
            if child.reader.is_alive():
                # Something outside the group still holds the pipe; closing would block.
                log.warning("output of %s is still open; leaving it", child.name)
                return
        if child.process.stdout is not None:
            child.process.stdout.close()

    def _forward(self, child: _Child) -> None:
        stream = child.process.stdout
        assert stream is not None  # started with stdout=PIPE
        prefix = f"{child.name:<8}| "
        for raw in iter(stream.readline, b""):
            self._write(prefix + raw.decode("utf-8", errors="replace").rstrip("\n") + "\n")

    def _write(self, line: str) -> None:
        output = self._output if self._output is not None else sys.stderr
        with self._write_lock:
            output.write(line)
            output.flush()
