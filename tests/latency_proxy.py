"""A TCP proxy on loopback that delays every byte by a fixed one-way time.

On one machine every node is a microsecond from Redis, which hides what a fleet spread
over regions pays per round trip. Put one of these between a node and what it talks to
and each direction of the connection gets `delay_s` added: a request/response costs two
of them, as across a real link.

Delivery is scheduled at arrival time + delay rather than slept per piece, so a stream
keeps its throughput (many pieces are in flight at once, as on a long fat pipe) and only
its latency changes. Order is kept: pieces leave in the order they came. The TCP
handshake itself is not delayed (the proxy accepts at once); the first bytes are.

    with LatencyProxy("127.0.0.1", redis_port, 0.005) as proxy:
        client = redis.Redis(port=proxy.port)   # 10 ms more per command

It runs on an event loop of its own, in a daemon thread, so it serves sync and async
tests alike and never keeps a finished test process alive.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from typing import Self

# Bytes read from one side at a time, and how many of them may wait in one direction
# before reading pauses: a slow reader on the far side slows the near side down, as TCP
# would, instead of the proxy buffering without end.
PIECE = 256 * 1024
MAX_QUEUED = 32 * 1024 * 1024


class _Direction:
    """One direction of one connection: pieces waiting for their delivery time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pieces: deque[tuple[float, bytes | None]] = deque()  # (due, data); None: the sender closed
        self.queued = 0
        self.last_due = 0.0
        self.arrived = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def push(self, data: bytes | None, delay: float) -> None:
        # Never before the piece ahead of it, even after set_delay lowered the delay.
        due = max(self.loop.time() + delay, self.last_due)
        self.last_due = due
        self.pieces.append((due, data))
        if data is not None:
            self.queued += len(data)
            if self.queued >= MAX_QUEUED:
                self.room.clear()
        self.arrived.set()

    def pop_due(self) -> tuple[list[bytes], bool]:
        """Every piece whose time has come, joined up; and whether the sender's end is among them."""
        now = self.loop.time()
        out: list[bytes] = []
        ended = False
        while self.pieces and self.pieces[0][0] <= now:
            _, data = self.pieces.popleft()
            if data is None:
                ended = True
                break
            out.append(data)
            self.queued -= len(data)
        if self.queued < MAX_QUEUED:
            self.room.set()
        if not self.pieces:
            self.arrived.clear()
        return out, ended


class _Relay:
    """One client connection and its connection to the target."""

    def __init__(self, proxy: LatencyProxy, sock: socket.socket) -> None:
        self.proxy = proxy
        self.sock = sock  # the accepted socket, until a transport owns it
        self.client: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            self.client = await asyncio.open_connection(sock=self.sock)
            self.upstream = await asyncio.open_connection(self.proxy.target_host, self.proxy.target_port)
        except OSError:
            self.abort()
            return
        loop = asyncio.get_running_loop()
        for (source, _), (_, sink) in ((self.client, self.upstream), (self.upstream, self.client)):
            direction = _Direction(loop)
            self.tasks.append(asyncio.ensure_future(self._read(source, direction)))
            self.tasks.append(asyncio.ensure_future(self._deliver(direction, sink)))
        try:
            await asyncio.gather(*self.tasks)
        except (OSError, asyncio.CancelledError):
            self.abort()  # one side failed or was cut: so is the other
            return
        # Both sides said goodbye and every byte was handed on: close, letting the rest go out.
        for _, writer in (self.client, self.upstream):
            writer.close()
        self.proxy._relays.discard(self)

    async def _read(self, source: asyncio.StreamReader, direction: _Direction) -> None:
        while True:
            await direction.room.wait()
            data = await source.read(PIECE)  # a reset raises, and the relay cuts the other side too
            direction.push(data or None, self.proxy.delay_s)
            if not data:
                return

    async def _deliver(self, direction: _Direction, sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await direction.arrived.wait()
            wait = direction.pieces[0][0] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            out, ended = direction.pop_due()
            if out:
                sink.write(b"".join(out))
                await sink.drain()
            if ended:
                # A half-close passes on as one: the other direction may still carry a reply.
                if sink.can_write_eof():
                    sink.write_eof()
                else:
                    sink.close()
                return

    def abort(self) -> None:
        """Both connections cut now (a reset, not a goodbye), whatever was in flight."""
        current = asyncio.current_task()
        for task in (*self.tasks, self.task):
            if task is not None and task is not current:
                task.cancel()
        if self.client is None:
            self.sock.close()
        for pair in (self.client, self.upstream):
            if pair is not None and not pair[1].transport.is_closing():
                pair[1].transport.abort()
        self.proxy._relays.discard(self)


class LatencyProxy:
    """Listens on 127.0.0.1:`port` (chosen now, free) and relays to target_host:target_port."""

    def __init__(self, target_host: str, target_port: int, delay_s: float) -> None:
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self.target_host = target_host
        self.target_port = target_port
        self.delay_s = float(delay_s)
        # Bound now and kept, so the port is known before start and nobody takes it in between.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port: int = self._socket.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"latency-proxy-{self.port}",
                                        daemon=True)
        self._relays: set[_Relay] = set()
        self._started = False
        self._stopped = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def set_delay(self, delay_s: float) -> None:
        """For data that arrives from now on; what is already in flight keeps its time."""
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self.delay_s = float(delay_s)

    def start(self) -> Self:
        if self._started:
            return self
        self._started = True
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._socket.setblocking(False)
        self._socket.listen(128)
        asyncio.get_running_loop().add_reader(self._socket.fileno(), self._accept)

    def _accept(self) -> None:
        # Accepted here, synchronously, and handed to a relay at once: no socket is ever
        # held only by a pending future that a stop could cancel (and leak).
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = self._socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # Out of descriptors, say: the listener stays readable, so pause instead
                # of spinning; the clients wait in the backlog meanwhile.
                fd = self._socket.fileno()
                loop.remove_reader(fd)
                loop.call_later(0.1, lambda: self._stopped or loop.add_reader(fd, self._accept))
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            relay = _Relay(self, conn)
            self._relays.add(relay)
            relay.task = loop.create_task(relay.run())

    def drop_connections(self) -> int:
        """Cut every relayed connection at once (both sides see it end); returns how many.
        The proxy still listens: clients that reconnect get through again."""
        if not self._started or self._stopped:
            return 0
        return self._call(self._drop())

    async def _drop(self) -> int:
        relays = list(self._relays)
        for relay in relays:
            relay.abort()
        return len(relays)

    def stop(self) -> None:
        """Stop listening and cut every connection. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._started and self._thread.is_alive():
            self._call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()
        self._socket.close()

    async def _stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self._socket.fileno())
        tasks = [r.task for r in self._relays if r.task is not None]
        await self._drop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _ in range(3):
            await asyncio.sleep(0)  # let the aborted transports close their sockets

    def _call(self, coroutine):  # noqa: ANN001, ANN202
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
