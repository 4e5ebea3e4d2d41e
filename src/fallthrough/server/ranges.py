"""Range requests (RFC 9110 §14): parsing, If-Range, Content-Range, multipart/byteranges."""

from __future__ import annotations

import re

from ..cache.headers import parse_http_date, strong_match

# More parts than this, or parts adding up to more than twice the representation, are
# answered with the whole representation (RFC 9110 §14.2 lets a server ignore such sets).
MAX_RANGES = 100
_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class Unsatisfiable:
    """A valid Range none of whose parts overlaps the representation: 416."""


UNSATISFIABLE = Unsatisfiable()


def parse_range(value: str, size: int) -> list[tuple[int, int]] | None | Unsatisfiable:
    """[(start, end_exclusive)] in request order; None to ignore the header (invalid, or a
    unit other than bytes); UNSATISFIABLE when no part overlaps (a zero-length
    representation satisfies no range, suffix ranges included)."""
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    members = spec.split(",")
    if len(members) > MAX_RANGES:
        return [(0, size)]
    ranges: list[tuple[int, int]] = []
    for member in members:
        if not member.strip():
            continue
        match = _SPEC.match(member)
        if match is None:
            return None
        first, last = match.groups()
        if first == "" and last == "":
            return None
        if first == "":
            suffix = int(last)
            if suffix > 0 and size > 0:
                ranges.append((max(size - suffix, 0), size))
            continue
        start = int(first)
        if last != "" and int(last) < start:
            return None  # RFC 9110 §14.1.1: last < first makes the range invalid
        if start >= size:
            continue
        end = size if last == "" else min(int(last) + 1, size)
        ranges.append((start, end))
    if not ranges:
        return UNSATISFIABLE if any(m.strip() for m in members) else None
    if sum(end - start for start, end in ranges) > 2 * max(size, 1):
        return [(0, size)]
    return ranges


def if_range_allows(if_range: str | None, etag: str | None, last_modified: float | None) -> bool:
    """RFC 9110 §13.1.5: honour Range only if the validator still matches."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return strong_match(value, etag)
    date = parse_http_date(value)
    return date is not None and last_modified is not None and date == last_modified


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end - 1}/{size}"


def unsatisfied_range(size: int) -> str:
    return f"bytes */{size}"


def multipart_parts(ranges: list[tuple[int, int]], size: int, content_type: str | None,
                    boundary: str) -> list[tuple[bytes, int, int]]:
    """Each part's header bytes (RFC 9110 §14.6), with the body range that follows it."""
    parts = []
    for start, end in ranges:
        lines = [f"\r\n--{boundary}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Range: {content_range(start, end, size)}")
        parts.append((("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), start, end))
    return parts


def multipart_trailer(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("latin-1")


def multipart_length(ranges: list[tuple[int, int]], size: int, content_type: str | None, boundary: str) -> int:
    parts = multipart_parts(ranges, size, content_type, boundary)
    return sum(len(h) + end - start for h, start, end in parts) + len(multipart_trailer(boundary))
