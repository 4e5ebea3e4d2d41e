"""Byte budgets: whole blobs go, least recently used first; shared chunks stay."""

from __future__ import annotations

import random
from pathlib import Path

from fallthrough.castore import TierSpec, open_store
from fallthrough.castore.budget import BudgetTier

MiB = 1024 * 1024


def _blob(seed: int, size: int = 2 * MiB) -> bytes:
    return random.Random(seed).randbytes(size)


def _budget(store) -> BudgetTier:  # noqa: ANN001
    tier = store.stack.tiers[0]
    assert isinstance(tier, BudgetTier)
    return tier


async def test_memory_tier_keeps_its_budget_and_evicts_lru(tmp_path: Path) -> None:
    specs = [TierSpec("memory://", max_bytes=7 * MiB), TierSpec(f"file://{tmp_path}/far")]
    async with open_store(specs) as store:
        blobs = [await store.put(_blob(i)) for i in range(3)]  # ~6 MiB: fits
        assert await store.get(blobs[0]) == _blob(0)  # blob 0 is now the most recent
        extra = await store.put(_blob(3))  # over budget: blob 1 (least recent) goes
        tier = _budget(store)
        assert tier.used <= tier.max_bytes
        assert await tier.fetch_manifest(blobs[1]) is None
        assert await tier.fetch_manifest(blobs[0]) is not None
        assert await tier.fetch_manifest(extra) is not None
        # Evicted from the near tier, still whole through the stack.
        assert await store.get(blobs[1]) == _blob(1)


async def test_eviction_never_takes_a_chunk_another_blob_needs(tmp_path: Path) -> None:
    shared = _blob(10, 3 * MiB)
    first = shared + _blob(11, 1 * MiB)
    second = _blob(12, 1 * MiB) + shared
    async with open_store([TierSpec(f"file://{tmp_path}/disk", max_bytes=9 * MiB)]) as store:
        a = await store.put(first)
        b = await store.put(second)
        await store.get(b)  # b most recent
        filler = await store.put(_blob(13, 4 * MiB))  # pushes a out
        tier = _budget(store)
        assert await tier.fetch_manifest(a) is None
        assert await store.get(b) == second  # its chunks shared with a are still there
        assert await store.get(filler) == _blob(13, 4 * MiB)
        assert tier.used <= tier.max_bytes


async def test_disk_budget_survives_restart(tmp_path: Path) -> None:
    spec = [TierSpec(f"file://{tmp_path}/disk", max_bytes=5 * MiB)]
    async with open_store(spec) as store:
        kept = [await store.put(_blob(20 + i, MiB)) for i in range(4)]
    async with open_store(spec) as store:
        for i, digest in enumerate(kept):
            assert await store.get(digest) == _blob(20 + i, MiB)
        tier = _budget(store)
        assert 4 * MiB <= tier.used <= tier.max_bytes
        await store.put(_blob(30, 2 * MiB))
        assert tier.used <= tier.max_bytes
        stored = sum(p.stat().st_size for p in (tmp_path / "disk").rglob("*") if p.is_file())
        assert stored <= tier.max_bytes
        assert await tier.fetch_manifest(kept[0]) is None  # the oldest went


async def test_orphan_chunks_go_first(tmp_path: Path) -> None:
    """Chunks no manifest lists (an aborted write) are the first thing evicted."""
    spec = [TierSpec(f"file://{tmp_path}/disk", max_bytes=4 * MiB)]
    async with open_store(spec) as store:
        writer = store.open_write()
        await writer.write(_blob(40, 6 * MiB))
        await writer.abort()
    async with open_store(spec) as store:
        tier = _budget(store)
        kept = await store.put(_blob(41, 3 * MiB))
        assert await store.get(kept) == _blob(41, 3 * MiB)
        assert tier.used <= tier.max_bytes
