"""Reading and validating JSON request bodies into the route's declared model.

Hostile input stops here, before anything is written: an oversized body (413),
malformed or too deeply nested JSON, a name given twice in one object, or broken
Unicode (400), MongoDB operators or dotted names as keys anywhere (422), unknown
fields or bad values (422).

A name given twice (``{"amount": 1, "amount": 999999}``) is refused rather than
resolved: RFC 8259 leaves its meaning open, Python keeps the last value and
another parser in front of the gateway (a proxy, a WAF, a signature check) may
have judged the first.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request

from api_gateway.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from api_gateway.header_numbers import header_number
from events import InvalidInput

MAX_BODY_BYTES = 1024 * 1024

# Where a value sits in a body: (parent, name), or None for the body itself.
_Where = tuple[Any, str] | None


async def read_json(request: Request) -> Any:
    """The parsed JSON body; refuses what is too large, not JSON, or malformed."""
    declared = header_number(request.headers.get("content-length", ""))
    if declared is not None and declared > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type", "application/json")
    if content_type.split(";")[0].strip() not in ("application/json", ""):
        raise UnsupportedMediaType("send the body as application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body, object_pairs_hook=_object) if body else {}
    except ValueError as e:  # malformed JSON, bad UTF-8, an integer with thousands of digits
        raise BadRequest(f"the body is not valid JSON: {e}") from e
    except RecursionError as e:
        raise BadRequest("the body is nested too deeply") from e
    check_json(data)
    return data


class _Repeated(dict[str, Any]):
    """A JSON object that gave ``name`` more than once; ``check_json`` refuses it, naming
    where it sits (the decoder's hook does not know)."""

    def __init__(self, pairs: list[tuple[str, Any]], name: str) -> None:
        super().__init__(pairs)
        self.name = name


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Each JSON object as the decoder reads it: a dict, or ``_Repeated`` if a name repeats."""
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    counts = Counter(name for name, _ in pairs)
    return _Repeated(pairs, next(name for name, count in counts.items() if count > 1))


def check_json(data: Any) -> None:
    """Refuse names given twice in one object, operator keys (``$gt``), dotted keys and
    strings that are not valid Unicode.

    Walks without recursion (the depth is the client's choice); a location is a
    (parent, name) pair, so deep nesting costs no path copying.
    """
    stack: list[tuple[_Where, Any]] = [(None, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, _Repeated):
            field = _path((where, value.name))
            raise BadRequest(f"{field}: given more than once in one object", field=field)
        if isinstance(value, dict):
            for key, inner in value.items():
                here = (where, str(key))
                _check_key(str(key), here)
                stack.append((here, inner))
        elif isinstance(value, list):
            stack.extend(((where, str(i)), inner) for i, inner in enumerate(value))
        elif isinstance(value, str) and not _is_unicode(value):
            raise BadRequest(f"{_path(where) or 'body'}: text is not valid Unicode")


def _check_key(key: str, where: _Where) -> None:
    if key.startswith("$") or "." in key or "\0" in key:
        field = _path(where)
        raise InvalidInput(
            f"{field}: field names may not start with '$' or contain '.'",
            errors=[{"field": field, "message": "operator or dotted name", "type": "name"}],
        )
    if not _is_unicode(key):
        raise BadRequest(f"{_path(where)}: text is not valid Unicode")


def check_query(params: QueryParams, model: type[BaseModel] | None) -> dict[str, str]:
    """The query parameters as data; a route without a query model takes none. A parameter
    given twice (``?limit=1&limit=1000``) is refused, for the reason a JSON name is."""
    data = dict(params)
    if len(data) < len(params.multi_items()):
        counts = Counter(name for name, _ in params.multi_items())
        name = next(name for name, count in counts.items() if count > 1)
        raise BadRequest(f"{name}: query parameter given more than once", field=name)
    check_json(data)
    if model is None and data:
        name = sorted(data)[0]
        raise InvalidInput(
            f"{name}: unexpected query parameter",
            errors=[{"field": name, "message": "unexpected query parameter", "type": "extra"}],
        )
    return data


def validate(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """``data`` checked against ``model``; a 422 naming every offending field otherwise."""
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as e:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or "body",
                "message": err["msg"],
                "type": err["type"],
            }
            for err in e.errors(include_url=False)
        ]
        detail = "; ".join(f"{err['field']}: {err['message']}" for err in errors)
        raise InvalidInput(detail, errors=errors) from e


def _path(where: _Where) -> str:
    names: list[str] = []
    while where is not None:
        where, name = where
        names.append(name)
    return ".".join(reversed(names))


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape
        return False
    return True
