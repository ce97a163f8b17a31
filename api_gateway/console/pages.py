"""The console's pages: overview, commands, one command, dead letters, modules.

Commands come from the history in MongoDB (``core.history``); a command's live state
(its Redis document) fills in while it runs. Dead letters are listed and replayed by
the same admin commands ``/admin/dead-letters`` submits. Modules and hooks are what
``/modules/status`` and ``/hooks`` serve.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.bodies import validate
from api_gateway.commands import new_command, services_of
from api_gateway.console.bus import run_waited
from api_gateway.console.web import SignInRequired, Viewer, page, render, viewer
from api_gateway.errors import ServiceUnavailable
from api_gateway.health_routes import worker_snapshots
from core.celery_app import ADMIN_QUEUE, EVENTS_QUEUE
from core.command_state import CommandDocument
from core.history import CommandSummary, HistoryQuery
from core.redelivery import backlog
from events import CommandStatus, DeadLetterQuery, InvalidInput, NotFound
from events.paging import MAX_PAGE_SIZE
from events.platform_commands import LIST_DEAD_LETTERS

OUTCOME_MINUTES = 15


def _context(request: Request, found: Viewer, **values: Any) -> dict[str, Any]:
    return {"viewer": found, "csrf": found.session.csrf, "path": request.url.path, **values}


def _form_values(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query's non-empty values; a parameter the page does not take is a 400."""
    for name in request.query_params:
        if name not in allowed:
            raise InvalidInput(f"{name}: this page takes no such parameter", field=name)
    return {k: v for k, v in request.query_params.items() if v.strip()}


@page
async def overview(request: Request) -> Response:
    found = await viewer(request)
    services = services_of(request)
    queues = sorted({*request.app.state.console_queues, EVENTS_QUEUE, ADMIN_QUEUE})
    backlogs = [await backlog(services.redis, queue) for queue in queues]
    per_minute = await services.history.outcomes_per_minute(OUTCOME_MINUTES)
    letters = await _dead_letters(request, found, {"status": "dead", "limit": MAX_PAGE_SIZE})
    context = _context(
        request,
        found,
        workers=await worker_snapshots(request),
        backlogs=backlogs,
        minutes=_minutes(per_minute),
        outcomes=sorted({s for counts in per_minute.values() for s in counts}),
        dead_letters=len(letters["items"]),
        dead_letters_more=letters["next"] is not None,
    )
    return render(request, "overview.html", context)


def _minutes(per_minute: dict[Any, Counter[str]]) -> list[tuple[str, Counter[str]]]:
    return [(m.strftime("%H:%M"), per_minute[m]) for m in sorted(per_minute, reverse=True)]


@page
async def commands(request: Request) -> Response:
    found = await viewer(request)
    values = _form_values(request, ("name", "status", "owner", "since", "until", "page"))
    query = HistoryQuery.model_validate(validate(HistoryQuery, values))
    result = await services_of(request).history.find(query)
    context = _context(
        request,
        found,
        page=result,
        filters=values,
        statuses=[s.value for s in CommandStatus],
        next_query=_with(values, page=query.page + 1),
        previous_query=_with(values, page=query.page - 1) if query.page > 1 else None,
    )
    return render(request, "commands.html", context)


def _with(values: dict[str, str], **changes: Any) -> str:
    return urlencode({**values, **{k: str(v) for k, v in changes.items()}})


@page
async def command(request: Request) -> Response:
    found = await viewer(request)
    context = _context(request, found, **await _command_view(request))
    return render(request, "command.html", context)


async def command_json(request: Request) -> Response:
    """What the command page polls while the command runs."""
    try:
        await viewer(request)
    except SignInRequired:
        return JSONResponse({"title": "sign in again"}, status_code=401)
    view = await _command_view(request)
    summary: CommandSummary = view["summary"]
    return JSONResponse(
        {
            "summary": summary.model_dump(mode="json"),
            "hooks": [r.model_dump(mode="json") for r in summary.hooks],
            "deliveries": [r.model_dump(mode="json") for r in summary.deliveries],
            "done": view["done"],
            "live_status": view["live_status"],
        }
    )


def _caught_up(summary: CommandSummary, live: CommandDocument) -> bool:
    """The command is done, and its summary shows its end and every hook run."""
    return (
        live.is_done and summary.status is live.status and len(summary.hook_runs) >= len(live.hooks)
    )


async def _command_view(request: Request) -> dict[str, Any]:
    command_id = request.path_params["command_id"]
    if not command_id.isalnum() or len(command_id) > 64:
        raise InvalidInput("command_id: not a command id", field="command_id")
    services = services_of(request)
    summary = await services.history.get(command_id)
    live = await services.state.read(command_id)
    if summary is None:
        raise NotFound(f"no command {command_id} in the history")
    return {
        "summary": summary,
        "live_status": live.status.value if live else None,
        # Done once the history caught up with Redis too: its writes land a moment later.
        "done": _caught_up(summary, live) if live else summary.status.is_terminal,
        "trace_id": summary.trace_id or (live.trace_id if live else None),
    }


@page
async def dead_letters(request: Request) -> Response:
    found = await viewer(request)
    values = _form_values(request, ("status", "limit", "before", "notice"))
    notice = values.pop("notice", None)
    letters = await _dead_letters(request, found, values)
    context = _context(
        request,
        found,
        letters=letters["items"],
        next=letters["next"],
        filters=values,
        notice=notice,
        statuses=["dead", "replaying", "resolved"],
    )
    return render(request, "dead_letters.html", context)


async def _dead_letters(request: Request, found: Viewer, values: dict[str, Any]) -> Any:
    payload = validate(DeadLetterQuery, values)
    command = new_command(request, LIST_DEAD_LETTERS, payload, found.actor)
    document = await run_waited(request, command, found.actor.principal)
    if document.status is not CommandStatus.SUCCEEDED or document.result is None:
        raise _failure(document.error)
    return document.result.body


def _failure(problem: Any) -> Exception:
    return ServiceUnavailable(problem.detail if problem and problem.detail else "it failed")


@page
async def modules(request: Request) -> Response:
    found = await viewer(request)
    snapshots = await worker_snapshots(request)
    latest = snapshots[0] if snapshots else {"load_order": [], "modules": []}
    context = _context(
        request,
        found,
        workers=len(snapshots),
        load_order=latest["load_order"],
        modules=latest["modules"],
        routes=request.app.state.console_routes,
        hooks=request.app.state.hooks_table,
    )
    return render(request, "modules.html", context)
