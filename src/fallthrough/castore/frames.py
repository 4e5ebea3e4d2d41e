"""Turning stored frames into verified bytes, and bytes into frames.

This is the one place a chunk is checked: decompressed within its size bound and hashed
against its name. Tiers return frames unchecked; the stack calls this before it trusts
one, so a corrupt chunk in a near tier is noticed and can be replaced from a far one.
"""

from __future__ import annotations

import blake3

from .chunker import MAX_CHUNK
from .compression import compress, decompress
from .digest import B3Digest
from .errors import ChunkCorrupt

# The bound for a chunk whose size nothing records (a blob stored as a single chunk by
# another writer): generous enough for other chunkers, small enough to stop a bomb.
UNKNOWN_SIZE_BOUND = 8 * MAX_CHUNK


def open_frame(digest: B3Digest, frame: bytes, size: int | None) -> bytes:
    """Decompress and verify; raises ChunkCorrupt naming the digest."""
    bound = UNKNOWN_SIZE_BOUND if size is None else size
    data = decompress(frame, bound, str(digest))
    if size is not None and len(data) != size:
        raise ChunkCorrupt(f"chunk {digest} has {len(data)} bytes, its manifest says {size}")
    if blake3.blake3(data).digest() != digest:
        raise ChunkCorrupt(f"chunk {digest} does not match its digest")
    return data


def is_intact(digest: B3Digest, frame: bytes, size_hint: int | None = None) -> bool:
    """Whether a stored frame holds its chunk, whatever size a manifest claimed.

    The test before a stored copy is thrown away or trusted as a duplicate: a read may
    have failed because a wrong manifest gave a wrong size, and then the copy is fine.
    """
    bound = max(size_hint or 0, UNKNOWN_SIZE_BOUND)
    try:
        data = decompress(frame, bound, str(digest))
    except ChunkCorrupt:
        return False
    return blake3.blake3(data).digest() == digest


def seal_chunk(data: bytes | memoryview, level: int) -> tuple[B3Digest, bytes]:
    """Name and compress one chunk (both release the GIL, so threads run in parallel)."""
    return B3Digest(blake3.blake3(data).digest()), compress(data, level)
