"""A fleet of three nodes on one machine, made to feel like regions, in one run.

It starts a real redis-server, a real SeaweedFS (the shared tier's bucket), an HTTP origin
that counts what it sends, and three `fallthrough serve` nodes with [fleet]; each node
reaches Redis through a latency proxy of its own (tests/latency_proxy.py, --latency one
way, so a command costs twice that), as a node in another region would.

  1. purge propagation: --purges purges issued round-robin on the nodes (one after
     another, without wait=all); per purge, the last node's ack (`ft:acks:<id>`, read
     from Redis directly) minus the moment the API answered. One machine, one clock; a
     figure below zero is a purge every node had applied before its answer arrived.
     --gap spaces the purges out: back to back, a node's queue is part of the figure.
     Targets: p50 <= 50 ms and p99 <= 250 ms, each plus the proxy's round trip, and no
     purge without an ack from every live node.
  2. peer read: a --peer-size blob read from another process's BlobService through a
     peer:// tier, MB/s, beside the same read from the file store directly.
  3. a cold --cold-size object fetched through n0, then n1, then n2: origin requests,
     origin bytes and time, for the fleet and for three independent nodes.
  4. concurrent cold, --rounds times: --clients clients on each node ask at once for one
     cold --cold-size object (a fresh one each round), the origin paced to send it in
     --fill-time (so the followers overlap the fill); each node's clients run in a process
     of their own. Targets: one origin GET a round, every client the true bytes (SHA-256),
     and each follower node's first byte within one chunk (256 KiB at the origin's
     measured pace) of the filling node's: the later follower's, median of the rounds.
  5. lead killed: a few clients on n0 start a fresh cold object (paced the same); once n0
     holds the claim and the n1/n2 clients have a quarter of it, n0's process group is
     SIGKILLed. Targets: origin bytes <= 1.1 x the object (the rest is asked for with
     Range and If-Range), every n1/n2 client the true bytes, every n0 client cut short
     (an error or a short body, never a whole-looking wrong one). n0 stays dead after it,
     so it runs last among the fleet's figures.

The origin sends an ETag and answers `Range: bytes=A-B` / `bytes=A-` (If-Range honoured),
as a real one would: without it a node that takes a fill over would have to fetch it all.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis

from fallthrough.castore import B3Digest
from fallthrough.castore.open import TierSpec, open_store

from common import MiB, ROOT, base_parser, ensure_file, fmt_size, fresh_dir, median, parse_size, table, verdict

sys.path.insert(0, str(ROOT / "tests"))

from edge_server import TOKEN, EdgeServer, request  # noqa: E402
from fleet_harness import FleetNode  # noqa: E402
from latency_proxy import LatencyProxy  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from seaweed import start_seaweedfs  # noqa: E402

NODES = ("n0", "n1", "n2")
BUCKET = "fallthrough-bench"
SMALL_PATHS = 30  # cached objects the purges name, round-robin
PIECE = MiB
PACED_PIECE = 64 * 1024  # a paced body goes out in these, so its rate is smooth
CHUNK = 256 * 1024  # about a chunk of the store's: what a follower waits on at least
KILL_CLIENTS = 3  # clients per node in the lead-killed figure
TARGET_P50_MS, TARGET_P99_MS = 50.0, 250.0


def parse_ms(text: str) -> float:
    """'5ms', '0.5s', '5' (ms) -> seconds."""
    value = text.strip().lower()
    try:
        if value.endswith("ms"):
            return float(value[:-2]) / 1000
        if value.endswith("s"):
            return float(value[:-1])
        return float(value) / 1000
    except ValueError:
        raise SystemExit(f"bad duration {text!r}: use e.g. 5ms or 0.005s") from None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: always a value that was measured (p99 of 200 purges is the third worst)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def spread(values_ms: Sequence[float]) -> list[str]:
    """p50, p95, p99 and max, as table cells."""
    return [f"{percentile(values_ms, q):.1f}" for q in (0.5, 0.95, 0.99)] + [f"{max(values_ms):.1f}"]


# -- the origin ---------------------------------------------------------------------


@dataclass
class Asked:
    """One request the origin answered, as the fleet figures need it: what range it asked
    for, and when the body's first and last writes went out (perf_counter)."""

    method: str
    range: str | None
    started: float = 0.0
    ended: float = 0.0
    sent: int = 0


