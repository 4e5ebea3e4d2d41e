"""Property tests for the parsers that face users and foreign stores."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.castore import B3Digest, ManifestCorrupt
from fallthrough.castore.manifest import decode_manifest
from fallthrough.cli import UsageError, parse_range

BLOB = B3Digest.of(b"any")


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_chunks_or_a_clear_error(raw: bytes) -> None:
    try:
        chunks = decode_manifest(raw, BLOB)
    except ManifestCorrupt as exc:
        assert str(BLOB) in str(exc)
    else:
        assert all(len(c.digest) == 32 and c.size >= 0 for c in chunks)


@given(size=st.integers(1, 10**12), a=st.integers(0, 10**12), b=st.integers(0, 10**12))
def test_range_a_b(size: int, a: int, b: int) -> None:
    try:
        start, end = parse_range(f"{a}-{b}", size)
    except UsageError:
        assert b < a or a >= size
    else:
        assert (start, end) == (a, min(b + 1, size))
        assert 0 <= start < end <= size


@given(size=st.integers(1, 10**12), n=st.integers(1, 10**13))
def test_suffix_range(size: int, n: int) -> None:
    assert parse_range(f"-{n}", size) == (max(size - n, 0), size)


@given(size=st.integers(1, 10**12), a=st.integers(0, 10**12))
def test_open_range(size: int, a: int) -> None:
    if a >= size:
        with pytest.raises(UsageError):
            parse_range(f"{a}-", size)
    else:
        assert parse_range(f"{a}-", size) == (a, size)


@given(st.text(max_size=20).filter(lambda t: "-" not in t or not t.replace("-", "").strip().isdigit()))
def test_garbage_ranges_are_usage_errors(text: str) -> None:
    try:
        start, end = parse_range(text, 1000)
    except UsageError:
        return
    assert 0 <= start < end <= 1000
