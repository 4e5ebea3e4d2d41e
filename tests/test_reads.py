"""Ranges and seeks fetch only the chunks they need; corruption is caught, never served."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fallthrough.castore import ChunkCorrupt, ManifestCorrupt, chunk_path, open_store
from fallthrough.castore.manifest import ChunkMeta, encode_manifest

DATA = random.Random(11).randbytes(5 * 1024 * 1024 + 999)


def _chunk_reads(store) -> int:  # noqa: ANN001
    return sum(v for k, v in store.stack.stats.items() if k.startswith("chunk_reads:"))


async def test_range_reads_only_the_chunks_it_needs(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        reader = await store.open_read(digest)
        info = reader.info
        assert len(info.chunks) >= 8
        # A range inside the third chunk touches that chunk alone.
        third = info.offsets[2]
        before = _chunk_reads(store)
        got = b"".join([p async for p in reader.iter_range(third + 10, third + 1000)])
        assert got == DATA[third + 10 : third + 1000]
        assert _chunk_reads(store) - before == 1
        # A range across one boundary touches two.
        boundary = info.offsets[5]
        before = _chunk_reads(store)
        got = b"".join([p async for p in reader.iter_range(boundary - 5, boundary + 5)])
        assert got == DATA[boundary - 5 : boundary + 5]
        assert _chunk_reads(store) - before == 2


async def test_seek_and_read(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        reader = await store.open_read(await store.put(DATA))
        reader.seek(-100, os.SEEK_END)
        assert await reader.read() == DATA[-100:]
        reader.seek(1_000_000)
        before = _chunk_reads(store)
        assert await reader.read(10) == DATA[1_000_000:1_000_010]
        assert await reader.read(10) == DATA[1_000_010:1_000_020]  # same chunk: no new fetch
        assert _chunk_reads(store) - before == 1
        assert reader.tell() == 1_000_020
        reader.seek(len(DATA) + 5)
        assert await reader.read(10) == b""
        with pytest.raises(ValueError):
            reader.seek(-1)


@settings(max_examples=30)
@given(start=st.integers(0, len(DATA)), length=st.integers(0, 2 * 1024 * 1024))
def test_any_range_equals_the_slice(start: int, length: int, tmp_path_factory) -> None:  # noqa: ANN001
    import asyncio

    async def check() -> None:
        async with open_store(f"file://{_shared_store(tmp_path_factory)}") as store:
            reader = await store.open_read(await store.put(DATA))
            got = b"".join([p async for p in reader.iter_range(start, start + length)])
            assert got == DATA[start : start + length]

    asyncio.run(check())


_SHARED: dict[str, Path] = {}


def _shared_store(factory) -> Path:  # noqa: ANN001
    if "path" not in _SHARED:
        _SHARED["path"] = factory.mktemp("ranges")
    return _SHARED["path"]


def _chunk_file(root: Path, digest) -> Path:  # noqa: ANN001
    return root / chunk_path(digest)


async def test_corrupt_chunk_is_detected_and_named(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        victim = (await store.stat(digest)).chunks[3].digest
        path = _chunk_file(tmp_path, victim)
        frame = bytearray(path.read_bytes())
        frame[len(frame) // 2] ^= 0xFF
        path.write_bytes(bytes(frame))
        with pytest.raises(ChunkCorrupt, match=str(victim)):
            await store.get(digest)


async def test_swapped_chunk_with_valid_frame_is_detected(tmp_path: Path) -> None:
    """A well-formed frame of the wrong bytes fails the digest check, not just zstd."""
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        chunks = (await store.stat(digest)).chunks
        _chunk_file(tmp_path, chunks[0].digest).write_bytes(_chunk_file(tmp_path, chunks[1].digest).read_bytes())
        with pytest.raises(ChunkCorrupt, match=str(chunks[0].digest)):
            await store.read_chunk(chunks[0].digest, chunks[0].size)


async def test_manifest_listing_wrong_chunks_fails_whole_read(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        other = await store.put(DATA[::-1])
        wrong = (await store.stat(other)).chunks
        await store.stack.store_manifest(digest, encode_manifest(wrong))
        with pytest.raises(ChunkCorrupt, match="do not add up"):
            await store.get(digest)


async def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    import zstandard

    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        first = (await store.stat(digest)).chunks[0]
        bomb = zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * (64 * 1024 * 1024))
        _chunk_file(tmp_path, first.digest).write_bytes(bomb)
        with pytest.raises(ChunkCorrupt, match="past its size"):
            await store.read_chunk(first.digest, first.size)


async def test_garbage_manifest_is_a_clear_error(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        await store.stack.store_manifest(digest, b"\xff\xff\xff garbage")
        with pytest.raises(ManifestCorrupt, match=str(digest)):
            await store.stat(digest)


async def test_missing_chunk_names_it(tmp_path: Path) -> None:
    from fallthrough.castore import ChunkNotFound

    async with open_store(f"file://{tmp_path}") as store:
        digest = await store.put(DATA)
        victim = (await store.stat(digest)).chunks[1]
        _chunk_file(tmp_path, victim.digest).unlink()
        with pytest.raises(ChunkNotFound, match=str(victim.digest)):
            await store.get(digest)


def test_chunkmeta_roundtrips_through_manifest() -> None:
    from fallthrough.castore import B3Digest
    from fallthrough.castore.manifest import decode_manifest

    chunks = [ChunkMeta(B3Digest.of(bytes([i])), 1000 + i) for i in range(3)]
    assert decode_manifest(encode_manifest(chunks), chunks[0].digest) == chunks
    assert decode_manifest(encode_manifest(chunks[:1]), chunks[0].digest) == []
