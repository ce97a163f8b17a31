"""A read model's name lives with its module: the query route that serves the view and the
orchestrator that publishes it use the one constant the module declares."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from hookline import role_commands
from modules import discover
from modules.base import BaseModule
from modules.declarations import RouteMode
from modules.user_management import UserManagementModule

ORCHESTRATORS = Path(__file__).parents[2] / "workers" / "orchestrators"
# The read-model writes an orchestrator makes, and where the view name sits in their arguments.
VIEW_ARGUMENT = {"put_read_model": 0, "put": 1, "append": 1, "replace": 1}
MODULES = discover()


def _writes(tree: ast.AST) -> list[tuple[ast.Call, ast.expr]]:
    """Every ``self.put_read_model(view, ...)`` and ``self.read_models.<write>(module, view, ...)``
    in ``tree``, with its view argument."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method, owner = node.func.attr, node.func.value
        is_helper = method == "put_read_model"
        is_store = isinstance(owner, ast.Attribute) and owner.attr == "read_models"
        if (is_helper or (is_store and method in VIEW_ARGUMENT)) and node.args:
            found.append((node, node.args[VIEW_ARGUMENT[method]]))
    return found


@pytest.mark.parametrize("cls", MODULES.values(), ids=list(MODULES))
def test_every_query_route_serves_a_view_its_module_declares(cls: type[BaseModule]) -> None:
    for route in cls.routes:  # a query with no read model is answered by its command each time
        if route.mode is RouteMode.QUERY and route.read_model is not None:
            assert route.read_model in cls.read_models, (cls.name, route.path)


@pytest.mark.parametrize("path", sorted(ORCHESTRATORS.glob("*.py")), ids=lambda p: p.stem)
def test_orchestrators_name_views_by_their_modules_constants(path: Path) -> None:
    """No view name is a string literal; each is a name that resolves to a view the module
    owning the orchestrator declares."""
    orchestrator = importlib.import_module(f"workers.orchestrators.{path.stem}")
    declared = MODULES[path.stem].read_models if path.stem in MODULES else ()
    for call, view in _writes(ast.parse(path.read_text())):
        where = f"{path.name}:{call.lineno}"
        assert isinstance(view, ast.Name), f"{where}: the view is not a module's constant"
        assert getattr(orchestrator, view.id) in declared, f"{where}: {view.id} is not declared"


def test_the_scan_sees_the_writes() -> None:
    """The reference orchestrators publish views, so the scan above is not vacuous."""
    seen = {p.stem for p in ORCHESTRATORS.glob("*.py") if _writes(ast.parse(p.read_text()))}
    assert {"user_management", "wallet", "transactions", "notifications", "api_keys"} <= seen


def test_the_role_command_drops_the_profile_view_the_module_declares() -> None:
    assert role_commands.PROFILE_VIEW in UserManagementModule.read_models  # type: ignore[attr-defined]
