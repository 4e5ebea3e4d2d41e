"""Conditional requests (RFC 9110 §13.2.2), evaluated in the order the RFC gives."""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..cache.headers import parse_etag_list, parse_http_date, strong_match, weak_match

# RFC 9110 §15.4.5: what a 304 carries of the stored response, with Last-Modified (which
# helps caches downstream) and our own Age and X-Cache.
NOT_MODIFIED_HEADERS = frozenset({
    "cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified", "age", "x-cache",
})


def evaluate(method: str, request_headers: Mapping[str, str], *, etag: str | None, last_modified: float | None,
             status: int = 200, now: float | None = None) -> int | None:
    """412, 304, or None to go on with the request."""
    if not 200 <= status < 300:
        return None
    now = time.time() if now is None else now
    if_match = request_headers.get("if-match")
    if if_match is not None:
        tags = parse_etag_list(if_match)
        if tags != "*" and not (isinstance(tags, list) and any(strong_match(t, etag) for t in tags)):
            return 412
    else:
        since = parse_http_date(request_headers.get("if-unmodified-since"))
        if since is not None and last_modified is not None and last_modified > since:
            return 412
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        tags = parse_etag_list(if_none_match)
        if tags == "*" or (isinstance(tags, list) and any(weak_match(t, etag) for t in tags)):
            return 304 if method in ("GET", "HEAD") else 412
        return None
    if method in ("GET", "HEAD"):
        since = parse_http_date(request_headers.get("if-modified-since"))
        if since is not None and since <= now and last_modified is not None and last_modified <= since:
            return 304
    return None


def not_modified_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() in NOT_MODIFIED_HEADERS]
