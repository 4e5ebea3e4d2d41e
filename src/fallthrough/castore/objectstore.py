"""A tier over any obstore ObjectStore, in the castore object-store layout.

memory://, file:// and s3:// differ only in how their ObjectStore is built (one module
each); reading and writing chunks and manifests is the same for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import obstore
from obstore.exceptions import BaseError as ObstoreError

from .digest import B3Digest, blob_path, chunk_path, digest_from_path
from .errors import ChunkNotFound, StoreUnavailable


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class ObjectStoreTier:
    """Chunk frames and manifests as objects, named by the digest they hold."""

    def __init__(self, store: obstore.store.ObjectStore, name: str) -> None:
        self._store = store
        self.name = name

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"store {self.name}: {_first_line(exc)}")

    async def _get(self, path: str) -> bytes | None:
        try:
            result = await obstore.get_async(self._store, path)
            return bytes(await result.bytes_async())
        except FileNotFoundError:
            return None
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        frame = await self._get(chunk_path(digest))
        if frame is None:
            raise ChunkNotFound(f"chunk {digest} not found in {self.name}")
        return frame

    async def fetch_chunk_head(self, digest: B3Digest, length: int) -> bytes:
        try:
            data = await obstore.get_range_async(self._store, chunk_path(digest), start=0, length=length)
            return bytes(data)
        except FileNotFoundError:
            raise ChunkNotFound(f"chunk {digest} not found in {self.name}") from None
        except (ObstoreError, OSError) as exc:
            # A range past the end of a short object: fall back to the whole object.
            if "range" in str(exc).lower():
                return (await self.fetch_chunk(digest))[:length]
            raise self._unavailable(exc) from None

    async def _exists(self, path: str) -> bool:
        try:
            await obstore.head_async(self._store, path)
            return True
        except FileNotFoundError:
            return False
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def has_chunk(self, digest: B3Digest) -> bool:
        return await self._exists(chunk_path(digest))

    async def _put(self, path: str, data: bytes) -> None:
        try:
            await obstore.put_async(self._store, path, data, use_multipart=False)
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        await self._put(chunk_path(digest), frame)

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        async def one(digest: B3Digest, frame: bytes) -> int:
            if await self.has_chunk(digest):
                return 0
            await self.store_chunk(digest, frame)
            return 1

        return sum(await asyncio.gather(*(one(d, f) for d, f in chunks)))

    async def _delete(self, path: str) -> None:
        try:
            await obstore.delete_async(self._store, path)
        except FileNotFoundError:
            pass
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def delete_chunk(self, digest: B3Digest) -> None:
        await self._delete(chunk_path(digest))

    async def fetch_manifest(self, digest: B3Digest) -> bytes | None:
        return await self._get(blob_path(digest))

    async def store_manifest(self, digest: B3Digest, data: bytes) -> None:
        await self._put(blob_path(digest), data)

    async def delete_manifest(self, digest: B3Digest) -> None:
        await self._delete(blob_path(digest))

    async def _list(self, prefix: str) -> AsyncIterator[tuple[B3Digest, int]]:
        try:
            async for batch in obstore.list(self._store, prefix):
                for meta in batch:
                    digest = digest_from_path(meta["path"])
                    if digest is not None:
                        yield digest, meta["size"]
        except FileNotFoundError:
            return
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    def list_manifests(self) -> AsyncIterator[tuple[B3Digest, int]]:
        return self._list("blobs/b3/")

    def list_chunks(self) -> AsyncIterator[tuple[B3Digest, int]]:
        return self._list("chunks/b3/")

    async def close(self) -> None:
        return None
