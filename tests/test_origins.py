"""Origins on their own, through real servers: HTTP on loopback, a directory, SeaweedFS."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store

from fallthrough.origins.http_wire import SETTLE
from fallthrough.origins import (
    BadObjectPath,
    BadOriginURL,
    BucketOrigin,
    DirectoryOrigin,
    HttpOrigin,
    Origin,
    OriginBodyError,
    OriginError,
    OriginResponse,
    OriginUnavailable,
    open_origin,
)
from origin_server import OriginServer

BAD_PATHS = ("/../x", "/a/./b", "/a//b", "/", "", "/a%00b", "/dir/", "/a/%2E%2E/b")
_prefixes = itertools.count()


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


@pytest.fixture
async def http(origin: OriginServer) -> AsyncIterator[Origin]:
    opened = open_origin(origin.url, connect_timeout=2.0, read_timeout=5.0)
    yield opened
    await opened.close()


async def pieces(response: OriginResponse) -> list[bytes]:
    return [part async for part in response.body]


async def read_all(response: OriginResponse) -> bytes:
    return b"".join(await pieces(response))


def one_line(exc: pytest.ExceptionInfo[OriginError], *words: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    for word in words:
        assert word in text, text


# -- HTTP ---------------------------------------------------------------------


async def test_http_body_streams_with_end_to_end_headers_only(origin: OriginServer, http: Origin) -> None:
    body = os.urandom(700_000)
    origin.put("/a b.bin", body, headers=[
        ("Cache-Control", "max-age=5"), ("Content-Type", "application/x-test"), ("Connection", "X-Secret"),
        ("X-Secret", "no"), ("Keep-Alive", "timeout=5"), ("Proxy-Authenticate", "Basic"), ("Upgrade", "h2c"),
        ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
    ])
    response = await http.fetch("GET", "/a%20b.bin", "", {})
    assert (response.status, response.length) == (200, len(body))
    got = await pieces(response)
    assert b"".join(got) == body and len(got) > 1
    h = response.headers
    assert h["Content-Length"] == str(len(body)) and h["Cache-Control"] == "max-age=5"
    assert h["Content-Type"] == "application/x-test" and h["Date"]
    assert h.getall("Set-Cookie") == ["a=1", "b=2"]
    for gone in ("Connection", "X-Secret", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Transfer-Encoding"):
        assert gone not in h


async def test_http_first_bytes_arrive_before_the_origin_finishes(origin: OriginServer, http: Origin) -> None:
    origin.put("/slow", b"x" * 40_000, chunk_size=10_000, chunk_delay=0.25)
    started = time.monotonic()
    response = await http.fetch("GET", "/slow", "", {})
    first = await anext(response.body)
    assert first and time.monotonic() - started < 0.5
    rest = await read_all(response)
    assert len(first) + len(rest) == 40_000 and time.monotonic() - started >= 0.75


async def test_http_request_goes_out_as_the_client_sent_it(origin: OriginServer, http: Origin) -> None:
    origin.put("/dir/a b~c.txt", b"hi")
    response = await http.fetch("GET", "/dir/a%20b%7Ec.txt", "x=%201&y=a+b&z", {
        "Accept": "text/plain", "Host": "evil.example", "Connection": "X-Private", "X-Private": "1",
        "TE": "trailers", "Proxy-Authorization": "Basic eA==", "Keep-Alive": "300", "X-Trace": "t1",
    })
    assert (response.status, await read_all(response)) == (200, b"hi")
    seen = origin.requests("/dir/a b~c.txt")[-1]
    assert seen.raw_path == "/dir/a%20b%7Ec.txt" and seen.query == "x=%201&y=a+b&z"
    assert seen.headers["accept-encoding"] == "identity" and seen.headers["accept"] == "text/plain"
    assert seen.headers["x-trace"] == "t1" and seen.headers["host"] == f"127.0.0.1:{origin.port}"
    for gone in ("x-private", "te", "proxy-authorization", "keep-alive"):
        assert gone not in seen.headers


async def test_http_base_path_is_prefixed(origin: OriginServer) -> None:
    origin.put("/base/file", b"under base")
    based = open_origin(origin.url + "/base/")
    try:
        assert await read_all(await based.fetch("GET", "/file", "", {})) == b"under base"
    finally:
        await based.close()


async def test_http_encoded_bodies_are_kept_as_sent(origin: OriginServer, http: Origin) -> None:
    packed = gzip.compress(b"squeeze me " * 1000)
    origin.put("/z", packed, headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    response = await http.fetch("GET", "/z", "", {"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip" and response.length == len(packed)
    assert await read_all(response) == packed
    assert origin.requests("/z")[-1].headers["accept-encoding"] == "gzip"


async def test_http_conditional_gets_a_304_with_no_body(origin: OriginServer, http: Origin) -> None:
    origin.put("/v", b"version", etag='"7"', last_modified=1_700_000_000, headers={"Cache-Control": "max-age=9"})
    for asked in ({"If-None-Match": '"7"'}, {"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}):
        response = await http.fetch("GET", "/v", "", asked)
        assert (response.status, response.length, await read_all(response)) == (304, 0, b"")
        assert response.headers["ETag"] == '"7"' and response.headers["Cache-Control"] == "max-age=9"
    changed = await http.fetch("GET", "/v", "", {"If-None-Match": '"6"'})
    assert (changed.status, await read_all(changed)) == (200, b"version")


async def test_http_errors_and_redirects_are_responses(origin: OriginServer, http: Origin) -> None:
    missing = await http.fetch("GET", "/nothing", "", {})
    assert (missing.status, await read_all(missing)) == (404, b"not found\n")
    origin.put("/old", status=302, headers={"Location": "/new"})
    moved = await http.fetch("GET", "/old", "", {})
    assert (moved.status, moved.headers["Location"]) == (302, "/new")
    await moved.aclose()
    origin.put("/down", b"busy", status=503)
    busy = await http.fetch("GET", "/down", "", {})
    assert (busy.status, await read_all(busy)) == (503, b"busy")
    assert origin.count("/new") == 0  # the redirect was not followed


async def test_http_head_has_a_length_and_no_body(origin: OriginServer, http: Origin) -> None:
    origin.put("/h", b"12345", headers={"Content-Type": "text/plain"})
    head = await http.fetch("HEAD", "/h", "", {})
    assert (head.status, head.length, await read_all(head)) == (200, 5, b"")
    assert head.headers["Content-Length"] == "5" and head.headers["Content-Type"] == "text/plain"
    assert origin.count("/h", "HEAD") == 1


async def test_http_unsafe_methods_stream_their_body(origin: OriginServer, http: Origin) -> None:
    async def upload() -> AsyncIterator[bytes]:
        yield b"part one, "
        yield b"part two"

    posted = await http.fetch("POST", "/form", "a=1", {"Content-Type": "text/plain"}, upload())
    assert (posted.status, await read_all(posted)) == (200, b"ok")
    sent = origin.requests("/form")[-1]
    assert (sent.method, sent.query, sent.body) == ("POST", "a=1", b"part one, part two")
    assert sent.headers["content-type"] == "text/plain"

    put = await http.fetch("PUT", "/doc", "", {"Content-Length": "18"}, upload())
    assert put.status == 200
    await put.aclose()
    sent = origin.requests("/doc")[-1]
    assert sent.body == b"part one, part two" and sent.headers["content-length"] == "18"
    assert "transfer-encoding" not in sent.headers
    assert await read_all(await http.fetch("GET", "/doc", "", {})) == b"part one, part two"


async def test_http_short_and_broken_bodies_raise_from_the_iterator(origin: OriginServer, http: Origin) -> None:
    origin.put("/short", os.urandom(300_000), truncate_at=100_000)
    origin.put("/chunked", os.urandom(300_000), fail_at=100_000)
    for path, declared in (("/short", 300_000), ("/chunked", None)):
        response = await http.fetch("GET", path, "", {})
        assert (response.status, response.length) == (200, declared)
        with pytest.raises(OriginBodyError) as broke:
            await read_all(response)
        one_line(broke, origin.url)
    # The pool still works after connections died under it.
    origin.put("/ok", b"fine")
    assert await read_all(await http.fetch("GET", "/ok", "", {})) == b"fine"


async def test_http_timeouts(origin: OriginServer) -> None:
    origin.put("/late", b"x", delay=1.5)
    origin.put("/stalls", b"y" * 30_000, chunk_size=10_000, chunk_delay=1.5)
    impatient = open_origin(origin.url, read_timeout=0.4)
    try:
        with pytest.raises(OriginUnavailable) as late:
            await impatient.fetch("GET", "/late", "", {})
        one_line(late, origin.url, "timed out")
        stalls = await impatient.fetch("GET", "/stalls", "", {})
        assert stalls.status == 200
        with pytest.raises(OriginBodyError) as stalled:
            await read_all(stalls)
        one_line(stalled, "10000 bytes")
    finally:
        await impatient.close()


async def test_http_unreachable_origin_is_unavailable() -> None:
    with sock_closed() as port:
        dead = open_origin(f"http://user:secret@127.0.0.1:{port}/base")
        assert dead.name == f"http://127.0.0.1:{port}/base"
        try:
            with pytest.raises(OriginUnavailable) as refused:
                await dead.fetch("GET", "/x", "", {})
            one_line(refused, dead.name)
            assert "secret" not in str(refused.value)
        finally:
            await dead.close()


async def test_http_aclose_gives_the_connection_back_early(origin: OriginServer, http: Origin) -> None:
    body = os.urandom(3_000_000)
    origin.put("/big", body, chunk_size=100_000, chunk_delay=0.01)
    for _ in range(3):  # more walk-aways than a leaking pool would survive unnoticed
        response = await http.fetch("GET", "/big", "", {})
        assert await anext(response.body)
        await response.aclose()
        await response.aclose()  # idempotent
    whole = await http.fetch("GET", "/big", "", {})
    assert await read_all(whole) == body
    await whole.aclose()  # after the end: harmless


class sock_closed:  # noqa: N801 - used like a function
    """A loopback port that was free a moment ago and has no listener."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        return None


