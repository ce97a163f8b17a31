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
from redis.commands.core import Script
from redis.exceptions import NoScriptError


@dataclass(frozen=True)
class Call:
    script: Script
    keys: Sequence[str]
    args: Sequence[Any]


def run_all(client: redis.Redis, calls: Sequence[Call]) -> list[Any]:
    """Each call's result, in order; the first error is raised after all have run."""
    results = _send(client, calls)
    unknown = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if unknown:
        for script in {calls[i].script.sha: calls[i].script for i in unknown}.values():
            client.script_load(script.script)
        for i, result in zip(unknown, _send(client, [calls[i] for i in unknown]), strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def _send(client: redis.Redis, calls: Sequence[Call]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    return list(pipe.execute(raise_on_error=False))
