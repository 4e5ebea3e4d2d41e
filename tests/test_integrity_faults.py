"""No client ever gets a wrong, empty or partial body that looks whole, whatever the origin does.

A hostile origin (hostile_origin.py, at the socket level) answers the first request for
each key with a fault: cut at a byte with a FIN or an RST, short and stalled, more bytes
than its Content-Length (garbage, or a whole smuggled response), broken chunked framing,
stalls before and after the head, 5xx, a reset before the head. Several clients ask for
each key at once, a Range request among them, through a real server with two workers,
and every answer is checked with SHA-256 against the truth:

- an answer that looks whole (a 200/206 read to its promised length) is the true bytes;
- after its fault every key is fetched again and served true, then as a true HIT;
- no client waits past the deadline (the mount's read_timeout, plus room);
- control keys fetched meanwhile (the same origin connections) are never affected.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import os
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_server import EdgeServer
from hostile_origin import Fault, HostileOrigin

READ_TIMEOUT = 2.0  # the mount's: a stalled origin is given up after this long
# What a client may wait at most: the fill's watchdog, a retry, a slow machine.
DEADLINE = 3 * READ_TIMEOUT + 6.0
STALL = 30.0  # longer than the read timeout: only the deadline ends these
RETRIES = 5  # rounds again for a key whose fault the origin had not served yet
SMALL_SIZES = [1, 2, 100, 1000, 20_000, 65_536, 300_000, 1_048_576, 1_500_000]


def faults_for(size: int) -> dict[str, Fault]:
    half = size // 2
    kinds = {
        "fin-at-0": Fault.fin_at(0),
        "fin-at-half": Fault.fin_at(half),
        "fin-at-last": Fault.fin_at(size - 1),
        "rst-at-half": Fault.rst_at(half),
        "short-stalled": Fault.short(half),
        "surplus-garbage": Fault.surplus_garbage(b"garbage after the body"),
        # Late garbage may reach a connection already reused: the next answer then breaks
        # HTTP/1.1 framing, and that request is retried on a new connection. (A well-formed
        # response arriving late cannot be told from the answer to the next request.)
        "surplus-late": Fault.surplus_garbage(b"garbage, late", delay=0.05),
        "smuggle": Fault.smuggle(b"POISON"),
        "chunked-mid": Fault.chunked_mid(half),
        "chunked-no-last": Fault.chunked_no_last(),
        "chunked-bad-size": Fault.chunked_bad_size(half),
        "stall-before-head": Fault.stall_before_headers(STALL),
        "stall-after-head": Fault.stall_after_headers(STALL),
        "status-500": Fault.status(500),
        "status-503": Fault.status(503),
        "reset-before-head": Fault.reset_before_headers(),
    }
    if size == 1:
        del kinds["fin-at-half"], kinds["fin-at-last"]  # the same cut as fin-at-0
    return kinds


@dataclass
class Answer:
    status: int | None  # None: no response at all
    body: bytes
    whole: bool  # read to the end of the length it promised
    elapsed: float
    x_cache: str | None = None
    content_range: str | None = None


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> Answer:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE + 5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
    except (OSError, http.client.HTTPException):
        conn.close()
        return Answer(None, b"", False, time.monotonic() - started)
    try:
        body = response.read()
        whole = True
    except (OSError, http.client.HTTPException) as exc:
        body = getattr(exc, "partial", b"")
        whole = False
    finally:
        conn.close()
    declared = response.getheader("content-length")
    if declared is not None and int(declared) != len(body):
        whole = False
    return Answer(response.status, body, whole, time.monotonic() - started, response.getheader("x-cache"),
                  response.getheader("content-range"))


def check_answer(answer: Answer, truth: bytes, wanted: tuple[int, int] | None, where: str) -> None:
    """The rule: an answer that looks whole is the truth; anything else is visibly failed."""
    assert answer.elapsed < DEADLINE, f"{where}: waited {answer.elapsed:.1f} s"
    if answer.status is None or not answer.whole:
        return  # a failed transfer, which the client sees as one
    if answer.status == 200:
        assert len(answer.body) == len(truth), f"{where}: a whole-looking 200 of {len(answer.body)} bytes"
        assert hashlib.sha256(answer.body).digest() == hashlib.sha256(truth).digest(), f"{where}: wrong bytes"
    elif answer.status == 206:
        assert wanted is not None, f"{where}: a 206 nobody asked for"
        start, end = wanted
        assert answer.body == truth[start:end + 1], f"{where}: a wrong range"
        assert answer.content_range == f"bytes {start}-{end}/{len(truth)}", where
    else:
        assert answer.status in (500, 502, 503, 504), f"{where}: {answer.status}"
        assert b"127.0.0.1" not in answer.body and b"Traceback" not in answer.body, f"{where}: {answer.body!r}"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileOrigin]:
    with HostileOrigin() as origin:
        yield origin


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, hostile: HostileOrigin) -> Iterator[EdgeServer]:
    mount = (f'[[mount]]\nurl_prefix = "/h"\norigin = "{hostile.url}"\n'
             f'read_timeout = "{READ_TIMEOUT:g}s"\nstale_while_revalidate = "0s"\n')
    with EdgeServer(tmp_path_factory.mktemp("faults"), mount, workers=2) as server:
        yield server


def test_every_fault_on_every_size_leaves_every_client_true(edge: EdgeServer, hostile: HostileOrigin) -> None:
    rng = random.Random(12)
    keys: dict[str, tuple[bytes, str]] = {}
    for round_ in range(4):
        sizes = SMALL_SIZES + ([6_000_000, 12_000_000] if round_ == 0 else [3_000_000] if round_ == 1 else [])
        for size in sizes:
            for kind, fault in faults_for(size).items():
                path = f"/r{round_}/{kind}/{size}"
                truth = rng.randbytes(size)
                hostile.put(path, truth, faults=[fault])
                keys[path] = (truth, kind)
    controls = {f"/control/{i}": rng.randbytes(rng.choice([10, 5000, 200_000, 2_000_000])) for i in range(12)}
    for path, truth in controls.items():
        hostile.put(path, truth)
    port = edge.port

    def one_key(path: str) -> list[tuple[str, Answer, tuple[int, int] | None]]:
        truth, _ = keys[path]
        size = len(truth)
        lo = size // 3
        wanted = (lo, min(size - 1, lo + 70_000))
        with concurrent.futures.ThreadPoolExecutor(4) as clients:
            fulls = [clients.submit(fetch, port, "/h" + path) for _ in range(3)]
            ranged = clients.submit(fetch, port, "/h" + path, {"Range": f"bytes={wanted[0]}-{wanted[1]}"})
            answers = [(f"{path} client {i}", f.result(), None) for i, f in enumerate(fulls)]
            answers.append((f"{path} range", ranged.result(), wanted))
        return answers

    def one_control(path: str) -> Answer:
        return fetch(port, "/h" + path)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rounds = [pool.submit(one_key, path) for path in keys]
        control_answers = [pool.submit(one_control, path) for path in list(controls) * 4]
        for future in rounds:
            for where, answer, wanted in future.result():
                check_answer(answer, keys[where.split(" ")[0]][0], wanted, where)
        for path, future in zip(list(controls) * 4, control_answers, strict=True):
            answer = future.result()
            assert (answer.status, answer.whole) == (200, True), (path, answer.status)
            check_answer(answer, controls[path], None, path)
    # The edge may rightly give up on a request (its watchdog, after READ_TIMEOUT) before
    # the origin has read it, on a loaded machine: the key's fault is then still queued and
    # would meet the re-read below, which is no re-read after a fault at all. Such a key
    # goes through its round again, every answer checked, until the origin has served it.
    for path in keys:
        for _ in range(RETRIES):
            if not hostile.faults_left(path):
                break
            for where, answer, wanted in one_key(path):
                check_answer(answer, keys[path][0], wanted, where + " (again: its fault was not served)")
        assert not hostile.faults_left(path), f"{path}: the origin never got to serve its fault"
    # Nothing a fault left may be served: the next read of every key is true, and so is
    # the hit after it, which shows the refetch was stored whole.
    edge.wait_idle(timeout=DEADLINE)
    for path, (truth, kind) in keys.items():
        again = fetch(port, "/h" + path)
        assert (again.status, again.whole) == (200, True), (path, again.status, again.whole)
        check_answer(again, truth, None, path + " again")
    edge.wait_idle(timeout=DEADLINE)
    for path, (truth, kind) in keys.items():
        # The store follows the client, and the other worker's fill may still be storing:
        # give each a moment, every answer checked meanwhile.
        for _ in range(50):
            hit = fetch(port, "/h" + path)
            check_answer(hit, truth, None, path + " hit")
            if hit.x_cache == "HIT":
                break
            time.sleep(0.1)
        assert hit.x_cache == "HIT", (path, hit.x_cache)
    for path in controls:
        assert hostile.count(path) <= 2, path  # stored once per worker at most: never refetched
    injected = sum(1 for path in keys if hostile.count(path) >= 1)
    kinds = {kind for _, kind in keys.values()}
    assert injected == len(keys) >= 500 and len(kinds) >= 12
    print(f"faults injected: {injected} across {len(kinds)} kinds")


def test_a_smuggled_response_poisons_no_key(edge: EdgeServer, hostile: HostileOrigin) -> None:
    """An origin writes a whole second response behind the first on a kept-alive
    connection: the next key asked on that connection must not get it."""
    for round_ in range(6):
        truth = os.urandom(3000)
        hostile.put(f"/smuggler/{round_}", truth, fault=Fault.smuggle(b"POISON"))
        victims = {f"/victim/{round_}/{i}": os.urandom(100 + i) for i in range(6)}
        for path, body in victims.items():
            hostile.put(path, body)
        first = fetch(edge.port, f"/h/smuggler/{round_}")
        check_answer(first, truth, None, "smuggler")
        for path, body in victims.items():
            answer = fetch(edge.port, "/h" + path)
            assert (answer.status, answer.body) == (200, body), (path, answer.status, answer.body[:20])


def test_a_body_after_a_304_or_204_does_not_answer_the_next_key(edge: EdgeServer, hostile: HostileOrigin) -> None:
    truth = os.urandom(5000)
    hostile.put("/empty/revalidated", truth, headers={"Cache-Control": "max-age=0"})
    assert fetch(edge.port, "/h/empty/revalidated").body == truth
    hostile.put("/empty/revalidated", truth, headers={"Cache-Control": "max-age=0"},
                fault=Fault.body_on_empty(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"))
    hostile.put("/empty/204", b"", status=204, fault=Fault.body_on_empty(b"POISON"))
    for i in range(4):
        revalidated = fetch(edge.port, "/h/empty/revalidated")
        assert (revalidated.status, revalidated.body) == (200, truth)
        assert fetch(edge.port, "/h/empty/204").status == 204
        body = os.urandom(64)
        hostile.put(f"/empty/victim/{i}", body)
        assert fetch(edge.port, f"/h/empty/victim/{i}").body == body


def test_a_bad_chunk_size_line_fails_within_the_deadline_and_sticks_nothing(
        edge: EdgeServer, hostile: HostileOrigin) -> None:
    truth = os.urandom(2_000_000)
    hostile.put("/badchunk", truth, faults=[Fault.chunked_bad_size(700_000)])
    answers = []
    with concurrent.futures.ThreadPoolExecutor(3) as clients:
        answers = list(clients.map(lambda _: fetch(edge.port, "/h/badchunk"), range(3)))
    for answer in answers:
        assert not (answer.status == 200 and answer.whole and answer.body != truth)
        assert answer.elapsed < DEADLINE
    again = fetch(edge.port, "/h/badchunk")
    assert (again.status, again.whole, again.body == truth) == (200, True, True)


def test_a_stalled_body_releases_its_followers(edge: EdgeServer, hostile: HostileOrigin) -> None:
    """The watchdog: a fill that stops making progress fails, its waiting clients are let
    go within the deadline, and the next request starts a fill of its own."""
    truth = os.urandom(4_000_000)
    hostile.put("/stalls", truth, faults=[Fault.short(1_500_000)])
    with concurrent.futures.ThreadPoolExecutor(4) as clients:
        answers = list(clients.map(lambda _: fetch(edge.port, "/h/stalls"), range(4)))
    for answer in answers:
        assert answer.elapsed < DEADLINE
        assert not (answer.status == 200 and answer.whole and answer.body != truth)
    assert not all(answer.status == 200 and answer.whole for answer in answers)  # the stalled fill's
    edge.wait_idle(timeout=DEADLINE)  # no fill is left hanging (a late client's own may still run)
    again = fetch(edge.port, "/h/stalls")
    assert (again.status, again.whole, again.body == truth) == (200, True, True)


def test_an_answer_longer_than_its_length_is_served_and_stored_as_its_length(
        edge: EdgeServer, hostile: HostileOrigin) -> None:
    truth = os.urandom(10_000)
    hostile.put("/longer", truth, fault=Fault.surplus_garbage(b"X" * 5000))
    first = fetch(edge.port, "/h/longer")
    assert (first.status, first.body) == (200, truth)
    edge.wait_idle()
    hit = fetch(edge.port, "/h/longer")
    assert (hit.status, hit.body) == (200, truth)


def test_errors_name_no_origin_internals(edge: EdgeServer, hostile: HostileOrigin, tmp_path: Path) -> None:
    hostile.put("/refused", b"x" * 100, fault=Fault.reset_before_headers())
    answer = fetch(edge.port, "/h/refused")
    assert answer.status == 502
    assert answer.body == b"upstream failed: the origin could not be reached\n"
    hostile.put("/late", b"x" * 100, fault=Fault.stall_before_headers(STALL))
    late = fetch(edge.port, "/h/late")
    assert late.status == 504
    assert late.body == b"upstream failed: the origin did not answer in time\n"


@pytest.mark.parametrize("ending", ["half-close", "close"])
def test_an_upload_cut_short_never_reaches_the_origin_whole(edge: EdgeServer, hostile: HostileOrigin,
                                                            ending: str) -> None:
    """A PUT that declares more than it sends must not be passed on as a complete body."""
    path = f"/uploads/{ending}"
    hostile.put(path, b"stored")
    sock = socket.create_connection(("127.0.0.1", edge.port), timeout=DEADLINE)
    try:
        sock.sendall(f"PUT /h{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode() + b"u" * 1000)
        time.sleep(0.3)
        reply = b""
        if ending == "half-close":
            sock.shutdown(socket.SHUT_WR)
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except OSError:
                pass
    finally:
        sock.close()
    assert not reply.startswith(b"HTTP/1.1 2"), reply[:100]
    time.sleep(0.5)  # the origin logs a request once it has read all of it
    puts = hostile.requests(path)
    assert all(len(r.body) == 100000 for r in puts), [len(r.body) for r in puts]
