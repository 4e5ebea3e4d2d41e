"""Range requests (RFC 9110 §14): parsing, If-Range, Content-Range, multipart/byteranges.

Pure functions: the server decides 200 / 206 / 416 from what `parse_range` returns and
streams the parts `multipart_parts` describes.
"""

from __future__ import annotations

import re
from typing import Final

from ..cache.headers import parse_etag_list, parse_http_date, strong_match

# RFC 9110 §14.2 lets a server ignore a Range it judges abusive. More parts than this, or
# parts adding up to more than twice the representation (overlaps, many small pieces),
# are answered with the whole representation: [(0, size)], which the server sends as 200.
MAX_RANGES = 100
MAX_OVERLAP_FACTOR = 2
_SPEC = re.compile(r"[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*")


class Unsatisfiable:
    """A valid Range none of whose parts overlaps the representation: answer 416."""

    def __repr__(self) -> str:
        return "UNSATISFIABLE"


UNSATISFIABLE: Final = Unsatisfiable()


def _less(a: str, b: str) -> bool:
    """a < b for ASCII digit strings of any length, without building huge ints."""
    a, b = a.lstrip("0") or "0", b.lstrip("0") or "0"
    return (len(a), a) < (len(b), b)


def _position(digits: str, size: int) -> int:
    """A byte position as an int, clipped to just past `size` (all that matters)."""
    digits = digits.lstrip("0") or "0"
    return size + 1 if len(digits) > len(str(size)) else min(int(digits), size + 1)


def _specs(spec: str) -> list[tuple[str, str]] | None:
    """The range-specs as (first, last) digit strings; None if any is invalid (§14.1.1)."""
    specs: list[tuple[str, str]] = []
    for member in spec.split(","):
        if not member.strip(" \t"):
            continue  # RFC 9110 §5.6.1.2: empty list elements are ignored
        match = _SPEC.fullmatch(member)
        if match is None:
            return None
        first, last = match.groups()
        if not first and not last:
            return None
        if first and last and _less(last, first):
            return None  # §14.1.1: last-pos below first-pos makes the range-set invalid
        specs.append((first, last))
    return specs or None


def _resolve(first: str, last: str, size: int) -> tuple[int, int] | None:
    """One range-spec as (start, end_exclusive) clipped to size, or None if it is unsatisfiable."""
    if not first:
        suffix = _position(last, size)
        return None if suffix == 0 else (max(size - suffix, 0), size)  # §14.1.2: a zero suffix is none
    start = _position(first, size)
    if start >= size:
        return None
    return start, size if not last else min(_position(last, size) + 1, size)


def parse_range(value: str, size: int) -> list[tuple[int, int]] | None | Unsatisfiable:
    """A Range header (RFC 9110 §14.2) against a representation of `size` bytes.

    Returns [(start, end_exclusive)] clipped to size, in request order and not coalesced
    (§14.6 wants request order); None to ignore the header and send 200 (invalid, or a
    unit other than bytes, which is matched case-insensitively); UNSATISFIABLE (send 416)
    when valid but no part overlaps. Abusive sets (see MAX_RANGES) give [(0, size)].

    size 0: §14.1.1 calls a non-zero suffix (`bytes=-N`) satisfiable and §14.1.3 says
    it then selects the whole representation, so it gives [(0, 0)] (send 200 with the
    empty body); `bytes=A-` and `bytes=-0` give UNSATISFIABLE.
    """
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip(" \t").lower() != "bytes":
        return None
    if spec.count(",") >= MAX_RANGES and sum(1 for m in spec.split(",") if m.strip(" \t")) > MAX_RANGES:
        return [(0, size)]
    specs = _specs(spec)
    if specs is None:
        return None
    ranges = [r for r in (_resolve(first, last, size) for first, last in specs) if r is not None]
    if not ranges:
        return UNSATISFIABLE
    if size == 0 or sum(end - start for start, end in ranges) > MAX_OVERLAP_FACTOR * size:
        return [(0, size)]
    return ranges


def if_range_allows(if_range: str | None, etag: str | None, last_modified: float | None) -> bool:
    """Honour Range? RFC 9110 §13.1.5: yes without If-Range; else only if its validator matches.

    An entity-tag must match strongly (a weak one never does); an HTTP-date must equal
    Last-Modified exactly. Anything else (garbage, no validator stored) means "send 200".
    """
    if if_range is None:
        return True
    value = if_range.strip(" \t")
    if value.startswith(('"', "W/")):
        tags = parse_etag_list(value)
        return isinstance(tags, list) and len(tags) == 1 and strong_match(tags[0], etag)
    date = parse_http_date(value)
    return date is not None and last_modified is not None and date == last_modified


def content_range(start: int, end_exclusive: int, size: int) -> str:
    """RFC 9110 §14.4: `bytes first-last/complete-length`, last inclusive."""
    return f"bytes {start}-{end_exclusive - 1}/{size}"


def unsatisfied_range(size: int) -> str:
    """RFC 9110 §14.4, §15.5.17: the Content-Range of a 416."""
    return f"bytes */{size}"


def multipart_content_type(boundary: str) -> str:
    """RFC 9110 §14.6: the Content-Type of a multipart 206."""
    return f"multipart/byteranges; boundary={boundary}"


def _field_value(value: str) -> str:
    """A field value safe to write: control characters (CR, LF...) dropped, never raising."""
    return "".join(c for c in value if c == "\t" or " " <= c != "\x7f")


def _part_header(boundary: str, content_type: str | None, start: int, end: int, size: int) -> bytes:
    lines = [f"\r\n--{boundary}"]
    if content_type:
        lines.append(f"Content-Type: {_field_value(content_type)}")
    lines.append(f"Content-Range: {content_range(start, end, size)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def multipart_parts(ranges: list[tuple[int, int]], size: int, content_type: str | None,
                    boundary: str) -> list[tuple[bytes, int, int]]:
    """Each part's header bytes (RFC 9110 §14.6) with the body range that follows it.

    The body is: for each part, its header then bytes [start, end); then
    `multipart_trailer`. Each header opens with CRLF (an empty preamble, RFC 2046 §5.1.1).
    """
    return [(_part_header(boundary, content_type, start, end, size), start, end) for start, end in ranges]


def multipart_trailer(boundary: str) -> bytes:
    """The close-delimiter ending the body (RFC 2046 §5.1.1)."""
    return f"\r\n--{boundary}--\r\n".encode("latin-1", "replace")


def multipart_length(ranges: list[tuple[int, int]], size: int, content_type: str | None, boundary: str) -> int:
    """The exact Content-Length of the multipart body, so it can be streamed part by part."""
    parts = multipart_parts(ranges, size, content_type, boundary)
    return sum(len(header) + end - start for header, start, end in parts) + len(multipart_trailer(boundary))