class CountingOrigin:
    """An HTTP origin on loopback that counts, per path, the requests it answered and the
    body bytes it actually wrote to the socket: what a fleet saves an origin is measured
    at the origin, not inferred from the nodes. A path may be paced (bytes a second), so
    that a fill lasts long enough for other nodes to follow it."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.rates: dict[str, float] = {}
        self.requests: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.asked: dict[str, list[Asked]] = {}
        self.lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
                self._answer(body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(body=False)

            def _answer(self, body: bool) -> None:
                path = self.path.split("?", 1)[0]
                asked = Asked(self.command, self.headers.get("Range"))
                with origin.lock:
                    data = origin.objects.get(path)
                    etag, rate = origin.etags.get(path, ""), origin.rates.get(path)
                    origin.requests[path] = origin.requests.get(path, 0) + 1
                    origin.asked.setdefault(path, []).append(asked)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                span = wanted_span(self.headers.get("Range"), self.headers.get("If-Range"), etag, len(data))
                start, end = span or (0, len(data))
                self.send_response(206 if span else 200)
                self.send_header("Content-Length", str(end - start))
                if span:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Cache-Control", "max-age=3600")
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if not body:
                    return
                view = memoryview(data)[start:end]
                step = PACED_PIECE if rate else PIECE
                asked.started = time.perf_counter()
                for at in range(0, len(view), step):
                    if rate and (late := asked.started + at / rate - time.perf_counter()) > 0:
                        time.sleep(late)
                    piece = view[at:at + step]
                    try:
                        self.wfile.write(piece)
                    except (BrokenPipeError, ConnectionResetError):  # the node went away (killed) mid-body
                        self.close_connection = True
                        return
                    with origin.lock:
                        origin.sent[path] = origin.sent.get(path, 0) + len(piece)
                        asked.sent += len(piece)
                        asked.ended = time.perf_counter()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="origin", daemon=True)

    def start(self) -> CountingOrigin:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def put(self, path: str, data: bytes, rate: float | None = None) -> str:
        """Serve `data` at `path`, at most `rate` body bytes a second if given; returns its
        SHA-256 (hex), which the clients' bodies are checked against."""
        digest = hashlib.sha256(data).hexdigest()
        with self.lock:
            self.objects[path] = data
            self.etags[path] = f'"{digest[:16]}"'
            if rate:
                self.rates[path] = rate
        return digest

    def counts(self, path: str) -> tuple[int, int]:
        with self.lock:
            return self.requests.get(path, 0), self.sent.get(path, 0)

    def asks(self, path: str) -> list[Asked]:
        with self.lock:
            return list(self.asked.get(path, []))


