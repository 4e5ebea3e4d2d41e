"""A fill's tap: the other nodes' clients get the filling node's bytes as they arrive from
the origin, before a chunk of them could be stored; and a tap is data from elsewhere, so
one that breaks off costs nothing (the stored chunks bring the rest) and one that sends a
wrong byte gets its clients' responses cut, never completed, and is not asked again."""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
import redis

from edge_server import TOKEN, free_port
from fallthrough.cache.fill import Fill, FillHead
from fallthrough.cache.fleet_fills import TapUnavailable
from fallthrough.castore import open_store
from fallthrough.castore.blob_server import BlobServer
from fallthrough.fleet import taps
from fallthrough.fleet.fills import claim_name
from fleet_harness import Fleet, FleetNode, until
from origin_server import OriginServer
from test_fleet_fills import Client, lead_from, metric, origin, sha  # noqa: F401 - origin: a fixture
from test_fleet_purges import mounts

PIECE = 64 * 1024  # the origin's writes: half the smallest chunk, so no chunk ends within one


@pytest.mark.parametrize("tap", [True, False])
def test_followers_get_the_filling_nodes_bytes_before_any_chunk_is_stored(tmp_path: Path, s3_url: str,
                                                                         origin: OriginServer, tap: bool) -> None:
    """The origin sends 64 KiB, then waits: no chunk can end there (the smallest is 128
    KiB), so the other nodes' clients have bytes in that wait only through the tap; with
    `tap = false` they wait for the first chunk. (The filling node's own clients wait too:
    its latest piece is held until the next one shows the origin goes on.)"""
    body = os.urandom(2 * 1024 * 1024)  # more than a response gathers whole before it begins
    origin.put("/slow", body, headers={"Cache-Control": "max-age=600"}, etag='"s1"', chunk_size=PIECE,
               first_delay=3.0, chunk_delay=0.01)
    with Fleet(tmp_path, s3_url, mounts(origin), fleet_extra="" if tap else "tap = false\n") as fleet:
        n0, n1, n2 = fleet.nodes
        control = redis.Redis.from_url(fleet.redis.url, socket_timeout=2)
        try:
            lead = lead_from(n0, "/o/slow", control)
            followers = [Client(node, "/o/slow").start() for node in (n1, n2) for _ in range(2)]
            until(lambda: origin.sent("/slow") >= PIECE, 5, "the origin sent nothing")
            if tap:
                until(lambda: all(c.received > 0 for c in followers), 2.5, "no follower had a byte in the wait")
                assert origin.sent("/slow") == PIECE  # still in the origin's first wait
                # All but the last byte: it waits until the whole adds up to the blob's digest.
                assert all(c.received == PIECE - 1 for c in followers)
            else:
                time.sleep(2.0)
                assert origin.sent("/slow") == PIECE
                assert [c.received for c in followers] == [0] * len(followers)
            for client in (*followers, lead):
                client.join()
        finally:
            control.close()
        assert [c.error for c in (*followers, lead)] == [None] * 5
        assert all(sha(c.body) == sha(body) for c in (*followers, lead))
        assert origin.count("/slow") == 1
        time.sleep(1.2)  # the metrics are folded once a second
        tapped = sum(metric(n, "fallthrough_fleet_tapped_bytes_total") for n in (n1, n2))
        assert tapped == (2 * len(body) if tap else 0)  # each node's worker read it all once


def test_a_worker_follows_another_worker_of_its_node_through_its_tap(tmp_path: Path, s3_url: str,
                                                                     origin: OriginServer) -> None:
    """One node, two workers: the clients the worker that does not fetch takes are
    served through the other's tap too (16 connections: all on one worker is one chance
    in 30,000)."""
    body = os.urandom(2 * 1024 * 1024)
    origin.put("/slow", body, headers={"Cache-Control": "max-age=600"}, etag='"s1"', chunk_size=PIECE,
               first_delay=2.0, chunk_delay=0.01)
    with Fleet(tmp_path, s3_url, mounts(origin), size=1, workers=2) as fleet:
        (node,) = fleet.nodes
        time.sleep(2.5)  # both workers have read the heartbeats (every 2 s)
        clients = [Client(node, "/o/slow").start() for _ in range(16)]
        for client in clients:
            client.join()
        assert [c.error for c in clients] == [None] * 16
        assert all(sha(c.body) == sha(body) for c in clients)
        assert origin.count("/slow") == 1
        time.sleep(1.2)
        assert metric(node, "fallthrough_fleet_tapped_bytes_total") == len(body)


