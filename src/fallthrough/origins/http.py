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

from ..cache.origin import HOP_BY_HOP, BadOriginURL, OriginBodyError, OriginResponse, OriginUnavailable, end_to_end, \
    one_line

# Body pieces of at most 256 KiB through iter_chunked: on loopback as fast as iter_any
# (about 1 GB/s either way, the server being the limit) and the size stays bounded.
READ_SIZE = 256 * 1024
# Host comes from the origin URL; hop-by-hop fields (RFC 9110 §7.6.1) belong to the
# client's connection, not to ours.
NEVER_FORWARDED = HOP_BY_HOP | {"host"}


def forwarded_headers(headers: Mapping[str, str], with_body: bool) -> dict[str, str]:
    """The request fields to send on: end-to-end only, and an identity body asked for
    unless the caller chose an Accept-Encoding (we store exactly what the origin sends)."""
    listed = {name.strip().lower() for k, v in headers.items() if k.lower() == "connection" for name in v.split(",")}
    sent: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in NEVER_FORWARDED or low in listed or low.startswith("proxy-"):
            continue
        # A declared length goes with a body we stream (so the origin sees no chunked
        # upload); without one aiohttp frames the request itself.
        if low == "content-length" and not with_body:
            continue
        sent[name] = value
    if not any(k.lower() == "accept-encoding" for k in sent):
        sent["Accept-Encoding"] = "identity"
    return sent


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
        sent = forwarded_headers(headers, body is not None)
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
        headers_out = CIMultiDict((k, v) for k, v in end_to_end(CIMultiDict(response.headers)).items()
                                  if not k.lower().startswith("proxy-"))
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
    text = one_line(exc)
    return text
