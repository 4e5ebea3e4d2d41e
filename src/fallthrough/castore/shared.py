"""A tier several nodes share (a fleet's bucket): read and written like any other, never
deleted from by one node.

What one node stores there, another node's entries may list; a node cannot tell, so its
evictions and garbage collection stop at its own tiers. Collecting the shared tier's
garbage is the bucket's own business (a lifecycle rule), not a node's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .digest import B3Digest
from .tier import Tier


class SharedTier:
    """Wraps a tier: every call goes through but the deletes, which do nothing."""

    shared = True

    def __init__(self, inner: Tier) -> None:
        self.inner = inner
        self.name = inner.name + " (shared)"

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        return await self.inner.fetch_chunk(digest)

    async def fetch_chunk_head(self, digest: B3Digest, length: int) -> bytes:
        return await self.inner.fetch_chunk_head(digest, length)

    async def has_chunk(self, digest: B3Digest) -> bool:
        return await self.inner.has_chunk(digest)

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        await self.inner.store_chunk(digest, frame)

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        return await self.inner.store_chunks(chunks)

    async def delete_chunk(self, digest: B3Digest) -> None:
        return None

    async def fetch_manifest(self, digest: B3Digest) -> bytes | None:
        return await self.inner.fetch_manifest(digest)

    async def store_manifest(self, digest: B3Digest, data: bytes) -> None:
        await self.inner.store_manifest(digest, data)

    async def delete_manifest(self, digest: B3Digest) -> None:
        return None

    def list_manifests(self) -> AsyncIterator[tuple[B3Digest, int]]:
        return self.inner.list_manifests()

    def list_chunks(self) -> AsyncIterator[tuple[B3Digest, int]]:
        return self.inner.list_chunks()

    async def close(self) -> None:
        await self.inner.close()
