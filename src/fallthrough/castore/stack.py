"""Tiers composed near → far.

Reads try the nearest tier first and, on the way back, fill every nearer tier that
missed (or held a corrupt copy). Writes go to every tier at once ("through"), or to the
nearest tier at once and to the farther ones from a bounded background queue ("back").
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Literal

from .compression import declared_size
from .digest import B3Digest
from .errors import BlobMismatch, ChunkCorrupt, ChunkNotFound, StoreUnavailable
from .frames import is_intact, open_frame
from .manifest import manifest_digest
from .tier import Tier

log = logging.getLogger(__name__)

WritePolicy = Literal["through", "back"]
WRITE_POLICIES = ("through", "back")

# A zstd frame header is at most 18 bytes; its content size is all stat needs.
FRAME_HEADER = 18


class TierStack:
    """The store's tiers in order, with one read path and one write path over them."""

    def __init__(self, tiers: list[Tier], write: WritePolicy = "through", queue_size: int = 16) -> None:
        if not tiers:
            raise ValueError("a store needs at least one tier")
        self.tiers = tiers
        self.write = write
        self.stats: Counter[str] = Counter()
        self._queue: asyncio.Queue[tuple[str, B3Digest, bytes] | None] | None = None
        self._queue_size = queue_size
        self._drainer: asyncio.Task[None] | None = None
        self._writeback_errors: list[str] = []

    @property
    def name(self) -> str:
        return " → ".join(t.name for t in self.tiers)

    # -- reads ----------------------------------------------------------------------

    async def read_chunk(self, digest: B3Digest, size: int | None) -> bytes:
        """A verified chunk from the nearest tier that has a good copy."""
        missed: list[Tier] = []
        corrupt: list[str] = []
        damaged: list[Tier] = []
        unreachable: list[str] = []
        for tier in self.tiers:
            try:
                frame, data = await self._fetch_and_open(tier, digest, size)
            except ChunkNotFound:
                missed.append(tier)
                continue
            except StoreUnavailable as exc:
                unreachable.append(str(exc))
                continue
            except ChunkCorrupt as exc:
                if tier is not self.tiers[-1]:
                    log.warning("%s in %s; trying farther tiers", exc, tier.name)
                self.stats[f"chunk_reads:{tier.name}"] += 1
                self.stats["corrupt_chunks"] += 1
                self.stats[f"verification_failures:{tier.name}"] += 1
                corrupt.append(f"{exc} in {tier.name}")
                damaged.append(tier)
                missed.append(tier)
                continue
            self.stats[f"chunk_reads:{tier.name}"] += 1
            self.stats[f"read_bytes:{tier.name}"] += len(data)
            for near in missed:  # a damaged copy is overwritten with the good one here
                await self._fill(near.store_chunk(digest, frame))
            return data
        for tier in damaged:
            await self._discard(tier, digest, size)
        if corrupt:
            raise ChunkCorrupt("; ".join(corrupt))
        if unreachable:
            raise StoreUnavailable("; ".join(unreachable))
        raise ChunkNotFound(f"chunk {digest} not found in {self.name}")

    @staticmethod
    async def _fetch_and_open(tier: Tier, digest: B3Digest, size: int | None) -> tuple[bytes, bytes]:
        """The stored frame and its verified bytes.

        A tier on local disk can be read from a worker thread, so reading and checking
        take one trip there instead of two: on the read path, trips cost more than work.
        """
        read_sync = getattr(tier, "fetch_chunk_sync", None)
        if read_sync is not None:

            def fetch_and_open() -> tuple[bytes, bytes]:
                frame = read_sync(digest)
                return frame, open_frame(digest, frame, size)

            return await asyncio.to_thread(fetch_and_open)
        frame = await tier.fetch_chunk(digest)
        return frame, await asyncio.to_thread(open_frame, digest, frame, size)

    async def _discard(self, tier: Tier, digest: B3Digest, size: int | None) -> None:
        """Remove a copy that failed its check and that no tier could replace.

        Left in place, it would stay for good: a write skips a chunk that is there. Gone,
        the next fill of a blob that lists it writes it again. What is there is checked
        once more first (by its digest alone): a fill may have replaced it meanwhile, or
        only the size a wrong manifest gave was at fault.
        """
        try:
            frame = await tier.fetch_chunk(digest)
            if await asyncio.to_thread(is_intact, digest, frame, size):
                return
            await tier.delete_chunk(digest)
        except ChunkNotFound:
            return
        except StoreUnavailable as exc:
            log.warning("could not remove the damaged chunk %s from %s: %s", digest, tier.name, exc)
            return
        self.stats["chunks_removed"] += 1
        # Info, not a warning: the read that found it fails and says so (one line for a CLI).
        log.info("removed the damaged chunk %s from %s; the next write of it stores it again", digest, tier.name)

    async def _fill(self, op) -> None:  # noqa: ANN001 - an awaitable store call
        """A fill that fails costs a later miss, never the read that caused it."""
        try:
            await op
            self.stats["fills"] += 1
        except StoreUnavailable as exc:
            log.warning("fill failed: %s", exc)

    async def chunk_size(self, digest: B3Digest) -> int | None:
        """The size of a chunk stored as a whole blob, from its frame header if it has one."""
        for tier in self.tiers:
            try:
                head = await tier.fetch_chunk_head(digest, FRAME_HEADER)
            except ChunkNotFound:
                continue
            size = declared_size(head)
            if size is not None:
                return size
            return len(await self.read_chunk(digest, None))
        return None

    async def fetch_manifest(self, digest: B3Digest, expected: B3Digest | None = None) -> bytes | None:
        """The nearest manifest of the blob, or None; with `expected`, the nearest whose
        bytes have that digest (a tier holding another is skipped and, when a farther one
        holds the right one, overwritten), else BlobMismatch."""
        missed: list[Tier] = []
        wrong: list[str] = []
        for tier in self.tiers:
            data = await tier.fetch_manifest(digest)
            if data is not None and expected is not None and manifest_digest(data) != expected:
                self.stats["manifest_mismatches"] += 1
                self.stats[f"verification_failures:{tier.name}"] += 1
                log.warning("the manifest of blob %s in %s is not the one stored with it", digest, tier.name)
                wrong.append(tier.name)
                data = None
            if data is None:
                missed.append(tier)
                continue
            for near in missed:
                await self._fill(near.store_manifest(digest, data))
            return data
        if wrong:
            raise BlobMismatch(f"blob {digest}: its manifest in {', '.join(wrong)} is not the one stored with it")
        return None

    async def has_chunk(self, digest: B3Digest) -> bool:
        for tier in self.tiers:
            if await tier.has_chunk(digest):
                return True
        return False

    async def list_manifests(self) -> AsyncIterator[B3Digest]:
        seen: set[B3Digest] = set()
        for tier in self.tiers:
            async for digest, _ in tier.list_manifests():
                if digest not in seen:
                    seen.add(digest)
                    yield digest

    # -- writes ---------------------------------------------------------------------

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]],
                           near: Callable[[], None] | None = None) -> None:
        """Write chunks where the policy says, skipping tiers that already hold them.
        `near` is called once every tier but the farthest holds them (the node's own,
        in a fleet: what its chunk service serves), before the farthest is done."""
        if self.write == "through" or len(self.tiers) == 1:
            *nearer, farthest = self.tiers

            async def nearer_then_tell() -> list[int]:
                written = await asyncio.gather(*(t.store_chunks(chunks) for t in nearer))
                if near is not None:
                    near()
                return list(written)

            counts_near, count_far = await asyncio.gather(nearer_then_tell(), farthest.store_chunks(chunks))
            counts = [*counts_near, count_far]
        else:
            counts = [await self.tiers[0].store_chunks(chunks)]
            if near is not None:
                near()
            for digest, frame in chunks:
                await self._enqueue("chunk", digest, frame)
        self.stats["chunks_written"] += counts[0]
        self.stats["chunks_skipped"] += len(chunks) - counts[0]

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        await self.store_chunks([(digest, frame)])

    async def store_manifest(self, digest: B3Digest, data: bytes) -> None:
        await self._write("manifest", digest, data)

    async def _write(self, kind: str, digest: B3Digest, data: bytes) -> None:
        if self.write == "through" or len(self.tiers) == 1:
            await asyncio.gather(*(self._write_one(t, kind, digest, data) for t in self.tiers))
            return
        await self._write_one(self.tiers[0], kind, digest, data)
        await self._enqueue(kind, digest, data)

    async def _enqueue(self, kind: str, digest: B3Digest, data: bytes) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue(self._queue_size)
            self._drainer = asyncio.create_task(self._drain())
        await self._queue.put((kind, digest, data))

    @staticmethod
    async def _write_one(tier: Tier, kind: str, digest: B3Digest, data: bytes) -> None:
        if kind == "chunk":
            await tier.store_chunks([(digest, data)])
        else:
            await tier.store_manifest(digest, data)

    async def _drain(self) -> None:
        """The write-back worker: one at a time, in order, so manifests follow chunks."""
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                kind, digest, data = item
                for tier in self.tiers[1:]:
                    try:
                        await self._write_one(tier, kind, digest, data)
                    except StoreUnavailable as exc:
                        self._writeback_errors.append(str(exc))
                        log.error("write-back of %s %s failed: %s", kind, digest, exc)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait for the write-back queue; raise if any of it failed."""
        if self._queue is not None:
            await self._queue.join()
        if self._writeback_errors:
            errors, self._writeback_errors = self._writeback_errors, []
            raise StoreUnavailable(f"write-back failed {len(errors)} times; first: {errors[0]}")

    # -- deletes --------------------------------------------------------------------

    async def delete_manifest(self, digest: B3Digest) -> None:
        await asyncio.gather(*(t.delete_manifest(digest) for t in self.tiers))

    async def delete_chunk(self, digest: B3Digest) -> None:
        await asyncio.gather(*(t.delete_chunk(digest) for t in self.tiers))

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            if self._queue is not None and self._drainer is not None:
                await self._queue.put(None)
                await self._drainer
                self._queue = None
            for tier in self.tiers:
                await tier.close()
