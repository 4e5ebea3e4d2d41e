"""A tap on a fill in flight: the lead's head and bytes, read by the fleet's other nodes
as they arrive from the origin, before the fill's stream in Redis tells them and before a
chunk of them is stored (cache/fleet_fill.py follows it). Without it a follower waits for
the lead's first chunk to be certain (a later byte decides where it ends), stored and
told through Redis: about a tenth of a second behind the lead's own clients; with it,
about the time the bytes take to cross.

A follower asks as soon as it finds the claim: the claim's token names the lead's node
(its chunk service is in the heartbeats) and worker (fleet/fills.py). Three parts, one
in each process that takes part:
- TapPoint, in each worker: the fills this worker leads, under their claims' tokens, on
  a Unix socket of the worker's own in the abstract namespace (named after the node's
  run directory and the worker's pid: nothing is left behind by a killed worker). A read
  waits for the lead to have the origin's head, then gets it and the spool from an
  offset to the body's end, the bytes not yet released to the lead's own clients
  included (the body's length is checked at the end);
- TapService, in the node's fleet process: FillTap.Read (fleet/proto) on the chunk
  service's listener, piped from the worker's socket, so a peer dials one port a node;
- TapReader, in each worker: reads other nodes' taps, over a channel a node, each
  connected once the heartbeats name it.

Nothing that comes through a tap is trusted: a follower holds its last byte back until
the whole body adds up to the blob digest the lead tells at the end, and cuts its
responses otherwise, as it does for chunks (a tap that sent a wrong byte is avoided for
a while). Where a tap cannot be read, the follower reads the stored chunks instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import blake3
import grpc

from ..cache.fill import Fill, FillFailed
from ..cache.fleet_fills import TapUnavailable
from ..castore.blob_protocol import compile_proto

log = logging.getLogger(__name__)

PROTO_FILE = "fallthrough_fleet/v1/fill_tap.proto"  # not under fallthrough/: its module would clash with ours
_messages, _services = compile_proto(__package__ or "fallthrough.fleet", PROTO_FILE)
TapRequest: Any = _messages.TapRequest
TapPiece: Any = _messages.TapPiece

PIECE = 256 * 1024  # bytes a message carries at most
CONNECT_TIMEOUT = 2.0  # seconds to reach a worker's socket, or a peer's first answer
# Seconds a read may wait for the lead to have the origin's head: a follower asks as soon
# as it finds the claim, which is before (the lead asks the origin after claiming).
HEAD_WAIT = 30.0
ENDED_KEPT = 1024  # fills withdrawn lately, answered NOT_FOUND at once (late followers)
DOWN_FOR = 30.0  # seconds a peer's tap is left alone after it failed or sent a wrong byte
TOKEN = re.compile(rb"[A-Za-z0-9._-]{1,120}")
FOUND, NOT_FOUND = b"+", b"-"  # a worker's first byte of its answer


def socket_name(run: str, pid: int) -> str:
    """A worker's tap: abstract (a leading NUL), unique to the node's run directory."""
    return f"\0fallthrough-tap-{blake3.blake3(os.path.abspath(run).encode()).hexdigest()[:16]}-{pid}"


class _Offer:
    """A fill's place on a worker's tap: made by whichever comes first, its lead or a
    follower's read (which may come before the lead has its claim in hand)."""

    def __init__(self) -> None:
        self.fill: Fill | None = None
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()


class TapPoint:
    """The fills this worker leads, for its node's fleet process to read."""

    def __init__(self, run: str) -> None:
        self._run = run
        self._offers: dict[str, _Offer] = {}
        self._ended: deque[str] = deque(maxlen=ENDED_KEPT)  # withdrawn: answered at once
        self._server: asyncio.AbstractServer | None = None
        self.worker = 0  # this worker's pid once listening; 0: not (no tap is offered)

    async def start(self) -> None:
        pid = os.getpid()
        try:
            self._server = await asyncio.start_unix_server(self._answer, path=socket_name(self._run, pid))
        except OSError as exc:
            log.warning("fleet: this worker's fills cannot be tapped (%s); its followers read stored chunks", exc)
            return
        self.worker = pid

    def _offer(self, token: str) -> _Offer:
        offer = self._offers.get(token)
        if offer is None:
            offer = self._offers[token] = _Offer()
        return offer

    def offer(self, token: str, fill: Fill) -> None:
        """The fill may be read through this worker's tap from now on (once its head is told)."""
        if self.worker:
            self._offer(token).fill = fill

    def tell_head(self, token: str, head: bytes) -> None:
        offer = self._offers.get(token)
        if offer is not None and offer.fill is not None and not offer.head.done():
            offer.head.set_result(head)

    def withdraw(self, token: str) -> None:
        offer = self._offers.pop(token, None)
        self._ended.append(token)
        if offer is not None and not offer.head.done():
            offer.head.cancel()  # a read waiting for it ends: there is nothing to tap

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        token = ""
        try:
            asked = await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT)
            raw, _, offset = asked.strip().partition(b" ")
            if not TOKEN.fullmatch(raw) or not offset.isdigit():
                writer.write(NOT_FOUND)
                return
            token = raw.decode()
            if token in self._ended:
                writer.write(NOT_FOUND)  # its chunks are stored: read them
                return
            offer = self._offer(token)
            try:
                head = await asyncio.wait_for(asyncio.shield(offer.head), HEAD_WAIT)
            except (TimeoutError, asyncio.CancelledError):
                if offer.fill is None:  # asked of the wrong worker, or never led here
                    self._offers.pop(token, None)
                writer.write(NOT_FOUND)
                return
            fill = offer.fill
            if fill is None or not fill.tappable:
                writer.write(NOT_FOUND)  # its spool is closed: its chunks are stored
                return
            fill.join()
            try:
                writer.write(FOUND + len(head).to_bytes(4, "big") + head)
                async for data in fill.read(int(offset), None, unreleased=True, size=PIECE):
                    writer.write(data)
                    await writer.drain()
            finally:
                fill.leave()
        except (FillFailed, OSError, TimeoutError, ValueError):
            pass  # the reader sees the stream end short of the body, and reads the rest elsewhere
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        for token in list(self._offers):
            self.withdraw(token)
        if self._server is not None:
            self._server.close()
            self._server = None


