"""`peer://host:port`: a read-only tier over another node's BlobService.

A peer is a source, not a store of ours: nothing is written to it or deleted from it,
and nothing it sends is trusted. Every chunk is hashed against its digest before it
leaves this module. A peer that sends a wrong byte, or does not answer in time, is
set aside for a while and every call in that time fails at once without a network trip,
so a read falls through to the next tier instead of waiting on a sick node.

What the stack asks of a tier maps onto the protocol so that a peer works as the
farthest tier or as a middle one: a peer that is down or lacks something looks like a
miss wherever the stack only handles misses (manifests, chunk heads, existence), and
like an unreachable store on chunk reads, where the stack goes on to the next tier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import blake3
import grpc

from .blob_protocol import BlobServiceStub, ReadBlobRequest, StatBlobRequest
from .blobstore import DEFAULT_LEVEL
from .compression import compress
from .digest import DIGEST_SIZE, B3Digest
from .errors import BadStoreURL, ChunkNotFound, StoreUnavailable
from .frames import UNKNOWN_SIZE_BOUND
from .manifest import ChunkMeta, encode_manifest

log = logging.getLogger(__name__)

# Seconds one call may take (a chunk is at most a few MiB): a peer slower than this is
# slower than going to the origin.
DEFAULT_TIMEOUT = 2.0
# Seconds a peer stays set aside after it failed.
DEFAULT_DOWN_FOR = 30.0

# Statuses that are about one digest on a healthy peer (it lacks it, or its copy is
# damaged): a miss, and the peer stays in use. Any other failure sets the peer aside.
_PER_DIGEST = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DATA_LOSS, grpc.StatusCode.INVALID_ARGUMENT)

T = TypeVar("T")


class _TooLong(Exception):
    """A Read that sent more bytes than any chunk may have."""


def peer_address(url: str) -> str:
    """HOST:PORT from `peer://host:port`."""
    parts = urlsplit(url)
    if parts.scheme != "peer" or not parts.hostname or parts.path not in ("", "/"):
        raise BadStoreURL(f"bad peer URL {url!r}: use peer://host:port")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise BadStoreURL(f"bad peer URL {url!r}: no port (use peer://host:port)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


async def no_entries() -> AsyncIterator[tuple[B3Digest, int]]:
    return
    yield  # an async generator that yields nothing


class ReadOnly:
    """What a tier of other nodes' chunks answers to what the stack would write or count:
    nothing. A peer is read from, never written; its blobs are not ours to count, evict
    or collect, and the stack's filling of every tier that missed passes it by."""

    shared = True  # what is there is another node's: never delete from it
    peer = True

    def list_manifests(self) -> AsyncIterator[tuple[B3Digest, int]]:
        return no_entries()

    def list_chunks(self) -> AsyncIterator[tuple[B3Digest, int]]:
        return no_entries()

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        return None

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        return 0

    async def delete_chunk(self, digest: B3Digest) -> None:
        return None

    async def store_manifest(self, digest: B3Digest, data: bytes) -> None:
        return None

    async def delete_manifest(self, digest: B3Digest) -> None:
        return None