# -- a directory --------------------------------------------------------------


async def test_directory_origin(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    body = os.urandom(2_500_000)
    (tmp_path / "img" / "cat.png").write_bytes(body)
    (tmp_path / "outside.txt").write_text("x")
    os.symlink("/etc/hostname", tmp_path / "img" / "escape")
    directory = open_origin(f"file://{tmp_path}")
    assert isinstance(directory, DirectoryOrigin)
    response = await directory.fetch("GET", "/img/cat.png", "", {})
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(body)) == str(response.length)
    modified = parsedate_to_datetime(response.headers["last-modified"]).timestamp()
    assert abs(modified - os.stat(tmp_path / "img" / "cat.png").st_mtime) < 1
    got = await pieces(response)
    assert b"".join(got) == body and len(got) > 1
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = await directory.fetch("GET", "/img/cat.png", "", {"If-None-Match": etag})
    assert (again.status, again.headers["etag"], await read_all(again)) == (304, etag, b"")
    head = await directory.fetch("HEAD", "/img/cat.png", "", {})
    assert (head.status, head.length, await read_all(head)) == (200, len(body), b"")
    part = await directory.fetch("GET", "/img/cat.png", "", {"Range": "bytes=1000-1999"})
    assert (part.status, part.headers["content-range"], await read_all(part)) == (
        206, f"bytes 1000-1999/{len(body)}", body[1000:2000])
    tail = await directory.fetch("GET", "/img/cat.png", "", {"Range": "bytes=2000000-"})
    assert (tail.status, await read_all(tail)) == (206, body[2000000:])
    missing = await directory.fetch("GET", "/img/none.png", "", {})
    assert (missing.status, await read_all(missing)) == (404, b"")
    assert (await directory.fetch("GET", "/img/escape", "", {})).status == 404
    assert (await directory.fetch("GET", "/img", "", {})).status == 404
    refused = await directory.fetch("PUT", "/img/cat.png", "", {})
    assert (refused.status, refused.headers["allow"]) == (405, "GET, HEAD")
    for bad in BAD_PATHS:
        with pytest.raises(BadObjectPath):
            await directory.fetch("GET", bad, "", {})


