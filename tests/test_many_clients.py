"""Many clients at once, through the real server on loopback: every accepted connection
gets an answer, and past `server.max_requests` the answer is a quick 503, not a wait."""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from edge_server import EdgeServer
from origin_server import OriginServer

CLIENTS = 5000


def _room_for(sockets: int) -> None:
    """This process holds every client socket itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + 1024
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"{sockets} sockets need an open-file limit of {wanted}; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    body = await reader.readexactly(int(fields.get("content-length", "0")))
    return int(lines[0].split(" ", 2)[1]), fields, body


async def _hold_and_ask(port: int, clients: int, path: str, rounds: int, timeout: float) -> Counter[object]:
    """Open `clients` connections, all held at once; then a request on every one, `rounds`
    times over the same connections. The count of each status, and of those unanswered."""
    opening = asyncio.Semaphore(500)  # a pace the listen queue takes without dropping a SYN
    outcome: Counter[object] = Counter()

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        async with opening:
            try:
                return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            except (TimeoutError, OSError):
                outcome["not connected"] += 1
                return None

    opened = await asyncio.gather(*(connect() for _ in range(clients)))
    connections = [c for c in opened if c is not None]

    async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: edge\r\n\r\n".encode())
        try:
            status, _, _ = await _read_answer(reader)
            outcome[status] += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            outcome["closed"] += 1

    try:
        for _ in range(rounds):
            tasks = [asyncio.ensure_future(ask(r, w)) for r, w in connections]
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            outcome["unanswered"] += len(pending)
            for task in pending:
                task.cancel()
    finally:
        for _, writer in connections:
            writer.close()
    return outcome


def test_five_thousand_keep_alive_clients_are_all_answered(tmp_path: Path) -> None:
    _room_for(CLIENTS)
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_bytes(b"a")
    mounts = f'[[mount]]\nurl_prefix = "/f"\norigin = "file://{site}"\ndefault_ttl = "1h"\n'
    with EdgeServer(tmp_path, mounts, workers=2) as server:
        started = time.monotonic()
        # A miss that all of them join, then the hit, on the same held connections.
        outcome = asyncio.run(_hold_and_ask(server.port, CLIENTS, "/f/a.txt", rounds=2, timeout=10))
        took = time.monotonic() - started
        assert "Traceback" not in server.log.read_text()
    assert outcome == Counter({200: 2 * CLIENTS}), outcome
    assert took < 30


def _slow(server: EdgeServer, paths: list[str], answers: list[int]) -> list[threading.Thread]:
    def one(path: str) -> None:
        answers.append(server.get(path).status)

    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    return threads


async def _refused(port: int, clients: int) -> list[tuple[float, int, dict[str, str], bool]]:
    """Each client's wait for its answer, the answer, and whether the server then closed."""

    async def one() -> tuple[float, int, dict[str, str], bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /h/other HTTP/1.1\r\nHost: edge\r\n\r\n")
        try:
            status, fields, _ = await asyncio.wait_for(_read_answer(reader), 5)
            waited = time.monotonic() - started
            try:
                closed = await asyncio.wait_for(reader.read(1), 2) == b""
            except TimeoutError:
                closed = False
            return waited, status, fields, closed
        except TimeoutError:
            return time.monotonic() - started, 0, {}, False
        finally:
            writer.close()

    return await asyncio.gather(*(one() for _ in range(clients)))


def test_past_max_requests_a_client_is_refused_at_once_not_kept_waiting(tmp_path: Path) -> None:
    with OriginServer() as origin:
        for i in range(4):
            origin.put(f"/slow{i}", b"slow", delay=3)
        origin.put("/other", b"other")
        origin.put("/hot", b"hot", headers={"Cache-Control": "max-age=600"})
        mounts = f'[[mount]]\nurl_prefix = "/h"\norigin = "{origin.url}"\n'
        with EdgeServer(tmp_path, mounts, server="max_requests = 4", workers=1) as server:
            assert server.get("/h/hot").status == 200
            server.wait_stored(1)
            assert server.get("/h/hot").header("x-cache") == "HIT"  # and now in memory
            answers: list[int] = []
            threads = _slow(server, [f"/h/slow{i}" for i in range(4)], answers)
            deadline = time.monotonic() + 5
            while sum(origin.count(f"/slow{i}") for i in range(4)) < 4:  # all four in flight
                assert time.monotonic() < deadline
                time.sleep(0.01)
            refused = asyncio.run(_refused(server.port, 20))
            hot = server.get("/h/hot")  # a fresh hit in memory is still served
            for thread in threads:
                thread.join()
            after = server.get("/h/other")
    assert sorted(answers) == [200] * 4
    assert Counter((status, fields.get("retry-after"), fields.get("connection"), closed)
                   for _, status, fields, closed in refused) == Counter({(503, "1", "close", True): 20})
    assert max(waited for waited, _, _, _ in refused) < 1.0
    assert origin.count("/other") == 1  # the refused never reached the origin
    assert (hot.status, hot.header("x-cache"), after.status) == (200, "HIT", 200)
