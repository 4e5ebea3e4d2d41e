"""An HTTP(S) server as an origin, through one pooled aiohttp session per origin.

Bodies are asked for as identity (`Accept-Encoding: identity`) and never decompressed
on the way: the cache stores and serves exactly the bytes the origin sent. Redirects
are passed back, not followed: they are responses like any other, cacheable by RFC 9111.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ..cache.origin import BadOriginURL, OriginBodyError, OriginResponse, OriginUnavailable, end_to_end

READ_SIZE = 256 * 1024
NEVER_FORWARDED = frozenset({"host", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
                             "proxy-connection", "proxy-authorization", "proxy-authenticate", "content-length"})


class HttpOrigin:
    def __init__(self, url: str, connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadOriginURL(f"bad origin URL {url!r}: expected http(s)://host[:port][/base]")
        if parts.query or parts.fragment:
            raise BadOriginURL(f"bad origin URL {url!r}: a query or fragment has no place in an origin")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise BadOriginURL(f"bad origin URL {url!r}: bad port") from None
        self.base = url.rstrip("/")
        self.name = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, limit_per_host=64, ttl_dns_cache=60),
                timeout=self._timeout, auto_decompress=False, skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        target = self.base + path + (f"?{query}" if query else "")
        sent = {k: v for k, v in headers.items() if k.lower() not in NEVER_FORWARDED}
        if not any(k.lower() == "accept-encoding" for k in sent):
            sent["Accept-Encoding"] = "identity"
        try:
            response = await self._client().request(
                method, URL(target, encoded=True), headers=sent, data=body, allow_redirects=False,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise OriginUnavailable(f"origin {self.name}: {_describe(exc)}") from None
        length = response.content_length if method != "HEAD" else None
        declared = response.headers.get("content-length")
        if method == "HEAD" and declared is not None and declared.isdigit():
            length = int(declared)
        headers_out = end_to_end(CIMultiDict(response.headers))
        empty = method == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        return OriginResponse(
            status=response.status, headers=headers_out, length=0 if empty and method != "HEAD" else length,
            body=_empty_body(response) if empty else _body(self.name, response),
            closer=response.release,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _empty_body(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    response.release()
    return
    yield b""  # pragma: no cover


async def _body(name: str, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    received = 0
    try:
        async for part in response.content.iter_chunked(READ_SIZE):
            received += len(part)
            yield part
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise OriginBodyError(f"origin {name}: body broke off after {received} bytes: {_describe(exc)}") from None
    finally:
        response.release()
    if response.content_length is not None and received != response.content_length:
        raise OriginBodyError(f"origin {name}: sent {received} of {response.content_length} bytes")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text
