"""The one place where errors become RFC 9457 problem responses."""

from __future__ import annotations

import logging

import redis.exceptions
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.errors import KeyInUse, ServiceUnavailable
from events import PROBLEM_MEDIA_TYPE, HooklineError, Problem, Unauthorized

log = logging.getLogger(__name__)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE

    def __init__(self, problem: Problem, headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        if problem.retry_after_s is not None:  # the gateway's refusals and workers' alike
            headers.setdefault("Retry-After", str(problem.retry_after_s))
        super().__init__(problem.to_json(), status_code=problem.status, headers=headers)


def problem_response(problem: Problem) -> Response:
    return ProblemResponse(problem)


async def hookline_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HooklineError)
    headers: dict[str, str] = {}
    if isinstance(exc, KeyInUse):
        headers["Location"] = exc.location
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status >= 500:
        log.error("request failed: %s", exc.detail, extra={"path": request.url.path})
    return ProblemResponse(Problem.from_error(exc, instance=request.url.path), headers)


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """Redis (command state, and the broker by default) did not answer: 503, come back later."""
    log.warning("Redis unavailable on %s: %s", request.url.path, exc)
    unavailable = ServiceUnavailable("the command store is unavailable; try again shortly")
    return await hookline_error(request, unavailable)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    problem = Problem(
        title=exc.detail or "HTTP error", status=exc.status_code, instance=request.url.path
    )
    return ProblemResponse(problem, dict(exc.headers or {}))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path)
    return ProblemResponse(Problem(title="Internal error", status=500, instance=request.url.path))


EXCEPTION_HANDLERS = {
    HooklineError: hookline_error,
    redis.exceptions.ConnectionError: store_unavailable,
    redis.exceptions.TimeoutError: store_unavailable,
    HTTPException: http_error,
    Exception: unexpected_error,
}
