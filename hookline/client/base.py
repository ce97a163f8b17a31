"""What ``Client`` and ``AsyncClient`` share: their settings, the claims and route table
they keep, and every request they build and answer they read. Neither does I/O here.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import httpx

from hookline.client.errors import InvalidArgument
from hookline.client.models import (
    Accepted,
    CommandDocument,
    CommandPage,
    CommandStatus,
    Outcome,
)
from hookline.client.retry import DEFAULT_RETRIES, RetryPolicy
from hookline.client.routes import OPENAPI_PATH, Route, RouteTable, parse_target
from hookline.client.wire import (
    API_KEY_HEADER,
    CLAIM_HEADER,
    COMMANDS_PATH,
    DEADLINE_HEADER,
    EVENT_STREAM,
    IDEMPOTENCY_HEADER,
    NOT_BEFORE_HEADER,
    PREFER_HEADER,
    REPLAYED_HEADER,
    Call,
    When,
    command_id_from,
    command_path,
    json_body,
    parsed,
    raise_for_problem,
    wait_header,
    when_header,
)

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 30.0
# Claims of anonymous commands kept per client; the oldest go first.
MAX_CLAIMS = 1024


class Claims:
    """The ``Command-Claim`` of each anonymous command this client submitted (or was
    given): sent back with every later request about that command."""

    def __init__(self, limit: int = MAX_CLAIMS) -> None:
        self._claims: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def keep(self, command_id: str, claim: str) -> None:
        self._claims[command_id] = claim
        self._claims.move_to_end(command_id)
        while len(self._claims) > self._limit:
            self._claims.popitem(last=False)

    def headers(self, command_id: str, given: str | None = None) -> dict[str, str]:
        if given:
            self.keep(command_id, given)
        claim = self._claims.get(command_id)
        return {CLAIM_HEADER: claim} if claim else {}


class BaseClient:
    """Settings and state of one client of one gateway."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self.base_url = base_url
        self.timeout_s = timeout
        self.retry = RetryPolicy(retries)
        self.claims = Claims()
        self._routes: RouteTable | None = None
        self._auth = _credentials(token, api_key)

    def _http_options(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "headers": self._auth, "timeout": self.timeout_s}

    # -- submit ----------------------------------------------------------------------------

    def _needs_routes(self, target: str) -> bool:
        return self._routes is None and parse_target(target) is None

    def _openapi_call(self) -> Call:
        return Call("GET", OPENAPI_PATH)

    def _learn_routes(self, response: httpx.Response) -> None:
        raise_for_problem(response)
        self._routes = RouteTable.from_openapi(json_body(response))

    def _route(self, target: str) -> Route:
        route = parse_target(target)
        if route is not None:
            return route
        assert self._routes is not None, "call _learn_routes first"
        return self._routes.route(target)

    def _submit_call(
        self,
        target: str,
        payload: Mapping[str, Any] | None,
        *,
        wait: float | None,
        idempotency_key: str | None,
        not_before: When | None,
        deadline: When | None,
    ) -> Call:
        route = self._route(target)
        path, rest = route.fill(payload or {})
        if route.is_query:
            return Call("GET", path, params={k: _query_value(v) for k, v in rest.items()})
        headers = {IDEMPOTENCY_HEADER: idempotency_key or str(uuid.uuid4())}
        if not_before is not None:
            headers[NOT_BEFORE_HEADER] = when_header(not_before)
        if deadline is not None:
            headers[DEADLINE_HEADER] = when_header(deadline)
        timeout = None
        if wait is not None:
            headers[PREFER_HEADER] = wait_header(wait)
            timeout = httpx.Timeout(self.timeout_s, read=self.timeout_s + wait)
        return Call(route.method, path, json=rest, headers=headers, timeout=timeout)

    def _submitted(self, response: httpx.Response) -> Accepted | Outcome:
        """A 202 is ``Accepted``, another success the ``Outcome``; a problem is raised."""
        command_id = command_id_from(response)
        claim = response.headers.get(CLAIM_HEADER)
        if command_id and claim:
            self.claims.keep(command_id, claim)
        raise_for_problem(response)
        replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
        body = json_body(response)
        if response.status_code == 202:
            fields = {**(body if isinstance(body, dict) else {}), "claim": claim}
            return parsed(Accepted, {**fields, "replayed": replayed}, response)
        return Outcome(
            status_code=response.status_code,
            body=body,
            command_id=command_id,
            claim=claim,
            replayed=replayed,
        )

    # -- reading commands ------------------------------------------------------------------

    def _document_call(self, command_id: str, claim: str | None) -> Call:
        return Call("GET", command_path(command_id), headers=self.claims.headers(command_id, claim))

    def _document(self, response: httpx.Response) -> CommandDocument:
        raise_for_problem(response)
        return parsed(CommandDocument, json_body(response), response)

    def _stream_call(self, command_id: str, claim: str | None, read_s: float | None) -> Call:
        """The command's event stream; ``read_s`` bounds the quiet between two lines."""
        headers = {**self.claims.headers(command_id, claim), "Accept": EVENT_STREAM}
        timeout = httpx.Timeout(self.timeout_s, read=read_s)
        return Call("GET", command_path(command_id, "/stream"), headers=headers, timeout=timeout)

    def _list_call(
        self,
        status: CommandStatus | str | None,
        name: str | None,
        limit: int | None,
        cursor: str | None,
        owner: str | None,
    ) -> Call:
        given = {"status": status, "name": name, "limit": limit, "cursor": cursor, "owner": owner}
        params = {key: str(value) for key, value in given.items() if value is not None}
        return Call("GET", COMMANDS_PATH, params=params)

    def _page(self, response: httpx.Response) -> CommandPage:
        raise_for_problem(response)
        return parsed(CommandPage, json_body(response), response)

    def _cancel_call(self, command_id: str, claim: str | None) -> Call:
        headers = self.claims.headers(command_id, claim)
        return Call("POST", command_path(command_id, "/cancel"), headers=headers)


def _credentials(token: str | None, api_key: str | None) -> dict[str, str]:
    if token and api_key:
        raise InvalidArgument("give a bearer token or an API key, not both")
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {API_KEY_HEADER: api_key} if api_key else {}


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
