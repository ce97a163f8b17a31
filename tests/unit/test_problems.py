"""Problems become responses in one place: Retry-After from whichever layer refused."""

from __future__ import annotations

from api_gateway.errors import TooManyRequests
from api_gateway.problems import ProblemResponse
from events import NotFound, Problem, TooManyAttempts


def test_a_workers_retry_after_survives_the_bus_and_becomes_the_header() -> None:
    """A worker's 429, stored as JSON and read back by the gateway, answers Retry-After."""
    stored = Problem.from_error(TooManyAttempts("wait", retry_after_s=4), "/commands/c1")
    problem = Problem.model_validate_json(stored.model_dump_json())
    response = ProblemResponse(problem)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "4"
    assert b'"retry_after_s":4' in response.body


def test_the_gateways_own_refusals_answer_it_the_same_way() -> None:
    """The gateway's rate limit refusal takes the same path to its header."""
    response = ProblemResponse(Problem.from_error(TooManyRequests("slow down", retry_after_s=7)))
    assert response.headers["Retry-After"] == "7"


def test_a_problem_without_it_sends_no_retry_after() -> None:
    response = ProblemResponse(Problem.from_error(NotFound("nothing")))
    assert "Retry-After" not in response.headers
    assert b"retry_after_s" not in response.body