class PeerTier(ReadOnly):
    """One peer's BlobService as a tier that only reads."""

    def __init__(
        self,
        address: str,
        timeout: float = DEFAULT_TIMEOUT,
        down_for: float = DEFAULT_DOWN_FOR,
        compression_level: int = DEFAULT_LEVEL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self.name = f"peer://{address}"
        self.timeout = timeout
        self.down_for = down_for
        self.compression_level = compression_level
        self._clock = clock
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._down_until = 0.0
        self._down = False
        # The frame fetch_chunk_head just fetched: the read that asked for the head asks
        # for the whole chunk next, and a peer has no cheaper way to give a head.
        self._recent: tuple[B3Digest, bytes] | None = None
        self._closing: set[asyncio.Future[None]] = set()

    # -- health ---------------------------------------------------------------------

    @property
    def is_down(self) -> bool:
        return self._clock() < self._down_until

    def _stub_now(self) -> Any:
        """The stub, or StoreUnavailable at once while the peer is set aside."""
        left = self._down_until - self._clock()
        if left > 0:
            raise StoreUnavailable(f"{self.name} is down (tried again in {left:.0f} s)")
        if self._stub is None:
            # Opened on first use, so that it belongs to the event loop that uses it.
            # A subchannel pool of its own: the global one would hand the new channel the
            # old one's connection still in its reconnect backoff, and a peer that is back
            # would look down for that long.
            self._channel = grpc.aio.insecure_channel(
                self.address, options=[("grpc.max_receive_message_length", UNKNOWN_SIZE_BOUND + 65536),
                                       ("grpc.use_local_subchannel_pool", 1)]
            )
            self._stub = BlobServiceStub(self._channel)
        return self._stub

    def _set_aside(self, why: str) -> StoreUnavailable:
        """Mark the peer down; its connection goes too, so the next try dials afresh
        instead of waiting out the channel's own reconnect backoff."""
        self._down_until = self._clock() + self.down_for
        if not self._down:
            self._down = True
            log.warning("%s is down for %g s: %s", self.name, self.down_for, why)
        self._retire_channel()
        return StoreUnavailable(f"{self.name}: {why}")

    def _answered(self) -> None:
        """A sound answer: the peer is back, unless the answer left before it was set
        aside (reads fetching ahead still land after one of them caught a bad byte)."""
        if self._down and self._clock() >= self._down_until:
            self._down = False
            log.info("%s is back", self.name)

    def _retire_channel(self) -> None:
        """Close the channel once the calls still on it have ended.

        Not at once: closing a channel cancels its calls, and the reads fetching ahead on
        it would see a cancellation that is not theirs. Every call has a deadline, so the
        wait is bounded by the timeout.
        """
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            task = asyncio.ensure_future(channel.close(grace=self.timeout))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _call(self, what: str, call: Callable[[Any], Awaitable[T]]) -> T:
        """One RPC: ChunkNotFound for NOT_FOUND, StoreUnavailable for any other failure.

        What comes back is not yet a sound answer: the caller checks it, then says so.
        """
        stub = self._stub_now()
        try:
            result = await call(stub)
        except grpc.aio.UsageError:
            # Another call set the peer aside and closed the channel under this one.
            raise StoreUnavailable(f"{self.name} is down") from None
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else grpc.StatusCode.UNKNOWN
            details = (exc.details() if isinstance(exc, grpc.aio.AioRpcError) else None) or code.name
            if code == grpc.StatusCode.NOT_FOUND:
                self._answered()
                raise ChunkNotFound(f"{what} not found in {self.name}") from None
            if code in _PER_DIGEST:
                self._answered()
                raise StoreUnavailable(f"{self.name}: {what}: {details}") from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                details = f"no answer in {self.timeout:g} s"
            raise self._set_aside(f"{what}: {details}") from None
        return result

    # -- reads ----------------------------------------------------------------------

    async def _stat(self, digest: B3Digest) -> Any:
        request = StatBlobRequest(digest=bytes(digest), send_chunks=True)
        response = await self._call(f"blob {digest}", lambda stub: stub.Stat(request, timeout=self.timeout))
        self._answered()
        return response

    async def _read(self, digest: B3Digest) -> bytes:
        """The bytes the peer sends for a digest, at most as many as a chunk may have."""

        async def read(stub: Any) -> list[bytes]:
            parts: list[bytes] = []
            got = 0
            call = stub.Read(ReadBlobRequest(digest=bytes(digest)), timeout=self.timeout)
            async for piece in call:
                got += len(piece.data)
                if got > UNKNOWN_SIZE_BOUND:
                    call.cancel()
                    raise _TooLong
                parts.append(piece.data)
            return parts

        try:
            parts = await self._call(f"chunk {digest}", read)
        except _TooLong:
            # Not a sick peer by itself: asked for a blob's digest, a peer that chunks
            # differently sends the whole blob. Past any chunk's size, it is not ours.
            raise StoreUnavailable(f"{self.name}: chunk {digest} runs past {UNKNOWN_SIZE_BOUND} bytes") from None
        return b"".join(parts)

    def _seal(self, digest: B3Digest, data: bytes) -> bytes | None:
        """Our frame of the bytes, or None when they are not the chunk asked for."""
        if blake3.blake3(data).digest() != digest:
            return None
        return compress(data, self.compression_level)

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        """A frame in this store's format, made from bytes that hash to `digest`."""
        recent, self._recent = self._recent, None
        if recent is not None and recent[0] == digest:
            return recent[1]
        data = await self._read(digest)
        # Hashing and compressing release the GIL: one trip to a worker thread for both.
        frame = await asyncio.to_thread(self._seal, digest, data)
        if frame is None:
            raise self._set_aside(f"chunk {digest}: the bytes sent do not match the digest")
        self._answered()
        return frame

    async def fetch_chunk_head(self, digest: B3Digest, length: int) -> bytes:
        # The stack asks for a head only where a miss is the one answer it handles.
        try:
            frame = await self.fetch_chunk(digest)
        except StoreUnavailable as exc:
            raise ChunkNotFound(str(exc)) from None
        self._recent = (digest, frame)
        return frame[:length]

    async def has_chunk(self, digest: B3Digest) -> bool:
        """Whether the peer holds a chunk by this digest (not a blob of several chunks)."""
        try:
            response = await self._stat(digest)
        except (ChunkNotFound, StoreUnavailable):
            return False
        return len(response.chunks) == 0

    async def fetch_manifest(self, digest: B3Digest) -> bytes | None:
        """The peer's chunk list as our manifest bytes; None for a miss or a sick peer."""
        try:
            response = await self._stat(digest)
        except (ChunkNotFound, StoreUnavailable):
            return None
        chunks = []
        for entry in response.chunks:
            if len(entry.digest) != DIGEST_SIZE:
                self._set_aside(f"blob {digest}: a chunk digest of {len(entry.digest)} bytes")
                return None
            chunks.append(ChunkMeta(B3Digest(entry.digest), entry.size))
        return encode_manifest(chunks)

    async def close(self) -> None:
        self._recent = None
        self._retire_channel()
        await asyncio.gather(*self._closing)


def open_peer(url: str, options: dict[str, Any] | None = None) -> PeerTier:
    """A peer tier from its URL; options: timeout and down_for, in seconds."""
    options = dict(options or {})
    settings: dict[str, float] = {}
    for key in ("timeout", "down_for"):
        if key in options:
            value = options.pop(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise BadStoreURL(f"store {url}: {key} must be a positive number of seconds, got {value!r}")
            settings[key] = float(value)
    if options:
        raise BadStoreURL(f"store {url}: unknown peer options {sorted(options)} (known: down_for, timeout)")
    return PeerTier(peer_address(url), **settings)
