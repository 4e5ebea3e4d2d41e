"""A stand-in for the GPU service behind the txt2img renderer: a real HTTP server on
loopback (no GPU service runs here) that checks every request as the service would and
draws an answer whose colour is the seed, so what a client sent shows in what it got."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyvips
from aiohttp import web


def seed_colour(seed: int) -> list[int]:
    return [seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF]


def draw(seed: int, width: int, height: int) -> bytes:
    """A flat PNG whose colour is the seed's low 24 bits."""
    return (pyvips.Image.black(width, height, bands=3) + seed_colour(seed)).cast("uchar").pngsave_buffer()


EXPECTED_TYPES = {"prompt": str, "negative_prompt": str, "seed": int, "steps": int, "sampler_name": str,
                  "cfg_scale": (int, float), "width": int, "height": int, "batch_size": int, "n_iter": int,
                  "send_images": bool, "save_images": bool}


def request_problems(body: object) -> list[str]:
    """What the service would refuse in a request body; empty when it would draw."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = [f"{key} is missing or not {kind}" for key, kind in EXPECTED_TYPES.items()
                if not isinstance(body.get(key), kind) or (kind is int and isinstance(body.get(key), bool))]
    if problems:
        return problems
    if not body["prompt"] or not body["negative_prompt"]:
        problems.append("an empty prompt")
    if not 0 <= body["seed"] < 2**31:
        problems.append("a seed out of range")
    if body["width"] != body["height"] or body["width"] <= 0:
        problems.append("not a square of positive size")
    if body["batch_size"] != 1 or body["n_iter"] != 1:
        problems.append("more than one image")
    if body["send_images"] is not True or body["save_images"] is not False:
        problems.append("images must be sent back and not saved")
    return problems


@dataclass
class Txt2ImgService:
    """A real HTTP server on 127.0.0.1 that stands in for the GPU service (no GPU service runs
    here). `mode` picks its answer: "ok", or one of the failures the client must survive."""

    url: str = ""
    mode: str = "ok"
    requests: list[dict[str, object]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    delay: float = 0.0  # seconds each drawing takes
    drawing: int = 0  # requests being drawn now
    most_at_once: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"detail": "the body is not JSON"}, status=422)
        problems = request_problems(body)
        if problems:
            return web.json_response({"detail": "; ".join(problems)}, status=422)
        self.requests.append(body)
        self.drawing += 1
        self.most_at_once = max(self.most_at_once, self.drawing)
        try:
            await asyncio.sleep(self.delay)
            return await self.answer(body)
        finally:
            self.drawing -= 1

    async def answer(self, body: dict) -> web.Response:
        seed, size = body["seed"], body["width"]
        png = base64.b64encode(draw(seed, size, size)).decode()
        if self.mode == "slow":
            await asyncio.wait_for(self.release.wait(), 10)
        if self.mode == "error":
            return web.json_response({"error": "OutOfMemoryError", "detail": "CUDA out of memory.\nTried 2 GiB"},
                                     status=500)
        if self.mode == "html":
            return web.Response(text="<html>\n<body>Bad gateway</body>\n</html>", status=502,
                                content_type="text/html")
        if self.mode == "not-json":
            return web.Response(text="all done", content_type="text/plain")
        if self.mode == "no-images":
            return web.json_response({"images": [], "parameters": body, "info": "{}"})
        if self.mode == "bad-base64":
            return web.json_response({"images": ["this is not base64!"]})
        if self.mode == "not-an-image":
            return web.json_response({"images": [base64.b64encode(b"GIF89a but not really").decode()]})
        if self.mode == "wrong-size":
            png = base64.b64encode(draw(seed, size + 36, size - 4)).decode()
        return web.json_response({"images": [png], "parameters": body, "info": "{}"})


def application(service: Txt2ImgService) -> web.Application:
    app = web.Application()
    app.router.add_post("/sdapi/v1/txt2img", service.handle)
    return app


@contextmanager
def running_service() -> Iterator[Txt2ImgService]:
    """The service on a thread of its own, for a server in another process to call."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    holder: dict[str, object] = {}

    async def start() -> None:
        service = Txt2ImgService()
        runner = web.AppRunner(application(service), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        service.url = f"http://{host}:{port}"
        holder.update(service=service, runner=runner)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield holder["service"]  # type: ignore[misc]
    finally:
        service = holder["service"]
        loop.call_soon_threadsafe(service.release.set)  # type: ignore[attr-defined]
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