# -- a bucket -----------------------------------------------------------------


@pytest.fixture
def bucket_prefix(seaweedfs) -> tuple[S3Store, str]:  # noqa: ANN001
    """A client for the `origins` bucket and a fresh prefix in it."""
    seaweedfs.create_bucket("origins")
    env = seaweedfs.env
    store = S3Store("origins", endpoint=env["AWS_ENDPOINT_URL"], region="us-east-1",
                    access_key_id=env["AWS_ACCESS_KEY_ID"], secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                    client_options={"allow_http": True})
    return store, f"p{os.getpid()}-{next(_prefixes)}"


async def test_bucket_get_streams_with_object_headers(bucket_prefix: tuple[S3Store, str]) -> None:
    store, prefix = bucket_prefix
    body = os.urandom(2 * 1024 * 1024)
    obstore.put(store, f"{prefix}/data/doc.json", body)
    obstore.put(store, f"{prefix}/page", b"<p>hi</p>",
                attributes={"Content-Type": "text/html", "Cache-Control": "max-age=60"})
    bucket = open_origin(f"s3://origins/{prefix}")
    assert isinstance(bucket, BucketOrigin) and bucket.name == f"s3://origins/{prefix}"
    response = await bucket.fetch("GET", "/data/doc.json", "", {})
    assert (response.status, response.length) == (200, len(body))
    h = response.headers
    assert h["Content-Length"] == str(len(body)) and h["Content-Type"] == "application/json"
    assert h["ETag"].startswith('"') and h["ETag"].endswith('"')
    assert abs(parsedate_to_datetime(h["Last-Modified"]).timestamp() - time.time()) < 120
    got = await pieces(response)
    assert b"".join(got) == body and len(got) > 1
    page = await bucket.fetch("GET", "/page", "", {})
    assert (page.headers["Content-Type"], page.headers["Cache-Control"]) == ("text/html", "max-age=60")
    assert await read_all(page) == b"<p>hi</p>"
    spaced = await bucket.fetch("GET", "/data/doc%2Ejson", "", {})  # keys are percent-decoded
    assert spaced.status == 200
    await spaced.aclose()
    head = await bucket.fetch("HEAD", "/data/doc.json", "", {})
    assert (head.status, head.length, await read_all(head)) == (200, len(body), b"")
    assert head.headers["ETag"] == h["ETag"] and head.headers["Content-Length"] == str(len(body))
    part = await bucket.fetch("GET", "/data/doc.json", "", {"Range": "bytes=100-199"})
    assert (part.status, part.headers["content-range"], await read_all(part)) == (
        206, f"bytes 100-199/{len(body)}", body[100:200])


