"""The layers import downwards only: the kernel, the workers and the gateway never import the
CLI and stack layer (``hookline``), so what they share with it lives below them (``core``).

``workers.pytest_plugin`` starts embedded servers, as ``hookline up`` does; both take them
from ``core.embedded_servers``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LOWER_LAYERS = ("core", "events", "modules", "workers", "api_gateway")
UPPER = "hookline"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_no_lower_layer_imports_the_cli_and_stack_layer(layer: str) -> None:
    upward = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name in _imported(path)
        if name == UPPER or name.startswith(f"{UPPER}.")
    }
    assert not upward
