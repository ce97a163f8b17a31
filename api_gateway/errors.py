"""Errors only the gateway raises; each maps to its status in ``problems.py``."""

from __future__ import annotations

from events import HooklineError


class BadRequest(HooklineError):
    status = 400
    problem = "bad-request"
    title = "Bad request"


class PayloadTooLarge(HooklineError):
    status = 413
    problem = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(HooklineError):
    status = 415
    problem = "unsupported-media-type"
    title = "Unsupported media type"


class RetryLater(HooklineError):
    """A refusal the client may try again after ``retry_after_s`` (sent as ``Retry-After``)."""

    def __init__(self, detail: str, retry_after_s: int = 5) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(RetryLater):
    """A dependency is down; the client should come back after ``retry_after_s``."""

    status = 503
    problem = "service-unavailable"
    title = "Service unavailable"


class TooManyRequests(RetryLater):
    status = 429
    problem = "rate-limited"
    title = "Too many requests"


class Banned(TooManyRequests):
    """Refused so often that the caller is shut out for a while."""

    problem = "banned"
    title = "Temporarily banned"


class TooManyInFlight(TooManyRequests):
    """The caller already has as many unfinished commands as allowed."""

    problem = "too-many-in-flight"
    title = "Too many commands in flight"


class KeyInUse(RetryLater):
    """The Idempotency-Key's first request is still in flight: 409, with ``Location`` of its
    command, to be tried again after ``retry_after_s``."""

    status = 409
    problem = "idempotency-key-in-use"
    title = "A request is outstanding for this Idempotency-Key"

    def __init__(self, detail: str, location: str, retry_after_s: int) -> None:
        super().__init__(detail, retry_after_s)
        self.extensions["field"] = "Idempotency-Key"
        self.location = location
