"""Generated avatars through the real server: `origin = "generator:avatar"`."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pyvips
import pytest

from edge_server import FALLTHROUGH, EdgeServer, free_port, request
from image_files import describe
from txt2img_service import Txt2ImgService, running_service, seed_colour

from fallthrough.config import ConfigError, parse
from fallthrough.transforms.avatars.prompt import portrait

MINIMAL = '[[mount]]\nurl_prefix = "/avatar"\norigin = "generator:avatar"\n'
IDENTICONS = '[[mount]]\nurl_prefix = "/identicons"\norigin = "generator:avatar"\n' \
             '[mount.avatar]\nrenderer = "identicon"\n'
DEFAULTS = '[[mount]]\nurl_prefix = "/open"\norigin = "generator:avatar"\n' \
           '[mount.avatar]\ndefault_hosts = ["*"]\n'
EMAIL = hashlib.md5(b"someone@example.com").hexdigest()
LOADERS = {"image/jpeg": "jpegload_buffer", "image/png": "pngload_buffer", "image/webp": "webpload_buffer"}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeServer]:
    with EdgeServer(tmp_path_factory.mktemp("avatars"), MINIMAL + IDENTICONS + DEFAULTS) as server:
        yield server


def origin_requests(edge: EdgeServer) -> int:
    return json.loads(request(edge.url + "/_fallthrough/health").body)["origin_requests"]


def image_of(body: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(body, "")


def test_the_minimal_config_serves_a_portrait(edge: EdgeServer) -> None:
    reply = edge.get(f"/avatar/{EMAIL}")
    assert reply.status == 200, reply.body
    assert reply.header("content-type") == "image/jpeg"
    assert describe(reply.body) == ("jpegload_buffer", 80, 80)
    assert reply.header("cache-control") == "public, max-age=31536000, immutable"
    assert reply.header("etag")
    again = edge.get(f"/avatar/{EMAIL}")
    assert again.header("x-cache") == "HIT" and again.body == reply.body
    assert edge.get(f"/avatar/{EMAIL}", {"If-None-Match": reply.header("etag")}).status == 304


@pytest.mark.parametrize("extension, media_type", [(".jpg", "image/jpeg"), (".jpeg", "image/jpeg"),
                                                    (".png", "image/png"), (".webp", "image/webp")])
def test_the_content_type_matches_the_bytes(edge: EdgeServer, extension: str, media_type: str) -> None:
    reply = edge.get(f"/avatar/{EMAIL}{extension}?s=64")
    assert reply.header("content-type") == media_type
    assert describe(reply.body) == (LOADERS[media_type], 64, 64)


@pytest.mark.parametrize("query, size", [("s=1", 1), ("size=2", 2), ("s=512", 512), ("s=2048", 2048), ("", 80)])
def test_sizes(edge: EdgeServer, query: str, size: int) -> None:
    reply = edge.get(f"/avatar/{EMAIL}.png?{query}")
    assert reply.status == 200 and describe(reply.body)[1:] == (size, size)


@pytest.mark.parametrize("path, status", [
    (f"/avatar/{EMAIL}?s=0", 400), (f"/avatar/{EMAIL}?s=2049", 400), (f"/avatar/{EMAIL}?s=big", 400),
    (f"/avatar/{EMAIL}?s=80&size=90", 400), (f"/avatar/{EMAIL}?d=unicorn", 400), (f"/avatar/{EMAIL}?f=perhaps", 400),
    (f"/avatar/{EMAIL}?r=nc17", 400), (f"/avatar/{EMAIL}.gif", 404), (f"/avatar/{EMAIL[:31]}", 404),
    ("/avatar/not-a-hash", 404), ("/avatar/", 404), (f"/avatar/{EMAIL}/more", 404),
])
def test_client_mistakes_are_4xx_with_a_reason(edge: EdgeServer, path: str, status: int) -> None:
    reply = edge.get(path)
    assert reply.status == status and reply.body.strip() and reply.header("content-type").startswith("text/plain")


def test_avatars_are_read_only(edge: EdgeServer) -> None:
    assert edge.get(f"/avatar/{EMAIL}", method="POST", body=b"x").status == 405


def test_any_case_and_any_spelling_is_the_same_avatar(edge: EdgeServer) -> None:
    lower = edge.get(f"/avatar/{EMAIL}.png?s=40&r=g")
    upper = edge.get(f"/avatar/{EMAIL.upper()}.png?size=40&rating=pg&cachebuster=7")
    assert lower.body == upper.body and lower.header("etag") == upper.header("etag")
    sha = hashlib.sha256(b"someone@example.com").hexdigest()
    assert edge.get(f"/avatar/{sha}.png?s=40").status == 200


def test_hashes_give_different_avatars_and_a_size_change_only_rescales(edge: EdgeServer) -> None:
    one = edge.get(f"/avatar/{EMAIL}.png?s=64").body
    other = edge.get(f"/avatar/{hashlib.md5(b'other@example.com').hexdigest()}.png?s=64").body
    assert one != other
    big = image_of(edge.get(f"/avatar/{EMAIL}.png?s=256").body).resize(0.25, kernel="linear")
    small = image_of(one)
    assert (big.colourspace("srgb")[0:3] - small.colourspace("srgb")[0:3]).abs().avg() < 20


def test_concurrent_misses_draw_once(edge: EdgeServer) -> None:
    path = f"/avatar/{hashlib.md5(b'crowd@example.com').hexdigest()}.webp?s=300"
    before = origin_requests(edge)
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: edge.get(path), range(16)))
    assert {r.status for r in replies} == {200} and len({r.body for r in replies}) == 1
    assert origin_requests(edge) == before + 1


def test_forced_defaults(edge: EdgeServer) -> None:
    identicon = edge.get(f"/avatar/{EMAIL}?f=y&d=identicon&s=50")
    assert identicon.header("content-type") == "image/png" and describe(identicon.body)[1:] == (50, 50)
    assert identicon.body == edge.get(f"/identicons/{EMAIL}?s=50").body
    assert identicon.header("cache-control") == "public, max-age=31536000, immutable"
    assert edge.get(f"/avatar/{EMAIL}?forcedefault=y&default=404").status == 404
    blank = image_of(edge.get(f"/avatar/{EMAIL}.png?f=y&d=blank").body)
    assert blank.hasalpha() and blank[blank.bands - 1].max() == 0
    mystery = edge.get(f"/avatar/{EMAIL}?f=y")  # no d: the mystery person
    assert mystery.body == edge.get(f"/avatar/{hashlib.md5(b'x').hexdigest()}?f=y&d=mp").body


def test_a_default_is_ignored_while_the_avatar_can_be_drawn(edge: EdgeServer) -> None:
    plain = edge.get(f"/avatar/{EMAIL}.png?s=30")
    for default in ("404", "identicon", quote("https://img.example.com/x.png", safe="")):
        assert edge.get(f"/avatar/{EMAIL}.png?s=30&d={default}").body == plain.body


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.png", "http://localhost/x.png", "http://10.1.2.3/x.png", "http://192.168.0.1/x.png",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/x.png", "http://[::ffff:127.0.0.1]/x.png",
    "http://2130706433/x.png", "http://0x7f.0.0.1/x.png", "http://example.com:8080/x.png", "ftp://example.com/x.png",
    "file:///etc/passwd", "http://user:pw@example.com/x.png",
])
def test_default_urls_that_reach_inside_are_refused(edge: EdgeServer, url: str) -> None:
    """Even where every host is allowed (default_hosts = ["*"]), only public addresses on
    ports 80 and 443 are fetched; "localhost" is refused once it resolves to loopback."""
    reply = edge.get(f"/open/{EMAIL}.png?f=y&d={quote(url, safe='')}")
    assert reply.status == 400, (url, reply.status, reply.body)


def test_default_urls_need_an_allowed_host(edge: EdgeServer) -> None:
    reply = edge.get(f"/avatar/{EMAIL}.png?f=y&d={quote('https://img.example.com/x.png', safe='')}")
    assert reply.status == 400 and b"not allowed" in reply.body


def test_avatars_are_the_same_from_fresh_stores_in_other_processes(edge: EdgeServer, tmp_path: Path) -> None:
    paths = [f"/avatar/{h}{ext}?s={s}" for h, ext, s in (
        (EMAIL, ".png", 80), (hashlib.md5(b"b").hexdigest(), ".jpg", 512), (hashlib.sha256(b"c").hexdigest(), "", 33),
    )] + [f"/identicons/{EMAIL}?s=120", f"/avatar/{EMAIL}?f=y&d=retro&s=64", f"/avatar/{EMAIL}?f=y&d=monsterid"]
    with EdgeServer(tmp_path, MINIMAL + IDENTICONS + DEFAULTS) as fresh:
        for path in paths:
            mine, theirs = fresh.get(path), edge.get(path)
            assert mine.status == 200 and mine.body == theirs.body, path
            assert mine.header("etag") == theirs.header("etag")


@pytest.mark.parametrize("renderer", ["mp", "identicon", "monsterid", "wavatar", "retro", "robohash", "blank",
                                      "portrait"])
def test_every_renderer_can_be_a_mounts(renderer: str) -> None:
    settings = parse(f'{MINIMAL}[mount.avatar]\nrenderer = "{renderer}"\n')
    assert settings.mounts[0].avatar is not None and settings.mounts[0].avatar.renderer == renderer


@pytest.mark.parametrize("extra, message", [
    ('renderer = "dalle"', "renderer"),
    ('renderer = "txt2img"', "url"),
    ('renderer = "txt2img"\nurl = "ftp://x"', "url"),
    ('renderer = "diffusers"', "model"),
    ('url = "http://127.0.0.1:7860"', "applies to renderer"),
    ('renderer = "txt2img"\nurl = "http://h:7860"\nmaster_size = 500', "multiples of 8"),
    ('renderer = "txt2img"\nurl = "http://h:7860"\ncfg_scale = "high"', "cfg_scale"),
    ('default_hosts = ["a b"]', "default_hosts"),
    ('default_hosts = ["127.1"]', "numeric host"),
    ('default_hosts = "*"', "default_hosts"),
    ('renderer = "txt2img"\nurl = "http://h:7860"\ntimeout = "0s"', "timeout"),
    ('renderer = "txt2img"\nurl = "http://h:7860"\nsteps = 0', "steps"),
    ('renderer = "diffusers"\nmodel = "/m"\ndevice = "tpu"', "device"),
    ('colour = "red"', "unknown key"),
])
def test_bad_avatar_settings_name_the_key(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(f"{MINIMAL}[mount.avatar]\n{extra}\n")
    assert message in str(caught.value) and "mount[0].avatar" in str(caught.value)


def test_avatar_settings_belong_to_avatar_mounts() -> None:
    with pytest.raises(ConfigError, match="applies to a mount with origin"):
        parse('[[mount]]\nurl_prefix = "/a"\norigin = "file:///tmp"\n[mount.avatar]\nrenderer = "retro"\n')


# -- a model behind the txt2img HTTP API ---------------------------------------------------

MODEL_SETTINGS = 'master_size = 64\nsteps = 3\nsampler = "DDIM"\ncfg_scale = 5.5\n'


def model_mounts(url: str, down: str) -> str:
    return (f'[[mount]]\nurl_prefix = "/sd"\norigin = "generator:avatar"\n'
            f'[mount.avatar]\nrenderer = "txt2img"\nurl = "{url}"\n{MODEL_SETTINGS}'
            f'[[mount]]\nurl_prefix = "/down"\norigin = "generator:avatar"\n'
            f'[mount.avatar]\nrenderer = "txt2img"\nurl = "{down}"\ntimeout = "2s"\n')


@pytest.fixture(scope="module")
def service() -> Iterator[Txt2ImgService]:
    with running_service() as running:
        yield running


@pytest.fixture(scope="module")
def model_edge(tmp_path_factory: pytest.TempPathFactory, service: Txt2ImgService) -> Iterator[EdgeServer]:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there: a service that is down
    with EdgeServer(tmp_path_factory.mktemp("models"), model_mounts(service.url, closed)) as server:
        yield server


def test_a_model_draws_one_master_for_every_size(model_edge: EdgeServer, service: Txt2ImgService) -> None:
    avatar_hash = hashlib.md5(b"model@example.com").hexdigest()
    variants = [(".png", 32), (".jpg", 80), ("", 64), (".webp", 100), (".png", 32)] * 3
    paths = [f"/sd/{avatar_hash}{ext}?s={size}" for ext, size in variants]
    before = len(service.requests)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(model_edge.get, paths))
    assert [r.status for r in replies] == [200] * len(paths), replies[0].body
    [sent] = service.requests[before:]  # one drawing for five variants asked fifteen times at once
    drawn = portrait(avatar_hash)
    assert (sent["prompt"], sent["negative_prompt"], sent["seed"]) == (drawn.prompt, drawn.negative_prompt, drawn.seed)
    assert (sent["width"], sent["height"], sent["steps"], sent["sampler_name"], sent["cfg_scale"]) == \
        (64, 64, 3, "DDIM", 5.5)
    for (ext, size), path, reply in zip(variants, paths, replies, strict=True):
        media_type = {".png": "image/png", ".jpg": "image/jpeg", "": "image/jpeg", ".webp": "image/webp"}[ext]
        assert reply.header("content-type") == media_type
        assert describe(reply.body) == (LOADERS[media_type], size, size), path
        assert reply.header("cache-control") == "public, max-age=31536000, immutable"
        centre = image_of(reply.body)(size // 2, size // 2)[:3]
        assert max(abs(a - b) for a, b in zip(centre, seed_colour(drawn.seed), strict=True)) <= 3, path


def test_a_model_is_asked_for_concurrency_images_at_once(model_edge: EdgeServer, service: Txt2ImgService) -> None:
    """The /sd mount has the default concurrency of 2: six new hashes at once reach the
    service two at a time, and every client still gets its avatar."""
    paths = [f"/sd/{hashlib.md5(f'queue{i}@example.com'.encode()).hexdigest()}.png?s=20" for i in range(6)]
    service.delay, service.most_at_once = 0.3, 0
    try:
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(model_edge.get, paths))
    finally:
        service.delay = 0.0
    assert [r.status for r in replies] == [200] * 6
    assert all("immutable" in r.header("cache-control") for r in replies)
    assert service.most_at_once == 2


def test_model_avatars_are_the_same_from_a_fresh_store(model_edge: EdgeServer, service: Txt2ImgService,
                                                       tmp_path: Path) -> None:
    path = f"/sd/{hashlib.sha256(b'fresh@example.com').hexdigest()}.png?s=48"
    with EdgeServer(tmp_path, model_mounts(service.url, service.url)) as fresh:
        assert fresh.get(path).body == model_edge.get(path).body


def test_a_model_that_is_down_gives_the_default_for_a_minute(model_edge: EdgeServer) -> None:
    avatar_hash = hashlib.md5(b"down@example.com").hexdigest()
    identicon = model_edge.get(f"/down/{avatar_hash}?s=40&d=identicon")
    assert identicon.status == 200 and identicon.header("content-type") == "image/png"
    assert identicon.header("cache-control") == "public, max-age=60" and identicon.header("etag") is None
    forced = model_edge.get(f"/down/{avatar_hash}?s=40&d=identicon&f=y")
    assert forced.body == identicon.body and "immutable" in forced.header("cache-control")
    assert model_edge.get(f"/down/{avatar_hash}.jpg?s=40").header("content-type") == "image/jpeg"  # the mystery person
    assert model_edge.get(f"/down/{avatar_hash}?s=40&d=404").status == 404


def test_a_failed_drawing_is_not_kept(model_edge: EdgeServer, service: Txt2ImgService) -> None:
    avatar_hash = hashlib.md5(b"flaky@example.com").hexdigest()
    service.mode = "error"
    try:
        stand_in = model_edge.get(f"/sd/{avatar_hash}.png?s=40&d=retro")
    finally:
        service.mode = "ok"
    assert stand_in.status == 200 and stand_in.header("cache-control") == "public, max-age=60"
    drawn = model_edge.get(f"/sd/{avatar_hash}.png?s=41")  # another size: from a master drawn now
    assert drawn.status == 200 and "immutable" in drawn.header("cache-control")
    assert image_of(drawn.body)(20, 20)[:3] == seed_colour(portrait(avatar_hash).seed)


def test_a_model_that_is_not_there_stops_the_start_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n[store]\npath = "{tmp_path}/s"\n'
                      f'{MINIMAL}[mount.avatar]\nrenderer = "diffusers"\nmodel = "{tmp_path}/no-model"\n')
    result = subprocess.run([FALLTHROUGH, "serve", "--config", str(config)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "mount[0].avatar" in result.stderr and f"{tmp_path}/no-model" in result.stderr
