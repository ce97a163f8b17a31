"""``hookline new-module NAME``: a module, its orchestrator and a harness test that passes.

The module declares one permission, one command route needing it, one event
and one hook on it, so every piece of the wiring is there to copy from; the
test runs them in-process with the harness (``workers.testing``) and checks
that the role table composed from every module's declarations gives users the
route's permission. A module declares its own permissions: the kernel refuses
at start-up a route whose permission neither its module, a dependency nor the
kernel declares (``core.security.permissions``).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class ScaffoldError(Exception):
    """The module cannot be created; the message says why."""


@dataclass(frozen=True)
class Scaffold:
    root: Path
    name: str

    @property
    def class_prefix(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    def files(self) -> dict[Path, str]:
        values = {
            "name": self.name,
            "Class": self.class_prefix,
            "path": self.name.replace("_", "-"),
        }
        templates = {
            Path("modules", self.name, "__init__.py"): _INIT,
            Path("modules", self.name, "models.py"): _MODELS,
            Path("modules", self.name, "module.py"): _MODULE,
            Path("workers", "orchestrators", f"{self.name}.py"): _ORCHESTRATOR,
            Path("tests", "modules", f"test_{self.name}.py"): _TEST,
        }
        return {path: Template(text).substitute(values) for path, text in templates.items()}


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the new module's files under ``root``; the paths written."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(f"module name {name!r} must be lower_snake_case, 2 to 40 characters")
    if not (root / "modules").is_dir() or not (root / "workers" / "orchestrators").is_dir():
        raise ScaffoldError(f"{root} is not a Hookline project (no modules/ or workers/)")
    plan = Scaffold(root, name).files()
    existing = [str(path) for path in plan if (root / path).exists()]
    if existing:
        raise ScaffoldError(f"module {name!r} exists already: {', '.join(existing)}")
    tests_package = root / "tests" / "modules" / "__init__.py"
    written = []
    for path, text in plan.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    if not tests_package.exists():
        tests_package.write_text("")
        written.append(tests_package)
    return written


_INIT = '''"""$Class: describe the module in one line."""

from modules.$name.module import ${Class}Module

__all__ = ["${Class}Module"]
'''

_MODELS = '''"""Requests, records and event payloads of the $name module."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CreateItem(BaseModel):
    """The body of ``POST /$path/items``; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=500)


class Item(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    owner: str
    text: str
    created_at: datetime


class ItemCreated(BaseModel):
    item_id: str
    owner: str
    text: str
'''

_MODULE = '''"""The $name module: pure declarations and decisions; its orchestrator does the I/O."""

from __future__ import annotations

from datetime import datetime

from events import EventSpec, Unauthorized
from modules.base import BaseModule
from modules.declarations import Hook, Index, Permission, Route
from modules.$name.models import CreateItem, Item, ItemCreated


class ${Class}Module(BaseModule):
    name = "$name"
    description = "Describe what the $name module is for."
    permissions = (
        # What its routes need, and which roles hold it (admin holds every permission).
        Permission(
            "${name}:create",
            roles=("user",),
            description="Create $name items",
        ),
    )
    routes = (
        Route(
            "POST",
            "/$path/items",
            "create_item",
            request=CreateItem,
            permission="${name}:create",
            # Items belong to a signed-in user: API keys are refused at the gateway.
            users_only=True,
            success_status=201,
            summary="Create an item",
            response=Item,
        ),
    )
    events = (
        # What this module announces; any module may hook into these.
        EventSpec("${name}_item_created", ItemCreated, "An item was created."),
    )
    hooks = (
        # Handlers are orchestrator methods; lower priority runs first (default 10).
        Hook("${name}_item_created", "announce_item", context="mark the item announced"),
    )
    indexes = (Index("items", (("owner", 1), ("created_at", -1))),)

    @staticmethod
    def new_item(request: CreateItem, owner: str | None, command_id: str, now: datetime) -> Item:
        """An item keyed by its command, so a redelivered command makes the same one."""
        if owner is None:
            raise Unauthorized("only a signed-in user can create items")
        return Item(id=command_id, owner=owner, text=request.text, created_at=now)

    @staticmethod
    def created_event(item: Item) -> ItemCreated:
        return ItemCreated(item_id=item.id, owner=item.owner, text=item.text)
'''

_ORCHESTRATOR = '''"""The $name orchestrator: stores items and reacts to their events."""

from __future__ import annotations

from events import CommandResult, HookSink, Received
from modules.$name import ${Class}Module
from modules.$name.models import CreateItem, ItemCreated
from workers.context import CommandContext
from workers.documents import to_document
from workers.orchestrator import Orchestrator


class ${Class}Orchestrator(Orchestrator[${Class}Module]):
    module_class = ${Class}Module

    def create_item(self, ctx: CommandContext, request: CreateItem) -> CommandResult:
        item = self.module.new_item(request, ctx.actor.user_id, ctx.command.id, ctx.now)
        # Upsert by id: a redelivered command writes the same document again.
        self.collection("items").replace_one({"_id": item.id}, to_document(item), upsert=True)
        ctx.emit("${name}_item_created", self.module.created_event(item))
        return self.result(item, status_code=201)

    def announce_item(self, event: Received[ItemCreated], sink: HookSink) -> None:
        """Runs for ``${name}_item_created``. A hook may run twice (docs/modules.md, "effects
        exactly once"): setting the same value again is harmless; key any record you insert
        by ``sink.run_id``."""
        self.collection("items").update_one(
            {"_id": event.payload.item_id}, {"$$set": {"announced_by": event.id}}
        )
'''

_TEST = '''"""The $name module, run in-process through the harness: no broker, real stores."""

from __future__ import annotations

from core.security import RoleTable
from events import Actor, CommandStatus
from modules import discover
from modules.introspection import declared
from workers.pytest_plugin import HarnessFactory

ADA = Actor(user_id="ada", roles=("user",))


def test_users_hold_the_permission_the_route_needs() -> None:
    """The route needs ``${name}:create``, which the module declares for users; the role
    table composed from every module's declarations accepts the route and grants it."""
    modules = discover()
    (route,) = modules["$name"].routes
    assert route.permission == "${name}:create"
    found = declared(modules)
    roles = RoleTable.compose(found.permissions, found.permission_uses)
    assert roles.owners[route.permission] == "$name"
    assert roles.has_permission(ADA, route.permission)
    assert not roles.has_permission(Actor(user_id="op", roles=("operator",)), route.permission)


def test_create_item_stores_it_emits_the_event_and_runs_its_hook(
    hookline_harness: HarnessFactory,
) -> None:
    """Creating an item answers 201, emits its event, and the event's hook marks the item."""
    harness = hookline_harness("$name")
    run = harness.submit("$name.create_item", {"text": "hello"}, actor=ADA)
    assert run.status is CommandStatus.SUCCEEDED and run.status_code == 201
    run.assert_emitted("${name}_item_created", owner="ada", text="hello")
    run.assert_hook_order("${name}_item_created", ["$name.announce_item"])
    stored = harness.collection("$name", "items").find_one({"_id": run.body["id"]})
    assert stored is not None and stored["announced_by"] == run.events[0].id


def test_empty_text_is_refused_naming_the_field(hookline_harness: HarnessFactory) -> None:
    """An empty text fails the command with 422 and emits nothing."""
    harness = hookline_harness("$name")
    run = harness.submit("$name.create_item", {"text": ""}, actor=ADA)
    assert run.status_code == 422 and run.events == ()
    assert [error["loc"] for error in run.body["errors"]] == [["text"]]
'''
