"""The avatar service of a `generator:avatar` mount: deriver and origin in one.

Before the lookup, `derive` reads the request (request.py) and names what will be drawn
as a canonical query, so every spelling of one avatar is one cache entry and concurrent
misses share one drawing (the cache's single flight). `fetch` then draws it:

- a drawing that scales (the portrait, the classic defaults) is drawn at the size asked;
- a model draws one master per hash, at its own size, cached as a variant of the mount
  (`m=1` in its query, which no client can write); every size is made from that master,
  read through the edge like any transform's source, so a model runs once per hash.

What is drawn for a hash never changes, so answers are immutable and carry an ETag of
the drawing's version, the tables' version and the canonical query. When a model cannot
draw (its service is down), the client still gets an image: the default it named (or
the mystery person), for a minute only, so the real avatar follows once the model is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from importlib.util import find_spec

import blake3
import pyvips
from multidict import CIMultiDict

from ...cache.origin import OriginResponse, one_line
from ...config import AvatarSettings
from .. import images
from ..derived import BadTransform, Derivation, Transformer, etag_matches, text_response
from ..errors import TransformError
from ..images import ImageLimits, Resize
from ..pool import PoolFull
from ..source import Source, SourceError
from . import classic
from .diffusion import NEEDS_EXTRA, DiffusionOptions, DiffusionRenderer  # torch is imported only to draw
from .fetch import DefaultFailed, DefaultPolicy, DefaultRefused, check_url, fetch_default
from .portrait import VERSION as PORTRAIT_VERSION
from .portrait import render_portrait
from .prompt import TABLE_VERSION, Portrait, portrait
from .remote import RemoteOptions, RemoteRenderer, RendererError
from .request import MEDIA_TYPES, AvatarRequest, parse, parse_canonical

log = logging.getLogger(__name__)

IMMUTABLE = "public, max-age=31536000, immutable"
# A stand-in while a model cannot draw: short, so the avatar itself follows soon.
FALLBACK = "public, max-age=60"
# A default image fetched from a URL may change there: a day, then asked again.
FETCHED = "public, max-age=86400"
MASTER_FLAG = "m"


@dataclass(frozen=True, slots=True)
class Scalable:
    """A drawing made at any size directly, never failing: the portrait or a classic."""

    name: str
    version: str
    format: str  # what is sent when the request names no extension
    draw: Callable[[str, int], pyvips.Image]  # (hash, size)


@dataclass(frozen=True, slots=True)
class Model:
    """A model that draws one master per hash; it may be slow, busy or away."""

    name: str
    version: str
    master_size: int
    draw: Callable[[Portrait, int], Awaitable[bytes]]  # PNG bytes of the master
    close: Callable[[], Awaitable[None]]
    format: str = "jpeg"


def _classic(name: str) -> Scalable:
    return Scalable(name, f"classic/{classic.VERSION}", "png", partial(classic.render_classic, name))


def _portrait_of(avatar_hash: str, size: int) -> pyvips.Image:
    return render_portrait(portrait(avatar_hash), size)


def drawing_of(settings: AvatarSettings) -> Scalable | Model:
    """What the mount's `[mount.avatar]` names."""
    if settings.renderer == "portrait":
        return Scalable("portrait", f"portrait/{PORTRAIT_VERSION}/{TABLE_VERSION}", "jpeg", _portrait_of)
    if settings.renderer == "txt2img":
        remote = RemoteRenderer(RemoteOptions(settings.url or "", settings.steps, settings.sampler,
                                              settings.cfg_scale, settings.timeout))
        gate = asyncio.Semaphore(settings.concurrency)

        async def draw(p: Portrait, size: int) -> bytes:
            async with gate:  # a GPU service draws a few at a time; the rest wait here, not there
                return await remote.render(p, size)

        return Model(remote.name, remote.version, settings.master_size, draw, remote.close)
    if settings.renderer == "diffusers":
        local = DiffusionRenderer(DiffusionOptions(settings.model or "", settings.device, settings.steps,
                                                   settings.cfg_scale))

        async def draw_here(p: Portrait, size: int) -> bytes:
            return await asyncio.to_thread(local.render, p, size)

        async def close() -> None:
            local.close()

        return Model(local.name, local.version, settings.master_size, draw_here, close)
    return _classic(settings.renderer)


def check(settings: AvatarSettings) -> None:
    """RendererError, one line, for a renderer that could not draw anything: a model
    directory that is not there, or the extra it needs missing. Said before serving."""
    drawing_of(settings)  # a model's version reads its files
    if settings.renderer == "diffusers" and (find_spec("diffusers") is None or find_spec("torch") is None):
        raise RendererError(NEEDS_EXTRA)


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _image(body: bytes, fmt: str, cache_control: str, etag: str | None) -> OriginResponse:
    headers = CIMultiDict([("content-type", MEDIA_TYPES[fmt]), ("cache-control", cache_control)])
    if etag is not None:
        headers["etag"] = etag
    return OriginResponse(200, headers, len(body), _one(body))


def _encode_drawn(draw: Callable[[str, int], pyvips.Image], avatar_hash: str, size: int, fmt: str) -> bytes:
    return images.encode(draw(avatar_hash, size), fmt, None)


