"""What every transform shares: its answer's headers, validators and errors, and the one
path from a request to bytes (a place in the pool, the source through the cache, the
work on a pool thread).

A derived response inherits its source's freshness (Cache-Control, Expires,
Last-Modified, Age), so a variant goes stale when its source does and is revalidated
through it. Its ETag is strong and names exactly what was made: the source's bytes,
the variant and the renderer's version. A revalidation whose ETag still matches is a
304 without any image work. Each variant is tagged with its source's key, so a purge of
the source purges what was derived from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import blake3
from multidict import CIMultiDict

from ..cache.origin import OriginResponse
from .errors import TransformError
from .images import VERSION
from .pool import PoolFull, TransformPool
from .source import Source, SourceReader

# Source headers a variant keeps: its freshness and its purge tags.
INHERITED = ("cache-control", "expires", "last-modified", "age", "surrogate-key")


class BadTransform(TransformError):
    """A request a transform refuses before any work: `status` (400, 403, 404, 501) and one line."""


@dataclass(frozen=True, slots=True)
class Derivation:
    """A request as a transform will make it: the canonical query that is part of the
    cache key (and all the origin reads), and the Accept value the cache sees (the media
    type negotiated; None when the answer does not depend on Accept)."""

    query: str
    accept: str | None


def derived_etag(source: Source, variant: str) -> str:
    digest = blake3.blake3(b"%s\0%s\0%s" % (VERSION.encode(), source.digest, variant.encode())).hexdigest(20)
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def text_response(status: int, message: str, extra: tuple[tuple[str, str], ...] = (),
                  reason: str | None = None) -> OriginResponse:
    """An error answer: never stored, so it is made again (cheaply) next time. `message`
    is the client's, in words that give nothing away; `reason`, the node log's (by
    default the message), for a 5xx, which the cache logs."""
    body = (message + "\n").encode()
    headers = CIMultiDict([("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store"), *extra])
    return OriginResponse(status, headers, len(body), _one(body),
                          reason=(reason or message) if status >= 500 else None)


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body


class Transformer:
    """The pool, the sources and the limits, shared by every transform of a server."""

    def __init__(self, pool: TransformPool, sources: SourceReader, max_source_bytes: int) -> None:
        self.pool = pool
        self.sources = sources
        self.max_source_bytes = max_source_bytes

    async def respond(self, source_path: str, variant: str, request_headers: Mapping[str, str],
                      content_type: str | Callable[[], str], work: Callable[[Source], bytes],
                      extra: tuple[tuple[str, str], ...] = ()) -> OriginResponse:
        """The variant `variant` of the source at `source_path`, made by `work` on a pool
        thread; `extra` headers go on every answer (CORS, links). Refusals become their
        4xx/5xx answers here, so the cache passes them on and stores none of them."""
        try:
            with self.pool.admit() as admission:
                source = await self.sources.read(source_path, self.max_source_bytes)
                try:
                    etag = derived_etag(source, variant)
                    headers = self._headers(source, etag, request_headers, extra)
                    if etag_matches(request_headers.get("if-none-match"), etag):
                        return OriginResponse(304, headers, 0)
                    body = await admission.run(work, source)
                finally:
                    source.close()
        except PoolFull as exc:
            return text_response(503, str(exc), (("retry-after", str(exc.retry_after)), *extra))
        except TransformError as exc:
            return text_response(exc.status, exc.message, extra)
        headers["content-type"] = content_type if isinstance(content_type, str) else content_type()
        return OriginResponse(200, headers, len(body), _one(body))

    @staticmethod
    def _headers(source: Source, etag: str, request_headers: Mapping[str, str],
                 extra: tuple[tuple[str, str], ...]) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for name in INHERITED:
            for value in source.headers.getall(name, []):
                headers.add(name, value)
        headers["etag"] = etag
        if "accept" in request_headers:  # the answer was negotiated: downstream caches must know
            headers["vary"] = "Accept"
        for name, value in extra:
            headers.add(name, value)
        return headers
