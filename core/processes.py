"""Start a child process in a process group of its own, and stop it with everything in it.

The embedded servers (``core.embedded_servers``) and the supervisor of the stack
(``hookline.processes``) both start children this way: a Ctrl-C in the terminal
then reaches only the parent, and stopping sends SIGTERM, waits a grace period,
then SIGKILLs whatever is left in the child's group (Celery's pool processes included).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 10.0


def spawn(
    argv: Sequence[str], env: Mapping[str, str] | None = None, *, output: int | IO[bytes] | None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as the leader of a new process group, stdin closed."""
    return subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        process_group=0,
    )


def terminate(process: subprocess.Popen[bytes], grace_s: float = DEFAULT_GRACE_S) -> int:
    """Stop a process started by ``spawn`` and everything in its group; return its exit code."""
    if process.poll() is None:
        _send(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGTERM for %.0f s; killing it", process.pid, grace_s)
    # The leader is gone or going; its helpers may not be.
    _kill_group(process.pid)
    return process.wait()


def _send(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
