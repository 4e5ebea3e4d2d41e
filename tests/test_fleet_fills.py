"""One fill for the whole fleet: three real nodes (real Redis, a real SeaweedFS bucket as the
shared tier) asked for one cold object at once make one origin request, and every client
is served while that fill runs; the node fetching it killed mid-fill, another resumes
where it stopped and no client gets a wrong or silently short body."""

from __future__ import annotations

import hashlib
import http.client
import json
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
from fallthrough.fleet.fills import claim_name
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
    status: int | None = None
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
            self.status = response.status
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


def lead_from(node: FleetNode, path: str, control: redis.Redis) -> Client:
    """A client of `node` asking for `path`, once `node` holds the fill's claim."""
    client = Client(node, path).start()
    until(lambda: any(control.get(k).decode().startswith(f"{node.name}-") for k in control.keys("ft:lease:*")), 5,
          f"{node.name} never claimed the fill")
    return client


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
            lead = lead_from(n0, "/o/video", control)
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


def test_a_fill_told_by_a_liar_is_cut_and_never_stored(tmp_path: Path, s3_url: str, origin: OriginServer) -> None:
    """A claim in Redis whose stream names real chunks (another object's) and a blob digest
    they do not add up to: the follower's clients get a cut response, never a whole one,
    nothing is stored, and once the claim lapses the origin's true bytes are served."""
    a, b = os.urandom(1024 * 1024), os.urandom(1024 * 1024)
    origin.put("/a", a, headers={"Cache-Control": "max-age=600"})
    origin.put("/b", b, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, _ = fleet.nodes
        assert sha(n0.get("/o/b").body) == sha(b)
        n0.wait_stored(1)
        control = redis.Redis.from_url(fleet.redis.url, socket_timeout=2)
        lease = f"ft:lease:{claim_name('/o/a', ())}"
        try:
            (told_b,) = control.keys(f"ft:fill:{claim_name('/o/b', ())}:*")
            events = [fields for _, fields in control.xrange(told_b)]
            assert [e[b"t"] for e in events][0] == b"head" and events[-1][b"t"] == b"end"
            liar = f"ft:fill:{claim_name('/o/a', ())}:evil-1"
            control.set(lease, "evil-1", px=3000)
            for fields in events[:-1]:  # /b's head and chunks, told as /a's
                control.xadd(liar, fields)
            control.xadd(liar, {"t": "end", "d": json.dumps({"digest": os.urandom(32).hex(), "size": len(b),
                                                             "entry": None})})
            cheated = Client(n1, "/o/a").start().join()
            # An error answer, or a response cut short of its length: never one that looks whole.
            assert cheated.status != 200 or (cheated.error is not None and cheated.received < len(b))
            assert n1.entries() == 0
            until(lambda: not control.exists(lease), 5, "the liar's claim never lapsed")
        finally:
            control.close()
        assert sha(n1.get("/o/a").body) == sha(a)
        assert origin.count("/a") == 1


def test_redis_gone_mid_fill_each_node_finishes_on_its_own(tmp_path: Path, s3_url: str,
                                                           origin: OriginServer) -> None:
    body = os.urandom(8 * 1024 * 1024)
    origin.put("/x", body, headers={"Cache-Control": "max-age=600"}, etag='"x1"', chunk_size=64 * 1024,
               chunk_delay=0.01)
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, _ = fleet.nodes
        lead = Client(n0, "/o/x").start()
        until(lambda: origin.count("/x") == 1, 5)
        follower = Client(n1, "/o/x").start()
        until(lambda: follower.received >= 1024 * 1024, 10, "the follower got no bytes")
        fleet.redis.stop()
        for client in (lead.join(), follower.join()):
            assert client.error is None and sha(client.body) == sha(body)
        asked = origin.requests("/x")
        assert len(asked) == 2 and asked[1].headers.get("range", "").startswith("bytes=")  # n1 resumed alone
        # Degraded to one origin request per node, n1's for the rest it did not have.
        assert origin.sent("/x") <= 2 * len(body) - 1024 * 1024


def scrape(node: FleetNode) -> dict[str, float]:
    text = node.get("/_fallthrough/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).body.decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("fallthrough_fleet_")}


def test_each_node_finds_its_peers_in_the_heartbeats_and_reports_the_fleet(tmp_path: Path, s3_url: str,
                                                                          origin: OriginServer) -> None:
    origin.put("/p", b"p" * 100, headers={"Cache-Control": "max-age=600"})
    with Fleet(tmp_path, s3_url, mounts(origin)) as fleet:
        n0, n1, n2 = fleet.nodes
        peer = {n: f'fallthrough_fleet_peer_up{{peer="127.0.0.1:{n.chunk_port}"}}' for n in fleet.nodes}
        until(lambda: scrape(n0).get(peer[n1]) == 1.0 and scrape(n0).get(peer[n2]) == 1.0, 10,
              "n0 never found its peers")
        assert peer[n0] not in scrape(n0)  # not itself
        figures = scrape(n0)
        assert figures["fallthrough_fleet_redis_up"] == 1.0 and figures["fallthrough_fleet_process_up"] == 1.0
        assert figures["fallthrough_fleet_shared_tier_up"] == 1.0
        n0.get("/o/p")
        n0.wait_stored(1)
        assert n1.purge(url="/o/p", wait="all").status == 200
        until(lambda: scrape(n0).get("fallthrough_fleet_purges_applied", 0) >= 1, 5, "no purge counted")
        assert 0 <= scrape(n0)["fallthrough_fleet_purge_lag_seconds"] < 5
        n2.stop()  # its heartbeat lapses: no longer a peer
        until(lambda: scrape(n0).get(peer[n2]) == 0.0, 15, "n2 still counted as a peer")
        assert scrape(n0)[peer[n1]] == 1.0
        fleet.redis.stop()
        until(lambda: scrape(n0).get("fallthrough_fleet_redis_up") == 0.0, 10, "Redis still counted as up")
