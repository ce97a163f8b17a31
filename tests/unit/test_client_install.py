"""``hookline.client`` stands alone: it imports, and a client is built, with every package
of the server refused, as where only httpx and pydantic are installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SERVER_PACKAGES = (
    "api_gateway",
    "celery",
    "core",
    "events",
    "kombu",
    "modules",
    "pymongo",
    "redis",
    "starlette",
    "uvicorn",
    "workers",
)
SERVER_MODULES = ("hookline.cli", "hookline.processes", "hookline.stack")

PROGRAM = textwrap.dedent(
    """
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {packages!r} or name in {modules!r}:
                raise ImportError("refused: " + name)

    sys.meta_path.insert(0, Refuse())
    from hookline.client import AsyncClient, Client
    Client("http://127.0.0.1:1").close()
    AsyncClient("http://127.0.0.1:1")
    print("ok")
    """
)


def test_the_client_imports_without_the_server() -> None:
    """Nothing the client imports reaches a server package (Celery, Redis, the gateway)."""
    program = PROGRAM.format(packages=set(SERVER_PACKAGES), modules=set(SERVER_MODULES))
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
