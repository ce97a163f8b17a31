"""Reading and validating JSON request bodies into the route's declared model."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from api_gateway.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from events import InvalidInput

MAX_BODY_BYTES = 1024 * 1024


async def read_json(request: Request) -> Any:
    """The parsed JSON body; refuses what is too large, not JSON, or malformed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
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
        return json.loads(body) if body else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from e


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
