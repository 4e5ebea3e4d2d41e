"""Generators as origins: a deterministic function from a key to bytes, run once, then
cached like anything fetched ("a generator as a key-value store").

    origin = "generator:package.module:function"   a function by its import path
    origin = "generator:NAME"                      an entry point in the group
                                                   `fallthrough.generators` (or a built-in)

The function is called as `function(key, params)`: the request path below the mount
(without its leading `/`) and the query parameters as a dict. It returns bytes, a
`(bytes, content_type)` pair or a `Generated`; it may be a coroutine function. Plain
functions run on a thread, so a slow one never blocks the server. Raising LookupError
means "no such key" (404, cached briefly like any 404), ValueError "bad parameters"
(400, not cached); anything else is the generator's failure (502, logged).

Because the function is deterministic, its answer never changes: it is sent as
`Cache-Control: public, max-age=31536000, immutable` with an ETag naming the generator,
its version (the function's `version` attribute, if any), the key and the parameters.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import parse_qsl, unquote

import blake3
from multidict import CIMultiDict

from ..cache.origin import BadOriginURL, OriginResponse, one_line

log = logging.getLogger(__name__)

SCHEME = "generator:"
ENTRY_POINT_GROUP = "fallthrough.generators"
# Generators that ship in the box, by name.
BUILT_IN: dict[str, str] = {}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Generated:
    body: bytes
    content_type: str
    cache_control: str = IMMUTABLE


def load_generator(url: str) -> Callable[..., object]:
    """The function a `generator:` origin names; BadOriginURL saying why it cannot be had."""
    name = url[len(SCHEME):].strip()
    target = BUILT_IN.get(name, name)
    if ":" in target:
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise BadOriginURL(f"origin {url}: cannot import {module_name} ({one_line(exc)})") from None
        function = getattr(module, attribute, None)
    else:
        found = entry_points(group=ENTRY_POINT_GROUP, name=target)
        if not found:
            raise BadOriginURL(f"origin {url}: no generator named {target!r} (give package.module:function, or "
                               f"install one in the entry point group {ENTRY_POINT_GROUP})")
        try:
            function = next(iter(found)).load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin: one line, not a traceback
            raise BadOriginURL(f"origin {url}: the entry point {target!r} does not load ({one_line(exc)})") from None
    if not callable(function):
        raise BadOriginURL(f"origin {url}: {target} is not a function")
    return function


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _text(status: int, message: str, cache_control: str | None = "no-store") -> OriginResponse:
    body = (message + "\n").encode()
    headers = CIMultiDict([("content-type", "text/plain; charset=utf-8")])
    if cache_control is not None:
        headers["cache-control"] = cache_control
    return OriginResponse(status, headers, len(body), _one(body), reason=message if status >= 500 else None)


class GeneratorOrigin:
    def __init__(self, url: str, function: Callable[..., object] | None = None) -> None:
        self.name = url
        self.function = function if function is not None else load_generator(url)
        self.version = str(getattr(self.function, "version", "1"))
        self.is_coroutine = inspect.iscoroutinefunction(self.function)

    def etag(self, key: str, query: str) -> str:
        digest = blake3.blake3("\0".join((self.name, self.version, key, query)).encode()).hexdigest(20)
        return f'"{digest}"'

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        if method not in ("GET", "HEAD"):
            response = _text(405, "a generator is read-only")
            response.headers["allow"] = "GET, HEAD"
            return response
        key = unquote(path).lstrip("/")
        etag = self.etag(key, query)
        if headers.get("if-none-match") == etag:  # the same key and parameters: the same bytes
            return OriginResponse(304, CIMultiDict([("etag", etag), ("cache-control", IMMUTABLE)]), 0)
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            if self.is_coroutine:
                result = await self.function(key, params)  # type: ignore[misc]
            else:
                result = await asyncio.to_thread(self.function, key, params)
            generated = _generated(result)
        except LookupError as exc:
            return _text(404, f"nothing here: {one_line(exc)}", None)
        except ValueError as exc:
            return _text(400, one_line(exc))
        except Exception as exc:  # noqa: BLE001 - the generator's own failure: logged, a 502
            log.exception("generator %s failed for %r", self.name, key)
            return _text(502, f"the generator failed: {one_line(exc)}")
        answer = CIMultiDict([("content-type", generated.content_type), ("etag", etag),
                              ("cache-control", generated.cache_control)])
        return OriginResponse(200, answer, len(generated.body), _one(generated.body))

    async def close(self) -> None:
        pass


def _generated(result: object) -> Generated:
    """What a generator may return, as one shape."""
    if isinstance(result, Generated):
        return result
    if isinstance(result, bytes | bytearray | memoryview):
        return Generated(bytes(result), "application/octet-stream")
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bytes | bytearray) \
            and isinstance(result[1], str):
        return Generated(bytes(result[0]), result[1])
    raise TypeError(f"a generator returns bytes, (bytes, content_type) or Generated, not {type(result).__name__}")