async def test_bucket_conditionals_missing_objects_and_refusals(bucket_prefix: tuple[S3Store, str]) -> None:
    store, prefix = bucket_prefix
    obstore.put(store, f"{prefix}/v.txt", b"validated")
    bucket = open_origin(f"s3://origins/{prefix}")
    first = await bucket.fetch("GET", "/v.txt", "", {})
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    await first.aclose()
    for asked in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        same = await bucket.fetch("GET", "/v.txt", "", asked)
        assert (same.status, same.length, await read_all(same)) == (304, 0, b"")
        assert (same.headers["ETag"], same.headers["Last-Modified"]) == (etag, modified)
    changed = await bucket.fetch("GET", "/v.txt", "", {"If-None-Match": '"other"'})
    assert (changed.status, await read_all(changed)) == (200, b"validated")
    guarded = await bucket.fetch("GET", "/v.txt", "", {"If-Match": '"other"'})
    assert guarded.status == 412
    missing = await bucket.fetch("GET", "/nope.json", "", {})
    assert (missing.status, missing.length, await read_all(missing)) == (404, 0, b"")
    for method in ("DELETE", "PUT", "POST"):
        refused = await bucket.fetch(method, "/v.txt", "", {})
        assert (refused.status, refused.headers["Allow"], await read_all(refused)) == (405, "GET, HEAD", b"")
    for bad in BAD_PATHS:
        with pytest.raises(BadObjectPath):
            await bucket.fetch("GET", bad, "", {})
    assert obstore.get(store, f"{prefix}/v.txt").bytes() == b"validated"  # nothing was deleted


