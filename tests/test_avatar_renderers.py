"""The avatar renderers, as an operator would check them: real requests, real images.

The txt2img client talks to a real HTTP server on loopback that stands in for the GPU
service (none runs here); the server checks every request as the service would and draws
an answer whose colour follows the seed, so what the client sent can be seen in what it
got back. The in-process renderer draws with a tiny randomly initialised Stable Diffusion
pipeline built for the session (tests/tiny_diffusion.py): real diffusers, no download.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pyvips
from aiohttp import web

from fallthrough.transforms.avatars.diffusion import NEEDS_EXTRA, DiffusionOptions, DiffusionRenderer
from fallthrough.transforms.avatars.prompt import portrait
from fallthrough.transforms.avatars.remote import RemoteOptions, RemoteRenderer, RendererError
from edge_server import EdgeServer
from image_files import describe
from txt2img_service import Txt2ImgService, application, seed_colour

ALICE = "0bc83cb571cd1c50ba6f3e8a78ef1346"
BOB = "f9b4f1a6c9e7e2bf8e1f2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
USER, PASSWORD = "avatar-bot", "pa55-w0rd-secret"


# ---------------------------------------------------------------- the txt2img API


@pytest.fixture
async def service() -> AsyncIterator[Txt2ImgService]:
    fake = Txt2ImgService()
    runner = web.AppRunner(application(fake), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


async def render_remote(options: RemoteOptions, avatar_hash: str = ALICE, size: int = 64) -> bytes:
    renderer = RemoteRenderer(options)
    try:
        return await renderer.render(portrait(avatar_hash), size)
    finally:
        await renderer.close()


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    image = pyvips.Image.new_from_buffer(data, "")
    assert image.get("vips-loader").startswith("png")
    return image.width, image.height


async def test_the_request_carries_the_portrait_and_the_settings(service: Txt2ImgService) -> None:
    options = RemoteOptions(url=service.url + "/", steps=12, sampler="DPM++ 2M", cfg_scale=5.5)
    await render_remote(options, size=96)
    drawn = portrait(ALICE)
    [sent] = service.requests
    assert sent["prompt"] == drawn.prompt and sent["negative_prompt"] == drawn.negative_prompt
    assert sent["seed"] == drawn.seed
    assert (sent["steps"], sent["sampler_name"], sent["cfg_scale"]) == (12, "DPM++ 2M", 5.5)
    assert (sent["width"], sent["height"], sent["batch_size"], sent["n_iter"]) == (96, 96, 1, 1)
    assert service.authorizations == [None]


async def test_the_answer_is_a_png_of_the_size_asked_and_follows_the_seed(service: Txt2ImgService) -> None:
    png = await render_remote(RemoteOptions(url=service.url), size=80)
    assert png_size(png) == (80, 80)
    pixel = pyvips.Image.new_from_buffer(png, "")(40, 40)
    assert pixel == seed_colour(portrait(ALICE).seed)


async def test_one_hash_one_image_two_hashes_two(service: Txt2ImgService) -> None:
    renderer = RemoteRenderer(RemoteOptions(url=service.url))
    try:
        first = await renderer.render(portrait(ALICE), 64)
        again = await renderer.render(portrait(ALICE.upper()), 64)
        other = await renderer.render(portrait(BOB), 64)
    finally:
        await renderer.close()
    assert first == again
    assert first != other
    assert len(service.requests) == 3 and service.requests[0] == service.requests[1]


async def test_credentials_in_the_url_go_as_basic_auth_and_nowhere_else(service: Txt2ImgService) -> None:
    url = service.url.replace("http://", f"http://{USER}:{PASSWORD}@")
    renderer = RemoteRenderer(RemoteOptions(url=url))
    try:
        assert png_size(await renderer.render(portrait(ALICE), 64)) == (64, 64)
        service.mode = "error"
        with pytest.raises(RendererError) as failure:
            await renderer.render(portrait(ALICE), 64)
    finally:
        await renderer.close()
    assert service.authorizations[0] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for text in (renderer.version, str(failure.value)):
        assert PASSWORD not in text and USER not in text
    assert service.url in renderer.version and service.url in str(failure.value)


FAILURES = {
    "error": "answered 500: CUDA out of memory. Tried 2 GiB",
    "html": "answered 502: <html> <body>Bad gateway</body> </html>",
    "not-json": "not JSON",
    "no-images": "answered no image",
    "bad-base64": "not valid base64",
    "not-an-image": "not an image",
}


@pytest.mark.parametrize("mode", FAILURES)
async def test_a_bad_answer_is_one_clear_line(service: Txt2ImgService, mode: str) -> None:
    service.mode = mode
    with pytest.raises(RendererError) as failure:
        await render_remote(RemoteOptions(url=service.url))
    message = str(failure.value)
    assert FAILURES[mode] in message and "\n" not in message
    assert message.startswith("the txt2img API")


async def test_an_answer_of_another_size_is_resized(service: Txt2ImgService) -> None:
    service.mode = "wrong-size"
    png = await render_remote(RemoteOptions(url=service.url), size=64)
    assert png_size(png) == (64, 64)
    assert pyvips.Image.new_from_buffer(png, "")(32, 32) == seed_colour(portrait(ALICE).seed)


async def test_a_service_that_is_down_is_one_clear_line() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RendererError) as failure:
        await render_remote(RemoteOptions(url=f"http://{USER}:{PASSWORD}@127.0.0.1:{port}"))
    assert str(failure.value) == f"the txt2img API at http://127.0.0.1:{port} could not be reached: Connection refused"


async def test_a_service_that_does_not_answer_in_time_is_one_clear_line(service: Txt2ImgService) -> None:
    service.mode = "slow"
    with pytest.raises(RendererError) as failure:
        await render_remote(RemoteOptions(url=service.url, timeout=0.3))
    assert str(failure.value) == f"the txt2img API at {service.url} did not answer within 0.3 s"


def test_the_version_names_what_changes_the_image() -> None:
    base = RemoteOptions(url="http://gpu.internal:7860")
    versions = {RemoteRenderer(options).version for options in (
        base, RemoteOptions(url=base.url, steps=30), RemoteOptions(url=base.url, sampler="DDIM"),
        RemoteOptions(url=base.url, cfg_scale=6.5), RemoteOptions(url="http://other-gpu.internal:7860"))}
    assert len(versions) == 5
    assert RemoteRenderer(base).version == RemoteRenderer(RemoteOptions(url=base.url + "/", timeout=5)).version
    assert RemoteRenderer(base).version == "txt2img/1/20/Euler a/7/1/http://gpu.internal:7860"


def test_a_url_that_is_not_http_is_refused_without_its_password() -> None:
    with pytest.raises(RendererError) as failure:
        RemoteRenderer(RemoteOptions(url=f"ftp://{USER}:{PASSWORD}@gpu.internal"))
    assert PASSWORD not in str(failure.value)


# ---------------------------------------------------------------- diffusers in process

STEPS = 2

IN_ANOTHER_PROCESS = """
import sys
import torch  # first, while the tests' own process builds the model; diffusers loads lazily, so:
from diffusers import AutoPipelineForText2Image, StableDiffusionPipeline
from fallthrough.transforms.avatars.diffusion import DiffusionOptions, DiffusionRenderer
from fallthrough.transforms.avatars.prompt import portrait
model = sys.stdin.readline().strip()
renderer = DiffusionRenderer(DiffusionOptions(model=model, steps=int(sys.argv[1])))
sys.stdout.buffer.write(renderer.render(portrait(sys.argv[2]), 64))
"""


@dataclass
class TinyModel:
    """The tiny pipeline on disk, and what a fresh Python process drew with it (ALICE, 64 px).

    That process starts before the model is built and is told its path as soon as it is
    saved, so its imports of torch and diffusers, most of its time, run beside this
    process's instead of after them. This process waits for it to finish before drawing
    anything itself: two processes computing at once on two cores slow each other a lot.
    """

    path: Path
    exit_code: int
    drawn_elsewhere: bytes
    log_elsewhere: str


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyModel]:
    if importlib.util.find_spec("diffusers") is None:  # found, not imported: that takes seconds
        pytest.skip("the diffusion extra is not installed")
    scratch = tmp_path_factory.mktemp("elsewhere")
    drawn, log = scratch / "drawn.png", scratch / "log.txt"
    with drawn.open("wb") as out, log.open("wb") as err:
        elsewhere = subprocess.Popen([sys.executable, "-c", IN_ANOTHER_PROCESS, str(STEPS), ALICE],
                                     stdin=subprocess.PIPE, stdout=out, stderr=err,
                                     env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        from tiny_diffusion import build_tiny_pipeline

        path = build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))
        assert elsewhere.stdin is not None
        with contextlib.suppress(BrokenPipeError), elsewhere.stdin:  # if it died, its log says why
            elsewhere.stdin.write(f"{path}\n".encode())
        exit_code = elsewhere.wait(timeout=120)
    finally:
        if elsewhere.poll() is None:
            elsewhere.kill()
            elsewhere.wait()
    yield TinyModel(path, exit_code, drawn.read_bytes(), log.read_text(errors="replace"))


@pytest.fixture(scope="session")
def tiny_model(tiny: TinyModel) -> Path:
    return tiny.path


@pytest.fixture(scope="module")
def renderer(tiny_model: Path) -> Iterator[DiffusionRenderer]:
    drawer = DiffusionRenderer(DiffusionOptions(model=str(tiny_model), steps=STEPS))
    yield drawer
    drawer.close()


@pytest.mark.parametrize("size", [32, 64])
def test_diffusion_draws_a_png_of_the_size_asked(renderer: DiffusionRenderer, size: int) -> None:
    png = renderer.render(portrait(ALICE), size)
    assert png_size(png) == (size, size)
    image = pyvips.Image.new_from_buffer(png, "")
    assert image.bands == 3 and image.max() > image.min()  # a picture, not a flat fill


def test_diffusion_draws_the_same_bytes_each_time(renderer: DiffusionRenderer, tiny_model: Path) -> None:
    first = renderer.render(portrait(ALICE), 64)
    assert renderer.render(portrait(ALICE), 64) == first
    fresh = DiffusionRenderer(DiffusionOptions(model=str(tiny_model), steps=STEPS))
    assert fresh.render(portrait(ALICE), 64) == first
    fresh.close()
    assert renderer.render(portrait(BOB), 64) != first


def test_diffusion_draws_the_same_bytes_on_threads(renderer: DiffusionRenderer) -> None:
    hashes = [ALICE, BOB] * 3
    alone = {value: renderer.render(portrait(value), 32) for value in (ALICE, BOB)}
    results: dict[int, bytes] = {}

    def draw_one(index: int) -> None:
        results[index] = renderer.render(portrait(hashes[index]), 32)

    threads = [threading.Thread(target=draw_one, args=(i,)) for i in range(len(hashes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(len(hashes))] == [alone[value] for value in hashes]


def test_diffusion_draws_the_same_bytes_in_another_process(renderer: DiffusionRenderer, tiny: TinyModel) -> None:
    assert tiny.exit_code == 0, tiny.log_elsewhere[-2000:]
    assert tiny.drawn_elsewhere == renderer.render(portrait(ALICE), 64)


@pytest.mark.parametrize("size", [0, 60, 100])
def test_diffusion_refuses_a_size_that_is_not_a_multiple_of_8(renderer: DiffusionRenderer, size: int) -> None:
    with pytest.raises(RendererError, match=f"multiples of 8, not {size}$"):
        renderer.render(portrait(ALICE), size)


def test_a_missing_model_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    drawer = DiffusionRenderer(DiffusionOptions(model=str(missing)))  # does not look yet
    for attempt in (lambda: drawer.render(portrait(ALICE), 64), lambda: drawer.version):
        with pytest.raises(RendererError) as failure:
            attempt()
        assert str(missing) in str(failure.value) and "\n" not in str(failure.value)


def test_a_broken_model_names_its_path(tiny_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(RendererError) as failure:
        DiffusionRenderer(DiffusionOptions(model=str(broken))).render(portrait(ALICE), 64)
    assert f"the model at {broken} could not be loaded" in str(failure.value)
    assert "\n" not in str(failure.value)


def test_the_diffusion_version_names_the_model_and_the_settings(tiny_model: Path, tmp_path: Path) -> None:
    def version(model: Path, **settings: object) -> str:
        return DiffusionRenderer(DiffusionOptions(model=str(model), **settings)).version

    changed = tmp_path / "changed"
    shutil.copytree(tiny_model, changed)
    config = json.loads((changed / "scheduler" / "scheduler_config.json").read_text())
    (changed / "scheduler" / "scheduler_config.json").write_text(json.dumps({**config, "beta_end": 0.02}))
    versions = {version(tiny_model), version(tiny_model, steps=30), version(tiny_model, cfg_scale=4.0),
                version(changed)}
    assert len(versions) == 4
    assert version(tiny_model) == version(shutil.copytree(tiny_model, tmp_path / "copy"))
    assert version(tiny_model).startswith("diffusers/") and version(tiny_model).endswith("/20/7/cpu/1")


WITHOUT_THE_EXTRA = """
import sys
from fallthrough.transforms.avatars.diffusion import DiffusionOptions, DiffusionRenderer
from fallthrough.transforms.avatars.prompt import portrait
from fallthrough.transforms.avatars.remote import RendererError
print("torch imported:", "torch" in sys.modules or "diffusers" in sys.modules)
sys.modules["torch"] = sys.modules["diffusers"] = None  # as if the extra were not installed
try:
    DiffusionRenderer(DiffusionOptions(model=sys.argv[1])).render(portrait("0" * 32), 64)
