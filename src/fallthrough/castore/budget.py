"""A byte budget for a tier: evict whole blobs, least recently used first.

The accounting lives in memory and is rebuilt from a listing when the tier opens, so a
disk tier keeps its budget across restarts. A chunk is deleted only when no blob left in
this tier lists it. Chunks that no manifest lists yet (a write in progress, a ranged
fill) are units of their own in the same LRU order, so a write in progress, being the
newest, goes last; a blob larger than the whole budget cannot stay in this tier, and a
stack then serves it from a farther one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator

from .digest import B3Digest
from .errors import ManifestCorrupt
from .manifest import decode_manifest
from .tier import Tier

log = logging.getLogger(__name__)

BLOB = "blob"
LOOSE = "loose"


class BudgetTier:
    """Wraps a tier and keeps its stored bytes at or under `max_bytes`."""

    def __init__(self, inner: Tier, max_bytes: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_bytes = max_bytes
        self.used = 0
        self._chunk_bytes: dict[B3Digest, int] = {}
        self._refs: dict[B3Digest, int] = {}
        self._blobs: dict[B3Digest, tuple[list[B3Digest], int]] = {}
        # One LRU order over blobs (BLOB, digest) and unlisted chunks (LOOSE, digest).
        self._lru: OrderedDict[tuple[str, B3Digest], None] = OrderedDict()
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self.evicted_blobs = 0

    @property
    def blob_count(self) -> int:
        """Blobs in this tier's books (what the node's metrics report as its objects)."""
        return len(self._blobs)

    # -- accounting -----------------------------------------------------------------

    async def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            async for digest, size in self.inner.list_chunks():
                self._chunk_bytes[digest] = size
                self.used += size
            async for digest, size in self.inner.list_manifests():
                data = await self.inner.fetch_manifest(digest)
                if data is None:
                    continue
                try:
                    members = [c.digest for c in decode_manifest(data, digest)] or [digest]
                except ManifestCorrupt:
                    log.warning("dropping corrupt manifest of %s in %s", digest, self.name)
                    await self.inner.delete_manifest(digest)
                    continue
                self._add_blob(digest, members, size)
            for digest in self._chunk_bytes:
                if self._refs.get(digest, 0) == 0:
                    self._lru[(LOOSE, digest)] = None
                    self._lru.move_to_end((LOOSE, digest), last=False)  # old garbage goes first
            self._loaded = True
        await self._evict(protect=None)

    def _add_blob(self, digest: B3Digest, members: list[B3Digest], manifest_bytes: int) -> None:
        if digest in self._blobs:
            self._drop_blob(digest)
        self._blobs[digest] = (members, manifest_bytes)
        self._lru[(BLOB, digest)] = None
        self._lru.move_to_end((BLOB, digest))
        self.used += manifest_bytes
        for c in members:
            self._refs[c] = self._refs.get(c, 0) + 1
            self._lru.pop((LOOSE, c), None)

    def _drop_blob(self, digest: B3Digest) -> list[B3Digest]:
        """Forget a blob; return its chunks that no other blob here lists."""
        members, manifest_bytes = self._blobs.pop(digest)
        self._lru.pop((BLOB, digest), None)
        self.used -= manifest_bytes
        orphans = []
        for c in members:
            self._refs[c] -= 1
            if self._refs[c] == 0:
                del self._refs[c]
                if c in self._chunk_bytes:
                    orphans.append(c)
        return orphans

    def _drop_chunk(self, digest: B3Digest) -> None:
        self.used -= self._chunk_bytes.pop(digest, 0)
        self._lru.pop((LOOSE, digest), None)

    def _pick_victims(self, protect: B3Digest | None) -> tuple[list[B3Digest], list[B3Digest]]:
        """Choose what goes, updating the books at once so concurrent callers agree."""
        manifests: list[B3Digest] = []
        chunks: list[B3Digest] = []
        for kind, digest in list(self._lru):
            if self.used <= self.max_bytes:
                break
            if kind == LOOSE:
                self._drop_chunk(digest)
                chunks.append(digest)
            elif digest != protect:
                manifests.append(digest)
                for c in self._drop_blob(digest):
                    self._drop_chunk(c)
                    chunks.append(c)
                self.evicted_blobs += 1
        return manifests, chunks

    async def _evict(self, protect: B3Digest | None) -> None:
        if self.used <= self.max_bytes:
            return
        manifests, chunks = self._pick_victims(protect)
        # Manifests first: a reader must never find a manifest whose chunks are gone.
        for digest in manifests:
            await self.inner.delete_manifest(digest)
        for digest in chunks:
            await self.inner.delete_chunk(digest)
        if self.used > self.max_bytes:
            log.debug("%s stays over budget (%d > %d): one blob fills it", self.name, self.used, self.max_bytes)

    # -- the tier protocol ----------------------------------------------------------

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        await self._ensure_loaded()
        if (LOOSE, digest) in self._lru:
            self._lru.move_to_end((LOOSE, digest))
        return await self.inner.fetch_chunk(digest)

    async def fetch_chunk_head(self, digest: B3Digest, length: int) -> bytes:
        await self._ensure_loaded()
        return await self.inner.fetch_chunk_head(digest, length)

    async def has_chunk(self, digest: B3Digest) -> bool:
        await self._ensure_loaded()
        return digest in self._chunk_bytes

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        await self._ensure_loaded()
        await self.inner.store_chunk(digest, frame)
        self._account_chunk(digest, len(frame))
        await self._evict(protect=None)

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        """Every chunk goes to the inner tier, even those in the books: the books list
        what is there, not whether it is intact, and the inner tier checks that."""
        await self._ensure_loaded()
        new = [(d, f) for d, f in chunks if d not in self._chunk_bytes]
        written = await self.inner.store_chunks(chunks)
        for digest, frame in new:
            self._account_chunk(digest, len(frame))
        await self._evict(protect=None)
        return written

    def _account_chunk(self, digest: B3Digest, size: int) -> None:
        self.used += size - self._chunk_bytes.get(digest, 0)
        self._chunk_bytes[digest] = size
        if self._refs.get(digest, 0) == 0:
            self._lru[(LOOSE, digest)] = None
            self._lru.move_to_end((LOOSE, digest))

    async def delete_chunk(self, digest: B3Digest) -> None:
        await self._ensure_loaded()
        await self.inner.delete_chunk(digest)
        self._drop_chunk(digest)

    async def fetch_manifest(self, digest: B3Digest) -> bytes | None:
        await self._ensure_loaded()
        if digest not in self._blobs:
            return None
        self._lru.move_to_end((BLOB, digest))
        return await self.inner.fetch_manifest(digest)

    async def store_manifest(self, digest: B3Digest, data: bytes) -> None:
        await self._ensure_loaded()
        members = [c.digest for c in decode_manifest(data, digest)] or [digest]
        await self.inner.store_manifest(digest, data)
        self._add_blob(digest, members, len(data))
        await self._evict(protect=digest)

    async def delete_manifest(self, digest: B3Digest) -> None:
        await self._ensure_loaded()
        await self.inner.delete_manifest(digest)
        if digest in self._blobs:
            for c in self._drop_blob(digest):
                self._lru[(LOOSE, c)] = None

    async def list_manifests(self) -> AsyncIterator[tuple[B3Digest, int]]:
        await self._ensure_loaded()
        for digest, (_, size) in list(self._blobs.items()):
            yield digest, size

    async def list_chunks(self) -> AsyncIterator[tuple[B3Digest, int]]:
        await self._ensure_loaded()
        for digest, size in list(self._chunk_bytes.items()):
            yield digest, size

    async def close(self) -> None:
        await self.inner.close()
