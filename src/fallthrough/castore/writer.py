"""Writing a blob as a stream, in bounded memory.

Bytes are cut as they arrive; each batch of finished chunks is hashed and compressed on
a worker thread (BLAKE3 and zstd release the GIL, so both cores work) and stored while
the next batch is cut. The whole-blob hash runs beside them on the same bytes in one pass of
reading. Nothing names the blob until close(): the manifest is written last, after
every chunk is stored, so a reader never finds a blob whose chunks are missing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import blake3

from .chunker import Cuts, StreamChunker
from .compression import compress
from .digest import B3Digest
from .frames import seal_chunk
from .manifest import ChunkMeta, encode_manifest, manifest_digest
from .stack import TierStack

# Batches (a few MiB of chunks each) hashed, compressed or stored at once: bounds memory
# to a few batches whatever the blob size, and keeps two cores and a remote store busy.
MAX_IN_FLIGHT = 2


class BlobWriter:
    """`await write(data)` as often as needed, then `await close()` for the digest."""

    def __init__(self, stack: TierStack, level: int = 1, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._stack = stack
        self._level = level
        self._chunker = StreamChunker(pool_size=max_in_flight + 1)
        self._hasher = blake3.blake3()
        self._hashing: asyncio.Future[None] | None = None
        self._in_flight: deque[asyncio.Task[list[ChunkMeta]]] = deque()
        self._max_in_flight = max_in_flight
        self._done: list[ChunkMeta] = []
        self._closed = False
        self.size = 0
        # The digest of the manifest close() wrote: keep it beside the blob's digest, and
        # pass it to stat/open_read to know the manifest read back is this one.
        self.manifest_digest: B3Digest | None = None
        # Told of each batch of chunks once every tier it is written to holds it, in the
        # blob's order, with the batch's offset in the blob: how a fleet's other nodes
        # follow a fill while it runs (they read the chunks as they land).
        self.on_chunks: Callable[[int, list[ChunkMeta]], None] | None = None
        self._told: asyncio.Future[None] | None = None  # the previous batch's telling
        self._cut = 0  # bytes of the blob handed to batches so far

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError("write to a closed blob writer")
        self.size += len(data)
        for cuts in self._chunker.feed(data):
            await self._take(cuts)

    async def flush(self) -> None:
        """Store the chunks cut so far without waiting for a full batch: for whoever
        follows the chunks as they land (on_chunks) while the input comes slowly."""
        for cuts in self._chunker.cut_ready():
            await self._take(cuts)

    async def write_from(self, read_into: Callable[[memoryview], int]) -> int:
        """Read a stream to its end straight into the chunker's buffers.

        `read_into` is a blocking readinto (a file's, a socket's). It runs on a worker
        thread together with the cutting of what it read, so neither the read nor the
        FastCDC pass holds up the event loop that hands out and collects the batches.
        """
        if self._closed:
            raise ValueError("write to a closed blob writer")
        chunker = self._chunker

        def read_and_cut() -> tuple[int, list[Cuts]]:
            count = read_into(chunker.space())
            return count, chunker.commit(count) if count else []

        total = 0
        while True:
            count, batches = await asyncio.to_thread(read_and_cut)
            if not count:
                return total
            total += count
            self.size += count
            for cuts in batches:
                await self._take(cuts)

    async def _take(self, cuts: Cuts) -> None:
        if not cuts:
            self._chunker.release(cuts)
            return
        # The whole-blob hash sees the same bytes, in order, beside the chunk work.
        span = cuts.covered()
        self._hashing = hashed = asyncio.ensure_future(self._hash_after(self._hashing, span))
        while len(self._in_flight) >= self._max_in_flight:
            self._done += await self._in_flight.popleft()
        told, self._told = self._told, asyncio.get_running_loop().create_future()
        self._in_flight.append(asyncio.create_task(self._store_batch(cuts, hashed, self._cut, told, self._told)))
        self._cut += len(span)

    async def _hash_after(self, previous: asyncio.Future[None] | None, span: memoryview) -> None:
        if previous is not None:
            await previous
        await asyncio.to_thread(self._hasher.update, span)

    async def _store_batch(self, cuts: Cuts, hashed: asyncio.Future[None], offset: int,
                           previous: asyncio.Future[None] | None, told: asyncio.Future[None]) -> list[ChunkMeta]:
        try:
            # One hop to a worker thread per batch, not per chunk: the hop costs more
            # Python time than hashing a chunk does.
            chunks = cuts.chunks()
            sealed = await asyncio.to_thread(lambda: [seal_chunk(c, self._level) for c in chunks])
            metas = [ChunkMeta(digest, len(c)) for (digest, _), c in zip(sealed, chunks, strict=True)]
            if self.on_chunks is None:
                await self._stack.store_chunks(sealed)
            else:
                # Told once the node's own tiers hold them (its chunk service can serve
                # them), not after the farthest, and in the blob's order.
                near = asyncio.get_running_loop().create_future()
                storing = asyncio.ensure_future(self._stack.store_chunks(
                    sealed, near=lambda: near.done() or near.set_result(None)))
                try:
                    await asyncio.wait([near, storing], return_when=asyncio.FIRST_COMPLETED)
                    if storing.done():
                        storing.result()  # a failed write raises here, before anything is told
                    if previous is not None:
                        await previous
                    self.on_chunks(offset, metas)
                    await storing
                finally:
                    storing.cancel()
            await hashed
            self._chunker.release(cuts)  # nothing reads these bytes any more
            return metas
        finally:
            if not told.done():
                told.set_result(None)

    async def close(self) -> B3Digest:
        """Store the last chunks and the manifest; return the blob's digest."""
        if self._closed:
            raise ValueError("blob writer closed twice")
        self._closed = True
        try:
            tail = self._chunker.finish()
            if not self._done and not self._in_flight and len(tail) <= 1:
                return await self._close_single(tail.covered())
            await self._take(tail)
            while self._in_flight:
                self._done += await self._in_flight.popleft()
            if self._hashing is not None:
                await self._hashing
        except BaseException:
            await self.abort()
            raise
        digest = B3Digest(self._hasher.digest())
        await self._store_manifest(digest, encode_manifest(self._done))
        return digest

    async def _store_manifest(self, digest: B3Digest, manifest: bytes) -> None:
        await self._stack.store_manifest(digest, manifest)
        self.manifest_digest = manifest_digest(manifest)

    async def _close_single(self, data: memoryview) -> B3Digest:
        """A blob of one chunk is that chunk: hash it once, store it under its own name."""
        digest = B3Digest(blake3.blake3(data).digest())
        frame = await asyncio.to_thread(compress, data, self._level)
        await self._stack.store_chunk(digest, frame)
        if self.on_chunks is not None and len(data):
            self.on_chunks(0, [ChunkMeta(digest, len(data))])
        await self._store_manifest(digest, encode_manifest([]))
        return digest

    async def abort(self) -> None:
        """Stop without naming a blob; stored chunks stay as garbage for collection."""
        self._closed = True
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._in_flight.clear()
        if self._hashing is not None:
            self._hashing.cancel()
            await asyncio.gather(self._hashing, return_exceptions=True)

    async def __aenter__(self) -> BlobWriter:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is not None and not self._closed:
            await self.abort()

