"""Range requests (RFC 9110 §14): parsing, If-Range, Content-Range and multipart/byteranges."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.cache.headers import format_http_date
from fallthrough.server.ranges import (
    MAX_RANGES,
    UNSATISFIABLE,
    Unsatisfiable,
    content_range,
    if_range_allows,
    multipart_content_type,
    multipart_length,
    multipart_parts,
    multipart_trailer,
    parse_range,
    unsatisfied_range,
)

LAST_MODIFIED = 1_700_000_000.0


# -- parse_range ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    # The examples of RFC 9110 §14.1.2, on a 10000-byte representation.
    ("bytes=0-499", [(0, 500)]),
    ("bytes=500-999", [(500, 1000)]),
    ("bytes=-500", [(9500, 10000)]),
    ("bytes=9500-", [(9500, 10000)]),
    ("bytes=0-0,-1", [(0, 1), (9999, 10000)]),
    ("bytes= 0-999, 4500-5499, -1000", [(0, 1000), (4500, 5500), (9000, 10000)]),
    ("bytes=500-600,601-999", [(500, 601), (601, 1000)]),
    ("bytes=500-700,601-999", [(500, 701), (601, 1000)]),  # overlaps kept, in request order
    ("bytes=9000-9999,0-9", [(9000, 10000), (0, 10)]),
    ("BYTES=0-1", [(0, 2)]),  # the unit is case-insensitive
    ("bytes=0-1 , ,3-4", [(0, 2), (3, 5)]),  # empty list elements are ignored
    ("bytes=9990-20000", [(9990, 10000)]),  # a last-pos past the end is clipped
    ("bytes=-20000", [(0, 10000)]),  # a suffix longer than the whole: the whole
    ("bytes=0-", [(0, 10000)]),
    ("bytes=20000-,5-5", [(5, 6)]),  # the unsatisfiable part is dropped
    ("bytes=00-09", [(0, 10)]),
])
def test_parse_range_examples(value: str, expected: list[tuple[int, int]]) -> None:
    assert parse_range(value, 10000) == expected


@pytest.mark.parametrize("value", [
    "", "bytes", "0-1", "items=0-1", "bytes=", "bytes=,", "bytes=-", "bytes=5-1", "bytes=0-1,5-1", "bytes=a-b",
    "bytes=1-2-3", "bytes=--1", "bytes=1", "bytes=\u0661-\u0662", "bytes=0-1;x", "bytes=-1-",
    "bytes=" + "9" * 5001 + "-" + "9" * 5000,  # last < first, both beyond any int()
])
def test_parse_range_ignores_invalid_headers(value: str) -> None:
    assert parse_range(value, 10000) is None


@pytest.mark.parametrize(("value", "size"), [
    ("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100), ("bytes=200-300,-0", 100),
    ("bytes=0-", 0), ("bytes=-0", 0), ("bytes=0-0", 0), ("bytes=" + "9" * 5000 + "-", 100),
])
def test_parse_range_unsatisfiable(value: str, size: int) -> None:
    result = parse_range(value, size)
    assert result is UNSATISFIABLE and isinstance(result, Unsatisfiable)


def test_empty_representation_with_a_suffix_range_is_the_whole_of_it() -> None:
    # RFC 9110 §14.1.1: a non-zero suffix is satisfiable; §14.1.3: it selects the whole.
    assert parse_range("bytes=-5", 0) == [(0, 0)]
    assert parse_range("bytes=0-,-1", 0) == [(0, 0)]
    assert parse_range("bytes=-5,-3", 0) == [(0, 0)]  # one whole, not a part per suffix


def test_parse_range_huge_positions_do_not_hit_int_limits() -> None:
    assert parse_range("bytes=0-" + "9" * 5000, 100) == [(0, 100)]
    assert parse_range("bytes=-" + "9" * 5000, 100) == [(0, 100)]
    assert parse_range("bytes=" + "0" * 5000 + "5-6", 100) == [(5, 7)]


def test_abusive_range_sets_get_the_whole_representation() -> None:
    distinct = ",".join(f"{i}-{i}" for i in range(MAX_RANGES))
    assert parse_range(f"bytes={distinct}", 1000) == [(i, i + 1) for i in range(MAX_RANGES)]
    assert parse_range(f"bytes={distinct},500-500", 1000) == [(0, 1000)]  # one part too many
    assert parse_range(f"bytes={distinct},,,", 1000) == [(i, i + 1) for i in range(MAX_RANGES)]
    assert parse_range("bytes=0-99,0-99", 100) == [(0, 100), (0, 100)]  # exactly twice: kept
    assert parse_range("bytes=0-99,0-99,0-0", 100) == [(0, 100)]  # more than twice the size


SPEC = st.one_of(
    st.tuples(st.integers(0, 80), st.one_of(st.none(), st.integers(0, 80))).filter(
        lambda t: t[1] is None or t[1] >= t[0]),
    st.tuples(st.none(), st.integers(0, 80)),
)


def write(spec: tuple[int | None, int | None]) -> str:
    first, last = spec
    return f"{'' if first is None else first}-{'' if last is None else last}"


def model(specs: list[tuple[int | None, int | None]], size: int) -> list[tuple[int, int]] | Unsatisfiable:
    """Byte positions each spec selects, straight from RFC 9110 §14.1.2, plus our abuse rule."""
    selected = []
    for first, last in specs:
        if first is None:
            assert last is not None
            positions = list(range(size))[-last:] if last else []
            if last and size == 0:
                return [(0, 0)]
        else:
            positions = [p for p in range(size) if first <= p and (last is None or p <= last)]
        if positions:
            selected.append((positions[0], positions[-1] + 1))
    if not selected:
        return UNSATISFIABLE
    if sum(e - s for s, e in selected) > 2 * size:
        return [(0, size)]
    return selected


@given(st.lists(SPEC, min_size=1, max_size=6), st.integers(0, 60), st.sampled_from([",", ", ", " , "]))
def test_parse_range_agrees_with_the_model(specs: list[tuple[int | None, int | None]], size: int, sep: str) -> None:
    assert parse_range("bytes=" + sep.join(write(s) for s in specs), size) == model(specs, size)


@given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789-, =bytes\t", max_size=40)),
       st.integers(0, 10**12))
def test_parse_range_never_raises_and_stays_in_bounds(text: str, size: int) -> None:
    for value in (text, "bytes=" + text):
        result = parse_range(value, size)
        assert result is None or result is UNSATISFIABLE or isinstance(result, list)
        if isinstance(result, list):
            assert 1 <= len(result) <= MAX_RANGES
            assert all(0 <= s < e <= size for s, e in result) or result == [(0, 0)] == [(0, size)]


# -- If-Range (RFC 9110 §13.1.5) --------------------------------------------------------


@pytest.mark.parametrize(("if_range", "etag", "last_modified", "expected"), [
    (None, '"a"', LAST_MODIFIED, True),
    ('"a"', '"a"', None, True),
    (' "a" ', '"a"', None, True),
    ('"b"', '"a"', None, False),
    ('W/"a"', 'W/"a"', None, False),  # weak tags never match strongly
    ('"a"', 'W/"a"', None, False),
    ('"a"', None, LAST_MODIFIED, False),
    ('"a", "b"', '"a"', None, False),  # one validator only
    (format_http_date(LAST_MODIFIED), '"a"', LAST_MODIFIED, True),
    (format_http_date(LAST_MODIFIED - 1), '"a"', LAST_MODIFIED, False),  # exact match only
    (format_http_date(LAST_MODIFIED + 1), '"a"', LAST_MODIFIED, False),
    (format_http_date(LAST_MODIFIED), '"a"', None, False),
    ("garbage", '"a"', LAST_MODIFIED, False),
    ("", '"a"', LAST_MODIFIED, False),
])
def test_if_range(if_range: str | None, etag: str | None, last_modified: float | None, expected: bool) -> None:
    assert if_range_allows(if_range, etag, last_modified) is expected


# -- Content-Range and multipart/byteranges (RFC 9110 §14.4, §14.6) ---------------------


def test_content_range() -> None:
    assert content_range(0, 500, 1234) == "bytes 0-499/1234"
    assert content_range(1233, 1234, 1234) == "bytes 1233-1233/1234"
    assert unsatisfied_range(1234) == "bytes */1234"
    assert multipart_content_type("b0undary") == "multipart/byteranges; boundary=b0undary"


def assemble(body: bytes, ranges: list[tuple[int, int]], content_type: str | None, boundary: str) -> bytes:
    parts = multipart_parts(ranges, len(body), content_type, boundary)
    assert [(s, e) for _, s, e in parts] == ranges  # request order
    return b"".join(header + body[s:e] for header, s, e in parts) + multipart_trailer(boundary)


def split_parts(data: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """A strict hand parser: CRLF--boundary before each part, CRLF--boundary--CRLF at the end."""
    delimiter = b"\r\n--" + boundary.encode()
    pieces = data.split(delimiter)
    assert pieces[0] == b"" and pieces[-1] == b"--\r\n"
    parts = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n")
        head, blank, payload = piece[2:].partition(b"\r\n\r\n")
        assert blank
        fields = dict(line.decode("latin-1").split(": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields, payload))
    return parts


RANGES_OF = st.integers(1, 300).flatmap(lambda size: st.tuples(
    st.binary(min_size=size, max_size=size),
    st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, size)).map(sorted).filter(lambda r: r[0] < r[1])
             .map(tuple), min_size=1, max_size=5),
))


@given(RANGES_OF, st.one_of(st.none(), st.sampled_from(["application/octet-stream", "text/plain; charset=utf-8",
                                                         "caf\u00e9/x", "text/html\r\nX-Evil: 1"])))
def test_multipart_body_parses_back_and_has_the_announced_length(
    body_and_ranges: tuple[bytes, list[tuple[int, int]]], content_type: str | None,
) -> None:
    body, ranges = body_and_ranges
    boundary = "3d6b6a416f9b5a1c2e7f0a9b"
    data = assemble(body, ranges, content_type, boundary)
    assert multipart_length(ranges, len(body), content_type, boundary) == len(data)
    parts = split_parts(data, boundary)
    assert len(parts) == len(ranges)
    for (fields, payload), (start, end) in zip(parts, ranges, strict=True):
        assert payload == body[start:end]
        assert fields["Content-Range"] == content_range(start, end, len(body))
        assert set(fields) == ({"Content-Range"} | ({"Content-Type"} if content_type else set()))
        if content_type:
            assert "\r" not in fields["Content-Type"] and "\n" not in fields["Content-Type"]


def test_multipart_body_reads_back_with_the_stdlib_parser() -> None:
    body = bytes(range(256)) * 4 + b"\r\n\r\r\n--x\n"  # every byte value, CR and LF included
    ranges = [(0, 10), (5, 300), (len(body) - 20, len(body))]
    boundary = "THIS_STRING_SEPARATES"
    data = assemble(body, ranges, "application/octet-stream", boundary)
    head = f"Content-Type: {multipart_content_type(boundary)}\r\nContent-Length: {len(data)}\r\n\r\n"
    message = email.message_from_bytes(head.encode() + data, policy=email.policy.HTTP)
    assert message.get_content_type() == "multipart/byteranges" and message.defects == []
    parts = list(message.iter_parts())
    assert len(parts) == len(ranges)
    for part, (start, end) in zip(parts, ranges, strict=True):
        assert part.get_content_type() == "application/octet-stream"
        assert part["Content-Range"] == f"bytes {start}-{end - 1}/{len(body)}"
        assert part.get_payload(decode=True) == body[start:end]
