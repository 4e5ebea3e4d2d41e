"""Stacked tiers: near first, fill on the way back, repair from far, write through or back."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from fallthrough.castore import StoreUnavailable, TierSpec, chunk_path, open_store
from fallthrough.castore.digest import B3Digest
from fallthrough.castore.frames import seal_chunk

DATA = random.Random(5).randbytes(3 * 1024 * 1024 + 17)


def _specs(near: Path, far: str) -> list[TierSpec]:
    return [TierSpec(f"file://{near}"), TierSpec(far)]


async def test_read_fills_near_tier(tmp_path: Path) -> None:
    far = tmp_path / "far"
    async with open_store(f"file://{far}") as only_far:
        digest = await only_far.put(DATA)
    near = tmp_path / "near"
    async with open_store(_specs(near, f"file://{far}")) as store:
        assert await store.get(digest) == DATA
        assert store.stack.stats[f"chunk_reads:file://{far}"] > 0
    # The near tier now holds the whole blob by itself.
    async with open_store(f"file://{near}") as only_near:
        assert await only_near.get(digest) == DATA


async def test_second_read_is_served_by_near_tier(tmp_path: Path) -> None:
    far = tmp_path / "far"
    async with open_store(f"file://{far}") as only_far:
        digest = await only_far.put(DATA)
    async with open_store(_specs(tmp_path / "near", f"file://{far}")) as store:
        await store.get(digest)
        far_reads = store.stack.stats[f"chunk_reads:file://{far}"]
        assert await store.get(digest) == DATA
        assert store.stack.stats[f"chunk_reads:file://{far}"] == far_reads


async def test_corrupt_near_chunk_is_replaced_from_far(tmp_path: Path, s3_url: str) -> None:
    near = tmp_path / "near"
    async with open_store(_specs(near, s3_url)) as store:
        digest = await store.put(DATA)
        victim = (await store.stat(digest)).chunks[2].digest
        path = near / chunk_path(victim)
        path.write_bytes(b"\x28\xb5\x2f\xfd not really zstd")
        assert await store.get(digest) == DATA
        assert store.stack.stats["corrupt_chunks"] == 1
    # Repaired in place: the near tier alone serves it now.
    async with open_store(f"file://{near}") as only_near:
        assert await only_near.get(digest) == DATA


async def test_write_through_reaches_every_tier(tmp_path: Path, s3_url: str) -> None:
    async with open_store(_specs(tmp_path / "near", s3_url), write="through") as store:
        digest = await store.put(DATA)
    async with open_store(s3_url) as far:
        assert await far.get(digest) == DATA


async def test_write_back_reaches_far_tier_after_flush(tmp_path: Path, s3_url: str) -> None:
    async with open_store(_specs(tmp_path / "near", s3_url), write="back") as store:
        digest = await store.put(DATA)
        await store.flush()
        async with open_store(s3_url) as far:
            assert await far.get(digest) == DATA


async def test_write_back_failure_is_reported(tmp_path: Path) -> None:
    dead = "s3://nowhere/x"
    # Keys and region given, so the client never looks for credentials off this machine.
    options = {"endpoint": "http://127.0.0.1:9", "access_key_id": "k", "secret_access_key": "s", "region": "us-east-1"}
    specs = [TierSpec(f"file://{tmp_path}/near"), TierSpec(dead, options=options)]
    store = open_store(specs, write="back")
    digest = await store.put(b"small enough for one chunk")
    assert await store.get(digest) == b"small enough for one chunk"  # near tier has it
    with pytest.raises(StoreUnavailable, match="write-back failed"):
        await store.close()


async def test_a_write_through_tells_when_the_near_tiers_hold_it_before_the_far_one_does(tmp_path: Path) -> None:
    """What a fleet's followers are told of (castore/writer.py on_chunks) is what the node's
    own tiers hold, even while the shared tier is still taking it; a batch the far tier
    refuses fails the write all the same."""
    store = open_store([TierSpec(f"file://{tmp_path / 'near'}"), TierSpec(f"file://{tmp_path / 'far'}")])
    near, far = store.stack.tiers
    release = asyncio.Event()
    far_store = far.store_chunks

    async def held(chunks: list[tuple[B3Digest, bytes]]) -> int:
        await release.wait()
        return await far_store(chunks)

    far.store_chunks = held  # type: ignore[method-assign]
    told: list[bool] = []
    sealed = [seal_chunk(memoryview(random.Random(1).randbytes(1000)), 1)]
    writing = asyncio.ensure_future(store.stack.store_chunks(sealed, near=lambda: told.append(True)))
    for _ in range(100):
        if told:
            break
        await asyncio.sleep(0.01)
    assert told == [True] and not writing.done()
    assert await near.has_chunk(sealed[0][0]) and not await far.has_chunk(sealed[0][0])
    release.set()
    await writing
    assert told == [True] and await far.has_chunk(sealed[0][0])
    await store.close()
