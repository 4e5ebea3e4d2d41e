"""A strict HTTP/1.1 client for origins: one request per connection at a time, and a
connection given back to the pool only when its response was framed exactly.

A cache that reuses a connection after a framing anomaly answers the next key with
whatever the origin wrote past the end of the last response: bytes beyond a declared
Content-Length, a body after a 304, a second response smuggled behind the first. So the
framing is h11's (strict by design: a bad chunk-size line, an early close or a short body
is an error, never a wait), and a connection is reused only when its response ended
exactly where its framing said, nothing was left over, and nothing arrived while it sat
idle. Every read waits at most the origin's read timeout.
"""

from __future__ import annotations

import asyncio
import os
import select
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11

# Idle connections kept per origin, and for how long: origins close theirs after a few
# seconds of quiet, and a connection the origin has closed is only found out on use.
IDLE_KEPT = 32
IDLE_FOR = 15.0
# A connection whose response has just ended waits this long before it answers another
# request: surplus an origin writes right behind a response (a smuggled second one) then
# arrives while the connection is idle, and spoils it, instead of answering the next key.
# 250 ms: under load an origin's own event loop may send the tail of a write that long
# after its first bytes (the fault matrix saw 50 ms passed on a busy 2-core machine).
SETTLE = 0.25
# Bytes a connection buffers before it stops reading from the socket (backpressure).
BUFFER_HIGH = 1024 * 1024
# The largest response head taken (h11's own default is 16 KiB; heads with long cookies
# or policies pass that), the same as the edge takes from its clients.
MAX_HEAD = 64 * 1024


class WireError(Exception):
    """The origin could not be reached, or broke HTTP/1.1's framing."""


class WireTimeout(WireError):
    """The origin went quiet for longer than its read (or connect) timeout."""


class _Socket(asyncio.Protocol):
    """The bytes of one connection as they arrive, and whether it may still be trusted."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._eof = False
        self._error: BaseException | None = None
        self._arrived: asyncio.Event = asyncio.Event()
        self._drained: asyncio.Event = asyncio.Event()
        self._drained.set()
        # Set while the connection waits in the pool: any byte or close then spoils it.
        self.idle = False
        self.spoiled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.idle:
            self.spoiled = True  # bytes nobody asked for: they would answer the next request
        self._pieces.append(data)
        self._buffered += len(data)
        if self._buffered >= BUFFER_HIGH and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._arrived.set()

    def eof_received(self) -> bool:
        self._eof = True
        self.spoiled = True
        self._arrived.set()
        return False  # close our side too

    def connection_lost(self, exc: BaseException | None) -> None:
        self._eof = True
        self._error = exc
        self.spoiled = True
        self._arrived.set()
        self._drained.set()

    def holds_unread(self) -> bool:
        """Whether bytes (or a close) arrived that nobody has read yet: after a response
        ended as framed, they can only be a response nobody asked for."""
        return bool(self._pieces) or self._eof

    def pause_writing(self) -> None:
        self._drained.clear()

    def resume_writing(self) -> None:
        self._drained.set()

    async def read(self, timeout: float) -> bytes:
        """The next piece that arrived, or b"" once the origin closed."""
        while not self._pieces and not self._eof:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                raise WireTimeout(f"timed out: no byte for {timeout:g} s") from None
        if not self._pieces:
            return b""
        # One piece at a time, as the socket gave it: no copies, and allocations of one
        # size that the allocator reuses rather than ever larger ones it keeps.
        data = self._pieces.popleft()
        self._buffered -= len(data)
        if self._paused and self._buffered < BUFFER_HIGH // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def write(self, data: bytes, timeout: float) -> None:
        if self.transport is None or self.transport.is_closing():
            raise WireError("the connection closed")
        self.transport.write(data)
        if not self._drained.is_set():
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except TimeoutError:
                raise WireTimeout(f"timed out: the origin took nothing for {timeout:g} s") from None
        if self.transport.is_closing():
            raise WireError("the connection closed")

    def close(self, abort: bool = False) -> None:
        self.spoiled = True
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()


class Connection:
    def __init__(self, sock: _Socket) -> None:
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.idle_since = time.monotonic()
        self.used = False  # has answered a request before (a stale keep-alive may fail)
        self.answered = False  # the current request's response head has arrived
        # Bytes of the response head(s) not yet handed to h11 (see _reframed), and
        # whether the final head has been handed on.
        self.head = b""
        self.head_done = True

    def reusable(self) -> bool:
        return (
            not self.sock.spoiled
            and self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and time.monotonic() - self.idle_since < IDLE_FOR
        )

    def settled(self) -> bool:
        return time.monotonic() - self.idle_since >= SETTLE

    def unread(self) -> bool:
        """Bytes (or a close) wait in the kernel that the event loop has not read yet: a
        busy loop may not have polled this socket since the connection went idle, however
        long ago that was, so the settling time alone does not show it is quiet."""
        transport = self.sock.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None:
            return True
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        try:
            return bool(poller.poll(0))
        except OSError:
            return True


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int


@dataclass
class WireResponse:
    status: int
    headers: list[tuple[str, str]]
    no_body: bool  # HEAD, 1xx, 204, 304: framing says there is none
    _pool: Pool
    _conn: Connection | None

    async def body(self) -> AsyncIterator[bytes]:
        """The body as framed; WireError if the framing breaks or the origin goes quiet."""
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                event = await self._pool.next_event(conn)
                if isinstance(event, h11.Data):
                    if event.data:
                        yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise WireError(f"unexpected {type(event).__name__} in a response body")
        except BaseException:
            self.close()
            raise
        self._conn = None
        self._pool.give_back(conn)

    def close(self) -> None:
        """Stop: a response not read to its end leaves its connection unusable."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.sock.close(abort=True)


