"""Conditional requests (RFC 9110 §13.2.2), evaluated in the order the RFC gives."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from ..cache.headers import parse_etag_list, parse_http_date, strong_match, weak_match

# RFC 9110 §15.4.5: what a 304 carries of the stored response, with Last-Modified (it
# helps caches downstream) and the edge's own Age and X-Cache.
NOT_MODIFIED_HEADERS = frozenset({
    "cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified", "age", "x-cache",
})
_GET_OR_HEAD = ("GET", "HEAD")


def _joined(request_headers: Mapping[str, str], name: str) -> str | None:
    """A list field's lines as one value (RFC 9110 §5.3), or None when absent."""
    getall = getattr(request_headers, "getall", None)
    values = list(getall(name, [])) if getall is not None else (
        [] if request_headers.get(name) is None else [request_headers[name]]
    )
    return ", ".join(values) if values else None


def _single_date(request_headers: Mapping[str, str], name: str) -> float | None:
    """An HTTP-date field; None when absent, invalid, or given more than once (§13.1.3, §13.1.4)."""
    value = _joined(request_headers, name)
    return None if value is None else parse_http_date(value)


def _etags_match(field: str, etag: str | None, strong: bool) -> bool:
    """RFC 9110 §13.1.1/§13.1.2: `*` matches (we hold a current representation); an
    unparsable list matches nothing."""
    tags = parse_etag_list(field)
    if tags == "*":
        return True
    compare = strong_match if strong else weak_match
    return tags is not None and any(compare(tag, etag) for tag in tags)


def evaluate(method: str, request_headers: Mapping[str, str], *, etag: str | None, last_modified: float | None,
             status: int = 200, now: float | None = None, date: float | None = None) -> int | None:
    """412, 304, or None to go on with the request, following RFC 9110 §13.2.2 step by step.

    Preconditions apply only to a 2xx (§13.2.1). 1: If-Match (strong) false → 412.
    2: else If-Unmodified-Since older than Last-Modified → 412. 3: If-None-Match (weak)
    matches → 304 for GET/HEAD, 412 otherwise; present but not matching → go on (step 4
    is skipped). 4: GET/HEAD with If-Modified-Since no older than Last-Modified → 304;
    ignored when invalid or later than `now` (default: the clock). Without a Last-Modified,
    If-Unmodified-Since is not evaluated, and If-Modified-Since is compared with the
    stored response's `date` (RFC 9111 §4.3.2: a cache uses Date when it has no
    Last-Modified), if given.
    """
    if not 200 <= status < 300:
        return None
    if_match = _joined(request_headers, "if-match")
    if if_match is not None:
        if not _etags_match(if_match, etag, strong=True):
            return 412
    else:
        since = _single_date(request_headers, "if-unmodified-since")
        if since is not None and last_modified is not None and last_modified > since:
            return 412
    if_none_match = _joined(request_headers, "if-none-match")
    if if_none_match is not None:
        if _etags_match(if_none_match, etag, strong=False):
            return 304 if method in _GET_OR_HEAD else 412
        return None
    modified = last_modified if last_modified is not None else date
    if method in _GET_OR_HEAD and modified is not None:
        since = _single_date(request_headers, "if-modified-since")
        now = time.time() if now is None else now
        if since is not None and since <= now and modified <= since:
            return 304
    return None


def not_modified_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The stored fields a 304 carries (RFC 9110 §15.4.5), in their stored order."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v) for k, v in items if k.lower() in NOT_MODIFIED_HEADERS]
