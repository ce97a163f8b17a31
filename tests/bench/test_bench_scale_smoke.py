"""``--scale`` runs end to end at tiny sizes (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.plans import Query, queries_in, verdict
from bench.templates import Copies, RedisKey, Template, derive
from tests.stack_fixtures import Servers

pytestmark = pytest.mark.bench

SIZES = (10, 100)
TINY = [
    "--scale",
    f"--scale-sizes={','.join(map(str, SIZES))}",
    "--scale-commands=10",
    "--warmup=4",
    "--window=4",
    "--concurrency=1",
]
# What one user and one command leave in MongoDB: one document in each.
SEEDED = {
    "user_management_users",
    "wallet_wallets",
    "wallet_ledger",
    "hookline_command_history",
    "hookline_hook_runs",
    "probe_items",
}


def test_scale_measures_each_size_and_explains_the_hot_queries(
    servers: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scale.json"
    assert main([*TINY, f"--mongo-url={servers.mongo_url}", f"--json={out}"]) == 0
    figures = {f["key"]: f for f in json.loads(out.read_text())["figures"]}
    expected = {
        f"scale_{what}_{size}" for what in ("throughput", "p99", "redis_bytes") for size in SIZES
    }
    assert set(figures) == {*expected, "scale_plans"}
    for size in SIZES:
        details = figures[f"scale_throughput_{size}"]["details"]
        assert (details["completed"], details["failed"]) == (10, 0)
        assert details["seeding"]["stored"] == dict.fromkeys(SEEDED, size)
        assert figures[f"scale_redis_bytes_{size}"]["details"]["keyspace"]
    plans = figures["scale_plans"]["details"]["plans"]
    by_query = {(p["operation"], p["collection"], p["filter"]): p for p in plans}
    history = by_query[("update", "hookline_command_history", '{"_id": "?"}')]
    assert history["verdict"] == "index" and "probe" in history["steps"]
    assert {p["verdict"] for p in plans} <= {"index", "SCAN", "no query", "?"}
    printed = capsys.readouterr().out
    for line in ("plans of the hot path's queries", "keys without a TTL at 100", "by kind at"):
        assert line in printed


def test_a_copy_replaces_every_token_and_follows_its_sources() -> None:
    user = "a" * 32
    template = Template(
        what="command",
        documents={"c": [{"_id": "c" * 32, "owner": "user:bench", "n": 1, "at": {"k": "v"}}]},
        keys=(RedisKey("x:" + "c" * 32, "hash", {"owner": "bench", "t": "{}"}, 5000),),
        tokens=("c" * 32, "bench"),
        principal="bench",
    )
    copies = Copies(template, {"bench": user})
    document = copies.documents("c", 7)[0]
    owner = f"user:{derive(user, 7)}"
    assert document == {"_id": derive("c" * 32, 7), "owner": owner, "n": 1, "at": {"k": "v"}}
    assert document["at"] is template.documents["c"][0]["at"]  # shared: it holds no token
    key = copies.keys(7)[0]
    assert key == RedisKey(
        f"x:{derive('c' * 32, 7)}", "hash", {"owner": derive(user, 7), "t": "{}"}, 5000
    )
    assert len({derive("c" * 32, n) for n in range(1000)}) == 1000


def test_plans_are_read_from_mongodb_and_nx_27017_alike() -> None:
    assert verdict(["FETCH", "IXSCAN"]) == verdict(["SEARCH t USING INDEX i (_id=?)"]) == "index"
    assert verdict(["COLLSCAN"]) == verdict(["SCAN t", "SCAN json_each VIRTUAL TABLE"]) == "SCAN"
    assert verdict(["EOF"]) == "?"
    bulk: dict[str, Any] = {
        "update": "h",
        "ordered": True,
        "updates": [{"q": {"_id": "1"}, "u": {}}, {"q": {"_id": "2", "at": {"$lt": 3}}, "u": {}}],
    }
    queries = queries_in(bulk)
    assert [q.shape for q in queries] == ['{"_id": "?"}', '{"_id": "?", "at": {"$lt": "?"}}']
    assert queries[0] == Query(
        "update", "h", {"_id": "1"}, {"update": "h", "updates": [bulk["updates"][0]]}
    )