except RendererError as exc:
    print(exc)
"""


def test_without_the_extra_the_module_imports_and_says_what_to_install(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_THE_EXTRA, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["torch imported: False", NEEDS_EXTRA]


# ---------------------------------------------------------------- through the server


def test_a_diffusers_mount_serves_the_models_drawing(renderer: DiffusionRenderer, tiny_model: Path,
                                                     tmp_path: Path) -> None:
    """`renderer = "diffusers"` end to end: the master is the model's drawing at master_size,
    every size comes from it, and a second server with a fresh store sends the same bytes."""
    mount = (f'[[mount]]\nurl_prefix = "/local"\norigin = "generator:avatar"\n[mount.avatar]\n'
             f'renderer = "diffusers"\nmodel = "{tiny_model}"\nsteps = {STEPS}\nmaster_size = 64\n')
    drawn = pyvips.Image.new_from_buffer(renderer.render(portrait(ALICE), 64), "")
    replies = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        with EdgeServer(tmp_path / name, mount) as server:
            master = server.get(f"/local/{ALICE}.png?s=64")
            small = server.get(f"/local/{ALICE}.jpg?s=24")
            assert master.status == 200 and master.header("content-type") == "image/png", master.body
            assert small.header("content-type") == "image/jpeg" and describe(small.body) == ("jpegload_buffer", 24, 24)
            replies.append((master.body, small.body))
    served = pyvips.Image.new_from_buffer(replies[0][0], "")
    assert (served - drawn).abs().max() == 0  # the model's own pixels, at its own size
    assert replies[0] == replies[1]
