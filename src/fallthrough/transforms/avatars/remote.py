"""Stable Diffusion on another machine, over the txt2img HTTP API (`/sdapi/v1/txt2img`).

A GPU service usually runs apart from the edge: the edge only sends a prompt and a seed
and gets a PNG back, so it needs no GPU and no model of its own. The request carries the
seed and every sampler setting, so the same portrait asks for the same image each time;
`version` names all of them (and the service's address, which stands for its model), so a
change in any of them gives new cache keys instead of mixing old and new images.

Credentials in the URL (`http://user:secret@host:7860`) are sent as basic auth and kept
out of `version` and of every error message, since both end up in logs and cache keys.
Whatever goes wrong becomes one RendererError line; callers show it, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
from dataclasses import dataclass

import aiohttp
import pyvips
from yarl import URL

from .prompt import TABLE_VERSION, Portrait

API_PATH = "/sdapi/v1/txt2img"
# Bumped when this client changes what it asks for, so cached images are made anew.
PROTOCOL_VERSION = "1"
# A base64 PNG of a few megapixels is well under this; more means something is wrong.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# A decoded image larger than this is refused before its pixels are read.
MAX_PIXELS = 64_000_000
_MESSAGE_CHARS = 200


class RendererError(Exception):
    """The renderer could not make the image; one-line message."""


@dataclass(frozen=True)
class RemoteOptions:
    url: str
    steps: int = 20
    sampler: str = "Euler a"
    cfg_scale: float = 7.0
    timeout: float = 120.0


class RemoteRenderer:
    """Asks a txt2img HTTP API for each portrait; one connection pool for all requests."""

    name = "txt2img"

    def __init__(self, options: RemoteOptions) -> None:
        self._options = options
        self._endpoint, authorization = _split_url(options.url)
        self._headers = {"Accept": "application/json"}
        if authorization:
            self._headers["Authorization"] = authorization
        self._base = _public(options.url)
        self._session: aiohttp.ClientSession | None = None

    @property
    def version(self) -> str:
        """Everything that changes the image; part of the cache key, so never a secret."""
        o = self._options
        return f"txt2img/{PROTOCOL_VERSION}/{o.steps}/{o.sampler}/{o.cfg_scale:g}/{TABLE_VERSION}/{self._base}"

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop that will use it. trust_env is
        # off so that a proxy set for other traffic does not get between edge and GPU.
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._options.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        return self._session

    def _request(self, portrait: Portrait, size: int) -> dict[str, object]:
        o = self._options
        return {
            "prompt": portrait.prompt,
            "negative_prompt": portrait.negative_prompt,
            "seed": portrait.seed,
            "steps": o.steps,
            "sampler_name": o.sampler,
            "cfg_scale": o.cfg_scale,
            "width": size,
            "height": size,
            "batch_size": 1,
            "n_iter": 1,
            "send_images": True,
            "save_images": False,
        }

    async def render(self, portrait: Portrait, size: int) -> bytes:
        """PNG bytes of a size × size image of the portrait, or RendererError."""
        if size <= 0:
            raise RendererError(f"an image size must be positive, not {size}")
        status, body = await self._post(self._request(portrait, size))
        if status != 200:
            raise RendererError(f"the txt2img API at {self._base} answered {status}: {_server_message(body)}")
        data = _first_image(body)
        return await asyncio.to_thread(_square_png, data, size)

    async def _post(self, payload: dict[str, object]) -> tuple[int, bytes]:
        try:
            async with self._client().post(self._endpoint, json=payload, headers=self._headers) as response:
                return response.status, await _read_limited(response)
        except TimeoutError:
            raise RendererError(
                f"the txt2img API at {self._base} did not answer within {self._options.timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            reason = _os_reason(exc.os_error) or _describe(exc)
            raise RendererError(f"the txt2img API at {self._base} could not be reached: {reason}") from None
        except aiohttp.ClientError as exc:
            raise RendererError(f"the txt2img API at {self._base} failed: {_describe(exc)}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _split_url(url: str) -> tuple[str, str | None]:
    """The endpoint without credentials, and the credentials as a basic Authorization header."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise RendererError("the txt2img URL is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise RendererError(f"the txt2img URL must be http(s)://host[:port], not {_public(url)}")
    authorization = None
    if parsed.user is not None:  # yarl has already undone any percent-encoding
        pair = f"{parsed.user}:{parsed.password or ''}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    base = str(parsed.with_user(None).with_query(None).with_fragment(None)).rstrip("/")
    return base + API_PATH, authorization


def _public(url: str) -> str:
    """The URL as it may be shown: no user, password, query (which may hold a key) or trailing slash."""
    try:
        parsed = URL(url)
        if parsed.user is not None or parsed.password is not None:
            parsed = parsed.with_user(None)
        return str(parsed.with_query(None).with_fragment(None)).rstrip("/")
    except (ValueError, TypeError):
        return "(unparseable URL)"


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    if response.content_length is not None and response.content_length > MAX_ANSWER_BYTES:
        raise RendererError(f"the txt2img API answered {response.content_length} bytes, more than an image needs")
    body = await response.content.read(MAX_ANSWER_BYTES + 1)
    if len(body) > MAX_ANSWER_BYTES:
        raise RendererError("the txt2img API answered more bytes than an image needs")
    return body


def _os_reason(error: OSError) -> str:
    """'Connection refused' rather than the event loop's wording, which repeats the address."""
    if error.errno and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or ""


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:_MESSAGE_CHARS] if text else type(exc).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 1] + "…"


def _server_message(body: bytes) -> str:
    """The server's own words for an error: its JSON `detail`/`error`/`message`, or its text."""
    text = body.decode("utf-8", "replace")
    try:
        answer = json.loads(text)
    except ValueError:
        return _one_line(text) or "(no message)"
    if isinstance(answer, dict):
        for key in ("detail", "error", "message", "errors"):
            if answer.get(key):
                value = answer[key]
                return _one_line(value if isinstance(value, str) else json.dumps(value))
    return _one_line(text) or "(no message)"


def _first_image(body: bytes) -> bytes:
    try:
        answer = json.loads(body)
    except ValueError:
        raise RendererError("the txt2img API answered something that is not JSON") from None
    images = answer.get("images") if isinstance(answer, dict) else None
    if not isinstance(images, list) or not images or not isinstance(images[0], str):
        raise RendererError("the txt2img API answered no image")
    encoded = images[0]
    if encoded.startswith("data:"):  # a data URL, as some versions send
        encoded = encoded.partition(",")[2]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RendererError("the txt2img API answered an image that is not valid base64") from None


def _square_png(data: bytes, size: int) -> bytes:
    """The image as a size × size PNG: passed through when it is one, else resized and encoded."""
    try:
        image = pyvips.Image.new_from_buffer(data, "")
        if image.width * image.height > MAX_PIXELS:
            raise RendererError(f"the txt2img API answered a {image.width}×{image.height} image, too large")
        is_png = image.get("vips-loader").startswith("png")
        if is_png and image.width == size and image.height == size:
            return data
        if image.width != size or image.height != size:
            # "force" gives exactly size × size, stretching an answer that is not square.
            image = image.thumbnail_image(size, height=size, size="force")
        return image.pngsave_buffer()
    except pyvips.Error:
        raise RendererError("the txt2img API answered bytes that are not an image") from None