class Pool:
    """Connections to one origin; idle ones are reused only while trustworthy."""

    def __init__(self, endpoint: Endpoint, connect_timeout: float, read_timeout: float) -> None:
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: list[Connection] = []
        self._tls = ssl.create_default_context() if endpoint.scheme == "https" else None

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        ep = self.endpoint
        try:
            _, sock = await asyncio.wait_for(
                loop.create_connection(_Socket, ep.host, ep.port, ssl=self._tls,
                                       server_hostname=ep.host if self._tls else None),
                self.connect_timeout,
            )
        except TimeoutError:
            raise WireTimeout(f"timed out: no connection within {self.connect_timeout:g} s") from None
        except ssl.SSLError as exc:
            raise WireError(f"TLS failed: {exc.reason or exc}") from None
        except OSError as exc:
            # The errno's words ("connection refused"), not the event loop's sentence.
            words = os.strerror(exc.errno).lower() if exc.errno else (exc.strerror or str(exc))
            raise WireError(f"cannot connect: {words}") from None
        return Connection(sock)

    def _checkout(self) -> Connection | None:
        """The most recently used trustworthy idle connection that has settled; the
        spoiled and the expired are closed on the way, the ones still settling stay."""
        kept: list[Connection] = []
        found = None
        for conn in reversed(self._idle):
            if not conn.reusable():
                conn.sock.close()
            elif found is None and conn.settled():
                if conn.unread():
                    conn.sock.close()  # something came while it sat idle: it answers no one
                else:
                    found = conn
            else:
                kept.append(conn)
        self._idle = kept[::-1]
        if found is not None:
            found.sock.idle = False
        return found

    def give_back(self, conn: Connection) -> None:
        """A response that ended exactly as framed: keep its connection if nothing is left over."""
        state = conn.h11
        leftover, closed = state.trailing_data
        if (leftover or closed or conn.sock.spoiled or conn.sock.holds_unread() or state.our_state is not h11.DONE
                or state.their_state is not h11.DONE or len(self._idle) >= IDLE_KEPT):
            conn.sock.close(abort=bool(leftover) or conn.sock.holds_unread())
            return
        state.start_next_cycle()
        conn.used = True
        conn.idle_since = time.monotonic()
        conn.sock.idle = True
        self._idle.append(conn)

    async def next_event(self, conn: Connection) -> h11.Event:
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise WireError(f"broke HTTP/1.1 framing: {exc}") from None
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            data = await conn.sock.read(self.read_timeout)
            if not conn.head_done:
                closed = not data
                data = _scan_heads(conn, data)
                if not data and not closed:
                    continue  # the head is not whole yet (b"" would tell h11 of a close)
            if not data and not conn.answered:
                raise WireError("closed the connection before its response")
            try:
                conn.h11.receive_data(data)
            except h11.RemoteProtocolError as exc:
                raise WireError(f"broke HTTP/1.1 framing: {exc}") from None

    async def request(self, method: str, target: str, headers: list[tuple[str, str]],
                      body: AsyncIterator[bytes] | None) -> WireResponse:
        """Send one request and read its response head. A reused connection that the origin
        had closed meanwhile is retried once on a new one. A request with a body always
        gets a new connection: its body is sent as it arrives and cannot be sent again,
        and an origin closes idle connections when it likes (some after 5 s), so a reused
        one could fail it for nothing."""
        conn = self._checkout() if body is None else None
        if conn is not None:
            try:
                return await self._exchange(conn, method, target, headers, None)
            except WireTimeout:
                raise
            except WireError:
                if conn.answered:
                    raise  # the origin's answer had begun: not a stale connection
        return await self._exchange(await self._connect(), method, target, headers, body)

    async def _exchange(self, conn: Connection, method: str, target: str, headers: list[tuple[str, str]],
                        body: AsyncIterator[bytes] | None) -> WireResponse:
        conn.answered = False
        conn.head, conn.head_done = b"", False
        try:
            await self._send(conn, method, target, headers, body)
            while True:
                event = await self.next_event(conn)
                if isinstance(event, h11.InformationalResponse):
                    continue  # 1xx before the answer: nothing to keep
                if isinstance(event, h11.Response):
                    conn.answered = True
                    break
                raise WireError(f"unexpected {type(event).__name__} before the response")
        except BaseException:
            conn.sock.close(abort=True)
            raise
        status = event.status_code
        fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers]
        no_body = method == "HEAD" or status in (204, 304)
        response = WireResponse(status, fields, no_body, self, conn)
        if no_body:
            # h11 frames these as empty: read the end now, so that a body the origin
            # sent anyway is found as left-over bytes and the connection dropped.
            try:
                async for _ in response.body():
                    pass
            except WireError:
                pass  # the response itself stands; the connection is gone
        return response

    async def _send(self, conn: Connection, method: str, target: str, headers: list[tuple[str, str]],
                    body: AsyncIterator[bytes] | None) -> None:
        ep = self.endpoint
        default_port = 443 if ep.scheme == "https" else 80
        host = ep.host if ep.port == default_port else f"{ep.host}:{ep.port}"
        if ":" in ep.host and not ep.host.startswith("["):
            host = f"[{ep.host}]" + ("" if ep.port == default_port else f":{ep.port}")
        fields = [("Host", host), *headers]
        if body is not None and not any(name.lower() == "content-length" for name, _ in headers):
            fields.append(("Transfer-Encoding", "chunked"))
        state = conn.h11
        try:
            out = state.send(h11.Request(method=method, target=target, headers=fields))
            await conn.sock.write(out, self.read_timeout)
            if body is not None:
                async for part in body:
                    if part:
                        await conn.sock.write(state.send(h11.Data(data=part)), self.read_timeout)
            await conn.sock.write(state.send(h11.EndOfMessage()), self.read_timeout)
        except h11.LocalProtocolError as exc:
            raise WireError(f"cannot send the request: {exc}") from None

    def close(self) -> None:
        for conn in self._idle:
            conn.sock.close()
        self._idle.clear()


