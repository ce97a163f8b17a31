"""The console's commands go through the bus like any other (accepted the one way every
command is, ``api_gateway.commands.accept``), and the page waits for their outcome."""

from __future__ import annotations

from starlette.requests import Request

from api_gateway.commands import MAY_BE_DONE, accept, services_of, wait_for
from api_gateway.errors import ServiceUnavailable
from core.command_state import CommandDocument
from events import Command


def _ended(document: CommandDocument | None) -> bool:
    return document is None or document.status.is_terminal


async def run_waited(request: Request, command: Command, identity: str) -> CommandDocument:
    """``command``'s document once it ended; 503 when no worker ended it within the longest
    wait. The wait is one of ``identity``'s open waits."""
    services = services_of(request)
    wait_s = services.settings.max_wait_s
    with services.waits.held(identity, wait_s):
        async with services.watcher.watch(command.id, MAY_BE_DONE) as changed:
            await accept(services, command)
            document = await wait_for(services, command.id, changed, wait_s, ended=_ended)
    if document is None or not document.status.is_terminal:
        raise ServiceUnavailable("no worker answered in time; try again shortly")
    return document
