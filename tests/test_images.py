"""Image transforms end to end: `fallthrough serve` with image routes and a mount's
generic form, an HTTP origin on loopback holding the sources."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edge_server import TOKEN, EdgeServer, request
from image_files import LOADERS, animation, bomb, describe, noise, photo, sticker
from origin_server import OriginServer
from test_negotiate import CHROME, CURL, FIREFOX, SAFARI

from fallthrough.transforms import signing

KEY = "test-signing-key-0123456789"
CACHED = {"Cache-Control": "max-age=600"}
CONFIG = """
[images]
signing_key = "{key}"

[[mount]]
url_prefix = "/file/christine-static"
origin = "{origin}"
image_transforms = true
image_max_size = 1024

[[mount]]
url_prefix = "/signed"
origin = "{origin}"
image_transforms = true
image_signed = true

[[image_route]]
route = "/sticker/{{character}}/{{mood}}/{{size}}"
source = "/file/christine-static/stickers/{{character}}/{{mood}}.png"   # a path under a mount
max_size = 256

[[image_route]]
route = "/badge/{{name}}/{{size}}.{{format}}"
source = "/file/christine-static/stickers/{{name}}/happy.png"
max_size = 128
formats = ["webp", "png"]
signed = true
"""


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        server.put("/stickers/bob/happy.png", sticker(), headers=CACHED)
        server.put("/stickers/ann/sad.png", sticker(300), headers=CACHED)
        server.put("/photos/cat.jpg", photo(), headers=CACHED)
        server.put("/bomb.png", bomb(), headers=CACHED)
        server.put("/notes.png", b"this is not an image\n" * 10, headers=CACHED)
        yield server


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, origin: OriginServer) -> Iterator[EdgeServer]:
    config = CONFIG.format(key=KEY, origin=origin.url)
    with EdgeServer(tmp_path_factory.mktemp("images"), config) as server:
        yield server


def get(edge: EdgeServer, path: str, accept: str | None = None, **headers: str):  # noqa: ANN201
    sent = dict(headers)
    if accept is not None:
        sent["Accept"] = accept
    return request(edge.url + path, headers=sent)


def health(edge: EdgeServer) -> dict:
    return json.loads(request(edge.url + "/_fallthrough/health").body)


# -- negotiation and variants ---------------------------------------------------


def test_the_sticker_route_negotiates_for_real_browsers(edge: EdgeServer, origin: OriginServer) -> None:
    wanted = {CHROME: "avif", FIREFOX: "avif", SAFARI: "avif", CURL: "png", "image/webp,*/*": "webp"}
    for accept, fmt in wanted.items():
        reply = get(edge, "/sticker/bob/happy/128", accept)
        assert reply.status == 200, reply.body
        assert reply.header("content-type") == f"image/{fmt}"
        assert describe(reply.body) == (LOADERS[fmt], 128, 128)
        assert reply.header("vary") == "Accept"
        etag = reply.header("etag")
        assert etag and etag.startswith('"'), etag  # strong
    # One download of the source served every variant.
    assert origin.count("/stickers/bob/happy.png") == 1


def test_clients_that_negotiate_the_same_format_share_one_entry(edge: EdgeServer) -> None:
    first = get(edge, "/sticker/bob/happy/96", CHROME)
    assert first.header("x-cache") == "MISS"
    for accept in (FIREFOX, SAFARI, CHROME):
        again = get(edge, "/sticker/bob/happy/96", accept)
        assert again.header("x-cache") == "HIT"
        assert again.body == first.body and again.header("etag") == first.header("etag")


def test_variants_are_kept_apart(edge: EdgeServer) -> None:
    seen: dict[str, bytes] = {}
    for path, accept in [("/sticker/bob/happy/64", CURL), ("/sticker/bob/happy/65", CURL),
                         ("/sticker/bob/happy/64", "image/webp"), ("/sticker/bob/happy/64?q=20", "image/webp"),
                         ("/sticker/bob/happy/64?q=95", "image/webp"), ("/sticker/bob/happy/64?format=jpg", CHROME)]:
        reply = get(edge, path, accept)
        assert reply.status == 200, (path, reply.body)
        etag = reply.header("etag")
        assert etag not in seen, f"{path} {accept} has the ETag of another variant"
        seen[etag] = reply.body
    assert len(set(seen.values())) == len(seen)
    explicit = get(edge, "/sticker/bob/happy/64?format=jpg", CURL)
    assert explicit.header("content-type") == "image/jpeg" and explicit.header("vary") is None
    assert describe(explicit.body)[0] == LOADERS["jpeg"]


def test_a_variant_revalidates_with_its_etag(edge: EdgeServer) -> None:
    reply = get(edge, "/sticker/ann/sad/100", CHROME)
    again = get(edge, "/sticker/ann/sad/100", CHROME, **{"If-None-Match": reply.header("etag")})
    assert again.status == 304 and again.body == b""
    assert describe(reply.body) == (LOADERS["avif"], 100, 100)


def test_concurrent_requests_for_one_variant_make_one_transform(edge: EdgeServer) -> None:
    before = health(edge)["transforms"]["runs"]
    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda _: get(edge, "/sticker/bob/happy/200", CHROME), range(20)))
    assert {r.status for r in replies} == {200}
    assert len({r.body for r in replies}) == 1
    assert health(edge)["transforms"]["runs"] == before + 1


def test_the_generic_form_on_a_mount(edge: EdgeServer) -> None:
    plain = get(edge, "/file/christine-static/photos/cat.jpg")
    assert plain.status == 200 and describe(plain.body) == (LOADERS["jpeg"], 1000, 750)
    small = get(edge, "/file/christine-static/photos/cat.jpg?w=200", CURL)
    assert describe(small.body) == (LOADERS["jpeg"], 200, 150)
    assert get(edge, "/file/christine-static/photos/cat.jpg?w=200", CHROME).header("content-type") == "image/avif"
    cover = get(edge, "/file/christine-static/photos/cat.jpg?w=100&h=100&fit=cover&format=webp")
    assert describe(cover.body) == (LOADERS["webp"], 100, 100)
    fill = get(edge, "/file/christine-static/photos/cat.jpg?w=100&h=40&fit=fill&format=png")
    assert describe(fill.body) == (LOADERS["png"], 100, 40)
    contain = get(edge, "/file/christine-static/photos/cat.jpg?h=100&w=100&format=png")
    assert describe(contain.body) == (LOADERS["png"], 100, 75)
    # Another spelling of the same variant is the same cache entry.
    respelled = get(edge, "/file/christine-static/photos/cat.jpg?format=png&w=100&h=100&fit=contain")
    assert respelled.header("x-cache") == "HIT" and respelled.body == contain.body
    # The generic form never enlarges.
    assert describe(get(edge, "/file/christine-static/photos/cat.jpg?w=1024", CURL).body)[1:] == (1000, 750)


# -- limits and signatures ------------------------------------------------------


@pytest.mark.parametrize("path, status, words", [
    ("/sticker/bob/happy/257", 400, "1 to 256"),
    ("/sticker/bob/happy/0", 400, "1 to 256"),
    ("/sticker/bob/happy/64?q=0", 400, "quality"),
    ("/sticker/bob/happy/64?q=abc", 400, "quality"),
    ("/sticker/bob/happy/64?format=bmp", 400, "format"),
    ("/sticker/bob/happy/64?q=5&q=6", 400, "twice"),
    ("/sticker/bob/happy", 404, "/sticker/{character}/{mood}/{size}"),
    ("/sticker/nobody/happy/64", 404, "no source image"),
    ("/file/christine-static/photos/cat.jpg?w=1025", 400, "width"),
    ("/file/christine-static/photos/cat.jpg?w=-1", 400, "width"),
    ("/file/christine-static/photos/cat.jpg?w=10&fit=squash", 400, "fit"),
    ("/file/christine-static/notes.png?w=10", 422, "not an image"),
    ("/file/christine-static/missing.png?w=10", 404, "no source image"),
])
def test_bad_requests_get_a_clear_4xx(edge: EdgeServer, path: str, status: int, words: str) -> None:
    reply = get(edge, path, CURL)
    assert reply.status == status, reply.body
    assert words in reply.body.decode()


def _worker_rss(edge: EdgeServer) -> int:
    """The resident memory of the server's worker process, in bytes."""
    assert edge.process is not None
    children = subprocess.run(["pgrep", "-P", str(edge.process.pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def test_a_decompression_bomb_is_refused_from_its_header(edge: EdgeServer) -> None:
    get(edge, "/sticker/bob/happy/32", CURL)  # the worker has loaded libvips
    before = _worker_rss(edge)
    for size in (32, 64, 128):
        reply = get(edge, f"/file/christine-static/bomb.png?w={size}", CURL)
        assert reply.status == 422
        assert "100000x100000 pixels, above the limit of 50,000,000" in reply.body.decode()
    # Decoding it would take 10 GB; refusing it costs nothing to speak of.
    assert _worker_rss(edge) - before < 32 * 1024 * 1024


def test_signed_routes_and_mounts(edge: EdgeServer) -> None:
    assert get(edge, "/badge/bob/64.webp").status == 403
    assert get(edge, "/signed/photos/cat.jpg?w=50").status == 403
    # The plain object of a signed mount needs no signature.
    assert get(edge, "/signed/photos/cat.jpg").status == 200
    sig = signing.sign(KEY.encode(), "/badge/bob/64.webp", [])
    reply = get(edge, f"/badge/bob/64.webp?sig={sig}")
    assert reply.status == 200 and describe(reply.body) == (LOADERS["webp"], 64, 64)
    assert get(edge, f"/badge/bob/65.webp?sig={sig}").status == 403  # another size
    assert get(edge, f"/badge/bob/64.png?sig={sig}").status == 403  # another format
    assert get(edge, f"/badge/bob/64.gif?sig={signing.sign(KEY.encode(), '/badge/bob/64.gif', [])}").status == 404
    sig = signing.sign(KEY.encode(), "/signed/photos/cat.jpg", [("w", "50"), ("format", "png")])
    reply = get(edge, f"/signed/photos/cat.jpg?format=png&w=50&sig={sig}")
    assert reply.status == 200 and describe(reply.body) == (LOADERS["png"], 50, 37)
    assert get(edge, f"/signed/photos/cat.jpg?format=png&w=51&sig={sig}").status == 403


def test_the_cli_signs_urls(edge: EdgeServer) -> None:
    from edge_server import FALLTHROUGH
    signed = subprocess.run([FALLTHROUGH, "sign-url", "--config", str(edge.config),
                             "/signed/photos/cat.jpg?w=40&format=webp"], capture_output=True, text=True, check=True)
    path = signed.stdout.strip()
    assert "sig=" in path
    reply = get(edge, path)
    assert reply.status == 200 and describe(reply.body) == (LOADERS["webp"], 40, 30)


# -- purges and the pool ----------------------------------------------------------


def test_purging_the_source_purges_its_variants(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/stickers/cy/happy.png", sticker(), headers=CACHED)
    assert get(edge, "/sticker/cy/happy/50", CHROME).header("x-cache") == "MISS"
    assert get(edge, "/sticker/cy/happy/50", CHROME).header("x-cache") == "HIT"
    origin.put("/stickers/cy/happy.png", sticker(400), headers=CACHED)  # a new drawing
    purged = request(edge.url + "/_fallthrough/purge?url=/file/christine-static/stickers/cy/happy.png", "POST",
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert purged.status == 200
    deadline = time.monotonic() + 5
    while get(edge, "/sticker/cy/happy/50", CHROME).header("x-cache") != "MISS":
        assert time.monotonic() < deadline, "the variant outlived the purge of its source"
        time.sleep(0.2)
    assert origin.count("/stickers/cy/happy.png") == 2


def test_a_full_pool_answers_503_with_retry_after(tmp_path: Path) -> None:
    with OriginServer() as slow:
        for name in ("a", "b", "c"):
            slow.put(f"/{name}.png", sticker(64), headers=CACHED, delay=2.0)
        config = (f'[images]\nworkers = 1\nqueue = 1\n[[mount]]\nurl_prefix = "/s"\norigin = "{slow.url}"\n'
                  f'image_transforms = true\n')
        with EdgeServer(tmp_path, config) as edge:
            results: dict[str, int] = {}

            def fetch(name: str) -> None:
                results[name] = get(edge, f"/s/{name}.png?w=10", CURL).status

            threads = [threading.Thread(target=fetch, args=(n,)) for n in ("a", "b")]
            for t in threads:
                t.start()
            time.sleep(0.8)  # both hold their places while their sources arrive
            refused = get(edge, "/s/c.png?w=10", CURL)
            for t in threads:
                t.join()
            assert refused.status == 503
            assert refused.header("retry-after") == "1"
            assert results == {"a": 200, "b": 200}
            assert get(edge, "/s/c.png?w=10", CURL).status == 200  # once there is room


def test_purging_a_derived_path_purges_every_variant(edge: EdgeServer) -> None:
    from edge_server import FALLTHROUGH
    for accept in (CHROME, CURL):
        get(edge, "/sticker/ann/sad/70", accept)
        assert get(edge, "/sticker/ann/sad/70", accept).header("x-cache") == "HIT"
    purged = request(edge.url + "/_fallthrough/purge?url=/sticker/ann/sad/70", "POST",
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert purged.status == 200
    for accept in (CHROME, CURL):
        assert get(edge, "/sticker/ann/sad/70", accept).header("x-cache") == "MISS"
    # The same from the command line, through the index journal.
    subprocess.run([FALLTHROUGH, "purge", "--config", str(edge.config), "/sticker/ann/sad/70"], check=True,
                   capture_output=True)
    for accept in (CHROME, CURL):
        assert get(edge, "/sticker/ann/sad/70", accept).header("x-cache") == "MISS"


def test_source_limits_count_frames_and_bytes(tmp_path: Path) -> None:
    with OriginServer() as origin:
        origin.put("/anim.gif", animation(200, 200, 30), headers=CACHED)  # 1.2 MP in 30 frames
        origin.put("/still.gif", animation(200, 200, 1), headers=CACHED)
        origin.put("/noise.png", noise(200, 200), headers=CACHED)  # about 40 KB
        config = (f'[images]\nmax_pixels = 1000000\nmax_source_bytes = "20KiB"\nmax_width = 120\nmax_height = 120\n'
                  f'[[mount]]\nurl_prefix = "/s"\norigin = "{origin.url}"\nimage_transforms = true\n'
                  f'[[image_route]]\nroute = "/r/{{size}}"\nsource = "/s/still.gif"\n')
        with EdgeServer(tmp_path, config) as edge:
            animated = get(edge, "/s/anim.gif?w=50", CURL)
            assert animated.status == 422
            assert "200x200 pixels in 30 frames, above the limit of 1,000,000" in animated.body.decode()
            still = get(edge, "/s/still.gif?w=50", CURL)
            assert still.status == 200 and describe(still.body) == (LOADERS["gif"], 50, 50)
            large = get(edge, "/s/noise.png?w=50", CURL)
            assert large.status == 422 and "larger than the limit of 20,480 bytes" in large.body.decode()
            # Outputs have their limits too.
            assert describe(get(edge, "/r/120", CURL).body) == (LOADERS["gif"], 120, 120)
            wide = get(edge, "/r/121", CURL)
            assert wide.status == 400 and "121x121 pixels, above the limit of 120x120" in wide.body.decode()
            # The plain objects are not transforms: no limits apply to them.
            assert get(edge, "/s/noise.png").status == 200


def test_a_stale_variant_is_revalidated_without_image_work(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/stickers/dee/happy.png", sticker(), headers={"Cache-Control": "max-age=2"}, etag='"dee-1"')
    first = get(edge, "/sticker/dee/happy/40", CHROME)
    assert first.header("x-cache") == "MISS"
    runs = health(edge)["transforms"]["runs"]
    time.sleep(3.5)  # the source, and so the variant, is stale
    again = get(edge, "/sticker/dee/happy/40", CHROME)
    assert again.header("x-cache") == "REVALIDATED" and again.body == first.body
    assert again.header("etag") == first.header("etag")
    assert health(edge)["transforms"]["runs"] == runs  # the ETag still matched: no transform
