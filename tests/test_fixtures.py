"""Known answers from castore's own fixtures, on every backend, and the on-disk layout."""

from __future__ import annotations

from pathlib import Path

import zstandard

from fallthrough.castore import B3Digest, ChunkMeta, open_store
from fallthrough.castore.manifest import StatBlobResponse, decode_manifest

EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
TWO_BYTES = "7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63"
BIG = "a82c5154a7a0c262c6fdb929a317585646f8fbcf80326d0a7b8747edaf2d99d2"
BIG_DATA = bytes(range(255)) * 4096


async def test_known_digests_on_every_backend(store_url: str) -> None:
    async with open_store(store_url) as store:
        assert str(await store.put(b"")) == EMPTY
        assert str(await store.put(b"\x00\x01")) == TWO_BYTES
        big = await store.put(BIG_DATA)
        assert str(big) == BIG
        info = await store.stat(big)
        assert [c.size for c in info.chunks] == [524288, 520192]
        assert info.size == len(BIG_DATA) == 1_044_480
        assert await store.get(big) == BIG_DATA
        assert await store.get(B3Digest.from_hex(TWO_BYTES)) == b"\x00\x01"
        assert await store.get(B3Digest.from_hex(EMPTY)) == b""
        listed = {str(d) async for d in store.list()}
        assert listed == {EMPTY, TWO_BYTES, BIG}


async def test_layout_is_castore_object_store_layout(tmp_path: Path) -> None:
    async with open_store(f"file://{tmp_path}") as store:
        big = await store.put(BIG_DATA)
        small = await store.put(b"\x00\x01")
    chunk_a, chunk_b = (await _stat_chunks(tmp_path, big))
    for digest in (chunk_a.digest, chunk_b.digest):
        frame = (tmp_path / "chunks" / "b3" / str(digest)[:4] / str(digest)).read_bytes()
        data = zstandard.ZstdDecompressor().decompress(frame)
        assert B3Digest.of(data) == digest
    # A single-chunk blob is that chunk, and its manifest lists no chunks.
    small_chunk = tmp_path / "chunks" / "b3" / TWO_BYTES[:4] / TWO_BYTES
    assert zstandard.ZstdDecompressor().decompress(small_chunk.read_bytes()) == b"\x00\x01"
    manifest = StatBlobResponse()
    manifest.ParseFromString((tmp_path / "blobs" / "b3" / TWO_BYTES[:4] / TWO_BYTES).read_bytes())
    assert len(manifest.chunks) == 0
    assert str(small) == TWO_BYTES


async def _stat_chunks(root: Path, digest: B3Digest) -> list[ChunkMeta]:
    raw = (root / "blobs" / "b3" / str(digest)[:4] / str(digest)).read_bytes()
    manifest = StatBlobResponse()
    manifest.ParseFromString(raw)
    # Field numbers on the wire: chunks = 2, ChunkMeta.digest = 1, size = 2.
    assert raw[0] == (2 << 3) | 2
    assert [c.size for c in manifest.chunks] == [524288, 520192]
    return decode_manifest(raw, digest)


async def test_reads_blobs_stored_as_bare_chunks_without_manifest(tmp_path: Path) -> None:
    """Other writers store a single-chunk blob as a chunk only, maybe without a content size."""
    data = b"written elsewhere" * 100
    digest = B3Digest.of(data)
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(data)
    path = tmp_path / "chunks" / "b3" / str(digest)[:4] / str(digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(frame)
    async with open_store(f"file://{tmp_path}") as store:
        assert await store.has(digest)
        assert (await store.stat(digest)).size == len(data)
        assert await store.get(digest) == data
