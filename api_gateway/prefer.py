"""RFC 7240 ``Prefer: wait=N``: how long the client is willing to wait for the outcome.

``wait`` takes delta-seconds (RFC 7240 §4.3): ASCII digits. Other preferences
(``respond-async``, ``return=minimal``) are ignored, as RFC 7240 allows, and so
are a preference's parameters (``wait=5; x``). A ``wait`` with anything else
(``wait=²``, ``wait=-1``, ``wait=1.5``, ``wait=``, a bare ``wait``) is the
client's bug, and guessing what it meant could hold a request open it never
wanted, so it is a 400 naming ``Prefer``. Only the first ``wait`` counts
(RFC 7240 §2). Commands read it before anything is claimed or reserved for them.
"""

from __future__ import annotations

from starlette.requests import Request

from api_gateway.errors import BadRequest
from api_gateway.header_numbers import header_number

HEADER = "prefer"
FIELD = "Prefer"


def requested_wait_s(request: Request, max_wait_s: int) -> int:
    """The wait the client asked for, capped at ``max_wait_s``; 0 when it asked none.

    Raises ``BadRequest`` when its ``wait`` is not a number of seconds.
    """
    for header in request.headers.getlist(HEADER):
        for preference in header.split(","):
            token, _, _parameters = preference.partition(";")
            name, has_value, value = token.partition("=")
            if name.strip(" \t").lower() != "wait":
                continue
            seconds = header_number(value) if has_value else None
            if seconds is None:
                raise BadRequest(
                    "Prefer: wait takes a whole number of seconds in ASCII digits, e.g. wait=10",
                    field=FIELD,
                )
            return min(seconds, max_wait_s)
    return 0
