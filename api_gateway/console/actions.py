"""The admins' actions: replay dead letters (one or a selection) and purge them (after a
confirmation). Each is the same admin command ``/admin/dead-letters`` submits, run once
per letter; the worker checks the permission again."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api_gateway.bodies import validate
from api_gateway.commands import new_command
from api_gateway.console.bus import run_waited
from api_gateway.console.web import Viewer, acting_viewer, page
from events import CommandStatus, DeadLetterRef, InvalidInput
from events.platform_commands import PURGE_DEAD_LETTER, REPLAY_DEAD_LETTER

MAX_SELECTION = 100
CONFIRMATION = "purge"


@page
async def replay(request: Request) -> Response:
    form = await request.form()
    found = await acting_viewer(request, form)
    done, failed = await _each(request, found, REPLAY_DEAD_LETTER, _selection(form))
    return _back(done, failed, "replayed")


@page
async def purge(request: Request) -> Response:
    form = await request.form()
    found = await acting_viewer(request, form)
    letters = _selection(form)
    if form.get("confirm") != CONFIRMATION:
        raise InvalidInput(
            f"confirm: type {CONFIRMATION!r} to purge {len(letters)} letter(s)", field="confirm"
        )
    done, failed = await _each(request, found, PURGE_DEAD_LETTER, letters)
    return _back(done, failed, "purged")


def _selection(form: FormData) -> list[str]:
    letters = [str(v) for v in form.getlist("letter")]
    if not letters:
        raise InvalidInput("letter: select at least one dead letter", field="letter")
    if len(letters) > MAX_SELECTION:
        raise InvalidInput(f"letter: at most {MAX_SELECTION} at a time", field="letter")
    for letter in letters:
        validate(DeadLetterRef, {"id": letter})
    return letters


async def _each(
    request: Request, found: Viewer, name: str, letters: list[str]
) -> tuple[int, list[str]]:
    done, failed = 0, []
    for letter in letters:
        command = new_command(request, name, {"id": letter}, found.actor)
        document = await run_waited(request, command, found.actor.principal)
        if document.status is CommandStatus.SUCCEEDED:
            done += 1
        else:
            detail = document.error.detail if document.error else document.status.value
            failed.append(f"{letter}: {detail}")
    return done, failed


def _back(done: int, failed: list[str], what: str) -> Response:
    notice = f"{done} {what}" + (f"; {len(failed)} not: " + "; ".join(failed) if failed else "")
    return RedirectResponse(
        "/console/dead-letters?" + urlencode({"notice": notice[:500]}), status_code=303
    )
