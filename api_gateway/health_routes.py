"""The health routes: ``/health``, ``/modules/status`` and ``/modules/{name}/health``.

``/health`` answers anyone (load balancers call it), so each part says only ``ok``
or ``down``; why a part is down goes to the log at WARNING, never to the caller.
The module routes carry modules' own error text and ask for ``health:read``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api_gateway.admission import Policy
from api_gateway.commands import services_of
from api_gateway.openapi_platform import Health, HealthChecks
from api_gateway.publisher import BROKER_PROBE_TIMEOUT_S
from core import keys
from events import NotFound

log = logging.getLogger(__name__)

Status = Literal["ok", "down"]
OK: Status = "ok"
DOWN: Status = "down"
HEALTH_POLICY = Policy("health.read", permission="health:read")


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

    The body names each part, so a 503 says which one is down, and nothing more.
    """
    redis_status, snapshots = await _redis_and_workers(request)
    checks = HealthChecks(
        redis=redis_status,
        broker=await broker_status(request, redis_status),
        mongo=mongo_status(snapshots),
        workers=len(snapshots),
    )
    healthy = checks.workers > 0 and OK == checks.redis == checks.broker == checks.mongo
    body = Health(status="ok" if healthy else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


async def _redis_and_workers(request: Request) -> tuple[Status, list[dict[str, Any]]]:
    try:
        await services_of(request).redis.ping()  # type: ignore[misc]
        return OK, await worker_snapshots(request)
    except Exception as e:  # a failed check is the answer, not an error
        _log_down("redis", e)
        return DOWN, []


async def broker_status(request: Request, redis_status: Status) -> Status:
    """The broker's state; when the broker is the Redis server itself, Redis's state."""
    services = services_of(request)
    if services.settings.broker_url == services.settings.redis_url:
        return redis_status
    try:
        await services.publisher.ping(BROKER_PROBE_TIMEOUT_S)
    except Exception as e:  # a failed check is the answer, not an error
        _log_down("broker", e)
        return DOWN
    return OK


def mongo_status(snapshots: list[dict[str, Any]]) -> Status | Literal["unknown"]:
    """``ok`` when a worker reaches MongoDB, else ``down`` (each worker's reason logged)."""
    if not snapshots:
        return "unknown"  # MongoDB is checked by the workers: with none reporting, nobody knows
    if any(s["mongo"] == OK for s in snapshots):
        return OK
    reasons = "; ".join(f"{s.get('worker', '?')}: {s['mongo']}" for s in snapshots)
    log.warning("health: MongoDB is down for every worker (%s)", reasons)
    return DOWN


def _log_down(part: str, error: Exception) -> None:
    log.warning("health: %s is down (%s: %s)", part, type(error).__name__, error)


async def modules_status(request: Request) -> Response:
    await services_of(request).gate.admit(request, HEALTH_POLICY)
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
    await services_of(request).gate.admit(request, HEALTH_POLICY)
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


def health_routes() -> list[Route]:
    return [
        Route("/health", health),
        Route("/modules/status", modules_status),
        Route("/modules/{name}/health", module_health),
    ]
