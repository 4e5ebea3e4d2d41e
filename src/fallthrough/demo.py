"""`fallthrough demo`: a short tour of the chunk store on a local directory.

The main job until the edge server exists: it shows what the store does (chunking and
dedup, ranged reads, tiers that fill and repair each other) with nothing to set up.
"""

from __future__ import annotations

import os
import random
import time

from .castore import TierSpec, chunk_path, open_store

MiB = 1024 * 1024


def _say(text: str) -> None:
    print(text, flush=True)


async def run_demo(directory: str) -> int:
    root = os.path.abspath(directory)
    near, far = os.path.join(root, "near"), os.path.join(root, "far")
    specs = [TierSpec(f"file://{near}", max_bytes=64 * MiB), TierSpec(f"file://{far}")]
    _say(f"A two-tier store in {root}: a disk tier with a 64 MiB budget in front of a plain one.")
    data = random.Random(2026).randbytes(24 * MiB)
    edited = data[: 10 * MiB] + b"<sixteen bytes!>" + data[10 * MiB :]

    async with open_store(specs) as store:
        started = time.perf_counter()
        first = await store.put(data)
        seconds = time.perf_counter() - started
        info = await store.stat(first)
        written = store.stack.stats["chunks_written"]
        _say(f"\nput 24 MiB → blob {first}")
        _say(f"  {len(info.chunks)} chunks (FastCDC, 128/256/512 KiB), {written} new ones written, {24 / seconds:.0f} MiB/s")

        second = await store.put(edited)
        other = await store.stat(second)
        shared = {c.digest for c in info.chunks} & {c.digest for c in other.chunks}
        _say(f"\nput the same bytes with 16 inserted at 10 MiB → blob {second}")
        _say(f"  {len(shared)} of its {len(other.chunks)} chunks were already stored")

        reader = await store.open_read(second)
        before = sum(v for k, v in store.stack.stats.items() if k.startswith("chunk_reads"))
        piece = b"".join([p async for p in reader.iter_range(10 * MiB - 8, 10 * MiB + 24)])
        after = sum(v for k, v in store.stack.stats.items() if k.startswith("chunk_reads"))
        _say(f"\nread bytes {10 * MiB - 8}-{10 * MiB + 23} of it: {piece!r}")
        _say(f"  fetched {after - before} chunk(s) of {len(other.chunks)}")

        victim = info.chunks[5].digest
        with open(os.path.join(near, chunk_path(victim)), "wb") as f:
            f.write(b"bit rot")
        whole = await store.get(first)
        _say(f"\ncorrupted chunk {victim} in the near tier, then read the blob again:")
        _say(f"  {'intact' if whole == data else 'WRONG'}; corrupt chunks seen: {store.stack.stats['corrupt_chunks']}, "
             f"repaired from the far tier: {store.stack.stats['fills']} fill(s)")

    _say("\nTry it yourself:")
    _say(f"  fallthrough blob ls -l --store {far}")
    _say(f"  fallthrough blob stat {first} --store {far}")
    _say(f"  fallthrough blob get {second} --store {far} --range 10485752-10485783")
    return 0
