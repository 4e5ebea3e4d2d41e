"""FastCDC cut points: fed in pieces they equal one pass over the whole input."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from fallthrough.castore.chunker import MAX_CHUNK, MIN_CHUNK, StreamChunker, new_fastcdc


def _whole_pass(data: bytes) -> list[int]:
    return [c.length for c in new_fastcdc().cut_buf(data)]


def _streamed(data: bytes, pieces: list[int], batch: int, eager: bool = False) -> list[int]:
    """`eager`: ask for the chunks that are certain after every piece, as a fill that
    others follow does (cut_ready)."""
    chunker = StreamChunker(batch=batch)
    sizes: list[int] = []
    view, at = memoryview(data), 0
    for piece in [*pieces, len(data)]:
        for cuts in chunker.feed(view[at : at + piece]) + (chunker.cut_ready() if eager else []):
            sizes += [len(c) for c in cuts.chunks()]
            chunker.release(cuts)  # blocks are reused: the test sees reuse too
        at += piece
    sizes += [len(c) for c in chunker.finish().chunks()]
    return sizes


@given(
    size=st.integers(0, 6 * 1024 * 1024),
    seed=st.integers(0, 2**32),
    pieces=st.lists(st.integers(1, 2 * 1024 * 1024), max_size=6),
    batch=st.sampled_from([MAX_CHUNK, 1024 * 1024, 4 * 1024 * 1024]),
)
def test_streaming_cuts_equal_one_pass(size: int, seed: int, pieces: list[int], batch: int) -> None:
    data = random.Random(seed).randbytes(size)
    assert _streamed(data, pieces, batch) == _whole_pass(data)


@given(
    size=st.integers(0, 3 * 1024 * 1024),
    seed=st.integers(0, 2**32),
    pieces=st.lists(st.integers(1, 300 * 1024), max_size=12),
)
def test_cutting_whatever_is_certain_after_each_piece_equals_one_pass(size: int, seed: int,
                                                                      pieces: list[int]) -> None:
    data = random.Random(seed).randbytes(size)
    assert _streamed(data, pieces, 8 * 1024 * 1024, eager=True) == _whole_pass(data)


def test_a_chunk_is_told_as_soon_as_its_end_is_certain() -> None:
    data = random.Random(7).randbytes(4 * 1024 * 1024)
    first = _whole_pass(data)[0]
    chunker = StreamChunker()
    chunker.feed(data[:first])
    assert chunker.cut_ready() == []  # its end could still move
    (cuts,) = chunker.feed(data[first:first + 64 * 1024]) or chunker.cut_ready()
    assert [len(c) for c in cuts.chunks()] == [first]


def test_chunk_sizes_respect_bounds() -> None:
    data = random.Random(1).randbytes(16 * 1024 * 1024)
    sizes = _whole_pass(data)
    assert sum(sizes) == len(data)
    assert all(MIN_CHUNK <= s <= MAX_CHUNK for s in sizes[:-1])
    assert 160 * 1024 < sum(sizes) / len(sizes) < 512 * 1024


def test_castore_fixture_cut_points() -> None:
    assert _whole_pass(bytes(range(255)) * 4096) == [524288, 520192]
