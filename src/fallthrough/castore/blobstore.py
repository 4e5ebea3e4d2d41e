"""The chunk store's public face: blobs by digest over a stack of tiers.

    has / stat / open_read / open_write / read_chunk / delete / list

A blob of two or more chunks has a manifest listing them; a blob of one chunk is that
chunk, with a manifest whose chunk list is empty (stores written by other castore
implementations may have no manifest at all for such a blob: we read those too).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from .digest import B3Digest
from .errors import BlobMismatch, BlobNotFound
from .manifest import EMPTY_MANIFEST, ChunkMeta, decode_manifest
from .reader import BlobInfo, BlobReader
from .stack import TierStack
from .writer import BlobWriter

DEFAULT_LEVEL = 1


class BlobStore:
    def __init__(self, stack: TierStack, compression_level: int = DEFAULT_LEVEL) -> None:
        self.stack = stack
        self.compression_level = compression_level

    @property
    def name(self) -> str:
        return self.stack.name

    async def has(self, digest: B3Digest) -> bool:
        if await self.stack.fetch_manifest(digest) is not None:
            return True
        return await self.stack.has_chunk(digest)

    async def stat(self, digest: B3Digest, manifest: B3Digest | None = None, size: int | None = None) -> BlobInfo:
        """Size and chunk list; a single-chunk blob lists itself as its one chunk.

        `manifest` and `size` are what the caller recorded when it stored the blob (the
        writer's `manifest_digest` and byte count): a copy that differs, such as another
        blob's manifest under this name, raises BlobMismatch before any byte is read,
        which a range read could not otherwise notice.
        """
        data = await self.stack.fetch_manifest(digest, manifest)
        if data is None and manifest is not None and manifest != EMPTY_MANIFEST:
            raise BlobNotFound(f"blob {digest}: its manifest is not in {self.name}")
        chunks = decode_manifest(data, digest) if data is not None else []
        if chunks:
            info = BlobInfo.build(digest, chunks)
        else:
            chunk_size = await self.stack.chunk_size(digest)
            if chunk_size is None:
                raise BlobNotFound(f"blob {digest} not found in {self.name}")
            info = BlobInfo.build(digest, [ChunkMeta(digest, chunk_size)])
        if size is not None and info.size != size:
            raise BlobMismatch(f"blob {digest} has {info.size} bytes in {self.name}, {size} were stored")
        return info

    async def open_read(self, digest: B3Digest, manifest: B3Digest | None = None,
                        size: int | None = None) -> BlobReader:
        return BlobReader(self.stack, await self.stat(digest, manifest, size))

    def open_write(self) -> BlobWriter:
        return BlobWriter(self.stack, self.compression_level)

    async def put(self, data: bytes) -> B3Digest:
        """Write a blob held in memory (small objects, tests)."""
        writer = self.open_write()
        await writer.write(data)
        return await writer.close()

    async def get(self, digest: B3Digest, manifest: B3Digest | None = None, size: int | None = None) -> bytes:
        """Read a whole blob into memory (small objects, tests)."""
        reader = await self.open_read(digest, manifest, size)
        return b"".join([part async for part in reader.iter_range()])

    async def read_chunk(self, digest: B3Digest, size: int | None = None) -> bytes:
        """One verified chunk by its own digest."""
        return await self.stack.read_chunk(digest, size)

    async def list(self) -> AsyncIterator[B3Digest]:
        async for digest in self.stack.list_manifests():
            yield digest

    async def delete(self, digest: B3Digest) -> None:
        """Remove a blob, and those of its chunks that no other blob lists.

        Whether another blob lists a chunk takes a look at every manifest, so deleting
        costs a scan of the store; budgeted tiers evict without it.
        """
        info = await self.stat(digest)
        await self.stack.delete_manifest(digest)
        doomed = {c.digest for c in info.chunks}
        async for other in self.list():
            if not doomed:
                break
            data = await self.stack.fetch_manifest(other)
            listed = {c.digest for c in decode_manifest(data, other)} if data else set()
            doomed -= listed | {other}
        await asyncio.gather(*(self.stack.delete_chunk(c) for c in doomed))

    async def flush(self) -> None:
        await self.stack.flush()

    async def close(self) -> None:
        await self.stack.close()

    async def __aenter__(self) -> BlobStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["BlobStore", "BlobInfo", "BlobReader", "BlobWriter"]
