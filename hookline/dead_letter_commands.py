"""``hookline dead-letters list|show|replay``: what failed for good, and running it again.

The command reads MongoDB and publishes on the broker itself, with the same
code the workers use for ``/admin/dead-letters``, so it works while the gateway
is down. It is configured like every Hookline process (``MONGO_URL``,
``REDIS_URL``, ``BROKER_URL``, ``HOOKLINE_MONGO_DB``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from core.celery_app import make_celery
from core.command_state import CommandStateStore
from core.redelivery import MessageLedger
from core.sender import Sender
from core.settings import Settings
from core.stores import connect_mongo, connect_redis, mongo_database
from events import DeadLetter, DeadLetterQuery, DeadLetterStatus, HooklineError
from events.paging import DEFAULT_PAGE_SIZE
from hookline.cli import Command, register
from workers.dead_letters import DeadLetterStore, Replayer
from workers.retry import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

_ERROR_CHARS = 60


@dataclass(frozen=True)
class _Access:
    letters: DeadLetterStore
    replayer: Replayer


@contextlib.contextmanager
def _access(settings: Settings) -> Iterator[_Access]:
    """The dead-letter store and a replayer, with their clients closed afterwards."""
    mongo = connect_mongo(settings)
    client = connect_redis(settings)
    celery = make_celery(settings)
    try:
        letters = DeadLetterStore(mongo_database(mongo, settings))
        state = CommandStateStore(client, settings.command_ttl_s)
        ledger = MessageLedger(client, settings.command_ttl_s)
        sender = Sender(celery, ledger, settings.broker_publish_timeout_s)
        yield _Access(letters, Replayer(letters, state, sender))
    finally:
        celery.close()
        client.close()
        mongo.close()


def _configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="dead letters, newest first")
    listing.add_argument("--status", choices=[s.value for s in DeadLetterStatus])
    listing.add_argument("--limit", type=int, default=DEFAULT_PAGE_SIZE)
    listing.add_argument("--json", action="store_true", help="one JSON document per line")
    show = actions.add_parser("show", help="one dead letter, envelope included, as JSON")
    show.add_argument("id")
    replay = actions.add_parser("replay", help="send a dead letter's envelope again")
    replay.add_argument("id")


def _run(args: argparse.Namespace) -> int:
    try:
        with _access(Settings()) as access:
            _act(args, access)
    except HooklineError as e:
        print(f"hookline dead-letters: {e.detail}", file=sys.stderr)
        return 1
    except TRANSIENT_ERRORS as e:
        print(f"hookline dead-letters: a store is unavailable: {e}", file=sys.stderr)
        return 1
    return 0


def _act(args: argparse.Namespace, access: _Access) -> None:
    if args.action == "list":
        query = DeadLetterQuery(status=args.status, limit=args.limit)
        _print_list(access.letters.list(query), as_json=args.json)
    elif args.action == "show":
        _print_json(access.letters.get(args.id))
    else:
        _print_json(access.replayer.replay(args.id))


def _print_json(letter: DeadLetter) -> None:
    print(json.dumps(letter.model_dump(mode="json"), indent=2))


def _print_list(letters: list[DeadLetter], as_json: bool) -> None:
    if as_json:
        for letter in letters:
            print(letter.model_dump_json())
        return
    if not letters:
        print("no dead letters")
        return
    print(f"{'id':<60} {'status':<9} {'tries':>5}  {'dead at':<19}  error")
    for letter in letters:
        when = letter.dead_at.strftime("%Y-%m-%d %H:%M:%S")
        error = letter.error[:_ERROR_CHARS]
        print(f"{letter.id:<60} {letter.status:<9} {letter.attempts:>5}  {when:<19}  {error}")


register(
    Command(
        "dead-letters",
        "list, show or replay what failed after its last try",
        _run,
        _configure,
    )
)
