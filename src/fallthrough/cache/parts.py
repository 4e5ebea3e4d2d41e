"""Parts: stored 206 responses, each one range of an object (RFC 9111 §3.3, §3.4).

A Range request for an object the cache does not hold may be fetched as just that range,
and the 206 kept as a part: a later Range inside it is served from it, and when parts
with one strong validator cover the whole object they are combined into an ordinary
entry. A part lives in the index as an entry of its key whose variant ends with a marker
(`PART`, then "start-end/total"), so no lookup of the whole object can ever find it:
it is served only for ranges it holds, as a 206, never as the whole.

Pure functions here; the fetching and storing are the cache's, the serving the edge's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A NUL cannot occur in a request header value, so no Vary'd value can look like this.
PART = "\x00part "
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,15})-([0-9]{1,15})/([0-9]{1,15})")
_RANGE_SPEC = re.compile(r"bytes=([0-9]{1,15})?-([0-9]{1,15})?")


def content_range(value: str | None) -> tuple[int, int, int] | None:
    """A 206's `Content-Range: bytes first-last/complete` as (start, end, total) with
    `end` exclusive; None unless it is one satisfied range of a known length."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip(" \t"))
    if match is None:
        return None
    first, last, total = (int(g) for g in match.groups())
    return (first, last + 1, total) if first <= last < total else None


def requested(value: str | None) -> tuple[int | None, int | None] | None:
    """A single byte range as the client wrote it, before the length is known: (first,
    last) for `bytes=A-B`, (A, None) for `bytes=A-`, (None, N) for the suffix `bytes=-N`;
    None for anything else (several ranges, other units, nonsense)."""
    match = _RANGE_SPEC.fullmatch((value or "").strip(" \t"))
    if match is None or match.group(0) == "bytes=-":
        return None
    first = None if match.group(1) is None else int(match.group(1))
    last = None if match.group(2) is None else int(match.group(2))
    if first is not None and last is not None and last < first:
        return None
    if first is None and last == 0:
        return None  # an empty suffix is unsatisfiable: let the whole path answer it
    return first, last


def resolve(asked: tuple[int | None, int | None], total: int) -> tuple[int, int] | None:
    """A requested range (from `requested`) placed in an object of `total` bytes, as
    [start, end); None when it asks for nothing there (RFC 9110 §14.1.2)."""
    first, last = asked
    if first is None:
        return (max(total - (last or 0), 0), total) if total and last else None
    if first >= total:
        return None
    return first, total if last is None else min(last + 1, total)


def marker(start: int, end: int, total: int) -> str:
    return f"{PART}{start}-{end}/{total}"


def split_variant(variant: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, int, int]] | None:
    """(the object's own variant, (start, end, total)) for a part's variant, else None."""
    if not variant or not variant[-1].startswith(PART):
        return None
    span, _, total = variant[-1][len(PART):].partition("/")
    start, _, end = span.partition("-")
    return variant[:-1], (int(start), int(end), int(total))


def covering(spans: Iterable[tuple[int, int]], total: int) -> list[tuple[int, int, int]] | None:
    """Pieces (index of the span, from, to) that together cover [0, total) in order,
    taken from `spans` (which may overlap); None if they leave a gap."""
    ordered = sorted(enumerate(spans), key=lambda item: item[1][0])
    pieces: list[tuple[int, int, int]] = []
    reached = 0
    for index, (start, end) in ordered:
        if start > reached:
            break
        if end > reached:
            pieces.append((index, reached, end))
            reached = end
        if reached >= total:
            return pieces
    return pieces if reached >= total else None
