"""The hand-written peer: what users write today instead of Hookline
(``uvicorn bench.handwritten_app:app``, named "hand-written Starlette + Celery").

A Starlette endpoint validates the probe's JSON with pydantic, hands the work to
the plain Celery app of ``bench.baseline`` with ``send_task`` and answers ``202``
with a status URL; the status route reads Celery's ``AsyncResult`` of the task
and of the hook task it starts. No authentication, limits, idempotency, command
state or ledger: the comparison shows what those cost and what Hookline saves.
"""

from __future__ import annotations

import uuid

from celery import states
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.baseline import QUEUE, RECORD_TASK, build
from bench.probe import WORK_PATH
from bench.probe.modules.probe import ProbeRequest
from core.settings import Settings

STATUS_PATH = "/status/{task_id}"
_baseline = build(Settings())


def hook_id_of(task_id: str) -> str:
    """The id of the hook task a command's task starts, so the status route can find it."""
    return f"{task_id}-hook"


async def accept(request: Request) -> Response:
    try:
        work = ProbeRequest.model_validate_json(await request.body())
    except ValidationError as e:
        return JSONResponse({"detail": e.errors(include_url=False)}, status_code=422)
    task_id = uuid.uuid4().hex
    _baseline.app.send_task(
        RECORD_TASK, args=[work.value, hook_id_of(task_id)], task_id=task_id, queue=QUEUE
    )
    status_url = f"/status/{task_id}"
    body = {"command_id": task_id, "status": "accepted", "status_url": status_url}
    return JSONResponse(body, status_code=202, headers={"Location": status_url})


async def status(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    found = [_baseline.app.AsyncResult(i).state for i in (task_id, hook_id_of(task_id))]
    if states.FAILURE in found:
        outcome = "failed"
    elif all(state == states.SUCCESS for state in found):
        outcome = "succeeded"
    else:
        outcome = "pending"
    return JSONResponse({"command_id": task_id, "status": outcome})


app = Starlette(
    routes=[
        Route(WORK_PATH, accept, methods=["POST"]),
        Route(STATUS_PATH, status, methods=["GET"]),
    ]
)
