"""The protocol every storage tier speaks: raw chunk frames and manifests by digest.

Tiers know nothing of chunking, hashing or blobs as streams; the blob store above them
verifies what they return. Keeping the protocol this small is what lets a backend be
one file and lets tiers be stacked and wrapped (byte budgets) freely.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from .digest import B3Digest


class Tier(Protocol):
    name: str

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        """The stored (compressed) frame; raises ChunkNotFound."""
        ...

    async def fetch_chunk_head(self, digest: B3Digest, length: int) -> bytes:
        """The first bytes of a frame, enough to read its header; raises ChunkNotFound."""
        ...

    async def has_chunk(self, digest: B3Digest) -> bool: ...

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        """Write a frame (atomically: readers never see part of it)."""
        ...

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        """Write the frames this tier lacks (the write path: dedup is this check).

        Returns how many were written. A batch call, so that a backend can do the whole
        batch in one trip to a worker thread or one round of requests.
        """
        ...

    async def delete_chunk(self, digest: B3Digest) -> None: ...

    async def fetch_manifest(self, digest: B3Digest) -> bytes | None: ...

    async def store_manifest(self, digest: B3Digest, data: bytes) -> None: ...

    async def delete_manifest(self, digest: B3Digest) -> None: ...

    def list_manifests(self) -> AsyncIterator[tuple[B3Digest, int]]:
        """Every blob with a manifest here, with the manifest's stored size."""
        ...

    def list_chunks(self) -> AsyncIterator[tuple[B3Digest, int]]:
        """Every chunk here, with its stored (compressed) size."""
        ...

    async def close(self) -> None: ...
