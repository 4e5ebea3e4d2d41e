"""Purges across a fleet of three real nodes (real Redis, real SeaweedFS bucket as the
shared tier): every node applies them, a node that was away catches up before it serves,
and Redis losing its data or going away loses no purge."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_server import FALLTHROUGH, TOKEN, request
from fleet_harness import Fleet, FleetNode, until
from origin_server import OriginServer


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


def mounts(origin: OriginServer) -> str:
    return f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'


def fill(node: FleetNode, *paths: str) -> None:
    """Each path cached on the node: a miss, then a hit."""
    for path in paths:
        node.get(path)
    node.wait_idle()
    for path in paths:
        assert node.get(path).header("x-cache") == "HIT", (node.name, path)


def purge(node: FleetNode, **params: str) -> tuple[int, dict]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    reply = request(f"{node.url}/_fallthrough/purge?{query}", "POST", {"Authorization": f"Bearer {TOKEN}"})
    return reply.status, json.loads(reply.body)


def serves_fresh(node: FleetNode, path: str) -> bool:
    """Whether the node no longer holds the path (asked without letting it fetch, so the
    check can be repeated)."""
    return node.get(path, headers={"Cache-Control": "only-if-cached"}).status == 504


def test_a_purge_on_one_node_reaches_every_node_and_wait_all_says_so(tmp_path: Path, s3_url: str,
                                                                       origin: OriginServer) -> None:
    for name in ("a", "b", "c"):
        origin.put(f"/{name}", name.encode() * 100, headers={"Cache-Control": "max-age=600", "Surrogate-Key": "fruit"})
    origin.put("/keep", b"k" * 100, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        for node in fleet.nodes:
            fill(node, "/o/a", "/o/b", "/o/c", "/o/keep")
        status, answer = purge(n1, url="/o/a", wait="all")
        assert status == 200, answer
        assert set(answer["fleet"]["nodes"]) == {"n0", "n1", "n2"}
        assert all(result["applied"] for result in answer["fleet"]["nodes"].values()), answer
        assert answer["fleet"]["shared"] and answer["fleet"]["redis"]
        # Applied means applied: the next request on every node goes to the origin.
        assert all(serves_fresh(node, "/o/a") for node in fleet.nodes)
        status, answer = purge(n2, tag="fruit", wait="all")
        assert status == 200 and all(r["applied"] for r in answer["fleet"]["nodes"].values()), answer
        assert all(serves_fresh(node, "/o/b") and serves_fresh(node, "/o/c") for node in fleet.nodes)
        assert all(node.get("/o/keep").header("x-cache") == "HIT" for node in fleet.nodes)
        status, answer = purge(n0, prefix="/o/k", wait="all")
        assert status == 200, answer
        assert all(serves_fresh(node, "/o/keep") for node in fleet.nodes)
        # Without wait=all the answer comes at once, and the purge still lands everywhere.
        fill(n2, "/o/keep")
        status, answer = purge(n0, url="/o/keep")
        assert status == 200 and "nodes" not in answer["fleet"]
        until(lambda: serves_fresh(n2, "/o/keep"), 5, "the purge never reached n2")

        time.sleep(1.2)  # a heartbeat a second: the status says what each node had applied then
        report = subprocess.run([FALLTHROUGH, "fleet", "status", "--config", str(n0.config), "--json"],
                                capture_output=True, text=True, timeout=30)
        assert report.returncode == 0, report.stderr
        nodes = json.loads(report.stdout)["nodes"]
        assert sorted(nodes) == ["n0", "n1", "n2"] and all(v is not None for v in nodes.values())
        assert nodes["n1"]["http"] == f"127.0.0.1:{n1.port}" and nodes["n1"]["purges"]["applied"] == 4
        table = subprocess.run([FALLTHROUGH, "fleet", "status", "--config", str(n0.config)], capture_output=True,
                               text=True, timeout=30).stdout
        assert [line.split()[:2] for line in table.splitlines()[1:4]] == [["n0", "live"], ["n1", "live"],
                                                                           ["n2", "live"]]


def test_a_node_that_was_down_catches_up_before_it_serves(tmp_path: Path, s3_url: str, origin: OriginServer) -> None:
    origin.put("/a", b"old" * 100, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        fill(n2, "/o/a")
        n2.stop()
        origin.put("/a", b"new" * 100, headers={"Cache-Control": "max-age=600"})
        status, answer = purge(n0, url="/o/a", wait="all")
        assert status == 200 and set(answer["fleet"]["nodes"]) == {"n0", "n1"}, answer  # n2 is not live
        n2.start()
        reply = n2.get("/o/a")  # the very first request after the start
        assert reply.body == b"new" * 100 and reply.header("x-cache") != "HIT"


def test_redis_losing_its_data_loses_no_purge(tmp_path: Path, s3_url: str, origin: OriginServer) -> None:
    origin.put("/a", b"one" * 100, headers={"Cache-Control": "max-age=600"})
    origin.put("/b", b"two" * 100, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        fill(n1, "/o/a", "/o/b")
        fill(n2, "/o/a", "/o/b")
        n2.stop()
        assert purge(n0, url="/o/a", wait="all")[0] == 200
        # Redis restarts empty (no persistence): the stream and its positions are gone.
        fleet.redis.stop()
        fleet.redis.start()
        n2.start()  # it saved a position in a stream that no longer exists
        assert serves_fresh(n2, "/o/a"), "n2 missed the purge issued while it was down"
        assert n2.get("/o/b").header("x-cache") == "HIT"  # and kept what no purge covered
        fleet.wait_live()
        assert purge(n0, url="/o/b", wait="all")[0] == 200  # the fleet goes on on the new Redis
        until(lambda: serves_fresh(n1, "/o/b") and serves_fresh(n2, "/o/b"), 5)


def test_without_redis_hits_go_on_and_purges_land_through_the_shared_tier(tmp_path: Path, s3_url: str,
                                                                          origin: OriginServer) -> None:
    origin.put("/a", b"x" * 1000, headers={"Cache-Control": "max-age=600"})
    origin.put("/b", b"y" * 1000, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        for node in fleet.nodes:
            fill(node, "/o/a", "/o/b")
        fleet.redis.stop()
        replies = [node.get(path) for _ in range(20) for node in fleet.nodes for path in ("/o/a", "/o/b")]
        assert {(r.status, r.header("x-cache")) for r in replies} == {(200, "HIT")}
        status, answer = purge(n0, url="/o/a")
        assert status == 200 and answer["fleet"]["shared"] and not answer["fleet"]["redis"], answer
        started = time.monotonic()
        until(lambda: serves_fresh(n1, "/o/a") and serves_fresh(n2, "/o/a"), 10,
              "the purge never came through the shared tier")
        assert time.monotonic() - started < 5  # purge_poll is 0.5 s here; the bound is a few polls
        assert n1.get("/o/b").header("x-cache") == "HIT"
        fleet.redis.start()
        fleet.wait_live()  # ?wait=all waits for the nodes Redis knows to be alive
        fill(n1, "/o/a")
        assert purge(n2, url="/o/a", wait="all")[0] == 200  # and the stream again, once Redis is back
        assert serves_fresh(n1, "/o/a")


def test_an_unsafe_request_through_one_node_invalidates_the_url_on_every_node(tmp_path: Path, s3_url: str,
                                                                              origin: OriginServer) -> None:
    origin.put("/doc", b"v1" * 100, headers={"Cache-Control": "max-age=600"})
    origin.put("/other", b"o" * 100, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        for node in fleet.nodes:
            fill(node, "/o/doc", "/o/other")
        n0, n1, n2 = fleet.nodes
        assert n0.get("/o/doc", method="POST", body=b"edit").status == 200  # RFC 9111 §4.4, fleet-wide
        for node in (n1, n2):
            until(lambda node=node: serves_fresh(node, "/o/doc"), 5, f"{node.name} still holds /o/doc")
            assert node.get("/o/other").header("x-cache") == "HIT"
        assert serves_fresh(n0, "/o/doc")
