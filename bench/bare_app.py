"""The gateway baseline: a bare Starlette JSON endpoint (``uvicorn bench.bare_app:app``).

It reads and parses the JSON body and answers 202 with a body shaped like the
gateway's, and does nothing else: no validation, no Redis, no broker.
"""

from __future__ import annotations

import json
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.probe import WORK_PATH


async def accept(request: Request) -> Response:
    json.loads(await request.body())
    command_id = uuid.uuid4().hex
    status_url = f"/commands/{command_id}"
    body = {"command_id": command_id, "status": "accepted", "status_url": status_url}
    return JSONResponse(body, status_code=202, headers={"Location": status_url})


app = Starlette(routes=[Route(WORK_PATH, accept, methods=["POST"])])
