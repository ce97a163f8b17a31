"""The client keeps its own copies of the wire models (it must not import the server); they
must say what the server's say: the same statuses, the fields the server sends."""

from __future__ import annotations

from api_gateway.command_routes import CommandSummary as ServerSummary
from core.command_state import CommandDocument as ServerDocument
from events import CommandStatus as ServerStatus
from hookline.client import CommandDocument, CommandStatus
from hookline.client.models import CommandSummary

# Server fields that never leave the gateway (``CommandDocument.public`` drops them).
INTERNAL = {"owner", "claims"}


def test_the_client_knows_every_status_the_server_has() -> None:
    assert {s.value for s in CommandStatus} == {s.value for s in ServerStatus}


def test_the_client_reads_every_field_the_server_sends() -> None:
    """The command document and the list's summary: a field the server adds is read too."""
    sent = set(ServerDocument.model_fields) - INTERNAL
    assert sent <= set(CommandDocument.model_fields), sent - set(CommandDocument.model_fields)
    assert set(ServerSummary.model_fields) == set(CommandSummary.model_fields)