async def test_bucket_unreachable_store_is_unavailable(seaweedfs) -> None:  # noqa: ANN001
    with sock_closed() as port:
        bucket = open_origin("s3://origins/p", {"endpoint": f"http://127.0.0.1:{port}"})
        with pytest.raises(OriginUnavailable) as down:
            await bucket.fetch("GET", "/x", "", {})
        one_line(down, "s3://origins/p")


# -- opening ------------------------------------------------------------------


def test_open_origin_picks_the_kind_and_rejects_bad_urls(tmp_path: Path) -> None:
    assert isinstance(open_origin("https://example.com/base"), HttpOrigin)
    assert isinstance(open_origin(f"file://{tmp_path}"), DirectoryOrigin)
    assert isinstance(open_origin("s3://bucket/prefix", {"region": "us-east-1"}), BucketOrigin)
    for url, options in (("ftp://x", None), ("http://", None), ("file:///no/such/dir", None), ("s3:///prefix", None),
                         ("http://h:99999/", None), ("http://h/?q=1", None), ("mybucket/prefix", None),
                         ("s3://b/p", {"colour": "blue"}), ("http://h/", {"region": "x"})):
        with pytest.raises(BadOriginURL) as bad:
            open_origin(url, options)
        assert url in str(bad.value) and "\n" not in str(bad.value)



async def test_http_takes_a_response_head_of_40_kib_that_arrives_in_pieces() -> None:
    """Long cookies and policies make heads past the HTTP parser's own 16 KiB default,
    which it applies to a head still incomplete: sent in pieces, as a far origin's is."""
    head = b"HTTP/1.1 200 OK\r\nX-Policy: " + b"a" * 40_000 + b"\r\nContent-Length: 2\r\n\r\nok"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for at in range(0, len(head), 4096):
            writer.write(head[at:at + 4096])
            await writer.drain()
            await asyncio.sleep(0.002)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    origin = open_origin(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        response = await origin.fetch("GET", "/", "", {})
        assert (response.status, len(response.headers["x-policy"]), await read_all(response)) == (200, 40_000, b"ok")
    finally:
        await origin.close()
        server.close()


async def test_http_retries_a_request_whose_reused_connection_answers_garbage() -> None:
    """Surplus bytes that come only once the connection was reused break the next answer's
    framing: that request, with no answer yet, goes again on a new connection."""
    served: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                path = (await reader.readuntil(b"\r\n\r\n")).split(b" ")[1]
                served.append(path)
                if path == b"/late":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
                    await reader.readuntil(b"\r\n\r\n")  # the next request arrives; then the surplus
                    writer.write(b"garbage!\r\n\r\n")
                    await writer.drain()
                    break
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + path[1:5])
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    origin = open_origin(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", read_timeout=2)
    try:
        assert await read_all(await origin.fetch("GET", "/late", "", {})) == b"ok"
        await asyncio.sleep(SETTLE + 0.05)  # settled: the next request reuses the connection
        assert await read_all(await origin.fetch("GET", "/next", "", {})) == b"next"
        assert served == [b"/late", b"/next"]  # the second /next came on a connection of its own
    finally:
        await origin.close()
        server.close()


def _smuggler(pause: float):  # noqa: ANN202 - an asyncio server's connection handler
    """An origin that answers GET /smug, then `pause` seconds later writes a second
    response nobody asked for on the same connection."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                path = (await reader.readuntil(b"\r\n\r\n")).split(b" ")[1]
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + path[1:5])
                await writer.drain()
                if path == b"/smug":
                    await asyncio.sleep(pause)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
                    await writer.drain()
        writer.close()

    return answer


async def test_http_a_response_read_in_before_the_body_ended_answers_no_request() -> None:
    """The surplus came in (another piece from the socket) while the client was still
    reading the body it trails: it waits in the connection's own buffer, not in the
    kernel, when the response ends, and must spoil the connection as surely."""

    server = await asyncio.start_server(_smuggler(0.01), "127.0.0.1", 0)
    origin = open_origin(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", read_timeout=2)
    try:
        for _ in range(3):
            response = await origin.fetch("GET", "/smug", "", {})
            await asyncio.sleep(0.1)  # the surplus arrives before the body is read
            assert await read_all(response) == b"smug"
            await asyncio.sleep(SETTLE + 0.05)
            assert await read_all(await origin.fetch("GET", "/next", "", {})) == b"next"
    finally:
        await origin.close()
        server.close()


async def test_http_a_response_smuggled_right_behind_another_answers_no_request() -> None:
    """The surplus comes a moment after the response it trails (another write): the
    connection waits to settle before it is used again, so the surplus spoils it instead
    of answering the next request."""

    server = await asyncio.start_server(_smuggler(0.005), "127.0.0.1", 0)
    origin = open_origin(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", read_timeout=2)
    try:
        for _ in range(5):
            assert await read_all(await origin.fetch("GET", "/smug", "", {})) == b"smug"
            assert await read_all(await origin.fetch("GET", "/next", "", {})) == b"next"
    finally:
        await origin.close()
        server.close()


async def _answer_once(raw: bytes) -> tuple[asyncio.Server, str]:
    """An origin that answers one request with `raw` and closes."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("interim", [b"", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"])
