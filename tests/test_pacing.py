"""Large bodies go out at the client's pace: a slow client costs the server no memory,
a client that leaves costs it nothing, and a body that breaks off still fails the client.
End to end through the real server, with a raw socket as the slow client."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_server import EdgeServer, request
from origin_server import OriginServer
from test_edge import mount

BIG = 96 * 1024 * 1024
# A body sent without pacing piles up in the worker whole (96 MiB) within a second;
# paced, the worker holds a pipe and read buffers, plus what storing a fill costs.
MEMORY_SLACK = BIG // 2


@pytest.fixture(scope="module")
def big_body() -> bytes:
    return os.urandom(BIG)


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


def worker_rss(server: EdgeServer) -> int:
    pid = json.loads(server.get("/_fallthrough/health").body)["pid"]
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class SlowClient:
    """Sends a GET, then reads only when told to: the server's sends back up behind it."""

    def __init__(self, server: EdgeServer, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n".encode())
        self.received = bytearray()

    def read(self, at_least: int) -> None:
        while len(self.received) < at_least:
            data = self.sock.recv(1 << 20)
            if not data:
                break
            self.received += data

    def body(self) -> bytes:
        self.read(1 << 62)
        head, _, body = self.received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return bytes(body)

    def close(self) -> None:
        self.sock.close()


def test_a_slow_client_of_a_large_hit_costs_no_memory(tmp_path: Path, origin: OriginServer, big_body: bytes) -> None:
    origin.put("/big", big_body, headers={"Cache-Control": "max-age=600"})
    with EdgeServer(tmp_path, mount(origin.url)) as server:
        assert hashlib.sha256(server.get("/o/big").body).digest() == hashlib.sha256(big_body).digest()
        server.wait_idle(30)
        before = worker_rss(server)
        client = SlowClient(server, "/o/big")
        client.read(256 * 1024)
        time.sleep(2)  # the server could have queued the whole body by now
        grown = worker_rss(server) - before
        assert grown < MEMORY_SLACK, f"the worker grew by {grown >> 20} MiB behind a slow client"
        assert client.body() == big_body
        assert origin.count("/big") == 1


def test_a_slow_client_of_a_finished_fill_costs_no_memory(tmp_path: Path, origin: OriginServer,
                                                          big_body: bytes) -> None:
    origin.put("/big", big_body, headers={"Cache-Control": "max-age=600"})
    with EdgeServer(tmp_path, mount(origin.url)) as server:
        before = worker_rss(server)
        client = SlowClient(server, "/o/big")  # the miss: the origin outruns this client
        client.read(256 * 1024)
        time.sleep(2)
        grown = worker_rss(server) - before
        assert grown < MEMORY_SLACK, f"the worker grew by {grown >> 20} MiB behind a slow client"
        assert client.body() == big_body


def test_a_client_that_leaves_mid_body_costs_nothing(tmp_path: Path, origin: OriginServer, big_body: bytes) -> None:
    origin.put("/big", big_body, headers={"Cache-Control": "max-age=600"})
    with EdgeServer(tmp_path, mount(origin.url)) as server:
        for _ in range(5):
            client = SlowClient(server, "/o/big")
            client.read(1024 * 1024)
            client.close()
        server.wait_idle(30)
        again = server.get("/o/big")
        assert (again.header("x-cache"), again.body == big_body) == ("HIT", True)
        assert origin.count("/big") == 1  # the fill outlived the clients that left
        assert "Traceback" not in server.log.read_text()


def test_a_large_body_that_breaks_off_fails_the_client(edge_and_origin: tuple[EdgeServer, OriginServer]) -> None:
    server, origin = edge_and_origin
    origin.put("/short", os.urandom(8 * 1024 * 1024), headers={"Cache-Control": "max-age=600"},
               truncate_at=5 * 1024 * 1024)
    for _ in range(2):
        with pytest.raises(http.client.IncompleteRead):
            request(server.url + "/o/short")
    server.wait_idle()
    assert json.loads(server.get("/_fallthrough/health").body)["entries"] == 0


def test_a_large_private_answer_is_relayed_whole(edge_and_origin: tuple[EdgeServer, OriginServer]) -> None:
    server, origin = edge_and_origin
    body = os.urandom(5 * 1024 * 1024)
    origin.put("/mine", body, headers={"Cache-Control": "private"})
    reply = server.get("/o/mine")
    assert (reply.status, reply.header("x-cache"), reply.body == body) == (200, "MISS", True)


def test_large_multipart_ranges_go_out_whole(edge_and_origin: tuple[EdgeServer, OriginServer]) -> None:
    server, origin = edge_and_origin
    body = os.urandom(5 * 1024 * 1024)
    origin.put("/parts", body, headers={"Cache-Control": "max-age=600", "Content-Type": "video/mp4"})
    server.get("/o/parts")
    server.wait_idle()
    reply = server.get("/o/parts", {"Range": "bytes=0-1999999,3000000-4999999"})
    assert reply.status == 206
    assert reply.header("content-type").startswith("multipart/byteranges; boundary=")
    assert int(reply.header("content-length")) == len(reply.body)
    first, second = body[:2_000_000], body[3_000_000:5_000_000]
    at = reply.body.index(first)
    assert reply.body.index(second, at + len(first)) > at
    assert b"Content-Range: bytes 3000000-4999999/5242880" in reply.body


@pytest.fixture
def edge_and_origin(tmp_path: Path, origin: OriginServer) -> Iterator[tuple[EdgeServer, OriginServer]]:
    with EdgeServer(tmp_path, mount(origin.url)) as server:
        yield server, origin
