"""Many calls of registered Lua scripts in one round trip, without asking Redis first.

redis-py sends ``SCRIPT EXISTS`` before every pipeline that holds a script, one
round trip more per group of calls. ``run_all`` sends each call as ``EVALSHA``
straight away; a call Redis does not know the script of (a restarted or flushed
Redis) did not run, so only those are sent again once their scripts are loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError


@dataclass(frozen=True)
class Call:
    script: Script | AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]


def run_all(client: redis.Redis, calls: Sequence[Call]) -> list[Any]:
    """Each call's result, in order; the first error is raised after all have run."""
    results = _send(client, calls)
    unknown = _unknown(results)
    if unknown:
        for script in _scripts_of(calls, unknown):
            client.script_load(script.script)
        _fill(results, unknown, _send(client, [calls[i] for i in unknown]))
    return _checked(results)


async def run_all_async(client: redis.asyncio.Redis, calls: Sequence[Call]) -> list[Any]:
    """``run_all`` on an asyncio client (the gateway's)."""
    results = await _send_async(client, calls)
    unknown = _unknown(results)
    if unknown:
        for script in _scripts_of(calls, unknown):
            await client.script_load(script.script)
        _fill(results, unknown, await _send_async(client, [calls[i] for i in unknown]))
    return _checked(results)


def _send(client: redis.Redis, calls: Sequence[Call]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    return list(pipe.execute(raise_on_error=False))


async def _send_async(client: redis.asyncio.Redis, calls: Sequence[Call]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    return list(await pipe.execute(raise_on_error=False))


def _unknown(results: Sequence[Any]) -> list[int]:
    """Where Redis did not know the script: those calls did not run."""
    return [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]


def _scripts_of(calls: Sequence[Call], unknown: Sequence[int]) -> list[Script | AsyncScript]:
    return list({calls[i].script.sha: calls[i].script for i in unknown}.values())


def _fill(results: list[Any], unknown: Sequence[int], again: Sequence[Any]) -> None:
    for i, result in zip(unknown, again, strict=True):
        results[i] = result


def _checked(results: list[Any]) -> list[Any]:
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
