"""The castore BlobService: our server as a snix client sees it, and peers as a tier."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import blake3
import grpc
import pytest
from google.protobuf import descriptor_pool

from fallthrough.castore import (
    B3Digest,
    BlobStore,
    CastoreError,
    ChunkNotFound,
    StoreUnavailable,
    TierSpec,
    TierStack,
    chunk_path,
    open_store,
    open_tier,
)
from fallthrough.castore import blob_protocol as pb
from fallthrough.castore import manifest
from fallthrough.castore.blob_server import MAX_PIECE, BlobServer
from fallthrough.castore.frames import open_frame
from fallthrough.castore.peer import PeerTier, open_peer, peer_address

BIG = random.Random(21).randbytes(3 * 1024 * 1024 + 17)  # several FastCDC chunks
OTHER = random.Random(22).randbytes(2 * 1024 * 1024 + 5)
SMALL = random.Random(23).randbytes(70_000)  # one chunk: the blob is its chunk


def _flip(path: Path) -> None:
    frame = bytearray(path.read_bytes())
    frame[len(frame) // 2] ^= 0x55
    path.write_bytes(bytes(frame))


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[BlobStore, BlobServer, Path]]:
    """A file store holding BIG, OTHER and SMALL, served read-only on a loopback port."""
    root = tmp_path / "served"
    async with open_store(f"file://{root}") as store:
        for data in (BIG, OTHER, SMALL):
            await store.put(data)
        server = BlobServer(store, "127.0.0.1:0")
        await server.start()
        try:
            yield store, server, root
        finally:
            await server.stop(None)


@pytest.fixture
async def stub(served: tuple[BlobStore, BlobServer, Path]) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(served[1].address) as channel:
        yield pb.BlobServiceStub(channel)


async def _read(stub: Any, digest: bytes) -> list[bytes]:
    return [piece.data async for piece in stub.Read(pb.ReadBlobRequest(digest=digest))]


async def _code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code()


async def _read_code(stub: Any, digest: bytes) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _read(stub, digest)
    return info.value.code()


# -- the protocol ------------------------------------------------------------------------


def test_a_stored_manifest_is_the_rpc_stat_response() -> None:
    chunks = [manifest.ChunkMeta(B3Digest.of(b"a"), 1), manifest.ChunkMeta(B3Digest.of(b"bc"), 2)]
    parsed = pb.StatBlobResponse.FromString(manifest.encode_manifest(chunks))
    assert [(c.digest, c.size) for c in parsed.chunks] == [(bytes(c.digest), c.size) for c in chunks]
    # And back: what the service sends decodes as a manifest.
    assert manifest.decode_manifest(parsed.SerializeToString(), B3Digest.of(b"abc")) == chunks
    # Two descriptions of one message, each in its own pool: no clash in the default one.
    assert pb.StatBlobResponse.DESCRIPTOR.file.pool is descriptor_pool.Default()
    assert manifest.StatBlobResponse.DESCRIPTOR.file.pool is not descriptor_pool.Default()
    assert pb.StatBlobResponse.DESCRIPTOR.full_name == manifest.StatBlobResponse.DESCRIPTOR.full_name
    assert pb.StatBlobResponse.DESCRIPTOR.file.name == "snix/castore/v1/rpc_blobstore.proto"


def test_the_service_has_the_protocol_s_shape() -> None:
    service = pb.StatBlobRequest.DESCRIPTOR.file.services_by_name["BlobService"]
    assert service.full_name == pb.SERVICE
    methods = {m.name: (m.input_type.name, m.output_type.name) for m in service.methods}
    assert methods == {
        "Stat": ("StatBlobRequest", "StatBlobResponse"),
        "Read": ("ReadBlobRequest", "BlobChunk"),
        "Put": ("BlobChunk", "PutBlobResponse"),
    }
    fields = {f.name: f.number for f in pb.StatBlobRequest.DESCRIPTOR.fields}
    assert fields == {"digest": 1, "send_chunks": 2, "send_bao": 3}


# -- the server, as a snix client calls it ------------------------------------------------


async def test_listening_on_port_zero_reports_the_bound_port(served: tuple[BlobStore, BlobServer, Path]) -> None:
    server = served[1]
    assert server.port is not None and server.port > 0
    assert server.address == f"127.0.0.1:{server.port}"


async def test_stat_then_read_each_chunk_rebuilds_the_blob(stub: Any) -> None:
    digest = bytes(B3Digest.of(BIG))
    stat = await stub.Stat(pb.StatBlobRequest(digest=digest, send_chunks=True, send_bao=True))
    assert len(stat.chunks) >= 2
    assert sum(c.size for c in stat.chunks) == len(BIG)
    assert stat.bao == b""  # allowed: the server does not compute outboards
    parts = []
    for chunk in stat.chunks:
        data = b"".join(await _read(stub, chunk.digest))
        assert len(data) == chunk.size
        assert blake3.blake3(data).digest() == chunk.digest
        parts.append(data)
    assert b"".join(parts) == BIG


async def test_read_of_a_whole_blob_streams_bounded_pieces(stub: Any) -> None:
    pieces = await _read(stub, bytes(B3Digest.of(BIG)))
    assert b"".join(pieces) == BIG
    assert len(pieces) >= 2 and max(map(len, pieces)) <= MAX_PIECE


async def test_stat_without_send_chunks_sends_no_chunks(stub: Any) -> None:
    stat = await stub.Stat(pb.StatBlobRequest(digest=bytes(B3Digest.of(BIG))))
    assert list(stat.chunks) == []


async def test_a_one_chunk_blob_stats_empty_and_reads_whole(stub: Any) -> None:
    digest = bytes(B3Digest.of(SMALL))
    stat = await stub.Stat(pb.StatBlobRequest(digest=digest, send_chunks=True))
    assert list(stat.chunks) == []
    assert b"".join(await _read(stub, digest)) == SMALL


async def test_stat_of_a_chunk_digest_is_ok_and_empty(stub: Any) -> None:
    stat = await stub.Stat(pb.StatBlobRequest(digest=bytes(B3Digest.of(BIG)), send_chunks=True))
    chunk = stat.chunks[1].digest
    answer = await stub.Stat(pb.StatBlobRequest(digest=chunk, send_chunks=True))
    assert answer == pb.StatBlobResponse()


async def test_an_unknown_digest_is_not_found(stub: Any) -> None:
    unknown = bytes(B3Digest.of(b"never stored"))
    assert await _code(stub.Stat(pb.StatBlobRequest(digest=unknown, send_chunks=True))) == grpc.StatusCode.NOT_FOUND
    assert await _read_code(stub, unknown) == grpc.StatusCode.NOT_FOUND


async def test_a_short_digest_is_an_invalid_argument(stub: Any) -> None:
    assert await _code(stub.Stat(pb.StatBlobRequest(digest=b"12345"))) == grpc.StatusCode.INVALID_ARGUMENT
    assert await _read_code(stub, b"12345") == grpc.StatusCode.INVALID_ARGUMENT


async def _put(stub: Any, data: bytes, piece: int = 300_000) -> Any:
    async def pieces() -> AsyncIterator[Any]:
        for at in range(0, len(data), piece):
            yield pb.BlobChunk(data=data[at : at + piece])

    return await stub.Put(pieces())


async def test_put_is_refused_by_default(stub: Any, served: tuple[BlobStore, BlobServer, Path]) -> None:
    data = random.Random(30).randbytes(10_000)
    assert await _code(_put(stub, data)) == grpc.StatusCode.PERMISSION_DENIED
    assert not await served[0].has(B3Digest.of(data))


async def test_put_when_writable_returns_the_blake3_digest(tmp_path: Path) -> None:
    data = random.Random(31).randbytes(1_500_000)
    async with open_store(f"file://{tmp_path}/w") as store, BlobServer(store, "127.0.0.1:0", writable=True) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            answer = await _put(pb.BlobServiceStub(channel), data)
        assert answer.digest == blake3.blake3(data).digest()
        assert await store.get(B3Digest(answer.digest)) == data


async def test_a_damaged_chunk_fails_its_call_and_the_server_serves_on(
    stub: Any, served: tuple[BlobStore, BlobServer, Path]
) -> None:
    store, _, root = served
    digest = B3Digest.of(BIG)
    victim = (await store.stat(digest)).chunks[1].digest
    _flip(root / chunk_path(victim))
    assert await _read_code(stub, bytes(digest)) == grpc.StatusCode.DATA_LOSS
    # Everything else is still served, the damaged blob's other chunks included.
    assert b"".join(await _read(stub, bytes(B3Digest.of(OTHER)))) == OTHER
    first = (await store.stat(digest)).chunks[0]
    assert b"".join(await _read(stub, bytes(first.digest))) == BIG[: first.size]
    assert (await stub.Stat(pb.StatBlobRequest(digest=bytes(digest)))) == pb.StatBlobResponse()


async def test_a_damaged_one_chunk_blob_is_data_loss(stub: Any, served: tuple[BlobStore, BlobServer, Path]) -> None:
    digest = B3Digest.of(SMALL)
    _flip(served[2] / chunk_path(digest))
    assert await _read_code(stub, bytes(digest)) == grpc.StatusCode.DATA_LOSS
    assert b"".join(await _read(stub, bytes(B3Digest.of(OTHER)))) == OTHER


# -- a peer as a tier ----------------------------------------------------------------------


def _store(*tiers: Any) -> BlobStore:
    return BlobStore(TierStack(list(tiers)))


async def test_a_blob_only_the_peer_has_is_read_and_copied_near(
    tmp_path: Path, served: tuple[BlobStore, BlobServer, Path]
) -> None:
    near = tmp_path / "near"
    async with open_store([TierSpec(f"file://{near}"), TierSpec(f"peer://{served[1].address}")]) as store:
        peer = store.stack.tiers[1]
        assert isinstance(peer, PeerTier)
        for data in (BIG, SMALL):
            assert await store.has(B3Digest.of(data))
            assert await store.get(B3Digest.of(data)) == data
        assert store.stack.stats[f"chunk_reads:{peer.name}"] > 0
    # The near tier now serves both by itself.
    async with open_store(f"file://{near}") as only_near:
        assert await only_near.get(B3Digest.of(BIG)) == BIG
        assert await only_near.get(B3Digest.of(SMALL)) == SMALL


async def test_a_peer_tier_reads_and_never_writes(served: tuple[BlobStore, BlobServer, Path]) -> None:
    peer = PeerTier(served[1].address)
    try:
        big = B3Digest.of(BIG)
        chunks = (await served[0].stat(big)).chunks
        assert manifest.decode_manifest(await peer.fetch_manifest(big), big) == chunks
        assert await peer.fetch_manifest(B3Digest.of(SMALL)) == manifest.encode_manifest([])
        assert await peer.fetch_manifest(B3Digest.of(b"nothing")) is None
        assert await peer.has_chunk(chunks[0].digest) and await peer.has_chunk(B3Digest.of(SMALL))
        assert not await peer.has_chunk(big)  # a blob of several chunks is not a chunk
        with pytest.raises(ChunkNotFound):
            await peer.fetch_chunk(B3Digest.of(b"nothing"))
        # Writes and deletes go nowhere; the peer keeps what it has.
        assert await peer.store_chunks([(chunks[0].digest, b"x")]) == 0
        await peer.delete_chunk(chunks[0].digest)
        await peer.delete_manifest(big)
        assert [x async for x in peer.list_manifests()] == [] and [x async for x in peer.list_chunks()] == []
        assert await served[0].get(big) == BIG
    finally:
        await peer.close()


async def test_a_write_through_a_stack_with_a_peer_lands_near_only(
    tmp_path: Path, served: tuple[BlobStore, BlobServer, Path]
) -> None:
    data = random.Random(32).randbytes(900_000)
    async with _store(open_tier(TierSpec(f"file://{tmp_path}/near")), PeerTier(served[1].address)) as store:
        digest = await store.put(data)
        assert await store.get(digest) == data
    assert not await served[0].has(digest)


class _FlippingServicer(pb.BlobServiceServicer):
    """A peer that answers Stat honestly and sends every chunk with one byte changed."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.reads = 0

    async def Stat(self, request: Any, context: Any) -> Any:  # noqa: N802
        info = await self.store.stat(B3Digest(request.digest))
        answer = pb.StatBlobResponse()
        if len(info.chunks) >= 2:
            for chunk in info.chunks:
                answer.chunks.add(digest=bytes(chunk.digest), size=chunk.size)
        return answer

    async def Read(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        self.reads += 1
        data = bytearray(await self.store.read_chunk(B3Digest(request.digest)))
        data[len(data) // 2] ^= 0x01
        yield pb.BlobChunk(data=bytes(data))


@pytest.fixture
async def flipping(served: tuple[BlobStore, BlobServer, Path]) -> AsyncIterator[tuple[str, _FlippingServicer]]:
    servicer = _FlippingServicer(served[0])
    server = grpc.aio.server()
    pb.add_servicer(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(None)


async def test_a_peer_that_changes_a_byte_is_set_aside(
    flipping: tuple[str, _FlippingServicer], caplog: pytest.LogCaptureFixture
) -> None:
    address, servicer = flipping
    peer = PeerTier(address, down_for=60)
    with caplog.at_level(logging.INFO, logger="fallthrough.castore.peer"):
        async with _store(open_tier(TierSpec("memory://")), peer) as store:
            with pytest.raises(CastoreError):
                await store.get(B3Digest.of(BIG))
            assert peer.is_down
            # Caught on the first answer: no chunk was taken, nothing wrong reached the near tier.
            assert servicer.reads >= 1
            assert [x async for x in store.stack.tiers[0].list_chunks()] == []
            reads = servicer.reads
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await peer.fetch_chunk(B3Digest.of(SMALL))
            assert time.monotonic() - started < 0.1
            assert servicer.reads == reads  # no network trip while it is down
            assert await peer.fetch_manifest(B3Digest.of(BIG)) is None  # a miss to the stack
    downs = [r for r in caplog.records if "is down" in r.getMessage()]
    assert len(downs) == 1 and "do not match" in downs[0].getMessage()


async def test_a_lying_peer_falls_through_to_the_next_tier(
    tmp_path: Path, flipping: tuple[str, _FlippingServicer]
) -> None:
    far = tmp_path / "far"
    async with open_store(f"file://{far}") as only_far:
        await only_far.put(BIG)
    peer = PeerTier(flipping[0])
    async with _store(open_tier(TierSpec("memory://")), peer, open_tier(TierSpec(f"file://{far}"))) as store:
        assert await store.get(B3Digest.of(BIG)) == BIG
        assert peer.is_down


class _EndlessServicer(pb.BlobServiceServicer):
    """A peer that answers every Read with more bytes than any chunk has."""

    async def Read(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        piece = bytes(MAX_PIECE)
        while True:
            yield pb.BlobChunk(data=piece)


async def test_a_read_is_cut_off_past_the_largest_chunk() -> None:
    server = grpc.aio.server()
    pb.add_servicer(_EndlessServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    peer = PeerTier(f"127.0.0.1:{port}")
    try:
        with pytest.raises(StoreUnavailable, match="runs past"):
            await peer.fetch_chunk(B3Digest.of(SMALL))
    finally:
        await peer.close()
        await server.stop(None)


async def _silent_server() -> tuple[asyncio.Server, list[int]]:
    """A TCP port that accepts and never says a word."""
    connections: list[int] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0), connections


async def test_a_peer_that_does_not_answer_times_out_then_fails_fast(tmp_path: Path) -> None:
    server, connections = await _silent_server()
    port = server.sockets[0].getsockname()[1]
    peer = PeerTier(f"127.0.0.1:{port}", timeout=0.5, down_for=60)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no answer"):
            await peer.fetch_chunk(B3Digest.of(SMALL))
        assert 0.4 < time.monotonic() - started < 5
        assert peer.is_down and connections
        seen = len(connections)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="is down"):
            await peer.fetch_chunk(B3Digest.of(SMALL))
        assert await peer.fetch_manifest(B3Digest.of(SMALL)) is None
        assert not await peer.has_chunk(B3Digest.of(SMALL))
        assert time.monotonic() - started < 0.1
        await asyncio.sleep(0.1)
        assert len(connections) == seen
    finally:
        await peer.close()
        server.close()
        await server.wait_closed()


async def test_a_silent_middle_peer_costs_one_timeout_and_the_far_tier_serves(tmp_path: Path) -> None:
    far = tmp_path / "far"
    async with open_store(f"file://{far}") as only_far:
        await only_far.put(BIG)
        await only_far.put(SMALL)
    server, _ = await _silent_server()
    port = server.sockets[0].getsockname()[1]
    peer = PeerTier(f"127.0.0.1:{port}", timeout=0.5, down_for=60)
    try:
        async with _store(open_tier(TierSpec("memory://")), peer, open_tier(TierSpec(f"file://{far}"))) as store:
            started = time.monotonic()
            assert await store.get(B3Digest.of(BIG)) == BIG
            assert await store.get(B3Digest.of(SMALL)) == SMALL
            assert time.monotonic() - started < 3
            assert peer.is_down
    finally:
        server.close()
        await server.wait_closed()


async def test_a_peer_comes_back_after_its_time_out(
    served: tuple[BlobStore, BlobServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    store, server, _ = served
    now = [1000.0]
    peer = PeerTier(server.address, timeout=1, down_for=30, clock=lambda: now[0])
    small = B3Digest.of(SMALL)
    try:
        with caplog.at_level(logging.INFO, logger="fallthrough.castore.peer"):
            assert await peer.fetch_manifest(small) is not None
            port = server.port
            await server.stop(None)
            with pytest.raises(StoreUnavailable):
                await peer.fetch_chunk(small)
            assert peer.is_down
            again = BlobServer(store, f"127.0.0.1:{port}")
            await again.start()
            try:
                now[0] += 10
                with pytest.raises(StoreUnavailable, match="is down"):
                    await peer.fetch_chunk(small)
                now[0] += 25
                assert not peer.is_down
                frame = await peer.fetch_chunk(small)
                assert open_frame(small, frame, None) == SMALL
            finally:
                await again.stop(None)
        lines = [r.getMessage() for r in caplog.records if r.name == "fallthrough.castore.peer"]
        assert [line.split(" is ")[1].split()[0] for line in lines] == ["down", "back"]
    finally:
        await peer.close()


async def test_a_damaged_chunk_on_the_peer_is_a_miss_not_a_sick_peer(
    tmp_path: Path, served: tuple[BlobStore, BlobServer, Path]
) -> None:
    store, server, root = served
    small = B3Digest.of(SMALL)
    _flip(root / chunk_path(small))
    peer = PeerTier(server.address)
    try:
        with pytest.raises(StoreUnavailable, match="DATA_LOSS|does not match|not valid"):
            await peer.fetch_chunk(small)
        assert not peer.is_down
        info = await store.stat(B3Digest.of(OTHER))
        frame = await peer.fetch_chunk(info.chunks[0].digest)
        assert open_frame(info.chunks[0].digest, frame, None) == OTHER[: info.chunks[0].size]
    finally:
        await peer.close()


def test_peer_urls() -> None:
    assert peer_address("peer://10.0.0.2:7070") == "10.0.0.2:7070"
    assert peer_address("peer://[::1]:7070") == "[::1]:7070"
    assert open_peer("peer://node-b:7070", {"timeout": 1.5}).timeout == 1.5
    for bad in ("peer://node-b", "peer://:7070", "peer://node-b:7070/x", "file:///x"):
        with pytest.raises(CastoreError):
            peer_address(bad)
    with pytest.raises(CastoreError):
        open_peer("peer://node-b:7070", {"retries": 3})
    tier = open_tier(TierSpec("peer://node-b:7070", options={"timeout": 1, "down_for": 5}))
    assert isinstance(tier, PeerTier) and (tier.timeout, tier.down_for) == (1.0, 5.0)
    with pytest.raises(CastoreError, match="max_bytes"):
        open_tier(TierSpec("peer://node-b:7070", max_bytes=1000))
