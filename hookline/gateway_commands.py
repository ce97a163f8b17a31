"""``hookline submit``, ``status``, ``list`` and ``cancel``: a running gateway, through
``hookline.client`` (``--url``, ``--token`` or ``HOOKLINE_TOKEN``).

A problem document the gateway answers is printed as JSON on stdout, and the command
exits 1; so does a command that ended failed or dead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any

from hookline.cli import Command, register
from hookline.client import (
    DEFAULT_URL,
    Client,
    ClientError,
    CommandDocument,
    CommandStatus,
    HooklineProblem,
    Outcome,
    ProtocolError,
)
from hookline.client.wire import When, done_document
from hookline.operator_commands import reporting
from hookline.progress import ProgressLine, print_json

TOKEN_ENV = "HOOKLINE_TOKEN"
CLAIM_ENV = "HOOKLINE_CLAIM"
URL_ENV = "HOOKLINE_URL"
FAILED_STATUSES = frozenset({CommandStatus.FAILED, CommandStatus.DEAD})


def _configure_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"the gateway (default: ${URL_ENV} or %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"a bearer access token (default: ${TOKEN_ENV})",
    )


def _configure_claim(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--claim",
        default=os.environ.get(CLAIM_ENV),
        help=f"an anonymous command's Command-Claim (default: ${CLAIM_ENV})",
    )


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, token=args.token)


def _exit_code(document: CommandDocument) -> int:
    return 1 if document.status in FAILED_STATUSES else 0


def _refused(problem: HooklineProblem) -> int:
    print_json(problem.document.wire())
    return 1


def follow_to_end(client: Client, command_id: str, claim: str | None = None) -> CommandDocument:
    """Follow the command's stream, showing progress on stderr; its final document."""
    progress = ProgressLine()
    for event in client.follow(command_id, claim=claim):
        progress.update(event)
        document = done_document(event)  # a gone event raises Gone
        if document is not None:
            return document
    raise ProtocolError(f"the stream of command {command_id} ended before the command did")


# -- submit ---------------------------------------------------------------------------------


def _when(raw: str) -> When:
    """Seconds from now, or an RFC 3339 date-time with its offset."""
    if raw.isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{raw!r}: give seconds from now or a date-time with its offset"
        )
    return moment


def _configure_submit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the command, e.g. wallet.deposit")
    parser.add_argument("--data", default="{}", help="the payload as JSON (default: {})")
    parser.add_argument(
        "--wait", action="store_true", help="follow the command to its end and print it"
    )
    parser.add_argument("--idempotency-key", help="the Idempotency-Key (default: a new one)")
    parser.add_argument(
        "--not-before", type=_when, help="start it no earlier: seconds from now, or a date-time"
    )
    parser.add_argument(
        "--deadline", type=_when, help="start it by then, or never: seconds or a date-time"
    )
    _configure_gateway(parser)


def _payload(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ClientError(f"--data is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ClientError("--data must be a JSON object")
    return data


def _run_submit(args: argparse.Namespace) -> int:
    payload = _payload(args.data)
    with _client(args) as client:
        try:
            answer = client.submit(
                args.name,
                payload,
                idempotency_key=args.idempotency_key,
                not_before=args.not_before,
                deadline=args.deadline,
            )
        except HooklineProblem as problem:
            return _refused(problem)
        if isinstance(answer, Outcome):
            print_json(answer.body)
            return 0
        if not args.wait:
            if answer.claim:
                hint = f"hookline status {answer.command_id} --claim={answer.claim}"
                sys.stderr.write(f"read it with: {hint}\n")
            print_json(answer.wire())
            return 0
        document = follow_to_end(client, answer.command_id)
    print_json(document.wire())
    return _exit_code(document)


# -- status, list, cancel -------------------------------------------------------------------


def _configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command_id", metavar="ID", help="the command id")
    parser.add_argument(
        "--follow", action="store_true", help="show live progress until the command is done"
    )
    _configure_claim(parser)
    _configure_gateway(parser)


def _run_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.follow:
            document = follow_to_end(client, args.command_id, args.claim)
        else:
            try:
                document = client.get(args.command_id, claim=args.claim)
            except HooklineProblem as problem:
                return _refused(problem)
    print_json(document.wire())
    return _exit_code(document)


def _configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", choices=[str(s) for s in CommandStatus])
    parser.add_argument("--name", help="only this command, e.g. wallet.deposit")
    parser.add_argument("--limit", type=int, help="how many per page (1 to 100; default 20)")
    parser.add_argument("--cursor", help="the next_cursor of the page before")
    parser.add_argument("--owner", help="another caller's commands (admins and operators)")
    _configure_gateway(parser)


def _run_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            page = client.list(
                status=args.status,
                name=args.name,
                limit=args.limit,
                cursor=args.cursor,
                owner=args.owner,
            )
        except HooklineProblem as problem:
            return _refused(problem)
    print_json(page.wire())
    return 0


def _configure_cancel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command_id", metavar="ID", help="the command id")
    _configure_claim(parser)
    _configure_gateway(parser)


def _run_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            document = client.cancel(args.command_id, claim=args.claim)
        except HooklineProblem as problem:
            return _refused(problem)
    print_json(document.wire())
    return 0


register(
    Command("submit", "submit a command to the gateway", reporting(_run_submit), _configure_submit)
)
register(
    Command(
        "status",
        "show a command; --follow streams its progress",
        reporting(_run_status),
        _configure_status,
    )
)
register(Command("list", "list your commands, newest first", reporting(_run_list), _configure_list))
register(
    Command(
        "cancel",
        "cancel a command that has not finished",
        reporting(_run_cancel),
        _configure_cancel,
    )
)
