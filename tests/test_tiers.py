"""Stacked tiers: near first, fill on the way back, repair from far, write through or back."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fallthrough.castore import StoreUnavailable, TierSpec, chunk_path, open_store

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