class AvatarService:
    def __init__(self, prefix: str, settings: AvatarSettings, transformer: Transformer, limits: ImageLimits) -> None:
        self.name = f"avatar:{prefix}"
        self.prefix = prefix if prefix != "/" else ""
        self.drawing = drawing_of(settings)
        self.transformer = transformer
        self.limits = limits
        self.defaults = DefaultPolicy(tuple(settings.default_hosts), timeout=min(settings.timeout, 10.0))

    # -- the deriver ---------------------------------------------------------------

    def derive(self, rest: str, query: str, headers: Mapping[str, str]) -> Derivation:
        request = parse(rest, query, partial(check_url, policy=self.defaults))
        if not request.forced and isinstance(self.drawing, Scalable):
            request = replace(request, default=None)  # it cannot fail, so the default is never seen
        return Derivation(request.query(), None)

    # -- the origin ----------------------------------------------------------------

    def etag(self, query: str) -> str:
        digest = blake3.blake3("\0".join((self.drawing.name, self.drawing.version, query)).encode()).hexdigest(20)
        return f'"{digest}"'

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        if method not in ("GET", "HEAD"):
            return text_response(405, "avatars are read-only", (("allow", "GET, HEAD"),))
        try:
            request = parse_canonical(query)
        except BadTransform as exc:
            return text_response(exc.status, exc.message)
        etag = self.etag(query)
        if etag_matches(headers.get("if-none-match"), etag):
            return OriginResponse(304, CIMultiDict([("etag", etag), ("cache-control", IMMUTABLE)]), 0)
        fmt = request.format or self.drawing.format
        try:
            if request.forced:  # a classic default is drawn for transparency: PNG unless named
                return await self._default(request, request.format or "png", etag)
            if isinstance(self.drawing, Scalable):
                return _image(await self._run(_encode_drawn, self.drawing.draw, request.hash, request.size, fmt),
                              fmt, IMMUTABLE, etag)
            if MASTER_FLAG in _flags(query):
                return await self._master(request, etag)
            return await self._from_master(request, fmt, etag)
        except PoolFull as exc:
            return text_response(503, str(exc), (("retry-after", str(exc.retry_after)),))
        except TransformError as exc:
            return text_response(exc.status, exc.message)

    async def _run(self, work: Callable[..., bytes], *args: object) -> bytes:
        with self.transformer.pool.admit() as admission:
            return await admission.run(work, *args)

    async def _master(self, request: AvatarRequest, etag: str) -> OriginResponse:
        """The model's drawing of a hash: a 502 when it cannot (never stored)."""
        model = self.drawing
        assert isinstance(model, Model)
        try:
            body = await model.draw(portrait(request.hash), model.master_size)
        except RendererError as exc:
            return text_response(502, "the avatar model could not draw it",
                                 reason=f"the avatar model {model.name} failed: {one_line(exc)}")
        return _image(body, "png", IMMUTABLE, etag)

    async def _from_master(self, request: AvatarRequest, fmt: str, etag: str) -> OriginResponse:
        model = self.drawing
        assert isinstance(model, Model)
        try:
            source = await self.transformer.sources.read(f"{self.prefix}/{request.hash}.png",
                                                         self.transformer.max_source_bytes,
                                                         master_query(request.hash, model.master_size))
        except SourceError as exc:
            log.warning("avatar %s: no master (%s); sending the default", request.hash, exc.message)
            return await self._default(request, request.format or "png", None)
        try:
            spec = Resize(request.size, request.size, "cover", fmt, None)
            return _image(await self._run(images.resize, source, spec, self.limits), fmt, IMMUTABLE, etag)
        finally:
            source.close()

    async def _default(self, request: AvatarRequest, fmt: str, etag: str | None) -> OriginResponse:
        """The default a request names (d), asked for with f=y (`etag` given) or standing
        in for a model that cannot draw (None: not the avatar, so no validator); the
        mystery person when it names none."""
        fallback = etag is None
        default = request.default or "mp"
        lifetime = FALLBACK if fallback else IMMUTABLE
        if default == "404":
            response = text_response(404, "no avatar for this hash (d=404)")
            response.headers["cache-control"] = FALLBACK if fallback else FETCHED
            return response
        if not default.startswith(("http://", "https://")):
            drawing = _classic(default)
            return _image(await self._run(_encode_drawn, drawing.draw, request.hash, request.size, fmt),
                          fmt, lifetime, etag)
        try:
            data, _ = await fetch_default(default, self.defaults)
        except DefaultRefused as exc:
            return text_response(400, f"d: {exc}")
        except DefaultFailed as exc:
            return text_response(502, "the default image could not be had",
                                 reason=f"the default image could not be had: {exc}")
        source = Source(CIMultiDict(), len(data), blake3.blake3(data).digest(), data=data)
        spec = Resize(request.size, request.size, "cover", fmt, None)
        return _image(await self._run(images.resize, source, spec, self.limits), fmt,
                      FALLBACK if fallback else FETCHED, None)

    async def close(self) -> None:
        if isinstance(self.drawing, Model):
            await self.drawing.close()


def master_query(avatar_hash: str, size: int) -> str:
    return AvatarRequest(avatar_hash, size, "png").query() + f"&{MASTER_FLAG}=1"


def _flags(query: str) -> set[str]:
    return {part.split("=", 1)[0] for part in query.split("&")}
