"""A tap on a fill in flight: the lead's bytes, read by the fleet's other nodes as they
arrive from the origin, before a chunk of them is stored (cache/fleet_fill.py follows
it). Without it a follower waits for the lead's first chunk to be certain (a later byte
decides where it ends), stored and told through Redis: about a tenth of a second behind
the lead's own clients; with it, about the time the bytes take to cross.

Three parts, one in each process that takes part:
- TapPoint, in each worker: the fills this worker leads, offered under their claims'
  tokens, on a Unix socket of the worker's own in the abstract namespace (named after
  the node's run directory and the worker's pid: nothing is left behind by a killed
  worker). It streams a fill's spool from an offset to the body's end, the bytes the
  origin has not yet been checked for included (its length is checked at the end);
- TapService, in the node's fleet process: FillTap.Read (fleet/proto) on the chunk
  service's listener, piped from the worker's socket, so a peer dials one port a node;
- TapReader, in each worker: reads another node's tap, one channel a node.

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
from collections.abc import AsyncIterator, Iterable
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
DOWN_FOR = 30.0  # seconds a peer's tap is left alone after it failed or sent a wrong byte
TOKEN = re.compile(rb"[A-Za-z0-9._-]{1,120}")
FOUND, NOT_FOUND = b"+", b"-"  # a worker's first byte of its answer


def socket_name(run: str, pid: int) -> str:
    """A worker's tap: abstract (a leading NUL), unique to the node's run directory."""
    return f"\0fallthrough-tap-{blake3.blake3(os.path.abspath(run).encode()).hexdigest()[:16]}-{pid}"


class TapPoint:
    """The fills this worker leads, for its node's fleet process to read."""

    def __init__(self, run: str) -> None:
        self._run = run
        self._fills: dict[str, Fill] = {}
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

    def offer(self, token: str, fill: Fill) -> bool:
        """Whether the fill can be read through this worker's tap from now on."""
        if not self.worker:
            return False
        self._fills[token] = fill
        return True

    def withdraw(self, token: str) -> None:
        self._fills.pop(token, None)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            asked = await asyncio.wait_for(reader.readline(), CONNECT_TIMEOUT)
            token, _, offset = asked.strip().partition(b" ")
            fill = self._fills.get(token.decode("ascii", "replace")) if TOKEN.fullmatch(token) else None
            if fill is None or not offset.isdigit() or not fill.tappable:
                writer.write(NOT_FOUND)  # gone, or its spool closed: its chunks are stored
                return
            fill.join()
            try:
                writer.write(FOUND)
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
        self._fills.clear()
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
            if await asyncio.wait_for(reader.read(1), CONNECT_TIMEOUT) != FOUND:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such fill here (any more)")
            while data := await reader.read(PIECE):
                yield TapPiece(data=data)
        except (OSError, TimeoutError):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the worker's fill broke off")
        finally:
            writer.close()


@dataclass(frozen=True)
class Taps:
    """A worker's taps: its own fills offered, other nodes' read."""

    address: str  # this node's chunk service, where its fills are read
    point: TapPoint
    reader: TapReader


class TapReader:
    """Other nodes' taps, one channel a node; a node whose tap failed is left alone a while."""

    def __init__(self) -> None:
        self._stubs: dict[str, Any] = {}
        self._channels: list[grpc.aio.Channel] = []
        self._down_until: dict[str, float] = {}
        self._connecting: set[asyncio.Future[None]] = set()

    def usable(self, address: str) -> bool:
        return time.monotonic() >= self._down_until.get(address, 0.0)

    def avoid(self, address: str, why: str) -> None:
        if self.usable(address):
            log.warning("fleet: not reading fills through %s's tap for %d s: %s", address, DOWN_FOR, why)
        self._down_until[address] = time.monotonic() + DOWN_FOR

    def warm(self, addresses: Iterable[str]) -> None:
        """Connect to these nodes now, so that the first tap read of a cold miss does not
        wait for a connection to be made."""
        for address in addresses:
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

    async def read(self, address: str, claim: str, worker: int, offset: int) -> AsyncIterator[bytes]:
        """The fill's bytes from `offset` to its body's end; TapUnavailable when they stop
        short of it (or never start)."""
        call = self._stub(address).Read(TapRequest(claim=claim, worker=worker, offset=offset))
        try:
            async for piece in call:
                yield piece.data
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
