"""``Command-Not-Before`` and ``Command-Deadline``: when a command may start, and until when.

Each takes an RFC 3339 date-time with its offset (``2026-12-24T18:00:00Z``) or a
whole number of seconds from now in ASCII digits. A command not before a moment
still to come is ``scheduled`` (``core.schedule``), at most ``schedule_horizon_s``
ahead; one not before a moment already past runs now. A deadline must lie ahead,
and after the not-before (or the command could never run); a command not started
by its deadline is ``expired``. Anything else is a 400 naming the header, read
before anything is claimed or reserved for the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from api_gateway.errors import BadRequest
from api_gateway.header_numbers import header_number
from events import utc_now

NOT_BEFORE = "Command-Not-Before"
DEADLINE = "Command-Deadline"
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


@dataclass(frozen=True)
class Timing:
    not_before: datetime | None = None
    deadline: datetime | None = None


def command_timing(request: Request, horizon_s: int) -> Timing:
    """The request's timing headers, checked; ``BadRequest`` names the header at fault."""
    now = utc_now()
    not_before = _moment(request, NOT_BEFORE, now)
    deadline = _moment(request, DEADLINE, now)
    if not_before is not None and not_before - now > timedelta(seconds=horizon_s):
        raise BadRequest(
            f"{NOT_BEFORE} is more than {horizon_s} s ahead (the schedule's horizon)",
            field=NOT_BEFORE,
        )
    if not_before is not None and not_before <= now:
        not_before = None  # due already: it runs now
    if deadline is not None and deadline <= now:
        raise BadRequest(f"{DEADLINE} has passed already", field=DEADLINE)
    if deadline is not None and not_before is not None and deadline <= not_before:
        raise BadRequest(
            f"{DEADLINE} is not after {NOT_BEFORE}: it could never run", field=DEADLINE
        )
    return Timing(not_before, deadline)


def _moment(request: Request, header: str, now: datetime) -> datetime | None:
    values = request.headers.getlist(header)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"{header} is given more than once", field=header)
    value = values[0].strip(" \t")
    seconds = header_number(value)
    if seconds is not None:
        return now + timedelta(seconds=seconds)
    if _RFC3339.fullmatch(value) is None:
        raise BadRequest(
            f"{header} takes an RFC 3339 date-time with an offset (2026-12-24T18:00:00Z) "
            "or whole seconds from now",
            field=header,
        )
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:  # the right shape, not a real moment (month 13, hour 25)
        raise BadRequest(f"{header} is not a valid date-time", field=header) from None