async def test_http_reads_a_transfer_coding_other_than_chunked_to_the_close(interim: bytes) -> None:
    """RFC 9112 §6.3: a response whose Transfer-Encoding does not end in chunked is framed
    by the close, whatever its Content-Length says; the coding is not passed on."""
    server, url = await _answer_once(interim + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: x-custom\r\n"
                                     b"Content-Length: 3\r\n\r\nhello world")
    origin = open_origin(url)
    try:
        response = await origin.fetch("GET", "/", "", {})
        assert (response.status, response.length, await read_all(response)) == (200, None, b"hello world")
        assert "transfer-encoding" not in response.headers and "content-length" not in response.headers
    finally:
        await origin.close()
        server.close()


async def test_http_refuses_chunked_behind_another_transfer_coding() -> None:
    """`gzip, chunked` would need the gzip undone to give the body: an error, never the
    coded bytes passed off as the body."""
    server, url = await _answer_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                                     b"3\r\nabc\r\n0\r\n\r\n")
    origin = open_origin(url)
    try:
        with pytest.raises(OriginError):
            response = await origin.fetch("GET", "/", "", {})
            await read_all(response)
    finally:
        await origin.close()
        server.close()


async def test_http_never_reuses_a_connection_with_bytes_the_loop_has_not_read() -> None:
    """A busy event loop may not have polled an idle connection for longer than it takes
    to settle: a response smuggled onto it then waits unread in the kernel. Reusing the
    connection would make that response the next key's answer."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    smuggle = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            smuggle.wait(10)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
            with contextlib.suppress(OSError):
                if conn.recv(65536):  # the next request came on this connection after all
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")

        conn, _ = listener.accept()  # a new connection: the true answer
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    origin = open_origin(f"http://127.0.0.1:{listener.getsockname()[1]}")
    try:
        assert await read_all(await origin.fetch("GET", "/one", "", {})) == b"ok"
        smuggle.set()
        time.sleep(SETTLE + 0.1)  # the loop is busy (blocked): the smuggled bytes stay unread; it settles
        assert await read_all(await origin.fetch("GET", "/two", "", {})) == b"two"
    finally:
        await origin.close()
        listener.close()