class HostileTap(taps._services.FillTapServicer):  # type: ignore[misc, name-defined]
    """A FillTap that sends a blob's head right and its bytes wrong (one byte flipped, or
    only the first half), or its bytes without a head first."""

    def __init__(self, head: bytes, body: bytes, how: str) -> None:
        self.head = head
        self.body = body
        self.how = how
        self.reads = 0

    def Read(self, request, context):  # noqa: ANN001, ANN201, N802 - the RPC's name
        self.reads += 1
        if self.how != "headless":
            yield taps.TapPiece(head=self.head)
        data = bytearray(self.body[request.offset:])
        if self.how == "corrupt":
            data[len(data) // 3] ^= 0x01
        elif self.how == "short":
            data = data[: len(data) // 2]
        for at in range(0, len(data), PIECE):
            yield taps.TapPiece(data=bytes(data[at:at + PIECE]))
            time.sleep(0.01)


def serve_tap(servicer: HostileTap) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    taps._services.add_FillTapServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    return server, f"127.0.0.1:{port}"


def told(control: redis.Redis, stored: str) -> list[dict[bytes, bytes]]:
    """What the fill of `stored` told on its stream: its head, its chunks, its end."""
    (stream,) = control.keys(f"ft:fill:{claim_name(stored, ())}:*")
    events = [fields for _, fields in control.xrange(stream)]
    assert events[0][b"t"] == b"head" and events[-1][b"t"] == b"end"
    return events


def tell_as(control: redis.Redis, events: list[dict[bytes, bytes]], key: str, token: str) -> None:
    """A claim on `key` (made if not there) whose stream tells `events`, another fill's:
    an end is told without its entry."""
    lease = f"ft:lease:{claim_name(key, ())}"
    control.set(lease, token, px=4000, nx=True)
    for fields in events:
        if fields[b"t"] == b"end":
            end = json.loads(fields[b"d"])
            fields = {b"t": b"end", b"d": json.dumps({**end, "entry": None}).encode()}
        control.xadd(f"ft:fill:{claim_name(key, ())}:{token}", fields)


def follow_liar(control: redis.Redis, events: list[dict[bytes, bytes]], node: FleetNode, key: str, token: str,
                hostile: HostileTap) -> Client:
    """A client of `node` asks for `key` while the liar holds its claim: the stream tells
    the head, the tap is read, and only then the chunks and the end."""
    reads = hostile.reads
    tell_as(control, events[:1], key, token)
    client = Client(node, key).start()
    until(lambda: hostile.reads > reads or client.ended is not None, 10, "the tap was never read")
    time.sleep(0.5)  # the tap sends what it sends
    tell_as(control, events[1:], key, token)
    return client.join()


@pytest.mark.parametrize("how", ["short", "headless", "corrupt"])
def test_a_tap_that_breaks_off_or_lies_never_completes_a_wrong_body(tmp_path: Path, s3_url: str,
                                                                    origin: OriginServer, how: str) -> None:
    """A node "evil" in the heartbeats, whose tap sends a stored blob's head and bytes
    wrong, holds claims whose streams tell that blob's real chunks and digest."""
    b = os.urandom(1024 * 1024)
    origin.put("/b", b, headers={"Cache-Control": "max-age=600"})
    for name in ("/a", "/c"):
        origin.put(name, os.urandom(1024), headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, _ = fleet.nodes
        assert sha(n0.get("/o/b").body) == sha(b)
        n0.wait_stored(1)
        control = redis.Redis.from_url(fleet.redis.url, socket_timeout=2)
        events = told(control, "/o/b")
        hostile = HostileTap(events[0][b"d"], b, how)
        server, address = serve_tap(hostile)
        try:
            control.sadd("ft:nodes", "evil")  # a heartbeat, as a node's fleet process beats it
            control.set("ft:node:evil", json.dumps({"listen": address, "node": "evil", "seen": time.time()}), ex=60)
            until(lambda: f'fallthrough_fleet_peer_up{{peer="{address}"}}' in n1.get(
                "/_fallthrough/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).body.decode(), 10,
                  "n1 never found the node 'evil'")
            got = follow_liar(control, events, n1, "/o/a", "evil-4242.1", hostile)
            assert hostile.reads == 1
            if how in ("short", "headless"):  # the stored chunks brought the rest: the true bytes, whole
                assert got.error is None and sha(got.body) == sha(b)
            else:  # cut short of its length, never whole
                assert got.status != 200 or (got.error is not None and got.received < len(b))
                tell_as(control, events, "/o/c", "evil-4242.2")
                again = Client(n1, "/o/c").start().join()
                assert hostile.reads == 1  # the lying node's tap is left alone: the chunks only
                assert again.error is None and sha(again.body) == sha(b)
            assert n1.entries() == 0  # nothing told as another key's is stored
        finally:
            control.close()
            server.stop(None)
    assert origin.count("/a") == 0


def test_a_tap_is_read_from_any_offset_from_before_the_lead_has_its_head(tmp_path: Path) -> None:
    """TapPoint and TapService, as a lead's worker and its node's fleet process run them:
    a read may come before the lead offers its fill (a follower asks as soon as it finds
    the claim); it gets the head once told, then the bytes from its offset as they arrive,
    and the stream ends when the body does. A fill withdrawn (ended, or never to be
    shared) is NOT_FOUND at once, and that is no fault of the peer's."""
    async def scenario() -> None:
        run = str(tmp_path / "run")
        point = taps.TapPoint(run)
        await point.start()
        assert point.worker == os.getpid()
        service = taps.TapService(run)
        server = BlobServer(open_store(f"file://{tmp_path / 'castore'}"), f"127.0.0.1:{free_port()}",
                            services=[service.add_to])
        await server.start()
        reader = taps.TapReader()
        try:
            heads, got = [], bytearray()

            async def read(token: str) -> None:
                async for piece in reader.read(server.address, token, point.worker, 1):
                    if piece.head:
                        heads.append(piece.head)
                    got.extend(piece.data)

            reading = asyncio.create_task(read("n0-1.a"))
            await asyncio.sleep(0.2)  # asked before there is anything to offer
            fill = Fill("/k", (), str(tmp_path))
            point.offer("n0-1.a", fill)
            fill.start_body(FillHead(200, {}, 6, True))  # type: ignore[arg-type]
            fill.append(b"abc")
            await asyncio.sleep(0.1)
            assert heads == [] and got == b""  # nothing before the head is told
            point.tell_head("n0-1.a", b'{"status": 200}')
            deadline = time.monotonic() + 5
            while got != b"bc":
                assert time.monotonic() < deadline, bytes(got)
                await asyncio.sleep(0.01)
            assert heads == [b'{"status": 200}']
            fill.append(b"def")
            fill.complete_body()
            await asyncio.wait_for(reading, 5)
            assert got == b"bcdef"
            point.withdraw("n0-1.a")
            for token in ("n0-1.a", "n0-1.b"):  # ended; and waited on, then never to be shared
                waiting = asyncio.create_task(read(token))
                await asyncio.sleep(0.1)
                point.withdraw(token)
                with pytest.raises(TapUnavailable):
                    await asyncio.wait_for(waiting, 5)
            assert reader.usable(server.address)
        finally:
            await reader.close()
            await server.stop(None)
            await point.close()

    asyncio.run(scenario())


def test_a_claim_whose_token_names_no_worker_or_no_live_node_is_not_tapped(tmp_path: Path) -> None:
    """A claim's token is data from elsewhere: one that names no pid, one too large for a
    pid, or a node the heartbeats do not name, is followed through its chunks alone."""
    from fallthrough.fleet.fills import RedisFills, RedisFollow

    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0")  # never called here
        reader = taps.TapReader()
        fills = RedisFills("n1", client, taps.Taps(taps.TapPoint(str(tmp_path)), reader))
        reader.found({"n0": "127.0.0.1:9"})
        try:
            def tapped(holder: str) -> bool:
                return RedisFollow(fills, "lease", holder, "stream").tapped(0) is not None

            assert tapped("n0-4242.ab")
            assert not tapped("n0-x.ab") and not tapped(f"n0-{2**32}.ab") and not tapped("n7-4242.ab")
        finally:
            await reader.close()
            await client.aclose()

    asyncio.run(scenario())
