"""Whatever goes in comes out, byte for byte, on every backend, whatever the write sizes."""

from __future__ import annotations

import asyncio
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fallthrough.castore import B3Digest, open_store


def _data(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def _roundtrip(url: str, data: bytes, pieces: list[int]) -> None:
    async with open_store(url) as store:
        writer = store.open_write()
        view, at = memoryview(data), 0
        for piece in pieces:
            await writer.write(view[at : at + piece])
            at += piece
        await writer.write(view[at:])
        digest = await writer.close()
        assert digest == B3Digest.of(data)
        assert await store.has(digest)
        assert (await store.stat(digest)).size == len(data)
        assert await store.get(digest) == data


@settings(max_examples=12)
@given(
    size=st.one_of(st.integers(0, 4096), st.integers(0, 3 * 1024 * 1024)),
    seed=st.integers(0, 2**32),
    pieces=st.lists(st.integers(1, 1_500_000), max_size=4),
)
def test_roundtrip_random_sizes(store_url: str, size: int, seed: int, pieces: list[int]) -> None:
    asyncio.run(_roundtrip(store_url, _data(size, seed), pieces))


async def test_roundtrip_larger_than_a_writer_batch(store_url: str) -> None:
    data = _data(9 * 1024 * 1024 + 12345, 7)
    await _roundtrip(store_url, data, [1, 65536, 5_000_000])


async def test_rewriting_a_blob_writes_no_new_chunks(tmp_path) -> None:  # noqa: ANN001
    data = _data(3 * 1024 * 1024, 3)
    async with open_store(f"file://{tmp_path}") as store:
        await store.put(data)
        written = store.stack.stats["chunks_written"]
        await store.put(data)
        assert store.stack.stats["chunks_written"] == written
        assert store.stack.stats["chunks_skipped"] >= written
