"""A BlobStore served over the castore BlobService (gRPC), for peers and snix clients.

Every byte sent went through the store's read path, so it was checked against its
digest first: a damaged chunk here becomes a DATA_LOSS status, never wrong bytes on the
wire. Reads stream chunk by chunk, so a large blob costs a few chunks of memory.
Writes are off unless asked for: peers only read from each other.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, NoReturn

import grpc

from .blob_protocol import BlobChunk, BlobServiceServicer, PutBlobResponse, StatBlobResponse, add_servicer
from .blobstore import BlobStore
from .digest import DIGEST_SIZE, B3Digest
from .errors import (
    BadDigest,
    BlobMismatch,
    BlobNotFound,
    CastoreError,
    ChunkCorrupt,
    ChunkNotFound,
    ManifestCorrupt,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

# The largest BlobChunk a Read sends. Our chunks (at most 512 KiB) go out whole, one
# message each; a larger single-chunk blob written by another chunker is split, so no
# message nears gRPC's default 4 MiB receive limit on the other side.
MAX_PIECE = 1024 * 1024

# Status details stay one short line: they end up in a peer's log.
MAX_DETAILS = 300


def status_of(exc: CastoreError) -> grpc.StatusCode:
    """The gRPC status a store error becomes; a client decides by it whether to retry."""
    if isinstance(exc, BadDigest):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, (BlobNotFound, ChunkNotFound)):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, (ChunkCorrupt, ManifestCorrupt, BlobMismatch)):
        return grpc.StatusCode.DATA_LOSS
    if isinstance(exc, StoreUnavailable):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= MAX_DETAILS else text[: MAX_DETAILS - 1] + "…"


def _pieces(data: bytes) -> Iterator[bytes]:
    if len(data) <= MAX_PIECE:
        yield data
        return
    view = memoryview(data)
    for at in range(0, len(data), MAX_PIECE):
        yield bytes(view[at : at + MAX_PIECE])


class _Servicer(BlobServiceServicer):
    """The three RPCs over one store; every failure ends as a status, not a crash."""

    def __init__(self, store: BlobStore, writable: bool) -> None:
        self._store = store
        self._writable = writable

    async def _fail(self, context: grpc.aio.ServicerContext, what: str, exc: CastoreError) -> NoReturn:
        code = status_of(exc)
        if code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            log.warning("blob service %s failed (%s): %s", what, code.name, _one_line(exc))
        await context.abort(code, _one_line(exc))

    async def _digest(self, raw: bytes, context: grpc.aio.ServicerContext, what: str) -> B3Digest:
        if len(raw) != DIGEST_SIZE:
            await self._fail(context, what, BadDigest(f"a digest is {DIGEST_SIZE} bytes, got {len(raw)}"))
        return B3Digest(raw)

    async def Stat(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - the RPC's name
        digest = await self._digest(request.digest, context, "stat")
        try:
            # A chunk's digest names a blob of one chunk, so this answers for chunks too.
            info = await self._store.stat(digest)
        except CastoreError as exc:
            await self._fail(context, f"stat of {digest}", exc)
        response = StatBlobResponse()
        # Fewer than two chunks: an empty list, as a stored manifest has. No bao: the
        # protocol lets a server leave it out.
        if request.send_chunks and len(info.chunks) >= 2:
            for chunk in info.chunks:
                response.chunks.add(digest=bytes(chunk.digest), size=chunk.size)
        return response

    async def Read(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        digest = await self._digest(request.digest, context, "read")
        try:
            reader = await self._store.open_read(digest)
            # Verified chunk by chunk (and as a whole) before each piece goes out.
            async for data in reader.iter_range():
                for piece in _pieces(data):
                    yield BlobChunk(data=piece)
        except CastoreError as exc:
            await self._fail(context, f"read of {digest}", exc)

    async def Put(self, request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        if not self._writable:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "this blob service is read-only")
        try:
            async with self._store.open_write() as writer:
                async for piece in request_iterator:
                    await writer.write(piece.data)
                digest = await writer.close()
        except CastoreError as exc:
            await self._fail(context, "put", exc)
        return PutBlobResponse(digest=bytes(digest))


class BlobServer:
    """`await start()`, then `port` is the one bound (listen on port 0 to pick one)."""

    def __init__(self, store: BlobStore, listen: str, writable: bool = False,
                 services: Sequence[Callable[[grpc.aio.Server], None]] = ()) -> None:
        self.store = store
        self.listen = listen
        self.writable = writable
        # More services on the same listener (each adds its servicer to the server): what
        # a node's peers ask of it beside its chunks.
        self.services = tuple(services)
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def address(self) -> str:
        """HOST:PORT with the bound port: what a peer dials."""
        if self.port is None:
            raise RuntimeError("the blob service is not started")
        return f"{self.host}:{self.port}"

    async def start(self) -> int:
        # No SO_REUSEPORT: a second node on the same port must fail, not share it.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        add_servicer(_Servicer(self.store, self.writable), server)
        for add in self.services:
            add(server)
        try:
            port = server.add_insecure_port(self.listen)
        except RuntimeError as exc:
            raise OSError(f"blob service: cannot listen on {self.listen}: {_one_line(exc)}") from None
        if port == 0:
            raise OSError(f"blob service: cannot listen on {self.listen}")
        await server.start()
        self._server = server
        self.port = port
        log.info("blob service listening on %s%s", self.address, " (writable)" if self.writable else "")
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls; those in flight get `grace` seconds (None: cut now)."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)

    async def __aenter__(self) -> BlobServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(None)
