"""Origins on their own, through real servers: HTTP on loopback, a directory, SeaweedFS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store

from fallthrough.origins import (
    BadObjectPath,
    BadOriginURL,
    OriginBodyError,
    OriginUnavailable,
    open_origin,
)
from origin_server import OriginServer


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


async def read_all(response) -> bytes:  # noqa: ANN001
    return b"".join([part async for part in response.body])


async def test_http_origin_streams_and_strips_hop_by_hop(origin: OriginServer) -> None:
    body = os.urandom(700_000)
    origin.put("/a b.bin", body, headers={"Cache-Control": "max-age=5", "Connection": "X-Secret",
                                          "X-Secret": "no", "Keep-Alive": "timeout=5"})
    http = open_origin(origin.url + "/")
    try:
        response = await http.fetch("GET", "/a%20b.bin", "x=%201", {"Accept": "*/*", "Host": "evil"})
        assert (response.status, response.length) == (200, len(body))
        assert await read_all(response) == body
        assert response.headers["cache-control"] == "max-age=5"
        assert "keep-alive" not in response.headers and "x-secret" not in response.headers
        sent = origin.requests("/a b.bin")[-1]
        assert sent.query == "x=%201" and sent.headers["accept-encoding"] == "identity"
        assert sent.headers["host"].startswith("127.0.0.1")
    finally:
        await http.close()


async def test_http_origin_reports_broken_bodies_and_dead_hosts(origin: OriginServer) -> None:
    origin.put("/short", os.urandom(300_000), truncate_at=100_000)
    origin.put("/chunked", os.urandom(300_000), fail_at=100_000)
    http = open_origin(origin.url)
    try:
        for path in ("/short", "/chunked"):
            response = await http.fetch("GET", path, "", {})
            with pytest.raises(OriginBodyError):
                await read_all(response)
        missing = await http.fetch("GET", "/nothing", "", {})
        assert missing.status == 404
        await missing.aclose()
    finally:
        await http.close()
    dead = open_origin("http://127.0.0.1:9")
    with pytest.raises(OriginUnavailable):
        await dead.fetch("GET", "/x", "", {})
    await dead.close()


async def test_http_origin_passes_304_and_unsafe_bodies(origin: OriginServer) -> None:
    origin.put("/v", b"v", etag='"7"')
    http = open_origin(origin.url)
    try:
        response = await http.fetch("GET", "/v", "", {"If-None-Match": '"7"'})
        assert response.status == 304 and await read_all(response) == b""

        async def upload():  # noqa: ANN202
            yield b"part one, "
            yield b"part two"

        posted = await http.fetch("POST", "/v", "", {"Content-Type": "text/plain"}, upload())
        assert posted.status == 200
        await posted.aclose()
        assert origin.requests("/v")[-1].body == b"part one, part two"
    finally:
        await http.close()


async def test_directory_origin(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    body = os.urandom(2_500_000)
    (tmp_path / "img" / "cat.png").write_bytes(body)
    (tmp_path / "outside.txt").write_text("x")
    os.symlink("/etc/hostname", tmp_path / "img" / "escape")
    directory = open_origin(f"file://{tmp_path}")
    response = await directory.fetch("GET", "/img/cat.png", "", {})
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    assert await read_all(response) == body
    etag = response.headers["etag"]
    again = await directory.fetch("GET", "/img/cat.png", "", {"If-None-Match": etag})
    assert again.status == 304
    head = await directory.fetch("HEAD", "/img/cat.png", "", {})
    assert (head.status, head.length, await read_all(head)) == (200, len(body), b"")
    part = await directory.fetch("GET", "/img/cat.png", "", {"Range": "bytes=1000-1999"})
    assert (part.status, part.headers["content-range"], await read_all(part)) == (
        206, f"bytes 1000-1999/{len(body)}", body[1000:2000])
    tail = await directory.fetch("GET", "/img/cat.png", "", {"Range": "bytes=2000000-"})
    assert (tail.status, await read_all(tail)) == (206, body[2000000:])
    assert (await directory.fetch("GET", "/img/none.png", "", {})).status == 404
    assert (await directory.fetch("GET", "/img/escape", "", {})).status == 404
    assert (await directory.fetch("GET", "/img", "", {})).status == 404
    assert (await directory.fetch("PUT", "/img/cat.png", "", {})).status == 405
    for bad in ("/../x", "/img//cat.png", "/", "/a%00b", "/img/"):
        with pytest.raises(BadObjectPath):
            await directory.fetch("GET", bad, "", {})


async def test_bucket_origin_on_seaweedfs(seaweedfs) -> None:  # noqa: ANN001
    seaweedfs.create_bucket("origins")
    env = seaweedfs.env
    store = S3Store("origins", endpoint=env["AWS_ENDPOINT_URL"], region="us-east-1",
                    access_key_id=env["AWS_ACCESS_KEY_ID"], secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                    client_options={"allow_http": True})
    body = os.urandom(1_200_000)
    obstore.put(store, "p/doc.json", body)
    bucket = open_origin("s3://origins/p")
    response = await bucket.fetch("GET", "/doc.json", "", {})
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    assert await read_all(response) == body
    assert response.headers["content-length"] == str(len(body)) and response.headers["last-modified"]
    not_modified = await bucket.fetch("GET", "/doc.json", "", {"If-None-Match": response.headers["etag"]})
    assert not_modified.status == 304
    part = await bucket.fetch("GET", "/doc.json", "", {"Range": "bytes=100-199"})
    assert (part.status, part.headers["content-range"], await read_all(part)) == (
        206, f"bytes 100-199/{len(body)}", body[100:200])
    assert (await bucket.fetch("GET", "/nope.json", "", {})).status == 404
    assert (await bucket.fetch("DELETE", "/doc.json", "", {})).status == 405


def test_bad_origin_urls() -> None:
    for url in ("ftp://x", "http://", "file:///no/such/dir", "s3:///prefix", "http://h:99999/"):
        with pytest.raises(BadOriginURL):
            open_origin(url)
