"""FastCDC v2020 chunking, fed incrementally.

pyfastcdc cuts whole buffers. A cut decision depends only on the bytes from the start of
its chunk up to at most the maximum chunk size, so cutting a buffer and keeping back its
last (possibly truncated) chunk yields exactly the cut points of one pass over the whole
stream, while holding only a few chunks in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyfastcdc

MIN_CHUNK = 128 * 1024
AVG_CHUNK = 256 * 1024
MAX_CHUNK = 512 * 1024
NORMALIZATION = 1

# How much input to gather before cutting. Each batch costs a few hand-offs between the
# event loop and worker threads, and those cost far more than their share of the work
# when both cores are busy: on the 2-core machine 8 MiB batches ingest ~15% faster
# than 4 MiB ones, and 1 MiB ones ~20% slower again.
BATCH = 8 * 1024 * 1024

# The first block of a stream is small and grows by doubling: a small blob never pays
# for a full batch buffer, a big one reaches full size after a few copies.
FIRST_BLOCK = 64 * 1024


def new_fastcdc() -> pyfastcdc.FastCDC:
    """The castore parameters: min/avg/max 128/256/512 KiB, normalization level 1."""
    return pyfastcdc.FastCDC(
        avg_size=AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK, normalized_chunking=NORMALIZATION
    )


@dataclass(frozen=True)
class Cuts:
    """Chunks cut from one block of input, as views into that block."""

    block: memoryview
    spans: list[tuple[int, int]]
    owner: bytearray | None = None  # the pooled buffer behind `block`, if any

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    def covered(self) -> memoryview:
        """The bytes of all these chunks, in order (one contiguous stretch)."""
        if not self.spans:
            return self.block[:0]
        return self.block[self.spans[0][0] : self.spans[-1][0] + self.spans[-1][1]]

    def chunks(self) -> list[memoryview]:
        return [self.block[offset : offset + length] for offset, length in self.spans]


class StreamChunker:
    """Collects written bytes and hands out every chunk whose end is certain.

    Input is copied once, into blocks from a small pool: a fresh multi-MiB allocation
    per batch costs more in page faults than the copy itself. A block goes back to the
    pool through `release()` once everything that looked at its chunks is done.
    """

    def __init__(self, batch: int = BATCH, pool_size: int = 8) -> None:
        self._cdc = new_fastcdc()
        self._batch = max(batch, MAX_CHUNK)
        self._capacity = self._batch + MAX_CHUNK
        self._pool: list[bytearray] = []
        self._pool_size = pool_size
        self._block = bytearray(FIRST_BLOCK)
        self._fill = 0

    def _new_block(self) -> bytearray:
        return self._pool.pop() if self._pool else bytearray(self._capacity)

    def _grow(self) -> None:
        bigger = bytearray(min(self._capacity, 2 * len(self._block)))
        bigger[: self._fill] = memoryview(self._block)[: self._fill]
        self._block = bigger

    def release(self, cuts: Cuts) -> None:
        """Give a block back once no view of it will be read again."""
        if cuts.owner is not None and len(cuts.owner) == self._capacity and len(self._pool) < self._pool_size:
            self._pool.append(cuts.owner)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Cuts]:
        """Add bytes; return the chunks that no later byte can change (often none)."""
        view = memoryview(data).cast("B")
        out = []
        while len(view):
            space = self.space()
            take = min(len(space), len(view))
            space[:take] = view[:take]
            view = view[take:]
            out += self.commit(take)
        return out

    def space(self) -> memoryview:
        """Room to read input straight into (saves a copy of every byte); see commit()."""
        if self._fill == len(self._block):
            self._grow()
        return memoryview(self._block)[self._fill :]

    def commit(self, count: int) -> list[Cuts]:
        """`count` bytes were written at the start of space(): cut if a batch is full."""
        self._fill += count
        return [self._cut(final=False)] if self._fill >= self._batch else []

    def cut_ready(self) -> list[Cuts]:
        """The chunks whose end is certain now, without waiting for a full batch (for a
        reader that follows the chunks as they are stored). A cut found before the last
        byte held is certain (it depends on the bytes up to it only); so is every chunk
        once more than a maximum chunk is held. Looking costs a scan up to the first cut."""
        if self._fill <= MIN_CHUNK:
            return []
        if self._fill <= MAX_CHUNK:
            first = next(iter(self._cdc.cut_buf(memoryview(self._block)[: self._fill])), None)
            if first is None or first.length >= self._fill:
                return []
        return [self._cut(final=False)]

    def finish(self) -> Cuts:
        """The chunks left once the stream has ended."""
        return self._cut(final=True)

    def _cut(self, final: bool) -> Cuts:
        owner, fill = self._block, self._fill
        block = memoryview(owner)[:fill]
        spans = [(c.offset, c.length) for c in self._cdc.cut_buf(block)]
        if final or not spans:
            self._block, self._fill = (owner, 0) if final else (self._new_block(), 0)
            return Cuts(block, spans, None if final else owner)
        offset, _ = spans.pop()
        rest = fill - offset
        self._block = self._new_block()
        self._block[:rest] = block[offset:]
        self._fill = rest
        return Cuts(block, spans, owner)