class TapService(_services.FillTapServicer):  # type: ignore[misc, name-defined]
    """FillTap.Read on the node's chunk service: a pipe from the worker's socket."""

    def __init__(self, run: str) -> None:
        self._run = run

    def add_to(self, server: grpc.aio.Server) -> None:
        _services.add_FillTapServicer_to_server(self, server)

    async def Read(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:  # noqa: N802
        claim = request.claim.encode("ascii", "replace")
        if not TOKEN.fullmatch(claim) or request.worker <= 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a claim's token and a worker's pid are needed")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(socket_name(self._run, request.worker)), CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such worker here (any more)")
        try:
            writer.write(claim + b" %d\n" % request.offset)
            if await asyncio.wait_for(reader.read(1), HEAD_WAIT + CONNECT_TIMEOUT) != FOUND:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such fill here (any more)")
            size = int.from_bytes(await asyncio.wait_for(reader.readexactly(4), CONNECT_TIMEOUT), "big")
            yield TapPiece(head=await asyncio.wait_for(reader.readexactly(size), CONNECT_TIMEOUT))
            while data := await reader.read(PIECE):
                yield TapPiece(data=data)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the worker's fill broke off")
        finally:
            writer.close()


@dataclass(frozen=True)
class Taps:
    """A worker's taps: its own fills offered, other nodes' read."""

    point: TapPoint
    reader: TapReader


class TapReader:
    """Other nodes' taps, one channel a node; a node whose tap failed is left alone a while."""

    def __init__(self) -> None:
        self._stubs: dict[str, Any] = {}
        self._channels: list[grpc.aio.Channel] = []
        self._down_until: dict[str, float] = {}
        self._connecting: set[asyncio.Future[None]] = set()
        self.nodes: dict[str, str] = {}  # node name → its chunk service

    def usable(self, address: str) -> bool:
        return time.monotonic() >= self._down_until.get(address, 0.0)

    def avoid(self, address: str, why: str) -> None:
        if self.usable(address):
            log.warning("fleet: not reading fills through %s's tap for %d s: %s", address, DOWN_FOR, why)
        self._down_until[address] = time.monotonic() + DOWN_FOR

    def found(self, nodes: Mapping[str, str]) -> None:
        """The fleet's other nodes (name → chunk service), as their heartbeats tell:
        where a claim's holder is read, connected now so that the first read of a cold
        miss does not wait for a connection to be made."""
        self.nodes = dict(nodes)
        for address in nodes.values():
            if address not in self._stubs:
                self._stub(address)
                task = asyncio.ensure_future(self._connect(self._channels[-1]))
                self._connecting.add(task)
                task.add_done_callback(self._connecting.discard)

    @staticmethod
    async def _connect(channel: grpc.aio.Channel) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT)

    def _stub(self, address: str) -> Any:
        stub = self._stubs.get(address)
        if stub is None:
            channel = grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
            self._channels.append(channel)
            stub = self._stubs[address] = _services.FillTapStub(channel)
        return stub

    async def read(self, address: str, claim: str, worker: int, offset: int) -> AsyncIterator[Any]:
        """The fill's TapPiece messages: its head, then its bytes from `offset` to its
        body's end; TapUnavailable when they stop short of it (or never start)."""
        call = self._stub(address).Read(TapRequest(claim=claim, worker=worker, offset=offset))
        try:
            async for piece in call:
                yield piece
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                self.avoid(address, exc.details() or exc.code().name)
            raise TapUnavailable(exc.details() or exc.code().name) from None
        finally:
            call.cancel()

    async def close(self) -> None:
        for task in self._connecting:
            task.cancel()
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
        self._stubs.clear()
