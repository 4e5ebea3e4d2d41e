"""What one node stored, the others serve from the fleet's shared tier without asking the
origin; never what a purge covers, never from a record that lies."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import redis

from fallthrough.cache.cache import FLEET_CLOCK_SLACK
from edge_server import TOKEN
from fleet_harness import Fleet, until
from origin_server import OriginServer
from test_fleet_purges import mounts, purge, serves_fresh


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_what_one_node_stored_the_others_serve_without_the_origin(tmp_path: Path, s3_url: str,
                                                                  origin: OriginServer) -> None:
    body = os.urandom(3 * 1024 * 1024)  # several chunks
    origin.put("/big", body, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        assert sha(n0.get("/o/big").body) == sha(body)
        n0.wait_stored(1)
        time.sleep(0.3)  # the record is written once the entry is committed, in the background
        for node in (n1, n2):
            reply = node.get("/o/big")
            assert reply.status == 200 and sha(reply.body) == sha(body)
        assert origin.count("/big") == 1
        # Each now holds it itself: a Range, a HEAD, a hit, all without the fleet or the origin.
        assert n2.get("/o/big", headers={"Range": "bytes=100-199"}).body == body[100:200]
        assert n1.get("/o/big").header("x-cache") == "HIT"
        assert origin.count("/big") == 1
        time.sleep(1.2)  # the metrics are folded once a second
        scraped = n1.get("/_fallthrough/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).body.decode()
        assert "fallthrough_fleet_entries_found_total 1.0" in scraped.splitlines()


def test_a_purged_object_is_not_taken_from_the_fleet(tmp_path: Path, s3_url: str, origin: OriginServer) -> None:
    origin.put("/a", b"old" * 1000, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        assert n0.get("/o/a").body == b"old" * 1000
        n0.wait_stored(1)
        time.sleep(0.3)
        origin.put("/a", b"new" * 1000, headers={"Cache-Control": "max-age=600"})
        assert purge(n0, url="/o/a", wait="all")[0] == 200
        # A node takes from the fleet only what was fetched after the purges it knows by
        # more than the clocks may disagree (cache.FLEET_CLOCK_SLACK).
        time.sleep(FLEET_CLOCK_SLACK + 0.3)
        # n1 never held it; the fleet's record is older than the purge: the origin is asked.
        assert n1.get("/o/a").body == b"new" * 1000
        assert origin.count("/a") == 2
        n1.wait_stored(1)
        time.sleep(0.3)
        assert n2.get("/o/a").body == b"new" * 1000  # n1's record, newer than the purge
        assert origin.count("/a") == 2


def test_a_purge_racing_a_fill_on_another_node_never_brings_the_object_back(tmp_path: Path, s3_url: str,
                                                                          origin: OriginServer) -> None:
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        for round_ in range(6):
            path = f"/race{round_}"
            origin.put(path, b"old" * 2000, headers={"Cache-Control": "max-age=600"}, delay=0.05 * (round_ % 3))
            filling = threading.Thread(target=n0.get, args=(f"/o{path}",))
            filling.start()
            time.sleep(0.02 * round_)
            origin.put(path, b"new" * 2000, headers={"Cache-Control": "max-age=600"})
            assert purge(n1, url=f"/o{path}", wait="all")[0] == 200
            filling.join()
            n0.wait_idle()
            time.sleep(0.3)
            for node in fleet.nodes:  # whoever asks now gets what the origin has since the purge
                assert node.get(f"/o{path}").body == b"new" * 2000, (round_, node.name)


def forget_finished_fills(fleet: Fleet) -> None:
    """What the fleet keeps of fills that ended (fleet/fills.py ENDED_KEEP), gone early."""
    client = redis.Redis.from_url(fleet.redis.url, socket_timeout=2)
    try:
        for key in client.keys("ft:lease:*"):
            client.delete(key)
    finally:
        client.close()


def test_a_record_that_lies_is_no_entry(tmp_path: Path, s3_url: str, origin: OriginServer, seaweedfs) -> None:  # noqa: ANN001
    origin.put("/a", b"true" * 1000, headers={"Cache-Control": "max-age=600"})
    origin.put("/b", b"bee" * 1000, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        for path in ("/o/a", "/o/b"):
            n0.get(path)
        n0.wait_stored(2)
        time.sleep(0.3)
        s3 = boto3.client("s3", endpoint_url=seaweedfs.endpoint, region_name="us-east-1",
                          aws_access_key_id=seaweedfs.env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=seaweedfs.env["AWS_SECRET_ACCESS_KEY"])
        bucket, prefix = s3_url[len("s3://"):].split("/", 1)
        names = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/fleet/entries/")["Contents"]]
        assert len(names) == 2
        records = {name: s3.get_object(Bucket=bucket, Key=name)["Body"].read() for name in names}
        a_name = next(n for n, r in records.items() if b'"/o/a"' in r)
        b_name = next(n for n in names if n != a_name)
        # /a's record now names /b's blob (another digest, another size); /b's is not JSON.
        s3.put_object(Bucket=bucket, Key=a_name, Body=records[a_name].replace(b"/o/a", b"/o/b"))
        s3.put_object(Bucket=bucket, Key=b_name, Body=b"\x00 not a record")
        forget_finished_fills(fleet)  # the records are all n1 has to go by
        assert n1.get("/o/a").body == b"true" * 1000
        assert n1.get("/o/b").body == b"bee" * 1000
        assert origin.count("/a") == 2 and origin.count("/b") == 2
        until(lambda: not serves_fresh(n1, "/o/a"), 5)


def test_a_request_after_a_purge_does_not_join_a_fill_that_began_before_it(tmp_path: Path, s3_url: str,
                                                                          origin: OriginServer) -> None:
    old, new = b"o" * 60_000, b"n" * 60_000
    origin.put("/slow", old, headers={"Cache-Control": "max-age=600"}, chunk_size=2000, chunk_delay=0.05)
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, _ = fleet.nodes
        early: list[bytes] = []
        filling = threading.Thread(target=lambda: early.append(n0.get("/o/slow").body))
        filling.start()
        until(lambda: origin.count("/slow") == 1, 5)
        time.sleep(0.2)  # the old body is on its way to n0
        origin.put("/slow", new, headers={"Cache-Control": "max-age=600"})
        assert purge(n1, url="/o/slow", wait="all")[0] == 200
        assert n0.get("/o/slow").body == new  # not the fill that was asked for before the purge
        filling.join()
        assert early == [old]  # that request was older than the purge: it gets what it asked for, whole
        n0.wait_idle()
        assert n0.get("/o/slow").body == new


def test_without_redis_a_cold_object_costs_at_most_one_origin_request_per_node(tmp_path: Path, s3_url: str,
                                                                               origin: OriginServer) -> None:
    body = os.urandom(1024 * 1024)
    origin.put("/cold", body, headers={"Cache-Control": "max-age=600"}, chunk_size=64 * 1024, chunk_delay=0.01)
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        fleet.redis.stop()
        got: list[bytes] = []
        clients = [threading.Thread(target=lambda node=node: got.append(node.get("/o/cold").body))
                   for node in fleet.nodes for _ in range(10)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        assert len(got) == 30 and all(sha(b) == sha(body) for b in got)
        assert 1 <= origin.count("/cold") <= 3
