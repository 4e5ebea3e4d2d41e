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

# How much input to gather before cutting: enough to amortize the per-call overhead
# and to hand several chunks at once to the hashing/compression threads.
BATCH = 4 * 1024 * 1024


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
    """Collects written bytes and hands out every chunk whose end is certain."""

    def __init__(self, batch: int = BATCH) -> None:
        self._cdc = new_fastcdc()
        # Pieces as written, joined once per batch: each byte is copied a single time.
        self._pieces: list[bytes | memoryview] = []
        self._pending = 0
        self._batch = max(batch, MAX_CHUNK)

    def feed(self, data: bytes | bytearray | memoryview) -> Cuts:
        """Add bytes; return the chunks that no later byte can change.

        The views are over a private block that stays valid after the call; `data`
        itself must not change until the next call (bytes never do).
        """
        if data:
            self._pieces.append(data if isinstance(data, bytes) else bytes(data))
            self._pending += len(data)
        if self._pending < self._batch:
            return Cuts(memoryview(b""), [])
        return self._cut(final=False)

    def finish(self) -> Cuts:
        """The chunks left once the stream has ended."""
        return self._cut(final=True)

    def _cut(self, final: bool) -> Cuts:
        block = memoryview(b"".join(self._pieces))
        self._pieces, self._pending = [], 0
        spans = [(c.offset, c.length) for c in self._cdc.cut_buf(block)]
        if not final and spans:
            offset, _ = spans.pop()
            self._pieces, self._pending = [block[offset:]], len(block) - offset
        return Cuts(block, spans)
