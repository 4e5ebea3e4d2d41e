"""End to end through the real server (`fallthrough serve`), with origins on loopback."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_server import EdgeServer, request
from origin_server import OriginServer


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    server = OriginServer().start()
    try:
        yield server
    finally:
        server.stop()


def mount(origin_url: str, prefix: str = "/o", **keys: object) -> str:
    lines = [f'[[mount]]\nurl_prefix = "{prefix}"\norigin = "{origin_url}"']
    for key, value in keys.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def edge(tmp_path: Path, origin: OriginServer) -> Iterator[EdgeServer]:
    with EdgeServer(tmp_path, mount(origin.url, stale_while_revalidate="0s")) as server:
        yield server


def test_miss_then_hit(edge: EdgeServer, origin: OriginServer) -> None:
    body = os.urandom(100_000)
    origin.put("/a.bin", body, headers={"Cache-Control": "max-age=60", "Content-Type": "application/x-test"})
    first = edge.get("/o/a.bin")
    assert (first.status, first.header("x-cache"), first.body) == (200, "MISS", body)
    second = edge.get("/o/a.bin")
    assert (second.status, second.header("x-cache"), second.body) == (200, "HIT", body)
    assert second.header("content-type") == "application/x-test"
    assert second.header("content-length") == str(len(body))
    assert origin.count("/a.bin") == 1


def test_stale_then_revalidated_with_304(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/r.txt", b"version one", headers={"Cache-Control": "max-age=1"}, etag='"v1"')
    assert edge.get("/o/r.txt").header("x-cache") == "MISS"
    assert edge.get("/o/r.txt").header("x-cache") == "HIT"
    time.sleep(1.6)
    again = edge.get("/o/r.txt")
    assert (again.header("x-cache"), again.body) == ("REVALIDATED", b"version one")
    conditional = [r for r in origin.requests("/r.txt") if r.method == "GET"][-1]
    assert conditional.headers.get("if-none-match") == '"v1"'
    assert edge.get("/o/r.txt").header("x-cache") == "HIT"  # the 304 refreshed the lifetime


def test_no_freshness_information_is_revalidated_every_time(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/plain", b"no caching headers", etag='"p"')
    assert edge.get("/o/plain").header("x-cache") == "MISS"
    assert edge.get("/o/plain").header("x-cache") == "REVALIDATED"
    assert origin.count("/plain") == 2


def test_hundred_concurrent_misses_make_one_origin_request(edge: EdgeServer, origin: OriginServer) -> None:
    body = os.urandom(3 * 1024 * 1024)
    origin.put("/big", body, headers={"Cache-Control": "max-age=600"}, delay=0.5, chunk_delay=0.01)
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        replies = list(pool.map(lambda _: edge.get("/o/big"), range(100)))
    assert all(r.status == 200 for r in replies)
    digest = hashlib.sha256(body).hexdigest()
    assert all(hashlib.sha256(r.body).hexdigest() == digest for r in replies)
    assert origin.count("/big") == 1


def test_truncated_origin_is_never_cached(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/short", os.urandom(500_000), headers={"Cache-Control": "max-age=600"}, truncate_at=200_000)
    with pytest.raises(Exception):  # noqa: B017 - the client must see a broken transfer, whatever its type
        edge.get("/o/short")
    with pytest.raises(Exception):  # noqa: B017
        edge.get("/o/short")
    assert origin.count("/short") == 2  # nothing was stored, so the second request went to the origin


def test_failing_chunked_origin_is_never_cached(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/fail", os.urandom(500_000), headers={"Cache-Control": "max-age=600"}, fail_at=100_000)
    reply = edge.get("/o/fail")
    assert reply.status == 502
    assert origin.count("/fail") == 1
    edge.get("/o/fail")
    assert origin.count("/fail") == 2


def test_range_and_conditional_requests(edge: EdgeServer, origin: OriginServer) -> None:
    body = bytes(range(256)) * 4096
    origin.put("/r.bin", body, headers={"Cache-Control": "max-age=600"}, etag='"e1"')
    miss = edge.get("/o/r.bin", {"Range": "bytes=1000-1999"})
    assert (miss.status, miss.body, miss.header("content-range")) == (206, body[1000:2000], f"bytes 1000-1999/{len(body)}")
    assert edge.get("/o/r.bin").body == body  # the range did not wait for the whole object; this does
    hit = edge.get("/o/r.bin", {"Range": "bytes=-10"})
    assert (hit.status, hit.body, hit.header("x-cache")) == (206, body[-10:], "HIT")
    assert edge.get("/o/r.bin", {"If-None-Match": '"e1"'}).status == 304
    assert edge.get("/o/r.bin", {"If-Match": '"other"'}).status == 412
    assert edge.get("/o/r.bin", {"Range": f"bytes={len(body)}-"}).status == 416
    assert edge.get("/o/r.bin", {"Range": "bytes=0-0", "If-Range": '"stale"'}).status == 200
    multi = edge.get("/o/r.bin", {"Range": "bytes=0-9,100-109"})
    assert multi.status == 206 and multi.header("content-type").startswith("multipart/byteranges")
    assert body[0:10] in multi.body and body[100:110] in multi.body
    assert edge.get("/o/r.bin", {"Range": "bytes=oops"}).status == 200  # an invalid Range is ignored
    head = edge.get("/o/r.bin", method="HEAD")
    assert (head.status, head.body, head.header("content-length")) == (200, b"", str(len(body)))


def test_vary_stores_variants_apart(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/v", headers={"Cache-Control": "max-age=600"}, vary_on="Accept-Language",
               variants={"en": b"hello", "fr": b"bonjour"})
    assert edge.get("/o/v", {"Accept-Language": "en"}).body == b"hello"
    assert edge.get("/o/v", {"Accept-Language": "fr"}).body == b"bonjour"
    en = edge.get("/o/v", {"Accept-Language": "en"})
    fr = edge.get("/o/v", {"Accept-Language": "fr"})
    assert (en.body, en.header("x-cache"), fr.body, fr.header("x-cache")) == (b"hello", "HIT", b"bonjour", "HIT")


def test_purge_by_url_prefix_and_tag(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/p/one", b"1", headers={"Cache-Control": "max-age=600", "Surrogate-Key": "red blue"})
    origin.put("/p/two", b"2", headers={"Cache-Control": "max-age=600", "Cache-Tag": "green"})
    origin.put("/q/three", b"3", headers={"Cache-Control": "max-age=600"})
    for path in ("/o/p/one", "/o/p/two", "/o/q/three"):
        edge.get(path)
        assert edge.get(path).header("x-cache") == "HIT"
    assert edge.get("/o/p/one").header("surrogate-key") is None  # tags are for the edge only
    assert edge.purge(url="/o/q/three").status == 200
    assert edge.get("/o/q/three").header("x-cache") == "MISS"
    assert edge.purge(tag="blue").status == 200
    assert edge.get("/o/p/one").header("x-cache") == "MISS"
    assert edge.get("/o/p/two").header("x-cache") == "HIT"
    assert edge.purge(prefix="/o/p/").status == 200
    assert edge.get("/o/p/two").header("x-cache") == "MISS"
    assert request(edge.url + "/_fallthrough/purge?tag=x", "POST").status == 401


def test_unsafe_methods_pass_through_and_invalidate(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/u", b"before", headers={"Cache-Control": "max-age=600"})
    edge.get("/o/u")
    assert edge.get("/o/u").header("x-cache") == "HIT"
    reply = edge.get("/o/u", method="PUT", body=b"after")
    assert reply.status == 200
    assert [r.body for r in origin.requests("/u") if r.method == "PUT"] == [b"after"]
    again = edge.get("/o/u")
    assert (again.header("x-cache"), again.body) == ("MISS", b"after")


def test_restart_keeps_the_cache(tmp_path: Path, origin: OriginServer) -> None:
    origin.put("/keep", b"kept across restarts", headers={"Cache-Control": "max-age=600"})
    with EdgeServer(tmp_path, mount(origin.url)) as server:
        assert server.get("/o/keep").header("x-cache") == "MISS"
    with EdgeServer(tmp_path, mount(origin.url)) as server:
        reply = server.get("/o/keep")
        assert (reply.header("x-cache"), reply.body) == ("HIT", b"kept across restarts")
    assert origin.count("/keep") == 1


def test_bad_requests_get_4xx(edge: EdgeServer) -> None:
    assert edge.get("/o/..%2f..%2fetc/passwd").status == 400
    assert edge.get("/o/a/../b").status == 400
    assert edge.get("/nowhere").status == 404
    assert edge.get("/o/x", {"X-Big": "a" * 70_000}).status in (400, 431)
    assert edge.get("/o/x", method="BREW").status in (400, 405, 501)


def test_negative_responses_are_cached_briefly(edge: EdgeServer, origin: OriginServer) -> None:
    assert edge.get("/o/missing").status == 404
    again = edge.get("/o/missing")
    assert (again.status, again.header("x-cache")) == (404, "HIT")
    assert origin.count("/missing") == 1
