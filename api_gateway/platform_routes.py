"""Operator routes: health, module status, module health."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.commands import services_of
from api_gateway.publisher import BROKER_PROBE_TIMEOUT_S
from core import keys
from events import NotFound


async def worker_snapshots(request: Request) -> list[dict[str, Any]]:
    """Every live worker's last heartbeat, freshest first."""
    client = services_of(request).redis
    names = [
        name async for name in client.scan_iter(match=keys.WORKER_HEARTBEAT_PATTERN, count=100)
    ]
    raw = await client.mget(names) if names else []
    snapshots = [json.loads(r) for r in raw if r]
    return sorted(snapshots, key=lambda s: s["at"], reverse=True)


async def health(request: Request) -> Response:
    """200 when Redis, the broker, MongoDB (as workers see it) and a worker answer; else 503.

    The body names each part, so a 503 says which one is down.
    """
    checks: dict[str, Any] = {"redis": "ok", "broker": "ok", "mongo": "unknown", "workers": 0}
    try:
        await services_of(request).redis.ping()  # type: ignore[misc]
        snapshots = await worker_snapshots(request)
    except Exception as e:  # a failed check is the answer, not an error
        checks["redis"] = f"down: {type(e).__name__}"
        snapshots = []
    checks["broker"] = await broker_status(request, checks["redis"])
    checks["workers"] = len(snapshots)
    if snapshots:
        checks["mongo"] = (
            "ok" if any(s["mongo"] == "ok" for s in snapshots) else snapshots[0]["mongo"]
        )
    healthy = checks["workers"] > 0 and all(
        checks[part] == "ok" for part in ("redis", "broker", "mongo")
    )
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def broker_status(request: Request, redis_status: str) -> str:
    """The broker's state; when the broker is the Redis server itself, Redis's state."""
    services = services_of(request)
    if services.settings.broker_url == services.settings.redis_url:
        return redis_status
    try:
        await services.publisher.ping(BROKER_PROBE_TIMEOUT_S)
    except Exception as e:  # a failed check is the answer, not an error
        return f"down: {type(e).__name__}"
    return "ok"


async def modules_status(request: Request) -> Response:
    snapshots = await worker_snapshots(request)
    if not snapshots:
        return JSONResponse({"workers": 0, "load_order": [], "modules": []}, status_code=503)
    latest = snapshots[0]
    body = {
        "workers": len(snapshots),
        "load_order": latest["load_order"],
        "modules": latest["modules"],
    }
    return JSONResponse(body)


async def module_health(request: Request) -> Response:
    name = request.path_params["name"]
    for snapshot in await worker_snapshots(request):
        for module in snapshot["modules"]:
            if module["name"] == name:
                healthy = module["health"]["status"] == "healthy"
                return JSONResponse(
                    {"name": name, "state": module["state"], **module["health"]},
                    status_code=200 if healthy else 503,
                )
    raise NotFound(f"no module {name!r} is reported by any worker")