def _scan_heads(conn: Connection, data: bytes) -> bytes:
    """What of `data` h11 may have now: response heads only once whole, the final one
    reframed (_reframed); the bytes after it as they come."""
    if not data:  # the origin closed: h11 gets what is left (the close on the next read)
        conn.head_done = True
        return conn.head
    buffer = conn.head + data
    out = b""
    while True:
        end = _head_end(buffer)
        if end < 0:
            if len(buffer) > MAX_HEAD:  # h11 refuses it
                conn.head_done = True
                return out + buffer
            conn.head = buffer
            return out
        head, buffer = buffer[:end], buffer[end:]
        if head[9:10] == b"1":  # "HTTP/1.1 1xx": an interim response, another head follows
            out += head
            continue
        conn.head, conn.head_done = b"", True
        return out + _reframed(head) + buffer


def _head_end(buffer: bytes) -> int:
    """Where the first head in `buffer` ends (after its empty line), or -1."""
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := buffer.find(mark)) >= 0]
    return min(ends) if ends else -1


def _reframed(head: bytes) -> bytes:
    """A head whose Transfer-Encoding does not end in chunked, framed as HTTP/1.1 frames
    it (RFC 9112 §6.3, rule 4): by the connection's close, Content-Length ignored. h11
    takes no Transfer-Encoding but chunked, so both fields are dropped for it (they are
    hop-by-hop or wrong: neither is passed on). Any other head is left as it came; one
    that names chunked among other codings stays an error (its body would need decoding)."""
    lines = head.split(b"\n")
    codings = [c.strip().lower() for line in lines[1:] if line.lower().startswith(b"transfer-encoding:")
               for c in line.split(b":", 1)[1].split(b",") if c.strip()]
    if not codings or b"chunked" in codings:
        return head
    kept = [line for line in lines if not line.lower().startswith((b"transfer-encoding:", b"content-length:"))]
    return b"\n".join(kept)
