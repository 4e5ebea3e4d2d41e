"""An HTTP(S) server as an origin, over the strict client of http_wire.py.

Bodies are asked for as identity (`Accept-Encoding: identity`) and never decompressed
on the way: the cache stores and serves exactly the bytes the origin sent. Redirects
are passed back, not followed: they are responses like any other, cacheable by RFC 9111.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from urllib.parse import unquote, urlsplit

from multidict import CIMultiDict

from ..cache.origin import HOP_BY_HOP, BadOriginURL, OriginBodyError, OriginResponse, OriginTimeout, \
    OriginUnavailable, end_to_end
from .http_wire import Endpoint, Pool, WireError, WireResponse, WireTimeout

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
        # upload); without one the body goes out chunked.
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
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise BadOriginURL(f"bad origin URL {url!r}: bad port") from None
        self.base_path = parts.path.rstrip("/")
        self.name = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        # Credentials in the URL are the origin's Basic authentication (never in its name).
        self._auth = None if parts.username is None else "Basic " + base64.b64encode(
            f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode("ascii")
        self._pool = Pool(Endpoint(parts.scheme, parts.hostname, port), connect_timeout, read_timeout)

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        target = (self.base_path + path or "/") + (f"?{query}" if query else "")
        sent = list(forwarded_headers(headers, body is not None).items())
        if self._auth is not None:
            sent = [(k, v) for k, v in sent if k.lower() != "authorization"] + [("Authorization", self._auth)]
        try:
            response = await self._pool.request(method, target, sent, body)
        except WireTimeout as exc:
            raise OriginTimeout(f"origin {self.name}: {exc}", "the origin did not answer in time") from None
        except WireError as exc:
            raise OriginUnavailable(f"origin {self.name}: {exc}", "the origin could not be reached") from None
        received = CIMultiDict(response.headers)
        headers_out = CIMultiDict((k, v) for k, v in end_to_end(received).items()
                                  if not k.lower().startswith("proxy-"))
        length = _declared_length(received)
        if response.no_body and method != "HEAD":
            length = 0
        return OriginResponse(
            status=response.status, headers=headers_out, length=length,
            body=_body(self.name, response, length if not response.no_body else 0),
            closer=response.close,
        )

    async def close(self) -> None:
        self._pool.close()


def _declared_length(headers: CIMultiDict[str]) -> int | None:
    """Content-Length when the framing rests on it (a chunked body has none)."""
    if "transfer-encoding" in headers:
        return None
    values = {v.strip() for v in headers.getall("content-length", [])}
    if len(values) != 1:
        return None
    (value,) = values
    return int(value) if value.isdigit() else None


async def _body(name: str, response: WireResponse, length: int | None) -> AsyncIterator[bytes]:
    received = 0
    try:
        async for part in response.body():
            received += len(part)
            yield part
    except WireTimeout as exc:
        raise OriginBodyError(f"origin {name}: body stalled after {received} bytes: {exc}",
                              "the origin stopped sending") from None
    except WireError as exc:
        raise OriginBodyError(f"origin {name}: body broke off after {received} bytes: {exc}",
                              "the origin broke off") from None
    finally:
        response.close()
    if length is not None and received != length:
        raise OriginBodyError(f"origin {name}: sent {received} of {length} bytes", "the origin broke off")
