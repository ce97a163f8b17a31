"""Script calls in one round trip: none is lost or run twice when Redis forgot the script."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest
import redis
import redis.asyncio

from core import scripts
from tests.stack_fixtures import Servers

_INCR = "return redis.call('INCR', KEYS[1])"
_FAIL = "return redis.error_reply('no')"


def test_calls_run_once_each_in_order_and_the_first_error_is_raised(client: redis.Redis) -> None:
    counter = f"test:scripts:{uuid.uuid4().hex}"
    incr = client.register_script(_INCR)
    assert scripts.run_all(client, [scripts.Call(incr, [counter], [])] * 3) == [1, 2, 3]
    fail = client.register_script(_FAIL)
    calls = [scripts.Call(incr, [counter], []), scripts.Call(fail, [], [])]
    with pytest.raises(redis.ResponseError, match="no"):
        scripts.run_all(client, [*calls, scripts.Call(incr, [counter], [])])
    assert int(cast(str, client.get(counter) or 0)) == 5  # the calls around the error ran


def test_after_a_script_flush_only_the_calls_that_did_not_run_are_sent_again(
    client: redis.Redis,
) -> None:
    counter = f"test:scripts:{uuid.uuid4().hex}"
    plain = client.register_script(_INCR + " -- plain")
    known = client.register_script(_INCR + " -- known")
    client.script_flush()
    client.script_load(known.script)  # one script survives, as after a partial load
    calls = [scripts.Call(known, [counter], []), scripts.Call(plain, [counter], [])] * 2
    assert sorted(scripts.run_all(client, calls)) == [1, 2, 3, 4]
    assert int(cast(str, client.get(counter) or 0)) == 4
    assert client.script_exists(plain.sha) == [True]


def test_the_asyncio_runner_loads_a_forgotten_script_and_runs_each_call_once(
    servers: Servers,
) -> None:
    counter = f"test:scripts:{uuid.uuid4().hex}"

    async def main() -> list[Any]:
        client = redis.asyncio.Redis.from_url(servers.redis_url, decode_responses=True)
        try:
            incr = client.register_script(_INCR + " -- async")
            await client.script_flush()
            calls = [scripts.Call(incr, [counter], [])] * 3
            return await scripts.run_all_async(client, calls)
        finally:
            await client.aclose()

    assert sorted(asyncio.run(main())) == [1, 2, 3]