def wanted_span(asked: str | None, if_range: str | None, etag: str, size: int) -> tuple[int, int] | None:
    """[start, end) of a `Range: bytes=A-B` or `bytes=A-` to honour, else None (the whole
    body): RFC 9110 §13.1.5, an If-Range naming another ETag asks for all of it."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", (asked or "").strip())
    if match is None or (if_range is not None and if_range != etag):
        return None
    start = int(match.group(1))
    end = min(int(match.group(2)) + 1, size) if match.group(2) else size
    return (start, end) if start < end else None


def mounts(origin: CountingOrigin) -> str:
    return f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'


# -- figure 1: purges ----------------------------------------------------------------


def redis_rtt(direct_port: int, proxy_port: int, samples: int = 50) -> tuple[float, float]:
    """(direct, through a proxy) median seconds of a PING."""
    results = []
    for port in (direct_port, proxy_port):
        client = redis.Redis(port=port, socket_timeout=5)
        try:
            client.ping()  # connected before timing
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                client.ping()
                times.append(time.perf_counter() - started)
            results.append(median(times))
        finally:
            client.close()
    return results[0], results[1]


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    """Whether `check` came true within `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def purge(node: FleetNode, path: str) -> tuple[str, float, float]:
    """(purge id, seconds the API took, unix time it answered)."""
    started = time.perf_counter()
    reply = request(f"{node.url}/_fallthrough/purge?url={path}", "POST", {"Authorization": f"Bearer {TOKEN}"})
    answered = time.time()
    took = time.perf_counter() - started
    if reply.status != 200:
        raise RuntimeError(f"purge of {path} on {node.name}: {reply.status} {reply.body[:300]!r}")
    answer = json.loads(reply.body)
    return answer["fleet"]["id"], took, answered


def live_nodes(client: redis.Redis) -> list[str]:
    return [n for n in NODES if client.exists(f"ft:node:{n}")]


def read_acks(client: redis.Redis, ids: Sequence[str]) -> list[dict[str, float]]:
    """Per purge: node -> the unix time it said it applied the purge."""
    pipe = client.pipeline(transaction=False)
    for purge_id in ids:
        pipe.hgetall(f"ft:acks:{purge_id}")
    return [{k.decode(): float(json.loads(v)["time"]) for k, v in acks.items()} for acks in pipe.execute()]


@dataclass
class Purges:
    api: list[float]  # seconds from request to answer, per purge
    lags: list[float]  # seconds from the answer to the last live node's ack, per purge acked by all
    missing: int  # purges some live node never acked
    live: list[str]


def purge_figure(nodes: list[FleetNode], direct: redis.Redis, count: int, gap: float) -> Purges:
    live = live_nodes(direct)
    for i, node in enumerate(nodes):  # first use opens each node's connections: not what is measured
        purge(node, f"/o/p/{i}")
    issued: list[tuple[str, float, float]] = []
    for i in range(count):
        issued.append(purge(nodes[i % len(nodes)], f"/o/p/{i % SMALL_PATHS}"))
        if gap:
            time.sleep(gap)
    ids = [p[0] for p in issued]

    def complete() -> bool:
        return all(set(live) <= set(acks) for acks in read_acks(direct, ids))

    wait_for(complete, 15)  # what is still missing then is counted, not waited for
    acks = read_acks(direct, ids)
    lags, missing = [], 0
    for (_, _, answered), got in zip(issued, acks, strict=True):
        if not set(live) <= set(got):
            missing += 1
            continue
        lags.append(max(got[n] for n in live) - answered)
    return Purges([p[1] for p in issued], lags, missing, live)


# -- figure 2: peer reads ------------------------------------------------------------

# A node's chunk service in a process of its own, as a peer is: started with the store
# URL, it prints its port and serves until its stdin closes.
_BLOB_SERVER = """
import asyncio, sys
from fallthrough.castore.blob_server import BlobServer
from fallthrough.castore.open import open_store

async def main():
    store = open_store(sys.argv[1])
    server = BlobServer(store, "127.0.0.1:0")
    print(await server.start(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(None)
    await store.close()

asyncio.run(main())
"""


async def put_file(store_url: str, path: Path) -> B3Digest:
    store = open_store(store_url)
    try:
        async with store.open_write() as writer:
            with open(path, "rb") as f:
                while block := f.read(4 * MiB):
                    await writer.write(block)
            return await writer.close()
    finally:
        await store.close()


async def timed_read(tiers: list[str], digest: B3Digest) -> tuple[float, int]:
    """Seconds to read the whole blob through a store over `tiers` (a new store each time,
    so a memory tier in front starts empty), and the bytes read."""
    store = open_store([TierSpec(t) for t in tiers])
    try:
        started = time.perf_counter()
        reader = await store.open_read(digest)
        got = 0
        async for part in reader.iter_range():
            got += len(part)
        return time.perf_counter() - started, got
    finally:
        await store.close()


def peer_figure(root: Path, size: int, repeat: int, latency: float, stack: ExitStack) -> dict[str, float]:
    store_dir = root / "peer-store"
    store_url = f"file://{store_dir}"
    digest = asyncio.run(put_file(store_url, ensure_file("random", size)))
    server = subprocess.Popen([sys.executable, "-c", _BLOB_SERVER, store_url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, start_new_session=True)
    stack.callback(stop_child, server)
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.strip().isdigit():
        raise RuntimeError("the blob server did not start")
    port = int(line)
    if latency > 0:
        proxy = stack.enter_context(LatencyProxy("127.0.0.1", port, latency))
        port = proxy.port
    peer_tiers, direct_tiers = ["memory://", f"peer://127.0.0.1:{port}"], [store_url]
    peer, direct = [], []
    for _ in range(repeat):
        for tiers, into in ((peer_tiers, peer), (direct_tiers, direct)):
            seconds, got = asyncio.run(timed_read(tiers, digest))
            if got != size:
                raise RuntimeError(f"read {got} of {size} bytes through {tiers[-1]}")
            into.append(size / seconds / 1e6)
    stop_child(server)
    return {"peer": median(peer), "direct": median(direct)}


def stop_child(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        if process.stdin is not None:
            process.stdin.close()  # the server's cue to stop
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- figure 3: a cold object ---------------------------------------------------------


def download(node: EdgeServer, path: str) -> tuple[int, str]:
    """(body bytes, X-Cache) of one GET, the body streamed and dropped."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=300)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        got = 0
        while data := response.read(PIECE):
            got += len(data)
        return got, response.getheader("x-cache") or "-"
    finally:
        conn.close()


@dataclass
class Cold:
    requests: int  # at the origin
    sent: int  # body bytes the origin sent
    total: float  # seconds, all three nodes
    each: list[float]  # seconds per node
    caches: list[str]  # each node's X-Cache


def cold_figure(nodes: Sequence[EdgeServer], origin: CountingOrigin, path: str, size: int) -> Cold:
    """The object through each node in turn; each fill is let finish (stored) before the
    next node asks, as when a second region asks a while after the first."""
    before = origin.counts(path)
    started = time.perf_counter()
    each, caches = [], []
    for node in nodes:
        t = time.perf_counter()
        got, cache = download(node, "/o" + path)
        if got != size:
            raise RuntimeError(f"{path} through {node.url}: {got} of {size} bytes")
        node.wait_idle(timeout=300)
        each.append(time.perf_counter() - t)
        caches.append(cache)
    total = time.perf_counter() - started
    after = origin.counts(path)
    return Cold(after[0] - before[0], after[1] - before[1], total, each, caches)


# -- figures 4 and 5: one fill for the whole fleet -----------------------------------


@dataclass
class Got:
    """What one client got: when its first byte came and when it ended (time.monotonic(),
    which every process on the machine counts alike), how much, and its SHA-256."""

    node: str
    received: int = 0
    first_byte: float | None = None
    ended: float | None = None
    sha256: str = ""
    error: str | None = None

    def true(self, size: int, digest: str) -> bool:
        """Whether it got the whole object, byte for byte."""
        return self.error is None and self.received == size and self.sha256 == digest


class Reader:
    """One client's GET, read as it arrives (read1) and hashed as it goes, so that 150 of
    them on a 64 MiB object hold no bodies. It connects at once and sends its request
    when `go` is set, so that every client asks at the same moment."""

    def __init__(self, node: str, port: int, path: str, go: threading.Event) -> None:
        self.port, self.path, self.go = port, path, go
        self.connected = False
        self.got = Got(node)
        self._thread = threading.Thread(target=self._run, name=f"reader-{node}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        got = self.got
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        hasher = hashlib.sha256()
        try:
            connection.connect()
            self.connected = True
            self.go.wait()
            connection.request("GET", self.path)
            response = connection.getresponse()
            if response.status != 200:
                raise http.client.HTTPException(f"status {response.status}")
            declared = int(response.headers["Content-Length"])
            while piece := response.read1(CHUNK):
                if got.first_byte is None:
                    got.first_byte = time.monotonic()
                hasher.update(piece)
                got.received += len(piece)
            if got.received != declared:
                raise http.client.IncompleteRead(b"", declared - got.received)
        except (OSError, http.client.HTTPException) as exc:
            said = str(exc)  # IncompleteRead names itself; others need their type
            got.error = said if said.startswith(type(exc).__name__) else f"{type(exc).__name__}: {said}"
        finally:
            got.sha256 = hasher.hexdigest()
            got.ended = time.monotonic()
            connection.close()

    def join(self, seconds: float) -> Got:
        self._thread.join(seconds)
        if self._thread.is_alive() and self.got.error is None:
            self.got.error = "still reading"
        return self.got


def serve_readers() -> None:
    """The clients' process (ReaderPool): one JSON line asked on stdin, one answered on stdout."""
    batches: list[tuple[threading.Event, list[Reader]]] = []
    for line in sys.stdin:
        ask = json.loads(line)
        everyone = [reader for _, batch in batches for reader in batch]
        answer: dict[str, object] = {}
        if "start" in ask:
            go = threading.Event()
            batch = [Reader(name, port, ask["path"], go) for name, port, count in ask["start"] for _ in range(count)]
            batches.append((go, batch))
            wait_for(lambda: all(r.connected or r.got.error for r in batch), 30)  # noqa: B023 - called here
        elif "go" in ask:
            if isinstance(ask["go"], float):  # a moment agreed with the other clients' processes
                time.sleep(max(0.0, ask["go"] - time.monotonic()))
            answer["at"] = time.monotonic()
            for go, _ in batches:
                go.set()
        elif "received" in ask:
            answer["received"] = [reader.got.received for reader in everyone]
        elif "finish" in ask:
            deadline = time.monotonic() + ask["finish"]
            answer["got"] = [asdict(reader.join(max(0.0, deadline - time.monotonic()))) for reader in everyone]
            batches.clear()
        print(json.dumps(answer), flush=True)


# The clients of figures 4 and 5 run in a process of their own: 150 threads hashing 64 MiB
# each in this one would starve, through the GIL, the latency proxies that carry every
# node's Redis traffic (a node then finds Redis silent and fills alone).
_READERS = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from fleet import serve_readers
serve_readers()
"""


class ReaderPool:
    """Clients in another process (_READERS says why), asked in batches: start() connects
    a batch, go() sends every waiting batch's requests, finish() waits for them all."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _READERS], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, start_new_session=True)

    def _ask(self, **ask: object) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(ask).encode() + b"\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the clients' process died")
        return json.loads(line)

    def start(self, nodes: Sequence[FleetNode], path: str, each: int) -> None:
        """`each` clients on every node, connected and waiting for go()."""
        self._ask(start=[[node.name, node.port, each] for node in nodes], path=path)

    def go(self) -> float:
        """Send the waiting requests; the moment it did (time.monotonic())."""
        return self._ask(go=True)["at"]

    def go_later(self, at: float) -> None:
        """go() at the moment `at` (time.monotonic()), its answer read by went(): so that
        several pools go at once."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"go": at}).encode() + b"\n")
        self.process.stdin.flush()

    def went(self) -> float:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the clients' process died")
        return json.loads(line)["at"]

    def received(self) -> list[int]:
        """Bytes each client has so far, in the order they were started."""
        return self._ask(received=True)["received"]

    def finish(self, seconds: float) -> list[Got]:
        """Every client's end, in the order they were started; the next start() begins afresh."""
        return [Got(**got) for got in self._ask(finish=seconds)["got"]]

    def stop(self) -> None:
        stop_child(self.process)


def leases(direct: redis.Redis) -> set[bytes]:
    return set(direct.keys("ft:lease:*"))


def new_lease(direct: redis.Redis, before: set[bytes]) -> tuple[bytes, str] | None:
    """(key, node) of a fill's claim made since `before` (the lease keys then), if there is
    one yet: a claim's value is `<node>-<token>`."""
    for key in leases(direct) - before:
        if (holder := lease_holder(direct, key)) is not None:
            return key, holder
    return None


def wait_lease(direct: redis.Redis, before: set[bytes], seconds: float) -> tuple[bytes, str] | None:
    """The first claim made since `before`, waited for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while (claim := new_lease(direct, before)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return claim


def lease_holder(direct: redis.Redis, key: bytes) -> str | None:
    value = direct.get(key)
    return None if value is None else value.decode().rpartition("-")[0]


def origin_pace(asks: Sequence[Asked]) -> float:
    """Bytes a second the origin sent its GET bodies at, measured from its own writes."""
    sent = sum(a.sent for a in asks if a.method == "GET")
    took = sum(a.ended - a.started for a in asks if a.method == "GET" and a.sent)
    return sent / took if took > 0 else float("inf")


def put_paced(origin: CountingOrigin, path: str, size: int, fill_time: float) -> str:
    """A fresh random object (never dedups with another figure's chunks), sent in about
    `fill_time`; returns its SHA-256."""
    return origin.put(path, os.urandom(size), rate=size / fill_time)


@dataclass
class Concurrent:
    asks: list[Asked]  # at the origin, in order
    gets: int
    sent: int  # body bytes the origin sent
    clients: int
    true: int  # clients that got the object byte for byte
    errors: list[str]
    lead: str | None  # the node that claimed the fill
    first: dict[str, list[float]]  # node -> seconds from the ask to each client's first byte
    chunk_time: float  # seconds the origin takes to send CHUNK bytes at its measured pace
    total: float  # seconds from the ask to the last client's end
    tapped: dict[str, int]  # node -> bytes its workers read through the lead's tap


def tapped_bytes(node: FleetNode) -> int:
    """fallthrough_fleet_tapped_bytes_total on the node (its processes' counts summed)."""
    scraped = request(f"{node.url}/_fallthrough/metrics", "GET", {"Authorization": f"Bearer {TOKEN}"}).body.decode()
    return int(sum(float(line.split()[-1]) for line in scraped.splitlines()
                   if line.startswith("fallthrough_fleet_tapped_bytes_total ")))


def concurrent_figure(nodes: Sequence[FleetNode], origin: CountingOrigin, direct: redis.Redis,
                      pools: Sequence[ReaderPool], path: str, size: int, clients: int, fill_time: float) -> Concurrent:
    """Every node's clients ask for one cold object at the same moment. Each node's clients
    run in a process of their own (`pools`, one a node): in one process, the filling
    node's clients, busy first, would hold the GIL from the others' threads, and their
    first bytes would wait on this process, not on their node."""
    digest = put_paced(origin, path, size, fill_time)
    before = leases(direct)
    tapped_before = {node.name: tapped_bytes(node) for node in nodes}
    for node, pool in zip(nodes, pools, strict=True):
        pool.start([node], "/o" + path, clients)
    started = time.monotonic() + 0.2
    for pool in pools:
        pool.go_later(started)
    for pool in pools:
        pool.went()
    claim = wait_lease(direct, before, 10)
    asking = [got for pool in pools for got in pool.finish(600)]
    time.sleep(1.2)  # the metrics are folded once a second
    tapped = {node.name: tapped_bytes(node) - tapped_before[node.name] for node in nodes}
    total = max((c.ended or started) for c in asking) - started
    first = {node.name: sorted(c.first_byte - started for c in asking
                               if c.node == node.name and c.first_byte is not None) for node in nodes}
    asks = origin.asks(path)
    return Concurrent(asks, sum(a.method == "GET" for a in asks), sum(a.sent for a in asks), len(asking),
                      sum(c.true(size, digest) for c in asking), [c.error for c in asking if c.error],
                      claim[1] if claim else None, first, CHUNK / origin_pace(asks), total, tapped)


@dataclass
class Killed:
    size: int
    digest: str  # the object's SHA-256
    asks: list[Asked]  # at the origin, in order
    sent: int
    followers: list[Got]  # on n1 and n2
    cut: list[Got]  # on n0
    at_kill: int  # bytes the slowest follower had when n0 was killed
    takeover: float | None  # seconds from the kill to another node's claim
    first_done: float | None  # seconds from the kill to the first client's end
    taker: str | None


def killed_figure(nodes: Sequence[FleetNode], origin: CountingOrigin, direct: redis.Redis, pool: ReaderPool,
                  path: str, size: int, fill_time: float) -> Killed:
    """n0 fetches a cold object for the fleet and is SIGKILLed a quarter of the way in."""
    digest = put_paced(origin, path, size, fill_time)
    n0, *others = nodes
    before = leases(direct)
    pool.start([n0], "/o" + path, KILL_CLIENTS)
    pool.go()
    claim = wait_lease(direct, before, 10)
    if claim is None or claim[1] != n0.name:
        raise RuntimeError(f"n0 never claimed the fill of {path} (the claim: {claim})")
    key = claim[0]
    pool.start(others, "/o" + path, KILL_CLIENTS)
    pool.go()
    if not wait_for(lambda: all(r >= size // 4 for r in pool.received()[KILL_CLIENTS:]), 60):
        raise RuntimeError(f"the n1/n2 clients never got a quarter of {path}")
    at_kill = min(pool.received()[KILL_CLIENTS:])
    assert n0.process is not None
    os.killpg(n0.process.pid, signal.SIGKILL)
    killed = time.monotonic()
    taken = wait_for(lambda: lease_holder(direct, key) not in (None, n0.name), 30)
    takeover = time.monotonic() - killed if taken else None
    taker = lease_holder(direct, key) if taken else None
    got = pool.finish(600)
    cut, followers = got[:KILL_CLIENTS], got[KILL_CLIENTS:]
    done = [c.ended for c in followers if c.ended is not None and c.error is None]
    asks = origin.asks(path)
    return Killed(size, digest, asks, sum(a.sent for a in asks), followers, cut, at_kill, takeover,
                  min(done) - killed if done else None, taker)


def outcome(client: Got, size: int, digest: str) -> str:
    """What a client got, in words: the true bytes, cut short, or (never wanted) a whole
    body that is not the object."""
    if client.true(size, digest):
        return "the true bytes"
    if is_cut(client, size):
        return f"cut short ({client.error or 'a short body'})"
    return "WHOLE-LOOKING WRONG BYTES"


def is_cut(client: Got, size: int) -> bool:
    return client.error is not None or client.received < size


def follower_gaps(result: Concurrent) -> dict[str, tuple[float, float]] | None:
    """Per follower node, (first, median) first byte minus the lead's, in seconds; None
    when the lead is not known or a node's clients got no byte at all."""
    lead = result.first.get(result.lead or "")
    if not lead or not all(result.first.values()):
        return None
    return {name: (times[0] - lead[0], median(times) - median(lead))
            for name, times in result.first.items() if name != result.lead}


def print_asks(asks: Sequence[Asked]) -> None:
    """The origin's requests for one object: a resumed fill shows as a Range."""
    print(table(["origin request", "Range", "MiB sent", "s sending"],
                [[f"{i + 1}. {a.method}", a.range or "-", f"{a.sent / MiB:.1f}",
                  f"{a.ended - a.started:.2f}" if a.sent else "-"] for i, a in enumerate(asks)]))


def print_concurrent(result: Concurrent, clients: int, size: int, fill_time: float, which: str = "") -> None:
    print(f"\n4. concurrent cold, {which}{clients} clients on each of {', '.join(NODES)} at once for one cold "
          f"{fmt_size(size)} object,\n   the origin paced to send it in {fill_time:g} s; ms from the ask to a "
          f"client's first byte, and each node's behind the filling node's")
    print(f"   origin: {result.gets} GET, {result.sent / MiB:.1f} MiB sent; clients with the true bytes: "
          f"{result.true} of {result.clients}; all done in {result.total:.2f} s")
    print(f"   yardstick: {fmt_size(CHUNK)} (about a chunk) at the origin's measured pace "
          f"({CHUNK / result.chunk_time / MiB:.1f} MiB/s) takes {result.chunk_time * 1000:.1f} ms")
    print_asks(result.asks)
    gaps = follower_gaps(result) or {}
    rows = []
    for name, times in result.first.items():
        gap = gaps.get(name)
        rows.append([name, "fills" if name == result.lead else "follows", len(times),
                     f"{times[0] * 1000:.1f}" if times else "-", f"{median(times) * 1000:.1f}" if times else "-",
                     f"{gap[0] * 1000:.1f}" if gap else "-", f"{gap[1] * 1000:.1f}" if gap else "-",
                     f"{result.tapped.get(name, 0) / MiB:.1f}"])
    print(table(["node", "role", "clients with bytes", "first ms", "median ms", "gap first ms", "gap median ms",
                 "tapped MiB"], rows))
    for error in sorted(set(result.errors))[:5]:
        print(f"   error ({result.errors.count(error)} clients): {error}")


def print_killed(result: Killed, fill_time: float) -> None:
    print(f"\n5. lead killed: {KILL_CLIENTS} clients on n0, then {KILL_CLIENTS} on each of n1 and n2, for a cold "
          f"{fmt_size(result.size)} object paced to {fill_time:g} s;\n   n0's process group SIGKILLed once every "
          f"n1/n2 client had a quarter (the slowest had {result.at_kill / MiB:.1f} MiB)")
    print_asks(result.asks)
    took = f"{result.takeover:.2f} s" if result.takeover is not None else "never"
    done = f"{result.first_done:.2f} s" if result.first_done is not None else "never"
    print(f"   origin bytes / object: {result.sent / result.size:.3f}; claim taken by {result.taker or 'no node'} "
          f"{took} after the kill; first n1/n2 client done {done} after the kill")
    print(table(["node", "MiB received", "outcome"],
                [[c.node, f"{c.received / MiB:.1f}", outcome(c, result.size, result.digest)]
                 for c in result.cut + result.followers]))


# -- the run -------------------------------------------------------------------------


def stop_strays(workdir: Path) -> None:
    """Stop a SeaweedFS this process started in `workdir` whose start was cut short (by
    Ctrl-C, say) before it was handed back: found by its parent and its folder, so
    nothing else on the machine is touched."""
    mark = f"-dir={workdir}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            found = parent == os.getpid() and mark in (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if found:
            os.kill(int(entry.name), signal.SIGKILL)
            try:
                os.waitpid(int(entry.name), 0)
            except ChildProcessError:
                pass  # already reaped


def show_logs(root: Path) -> None:
    for log in sorted(root.glob("*/server.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        print(f"{log.relative_to(root)} (last lines):\n" + "\n".join(lines), file=sys.stderr)


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--purges", type=int, default=1000, help="purges to issue (default 1000)")
    parser.add_argument("--latency", default="5ms", help="one-way delay between each node and Redis (default 5ms)")
    parser.add_argument("--gap", default="0ms",
                        help="pause after each purge (default 0ms: back to back, so the figure includes any queue "
                             "at the nodes; a gap longer than the propagation shows one purge on its own)")
    parser.add_argument("--purge-poll", default="5s", help="the nodes' fleet.purge_poll (default 5s, as shipped)")
    parser.add_argument("--peer-size", type=parse_size, default=64 * MiB, help="blob for the peer read (default 64MiB)")
    parser.add_argument("--peer-latency", default="0ms",
                        help="one-way delay between the reader and its peer (default 0ms: loopback)")
    parser.add_argument("--cold-size", type=parse_size, default=64 * MiB,
                        help="object fetched cold through every node (default 64MiB)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the concurrent cold figure, each with a fresh object (default 3)")
    parser.add_argument("--clients", type=int, default=50,
                        help="clients on each node asking at once for one cold object (default 50)")
    parser.add_argument("--fill-time", default="6s",
                        help="how long the origin takes to send a cold object in figures 4 and 5 (default 6s)")
    args = parser.parse_args()
    if args.purges < 1 or args.repeat < 1 or args.clients < 1:
        parser.error("--purges, --repeat and --clients take at least 1")
    latency, peer_latency = parse_ms(args.latency), parse_ms(args.peer_latency)
    fill_time = parse_ms(args.fill_time)
    if fill_time <= 0:
        parser.error("--fill-time must be above zero")
    # A kill (or a closed terminal) stops the run the way Ctrl-C does, so every server it
    # started is stopped too rather than left running in its own session.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)
    root = fresh_dir("fleet")

    def logs_on_failure(kind: type[BaseException] | None, *_: object) -> bool:
        if kind is not None and not issubclass(kind, KeyboardInterrupt):
            show_logs(root)
        return False

    try:
        with ExitStack() as stack:
            stack.callback(shutil.rmtree, root, ignore_errors=True)
            # Before the folder goes (exits run last first): the nodes' logs say why it failed.
            stack.push(logs_on_failure)
            print(f"peer read of {fmt_size(args.peer_size)} ...", file=sys.stderr, flush=True)
            peer = peer_figure(root, args.peer_size, args.repeat, peer_latency, stack)

            print("starting redis, SeaweedFS, the origin and three nodes ...", file=sys.stderr, flush=True)
            redis_server = RedisServer(root / "redis")
            stack.callback(redis_server.stop)  # before start: a start cut short is stopped too
            redis_server.start()
            stack.callback(stop_strays, root / "seaweedfs")
            seaweed = start_seaweedfs(root / "seaweedfs")
            stack.callback(seaweed.stop)
            os.environ.update(seaweed.env)  # the nodes reach the bucket with these
            seaweed.create_bucket(BUCKET)
            shared_url = f"s3://{BUCKET}/run-{os.getpid()}-{int(time.time())}"
            origin = CountingOrigin().start()
            stack.callback(origin.stop)
            for i in range(SMALL_PATHS):
                origin.put(f"/p/{i}", os.urandom(1024))
            cold_path = f"/cold-{fmt_size(args.cold_size)}.bin"
            origin.put(cold_path, ensure_file("random", args.cold_size).read_bytes())

            proxies = [stack.enter_context(LatencyProxy("127.0.0.1", redis_server.port, latency)) for _ in NODES]
            probe = stack.enter_context(LatencyProxy("127.0.0.1", redis_server.port, latency))
            nodes = []
            for name, proxy in zip(NODES, proxies, strict=True):
                node = FleetNode(root / name, name, f"redis://{proxy.address}/0", shared_url, mounts(origin),
                                 purge_poll=args.purge_poll)
                stack.callback(node.stop)
                nodes.append(node.start())
            direct = redis.Redis(port=redis_server.port, socket_timeout=5)
            stack.callback(direct.close)
            if not wait_for(lambda: len(live_nodes(direct)) == len(NODES), 20):
                raise RuntimeError("not every node beats in Redis")
            for node in nodes:
                for i in range(SMALL_PATHS):
                    node.get(f"/o/p/{i}")
                node.wait_idle()

            rtt_direct, rtt_proxied = redis_rtt(redis_server.port, probe.port)
            added = rtt_proxied - rtt_direct
            print(f"{args.purges} purges ...", file=sys.stderr, flush=True)
            purges = purge_figure(nodes, direct, args.purges, parse_ms(args.gap))

            print(f"cold {fmt_size(args.cold_size)} through the fleet ...", file=sys.stderr, flush=True)
            fleet_cold = cold_figure(nodes, origin, cold_path, args.cold_size)

            print(f"{args.clients} clients on each node at once for a cold {fmt_size(args.cold_size)} ...",
                  file=sys.stderr, flush=True)
            pools = [ReaderPool() for _ in nodes]
            for each in pools:
                stack.callback(each.stop)
            pool = pools[0]
            concurrents = [concurrent_figure(nodes, origin, direct, pools,
                                             f"/concurrent-{i + 1}-{fmt_size(args.cold_size)}.bin", args.cold_size,
                                             args.clients, fill_time) for i in range(args.rounds)]
            print(f"a cold {fmt_size(args.cold_size)} with its filling node killed ...", file=sys.stderr, flush=True)
            killed = killed_figure(nodes, origin, direct, pool, f"/killed-{fmt_size(args.cold_size)}.bin",
                                   args.cold_size, fill_time)  # last on the fleet: n0 stays dead
            for node in nodes:
                node.stop()

            print(f"cold {fmt_size(args.cold_size)} through independent nodes ...", file=sys.stderr, flush=True)
            alone = []
            for name in NODES:
                workdir = root / f"alone-{name}"
                workdir.mkdir()
                store = f'[[store.tier]]\nurl = "file://{workdir / "castore"}"\nmax_bytes = "1GiB"\n'
                node = EdgeServer(workdir, mounts(origin), store=store, server='[log]\nlevel = "info"\n')
                stack.callback(node.stop)
                alone.append(node.start())
            alone_cold = cold_figure(alone, origin, cold_path, args.cold_size)
    except KeyboardInterrupt:
        print("interrupted; everything started is stopped", file=sys.stderr)
        return 130

    lags_ms = [x * 1000 for x in purges.lags]
    api_ms = [x * 1000 for x in purges.api]
    added_ms = added * 1000
    gap = f", {parse_ms(args.gap) * 1000:g} ms apart" if parse_ms(args.gap) else ", back to back"
    print(f"\n1. purge propagation: {args.purges} purges round-robin on {len(NODES)} nodes{gap}, each node "
          f"{latency * 1000:g} ms one way from Redis (through its proxy)")
    print(f"   Redis PING: {rtt_direct * 1000:.2f} ms direct, {rtt_proxied * 1000:.2f} ms through a proxy: "
          f"the proxy adds {added_ms:.1f} ms a round trip")
    rows = []
    if lags_ms:
        rows.append(["API answered -> last node's ack", *spread(lags_ms)])
    rows.append(["API request -> answer", *spread(api_ms)])
    print(table(["ms", "p50", "p95", "p99", "max"], rows))
    print(f"   purges lacking an ack from a live node ({', '.join(purges.live)}): {purges.missing}")

    print(f"\n2. peer read of {fmt_size(args.peer_size)}, median of {args.repeat}"
          + (f", peer {peer_latency * 1000:g} ms one way" if peer_latency else ", loopback"))
    print(table(["read", "MB/s"], [
        ["peer:// (BlobService in another process) into memory://", f"{peer['peer']:.0f}"],
        ["file:// store directly", f"{peer['direct']:.0f}"],
        ["ratio peer / direct", f"{peer['peer'] / peer['direct']:.2f}"]]))

    print(f"\n3. a cold {fmt_size(args.cold_size)} object through n0, then n1, then n2 (each fill stored before "
          f"the next asks)")
    cold_rows = []
    for label, result in (("fleet (shared tier)", fleet_cold), ("independent nodes", alone_cold)):
        cold_rows.append([label, result.requests, f"{result.sent / MiB:.1f}", f"{result.total:.2f}",
                          " / ".join(f"{s:.2f}" for s in result.each), " / ".join(result.caches)])
    print(table(["setup", "origin requests", "origin MiB", "total s", "n0 / n1 / n2 s", "X-Cache"], cold_rows))
    for i, concurrent in enumerate(concurrents):
        print_concurrent(concurrent, args.clients, args.cold_size, fill_time, f"round {i + 1} of {args.rounds}: ")
    print_killed(killed, fill_time)

    print()
    if lags_ms:
        p50, p99 = percentile(lags_ms, 0.5), percentile(lags_ms, 0.99)
        print(f"purge p50 {p50:.1f} ms <= {TARGET_P50_MS:g} + {added_ms:.1f} ms: "
              f"{verdict(p50 <= TARGET_P50_MS + added_ms)}")
        print(f"purge p99 {p99:.1f} ms <= {TARGET_P99_MS:g} + {added_ms:.1f} ms: "
              f"{verdict(p99 <= TARGET_P99_MS + added_ms)}")
    else:
        print("purge p50 / p99: no purge was acked by every live node: MISS")
    print(f"every purge acked by every live node: {purges.missing} lacking: {verdict(purges.missing == 0)}")
    gets = [c.gets for c in concurrents]
    print(f"concurrent cold: origin GETs a round {gets}, each 1: {verdict(all(g == 1 for g in gets))}")
    true, clients = sum(c.true for c in concurrents), sum(c.clients for c in concurrents)
    print(f"concurrent cold: clients with the true bytes {true} of {clients}: {verdict(true == clients)}")
    gaps = [follower_gaps(c) for c in concurrents]
    if any(g is None for g in gaps):
        print("concurrent cold: followers' first byte beside the filling node's: not every node got a byte: MISS")
    else:
        # The later follower of each round; the median of the rounds (a 2-core machine is noisy).
        worst = [max(first for first, _ in g.values()) for g in gaps if g is not None]
        chunk_time = median([c.chunk_time for c in concurrents])
        print(f"concurrent cold: the later follower's first byte after the filling node's, median of "
              f"{len(worst)} rounds {median(worst) * 1000:.1f} ms (rounds: "
              f"{', '.join(f'{w * 1000:.1f}' for w in worst)}) <= one chunk {chunk_time * 1000:.1f} ms: "
              f"{verdict(median(worst) <= chunk_time)}")
    ratio = killed.sent / killed.size
    print(f"lead killed: origin bytes / object {ratio:.3f} <= 1.1: {verdict(ratio <= 1.1)}")
    whole = sum(c.true(killed.size, killed.digest) for c in killed.followers)
    print(f"lead killed: n1/n2 clients with the true bytes {whole} of {len(killed.followers)}: "
          f"{verdict(whole == len(killed.followers))}")
    cut = sum(is_cut(c, killed.size) and not c.true(killed.size, killed.digest) for c in killed.cut)
    print(f"lead killed: n0 clients cut short, none whole-looking and wrong, {cut} of {len(killed.cut)}: "
          f"{verdict(cut == len(killed.cut))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
