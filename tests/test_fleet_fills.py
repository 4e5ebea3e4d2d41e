"""One fill for the whole fleet: three real nodes (real Redis, a real SeaweedFS bucket as the
shared tier) asked for one cold object at once make one origin request, and every client
is served while that fill runs; the node fetching it killed mid-fill, another resumes
where it stopped and no client gets a wrong or silently short body."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from edge_server import TOKEN
from fleet_harness import Fleet, FleetNode, until
from origin_server import OriginServer
from test_fleet_purges import mounts


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


@dataclass
class Client:
    """A GET read as it arrives: when its first byte came, how much it has, and how it ended."""

    node: FleetNode
    path: str
    received: int = 0
    first_byte: float | None = None
    ended: float | None = None
    body: bytes = b""
    error: BaseException | None = None
    declared: int | None = None
    _thread: threading.Thread = field(init=False, repr=False)

    def start(self) -> Client:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        url = urlsplit(self.node.url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        parts = []
        try:
            connection.request("GET", self.path)
            response = connection.getresponse()
            self.declared = int(response.headers["Content-Length"])
            while piece := response.read1(256 * 1024):
                if self.first_byte is None:
                    self.first_byte = time.monotonic()
                parts.append(piece)
                self.received += len(piece)
            if self.received != self.declared:
                raise http.client.IncompleteRead(b"", self.declared - self.received)
        except (OSError, http.client.HTTPException) as exc:
            self.error = exc
        finally:
            self.body = b"".join(parts)
            self.ended = time.monotonic()
            connection.close()

    def join(self) -> Client:
        self._thread.join(90)
        return self


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metric(node: FleetNode, name: str) -> float:
    scraped = node.get("/_fallthrough/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).body.decode()
    return sum(float(line.split()[-1]) for line in scraped.splitlines() if line.startswith(name + " "))


def test_a_cold_object_asked_on_every_node_at_once_is_one_origin_request(tmp_path: Path, s3_url: str,
                                                                       origin: OriginServer) -> None:
    body = os.urandom(6 * 1024 * 1024)
    origin.put("/cold", body, headers={"Cache-Control": "max-age=600"}, etag='"v1"', chunk_size=64 * 1024,
               chunk_delay=0.01)
    origin.put("/warm", os.urandom(1024 * 1024), headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        fleet.nodes[0].get("/o/warm")  # the bucket's first write can take a second (a volume is made)
        fleet.nodes[0].wait_stored(1)
        clients = [Client(node, "/o/cold").start() for node in fleet.nodes for _ in range(8)]
        for client in clients:
            client.join()
        assert [c.error for c in clients] == [None] * len(clients)
        assert all(sha(c.body) == sha(body) for c in clients)
        assert origin.count("/cold") == 1
        assert origin.sent("/cold") == len(body)
        # Every node's clients got their first bytes while the fill ran, not after it ended.
        filled = min(c.ended for c in clients)  # type: ignore[type-var]
        assert all(c.first_byte is not None and c.first_byte < filled for c in clients)
        time.sleep(1.2)  # the metrics are folded once a second
        assert sum(metric(n, "fallthrough_fleet_fills_followed_total") for n in fleet.nodes) == 2
        for node in fleet.nodes:  # and each node holds it now: a hit, without the fleet or the origin
            reply = node.get("/o/cold")
            assert reply.header("x-cache") == "HIT" and sha(reply.body) == sha(body)
        assert origin.count("/cold") == 1


def test_the_node_fetching_for_the_fleet_killed_mid_fill_another_resumes_it(tmp_path: Path, s3_url: str,
                                                                          origin: OriginServer) -> None:
    body = os.urandom(16 * 1024 * 1024)
    origin.put("/video", body, headers={"Cache-Control": "max-age=600"}, etag='"v1"', chunk_size=64 * 1024,
               chunk_delay=0.01)  # about 2.6 s
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        control = redis.Redis.from_url(fleet.redis.url, socket_timeout=2)
        try:
            lead = Client(n0, "/o/video").start()
            until(lambda: any(control.get(k).decode().startswith("n0-") for k in control.keys("ft:lease:*")), 5,
                  "n0 never claimed the fill")
            followers = [Client(node, "/o/video").start() for node in (n1, n2) for _ in range(3)]
            until(lambda: all(c.received >= 4 * 1024 * 1024 for c in followers), 10, "the followers got no bytes")
            os.killpg(n0.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
            for client in followers:
                client.join()
            lead.join()
        finally:
            control.close()
        assert [c.error for c in followers] == [None] * len(followers)
        assert all(sha(c.body) == sha(body) for c in followers)
        # The killed node's client saw its response cut, not a whole-looking one.
        assert lead.error is not None and lead.received < len(body)
        asked = origin.requests("/video")
        assert len(asked) == 2
        resumed = asked[1].headers
        assert resumed.get("range", "").startswith("bytes=") and resumed.get("if-range") == '"v1"'
        assert origin.sent("/video") <= 1.1 * len(body)
        time.sleep(1.2)
        assert sum(metric(n, "fallthrough_fleet_fills_taken_over_total") for n in (n1, n2)) == 1
        for node in (n1, n2):
            reply = node.get("/o/video")
            assert reply.status == 200 and sha(reply.body) == sha(body)
        assert len(origin.requests("/video")) == 2
