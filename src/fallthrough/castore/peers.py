"""The peers a fleet tells of, as one read-only tier: every node whose heartbeat names a
chunk service (fleet/peers.py keeps the list current).

Which peer holds a chunk nobody knows beforehand, so a read asks every peer that is up
at once and takes the first sound answer (each peer tier checks its bytes against the
digest and sets itself aside when they are wrong or late); the others are cancelled. A
read that no peer can answer is a miss, and the stack goes on to the next tier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from .blobstore import DEFAULT_LEVEL
from .digest import B3Digest
from .errors import ChunkNotFound, StoreUnavailable
from .peer import DEFAULT_DOWN_FOR, DEFAULT_TIMEOUT, PeerTier, ReadOnly

T = TypeVar("T")


class PeerSet(ReadOnly):

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, down_for: float = DEFAULT_DOWN_FOR,
                 compression_level: int = DEFAULT_LEVEL) -> None:
        self.name = "peers (from the fleet)"
        self.peers: dict[str, PeerTier] = {}
        self._options = {"timeout": timeout, "down_for": down_for, "compression_level": compression_level}
        self._closing: set[asyncio.Task[None]] = set()

    def update(self, addresses: Iterable[str]) -> None:
        """The peers are these (HOST:PORT) from now on; a peer gone from the list is closed."""
        wanted = set(addresses)
        for address in [a for a in self.peers if a not in wanted]:
            task = asyncio.ensure_future(self.peers.pop(address).close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        for address in sorted(wanted - self.peers.keys()):
            self.peers[address] = PeerTier(address, **self._options)  # type: ignore[arg-type]

    async def _first(self, ask: Callable[[PeerTier], Awaitable[T]], what: str) -> T:
        """The first answer of the peers that are up; ChunkNotFound if none has it."""
        peers = [p for p in self.peers.values() if not p.is_down]
        if not peers:
            raise ChunkNotFound(f"{what}: no peer to ask")
        asking = [asyncio.ensure_future(ask(p)) for p in peers]
        try:
            for answer in asyncio.as_completed(asking):
                try:
                    return await answer
                except (ChunkNotFound, StoreUnavailable):
                    continue
        finally:
            for task in asking:
                task.cancel()
            await asyncio.gather(*asking, return_exceptions=True)
        raise ChunkNotFound(f"{what}: no peer has it")

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        return await self._first(lambda p: p.fetch_chunk(digest), f"chunk {digest}")

    async def fetch_chunk_head(self, digest: B3Digest, length: int) -> bytes:
        return await self._first(lambda p: p.fetch_chunk_head(digest, length), f"chunk {digest}")

    async def has_chunk(self, digest: B3Digest) -> bool:
        async def has(peer: PeerTier) -> bool:
            if not await peer.has_chunk(digest):
                raise ChunkNotFound(str(digest))
            return True

        try:
            return await self._first(has, f"chunk {digest}")
        except ChunkNotFound:
            return False

    async def fetch_manifest(self, digest: B3Digest) -> bytes | None:
        async def manifest(peer: PeerTier) -> bytes:
            found = await peer.fetch_manifest(digest)
            if found is None:
                raise ChunkNotFound(str(digest))
            return found

        try:
            return await self._first(manifest, f"blob {digest}")
        except ChunkNotFound:
            return None

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()
        self.peers.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
