"""Content-defined chunking: a small edit costs a chunk or two, not a whole file."""

from __future__ import annotations

import random
from pathlib import Path

from fallthrough.castore import open_store


async def test_inserted_bytes_share_most_chunks(tmp_path: Path) -> None:
    original = random.Random(2).randbytes(16 * 1024 * 1024)
    edited = original[:7_000_000] + b"a few inserted bytes" + original[7_000_000:]
    async with open_store(f"file://{tmp_path}") as store:
        a = await store.stat(await store.put(original))
        b = await store.stat(await store.put(edited))
    shared = {c.digest for c in a.chunks} & {c.digest for c in b.chunks}
    assert len(b.chunks) - len(shared) <= 2
    assert len(shared) >= len(a.chunks) - 2
    stored = sum(p.stat().st_size for p in (tmp_path / "chunks").rglob("*") if p.is_file())
    assert stored < 1.1 * len(original)


async def test_delete_keeps_chunks_another_blob_lists(tmp_path: Path) -> None:
    original = random.Random(4).randbytes(4 * 1024 * 1024)
    edited = original[:2_000_000] + b"!" + original[2_000_000:]
    async with open_store(f"file://{tmp_path}") as store:
        a = await store.put(original)
        b = await store.put(edited)
        only_a = {c.digest for c in (await store.stat(a)).chunks} - {c.digest for c in (await store.stat(b)).chunks}
        await store.delete(a)
        assert not await store.has(a)
        assert await store.get(b) == edited
        for digest in only_a:
            assert not await store.stack.has_chunk(digest)
        assert [d async for d in store.list()] == [b]
