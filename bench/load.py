"""HTTP load from a second process: ``wrk`` when it is installed, else a small Python generator.

Both keep ``connections`` keep-alive connections busy with ``POST /probe/work``
for ``duration_s`` and count the ``202 Accepted`` answers. Every request carries
the caller's bearer token and an ``Idempotency-Key`` of its own (``bench.caller``).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ACCEPTED = 202
BODY = json.dumps({"value": 1})
# A new key per request: the run's prefix and a counter per wrk thread.
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local sent = 0
request = function()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = "{prefix}-" .. sent
  return wrk.format()
end
"""
_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class LoadResult:
    tool: str
    accepted: int
    other: int
    elapsed_s: float

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s > 0 else 0.0


def tool_name() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def generate(url: str, duration_s: float, connections: int, token: str) -> LoadResult:
    """Load ``url`` (the probe route's full URL) with whichever generator is available,
    as the caller of ``token``."""
    if shutil.which("wrk"):
        return _wrk(url, duration_s, connections, token)
    return _python(url, duration_s, connections, token)


# -- wrk ------------------------------------------------------------------------------------


def _wrk(url: str, duration_s: float, connections: int, token: str) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT.format(body=BODY, token=token, prefix=uuid.uuid4().hex))
    try:
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s"]
        argv += ["-s", script.name, url]
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    finally:
        Path(script.name).unlink()
    return parse_wrk(output)


def parse_wrk(output: str) -> LoadResult:
    """Requests, their duration and the non-2xx count from wrk's summary."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    if total is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    requests = int(total.group(1))
    elapsed_s = float(total.group(2)) * _UNITS_S[total.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    other = int(non_2xx.group(1)) if non_2xx else 0
    return LoadResult("wrk", requests - other, other, elapsed_s)


# -- the Python fallback --------------------------------------------------------------------


def _python(url: str, duration_s: float, connections: int, token: str) -> LoadResult:
    """Two processes, each keeping half the connections busy with raw HTTP/1.1."""
    processes = 2
    per_process = max(1, connections // processes)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.starmap(_python_process, [(url, duration_s, per_process, token)] * processes)
    accepted = sum(c[0] for c in counts)
    other = sum(c[1] for c in counts)
    return LoadResult("python", accepted, other, max(c[2] for c in counts))


def _python_process(
    url: str, duration_s: float, connections: int, token: str
) -> tuple[int, int, float]:
    return asyncio.run(_python_load(url, duration_s, connections, token))


async def _python_load(
    url: str, duration_s: float, connections: int, token: str
) -> tuple[int, int, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: "
    ).encode()
    prefix, sent = uuid.uuid4().hex, iter(range(1 << 62))

    def request() -> bytes:
        return head + f"{prefix}-{next(sent)}\r\n\r\n{BODY}".encode()

    started = time.perf_counter()
    deadline = started + duration_s
    counts = await asyncio.gather(
        *(_connection(host, port, request, deadline) for _ in range(connections))
    )
    return sum(a for a, _ in counts), sum(o for _, o in counts), time.perf_counter() - started


async def _connection(
    host: str, port: int, request: Callable[[], bytes], deadline: float
) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    accepted = other = 0
    try:
        while time.perf_counter() < deadline:
            writer.write(request())
            status = await _read_response(reader)
            if status == ACCEPTED:
                accepted += 1
            else:
                other += 1
    finally:
        writer.close()
    return accepted, other


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])
