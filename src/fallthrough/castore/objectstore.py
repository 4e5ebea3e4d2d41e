"""A tier over any obstore ObjectStore, in the castore object-store layout.

memory://, file:// and s3:// differ only in how their ObjectStore is built (one module
each); reading and writing chunks and manifests is the same for all of them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Hashable, Mapping
from typing import Any

import obstore
from obstore.exceptions import BaseError as ObstoreError

from .digest import B3Digest, blob_path, chunk_path, digest_from_path
from .errors import ChunkNotFound, StoreUnavailable
from .frames import is_intact

log = logging.getLogger(__name__)

# Chunks a tier remembers having checked (or written): enough for the chunks of a few
# GiB of recent writes, a few MiB of memory.
VOUCHED = 16384


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Vouched:
    """Chunks this process has seen to be good in one tier, each with a token of the copy
    it saw (a file's inode, size and mtime; an object's size and ETag).

    A write skips a chunk the tier already holds, and that skip is what makes dedup free;
    but a copy damaged at rest would then never be replaced. So a write trusts a copy it
    finds only if the same copy was checked before, and checks it (reads it back)
    otherwise. Bounded, oldest out first; safe to use from worker threads.
    """

    def __init__(self, limit: int = VOUCHED) -> None:
        self._limit = limit
        self._tokens: dict[B3Digest, Hashable] = {}
        self._lock = threading.Lock()

    def holds(self, digest: B3Digest, token: Hashable) -> bool:
        return token is not None and self._tokens.get(digest) == token

    def add(self, digest: B3Digest, token: Hashable) -> None:
        if token is None:
            return
        with self._lock:
            self._tokens.pop(digest, None)
            self._tokens[digest] = token
            if len(self._tokens) > self._limit:
                del self._tokens[next(iter(self._tokens))]

    def discard(self, digest: B3Digest) -> None:
        with self._lock:
            self._tokens.pop(digest, None)


def _object_token(size: int, e_tag: str | None) -> Hashable:
    """What identifies one stored copy of an object; None where the store gives no ETag."""
    return None if e_tag is None else (size, e_tag)


class ObjectStoreTier:
    """Chunk frames and manifests as objects, named by the digest they hold."""

    def __init__(self, store: obstore.store.ObjectStore, name: str) -> None:
        self._store = store
        self.name = name
        self._vouched = Vouched()

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

    async def _head(self, path: str) -> Mapping[str, Any] | None:
        try:
            return await obstore.head_async(self._store, path)
        except FileNotFoundError:
            return None
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def has_chunk(self, digest: B3Digest) -> bool:
        return await self._head(chunk_path(digest)) is not None

    async def _put(self, path: str, data: bytes) -> Mapping[str, Any]:
        try:
            return await obstore.put_async(self._store, path, data, use_multipart=False)
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        """Write a frame whatever is there (a verified frame replacing a damaged copy)."""
        result = await self._put(chunk_path(digest), frame)
        self._vouched.add(digest, _object_token(len(frame), result.get("e_tag")))

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        async def one(digest: B3Digest, frame: bytes) -> int:
            if await self._holds_good_copy(digest, frame):
                return 0
            await self.store_chunk(digest, frame)
            return 1

        return sum(await asyncio.gather(*(one(d, f) for d, f in chunks)))

    async def _holds_good_copy(self, digest: B3Digest, frame: bytes) -> bool:
        """Whether the copy stored here may stand in for `frame`: checked before, or now.

        One request, as the plain existence check was, for a chunk this tier lacks or
        has vouched for; a copy not seen before is read back once and compared.
        """
        meta = await self._head(chunk_path(digest))
        if meta is None:
            return False
        token = _object_token(meta["size"], meta.get("e_tag"))
        if self._vouched.holds(digest, token):
            return True
        stored = await self._get(chunk_path(digest))
        if stored is None:
            return False
        if stored == frame or await asyncio.to_thread(is_intact, digest, stored):
            self._vouched.add(digest, token)
            return True
        log.warning("chunk %s in %s is damaged; writing it again", digest, self.name)
        return False

    async def _delete(self, path: str) -> None:
        try:
            await obstore.delete_async(self._store, path)
        except FileNotFoundError:
            pass
        except (ObstoreError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def delete_chunk(self, digest: B3Digest) -> None:
        self._vouched.discard(digest)
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
