"""RFC 7240 ``Prefer: wait=N``: how long the client is willing to wait for the outcome."""

from __future__ import annotations

from starlette.requests import Request


def requested_wait_s(request: Request, max_wait_s: int) -> int:
    """The wait the client asked for, capped at ``max_wait_s``; 0 when it asked none."""
    for header in request.headers.getlist("prefer"):
        for preference in header.split(","):
            name, _, value = preference.strip().partition("=")
            if name.strip().lower() == "wait" and value.strip().isdigit():
                return min(int(value.strip()), max_wait_s)
    return 0
