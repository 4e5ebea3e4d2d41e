"""A misbehaving HTTP/1.1 origin on loopback, written at the socket level, for tests.

The well-behaved origin (origin_server.py) runs on a web framework, and a framework will
not put wrong bytes on the wire: it fixes up lengths, refuses to write after the end of a
response and never sends a reset.  The faults a caching edge must survive are exactly
those wrong bytes, so this origin speaks HTTP/1.1 itself over asyncio streams and does,
per request, what a broken or hostile origin does: cut a body short with a FIN or an RST,
stall, append garbage, smuggle a second response onto a kept-alive connection, break
chunked framing, send a body where none may be.

It runs on its own event loop in a thread of its own (the shape of OriginServer), so sync
and async tests use it alike; every public method may be called from the test's thread
while requests are being served.

    with HostileOrigin() as origin:
        origin.put("/a", body, faults=[Fault.fin_at(1000)])   # first request cut, then fine
        ...                                                   # requests to origin.url + "/a"
        assert origin.count("/a") == 2
        assert origin.requests("/a")[1].header("range") == "bytes=1000-"

What it answers without a fault:
- a put object: 200 with Content-Length, ETag (a quoted BLAKE2b of the body),
  Last-Modified (the time of the put), `Cache-Control: max-age=3600`, Accept-Ranges and
  Date, each overridable (or removable, with None) by the put's headers;
  If-None-Match (weak comparison) or, without it, If-Modified-Since gets a 304; a single
  `Range: bytes=A-B` / `A-` / `-N` gets a 206 with Content-Range (416 when unsatisfiable,
  ignored when an If-Range does not match); HEAD gets the head only;
- any method other than HEAD is answered like GET (a request body is read and recorded);
- an unknown path: 404 with a short body; a request it cannot parse: 400 and a close.
Connections are persistent (HTTP/1.1), any number of requests each, until the client
sends `Connection: close`, speaks HTTP/1.0, or a fault ends the connection.

Faults shape the answer the origin would have given to that request (so a fault on a
Range request cuts the 206's body); where that answer has no body (HEAD, 304, 204) the
body-shaping faults send the head only and then end as they say (close, reset, idle).
Faults that end a connection with a FIN first shut down the sending side, then wait (up to
CLOSE_GRACE seconds) for the client to close, so that unread bytes from the client cannot
turn the FIN into a reset.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import http
import socket
import struct
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import Literal
from urllib.parse import unquote, urlsplit

from loopback import LoopbackServer

FaultKind = Literal[
    "fin_at", "rst_at", "short", "surplus_garbage", "smuggle", "chunked_mid", "chunked_no_last",
    "chunked_bad_size", "stall_before_headers", "stall_after_headers", "status", "reset_before_headers",
    "body_on_empty", "no_length_close", "no_length_close_short",
]
KINDS: frozenset[str] = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]

PIECE = 64 * 1024  # bodies go out in writes of this size, each drained: no big copies
CHUNK_SIZE = 16 * 1024  # chunk size of the chunked faults (the boundaries tests compute with)
CLOSE_GRACE = 2.0  # seconds a FIN-closing fault waits for the client to close in turn
MAX_HEAD = 64 * 1024  # a request head longer than this is refused (400)
BAD_CHUNK_SIZE_LINE = b"zz\r\n"
SMUGGLED_ETAG = '"smuggled"'

# Fields that describe a body; a 304 leaves them out (RFC 9110 §15.4.5).
BODY_FIELDS = frozenset({"content-length", "content-type", "content-encoding", "content-range",
                         "content-language", "transfer-encoding", "accept-ranges"})


@dataclass(frozen=True)
class Fault:
    """How one response goes wrong. Build with the class methods; `kind` names it.

    n: a count of body bytes (where the break falls); seconds: a stall's length;
    data: bytes sent where they do not belong; delay: seconds before those bytes;
    code: a status code.
    """

    kind: FaultKind
    n: int | None = None
    seconds: float = 0.0
    data: bytes | None = None
    delay: float = 0.0
    code: int = 500

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.n is not None and self.n < 0:
            raise ValueError("n must be >= 0")

    @classmethod
    def fin_at(cls, n: int) -> Fault:
        """True head (full Content-Length), the first n body bytes, then a clean close (FIN)."""
        return cls("fin_at", n=n)

    @classmethod
    def rst_at(cls, n: int) -> Fault:
        """True head, the first n body bytes (made sure to have left), then a reset (RST)."""
        return cls("rst_at", n=n)

    @classmethod
    def short(cls, n: int) -> Fault:
        """True head, n body bytes, then the connection stays open and silent until the
        client goes away: a short body that stalls rather than ends. n is clamped to all
        but the body's last byte, so the body is short even where the answer is smaller
        than n (a 206 to a Range request): a whole answer followed by a silent connection
        would be another fault, a kept-alive connection that hangs, and its victim the
        next request on it, for another key."""
        return cls("short", n=n)

    @classmethod
    def surplus_garbage(cls, data: bytes, delay: float = 0.0) -> Fault:
        """The true response, then `data` right after it on the kept-alive connection: in the
        same write as the body's end, or `delay` seconds later. The connection is kept."""
        return cls("surplus_garbage", data=data, delay=delay)

    @classmethod
    def smuggle(cls, body2: bytes = b"POISON") -> Fault:
        """The true response and, in the same write, a whole second `200 OK` (its own
        Content-Length, ETag '"smuggled"', max-age=3600) carrying body2. The connection is
        kept and the next request answered normally, so a client that reuses it reads the
        smuggled response as the answer to that next request."""
        return cls("smuggle", data=body2)

    @classmethod
    def chunked_mid(cls, n: int) -> Fault:
        """Chunked transfer; after n body bytes the connection closes (FIN) inside a chunk:
        the last chunk's size line promises more than follows it (n is clamped to the body)."""
        return cls("chunked_mid", n=n)

    @classmethod
    def chunked_no_last(cls, n: int | None = None) -> Fault:
        """Chunked transfer; whole chunks carrying the body (or its first n bytes), then a
        close (FIN) without the last 0-size chunk."""
        return cls("chunked_no_last", n=n)

    @classmethod
    def chunked_bad_size(cls, n: int) -> Fault:
        """Chunked transfer; whole chunks carrying n body bytes, then the malformed chunk-size
        line b"zz\\r\\n", then nothing: the connection stays open until the client goes away."""
        return cls("chunked_bad_size", n=n)

    @classmethod
    def stall_before_headers(cls, seconds: float) -> Fault:
        """Send nothing for `seconds` (the answer then follows normally); the stall ends
        early, with the connection, when the client closes."""
        return cls("stall_before_headers", seconds=seconds)

    @classmethod
    def stall_after_headers(cls, seconds: float) -> Fault:
        """Send the head, then nothing for `seconds`, then the body; ends early when the
        client closes."""
        return cls("stall_after_headers", seconds=seconds)

    @classmethod
    def status(cls, code: int = 500, body: bytes | None = None) -> Fault:
        """Answer `code` (e.g. 500, 503) with a small text body instead; the connection is kept."""
        return cls("status", code=code, data=body)

    @classmethod
    def reset_before_headers(cls) -> Fault:
        """Read the request, then reset the connection without sending a byte."""
        return cls("reset_before_headers")

    @classmethod
    def body_on_empty(cls, body: bytes | None = None) -> Fault:
        """Where the answer may have no body, send one anyway, connection kept: a 304 or 204
        gets `Content-Length: len(body)` and body (default: the object's bytes); a HEAD gets
        the true head (Content-Length of the object) followed by body (default: the bytes a
        GET would get). Any other answer is sent normally."""
        return cls("body_on_empty", data=body)

    @classmethod
    def no_length_close(cls) -> Fault:
        """No Content-Length, no chunked: `Connection: close`, the body, a FIN. Legal (the body
        is delimited by the close); a control case."""
        return cls("no_length_close")

    @classmethod
    def no_length_close_short(cls, n: int) -> Fault:
        """As no_length_close but only the first n body bytes before the FIN. On the wire this
        cannot be told from a whole body of n bytes; that is the point of the case: a client
        can only notice by checking a length it learnt elsewhere (a validator, a HEAD)."""
        return cls("no_length_close_short", n=n)


@dataclass(frozen=True)
class Request:
    """One request as the origin received it: the raw head and what it parsed from it."""

    method: str
    target: str  # the request-target exactly as sent
    version: str  # "HTTP/1.1"
    headers: tuple[tuple[str, str], ...]  # in order, names as sent
    body: bytes
    raw: bytes  # the head as received, through the blank line
    connection: int  # which connection it came on (1 is the first accepted)
    index: int  # its position on that connection (1 is the first)
    time: float

    @property
    def path(self) -> str:
        """The percent-decoded path, without the query: the key objects are put under."""
        return unquote(urlsplit(self.target).path or "/")

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of the first field called `name` (any case)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)


@dataclass
class _Object:
    body: bytes
    status: int
    headers: list[tuple[str, str]]  # the defaults merged with the put's, Date left out
    fault: Fault | None
    queue: list[Fault | None]


@dataclass
class _Plan:
    """The answer the origin would give: the faults work on this."""

    status: int
    headers: list[tuple[str, str]]
    payload: memoryview  # the representation's bytes (sent only where has_body)
    has_body: bool

    @property
    def body(self) -> memoryview:
        return self.payload if self.has_body else memoryview(b"")


class _BadRequest(Exception):
    pass


class _Conn:
    """One client connection with a read buffer of its own, so that waiting for the client
    to go away (a stall) can read without losing what it sent meanwhile."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ident: int) -> None:
        self.reader = reader
        self.writer = writer
        self.ident = ident
        self.buf = bytearray()
        self.eof = False
        self.served = 0

    async def _more(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(PIECE)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def read_head(self) -> bytes | None:
        """The next request head through its blank line, or None at the end of the connection."""
        while True:
            while self.buf.startswith(b"\r\n"):  # RFC 9112 §2.2: ignore empty lines before a request
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[:end + 4])
                del self.buf[:end + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise _BadRequest("head too long")
            if not await self._more():
                return None

    async def read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._more():
                raise _BadRequest("request body cut short")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def read_line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > MAX_HEAD or not await self._more():
                raise _BadRequest("bad chunked request body")
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    async def wait_gone(self, seconds: float | None) -> bool:
        """Wait until the client closes (True) or `seconds` pass (False; None: no limit)."""
        async def until_eof() -> None:
            while await self._more():
                pass
        try:
            await asyncio.wait_for(until_eof(), seconds)
        except asyncio.TimeoutError:
            return False
        return True


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _without(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in names]


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Whatever"
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: memoryview | bytes) -> bytes:
    return b"%x\r\n" % len(data) + bytes(data) + b"\r\n"


class HostileOrigin(LoopbackServer):
    """An HTTP/1.1 origin on 127.0.0.1 whose objects and per-request faults a test sets."""

    thread_name = "hostile-origin"

    def __init__(self) -> None:
        super().__init__()
        self._objects: dict[str, _Object] = {}
        self._log: list[Request] = []
        self._server: asyncio.Server | None = None
        self._open: dict[int, tuple[asyncio.Task[None], asyncio.StreamWriter]] = {}
        self._accepted = 0

    # -- life -----------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=self._socket)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = []
        for task, writer in list(self._open.values()):
            writer.transport.abort()
            task.cancel()
            tasks.append(task)
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    # -- objects and the log --------------------------------------------------

    def put(
        self,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str | None] | None = None,
        fault: Fault | None = None,
        faults: list[Fault | None] | None = None,
        *,
        status: int = 200,
    ) -> None:
        """Serve `body` at `path` (percent-decoded, e.g. "/a b") from the next request on.

        headers: override the default response fields (same name, any case) or add to them;
            a value of None removes a default (e.g. {"ETag": None}). A Content-Length given
            here replaces the true one, for a test that wants the origin to lie outright.
        faults: a queue, one taken per request to this path (None: that request is fine);
            once it is empty, `fault` applies to every request (None: none).
        status: the object's status; 200 gets validators, 304 and ranges; e.g. 204 to try
            body_on_empty on it.
        """
        defaults: list[tuple[str, str | None]] = [
            ("Content-Type", "application/octet-stream"),
            ("ETag", _etag(body)),
            ("Last-Modified", formatdate(time.time(), usegmt=True)),
            ("Cache-Control", "max-age=3600"),
            ("Accept-Ranges", "bytes"),
        ]
        given = {k.lower(): (k, v) for k, v in (headers or {}).items()}
        merged: list[tuple[str, str]] = []
        for name, value in defaults:
            if name.lower() in given:
                name, value = given.pop(name.lower())
            if value is not None:
                merged.append((name, value))
        merged += [(k, v) for k, v in given.values() if v is not None]
        with self._lock:
            self._objects[path] = _Object(body, status, merged, fault, list(faults or []))

    def remove(self, path: str) -> None:
        """Later requests for `path` get a 404."""
        with self._lock:
            self._objects.pop(path, None)

    def requests(self, path: str | None = None) -> list[Request]:
        """Requests received so far (for one decoded path, or all), oldest first."""
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def count(self, path: str, method: str | None = None) -> int:
        """How many requests for `path` (of `method`, or any) arrived."""
        return sum(1 for r in self.requests(path) if method is None or r.method == method)

    def faults_left(self, path: str) -> int:
        """How many of the faults queued for `path` (put's `faults`; not the standing
        `fault`) no request has taken yet. A fault is taken by the first request the origin
        reads whole: a request its client gave up on before that (on a busy machine, or on
        a connection the origin had stopped reading) leaves the fault to the next one."""
        with self._lock:
            obj = self._objects.get(path)
            return 0 if obj is None else sum(1 for fault in obj.queue if fault is not None)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def connections(self) -> int:
        """How many connections were accepted so far: tells reuse from reconnecting."""
        with self._lock:
            return self._accepted

    def open_connections(self) -> int:
        """How many connections are open now (a stalled one counts until the client leaves)."""
        with self._lock:
            return len(self._open)

    def is_open(self, connection: int) -> bool:
        """Whether the connection a Request came on (Request.connection) is still being served:
        tells a client that walked away from a stall from one still holding it."""
        with self._lock:
            return connection in self._open

    # -- serving --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        with self._lock:
            self._accepted += 1
            ident = self._accepted
            self._open[ident] = (task, writer)
        conn = _Conn(reader, writer, ident)
        try:
            while True:
                try:
                    request = await self._read_request(conn)
                except _BadRequest:
                    await self._send(conn, _head(400, [("Content-Length", "0"), ("Connection", "close")]))
                    await self._close_clean(conn)
                    break
                if request is None or not await self._answer(conn, request):
                    break
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the client left, or stop() cut it: nothing to tell anyone
        finally:
            with self._lock:
                self._open.pop(ident, None)
            if not writer.transport.is_closing():
                writer.transport.close()

    async def _read_request(self, conn: _Conn) -> Request | None:
        raw = await conn.read_head()
        if raw is None:
            return None
        lines = raw[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(lines[0])
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _BadRequest(line)
            headers.append((name, value.strip(" \t")))
        lower = [(k.lower(), v) for k, v in headers]
        te = _get(lower, "transfer-encoding")
        length = _get(lower, "content-length")
        if (_get(lower, "expect") or "").lower() == "100-continue" and (te or length not in (None, "0")):
            conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if te is not None:
            if te.lower().replace(" ", "").split(",")[-1] != "chunked":
                raise _BadRequest(te)
            body = await self._read_chunked(conn)
        elif length is not None:
            if not length.isdigit():
                raise _BadRequest(length)
            body = await conn.read_exactly(int(length))
        else:
            body = b""
        conn.served += 1
        request = Request(method, target, version, tuple(headers), body, raw, conn.ident, conn.served, time.time())
        with self._lock:
            self._log.append(request)
        return request

    @staticmethod
    async def _read_chunked(conn: _Conn) -> bytes:
        body = bytearray()
        while True:
            size_text = (await conn.read_line()).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest("bad chunk size") from None
            if size == 0:
                while await conn.read_line():  # trailer fields, up to the blank line
                    pass
                return bytes(body)
            body += await conn.read_exactly(size)
            if await conn.read_exactly(2) != b"\r\n":
                raise _BadRequest("bad chunk end")

    def _take(self, path: str) -> tuple[_Object | None, Fault | None]:
        with self._lock:
            obj = self._objects.get(path)
            if obj is None:
                return None, None
            return obj, obj.queue.pop(0) if obj.queue else obj.fault

    async def _answer(self, conn: _Conn, request: Request) -> bool:
        """Answer one request; False when the connection is to end."""
        keep = request.version == "HTTP/1.1" and "close" not in (request.header("connection") or "").lower()
        obj, fault = self._take(request.path)
        if obj is None:
            headers = [("Date", formatdate(usegmt=True)), ("Content-Type", "text/plain"),
                       ("Content-Length", "10")]
            plan = _Plan(404, headers, memoryview(b"not found\n"), request.method != "HEAD")
        else:
            plan = self._plan(obj, request)
        if not keep:
            plan.headers.append(("Connection", "close"))
        if fault is None:
            await self._send(conn, _head(plan.status, plan.headers), plan.body)
        else:
            keep = await getattr(self, "_f_" + fault.kind)(conn, request, obj, plan, fault) and keep
        if not keep:
            await self._close_clean(conn)
        return keep

    @staticmethod
    def _plan(obj: _Object, request: Request) -> _Plan:
        headers = [("Date", formatdate(usegmt=True))] + obj.headers
        payload = memoryview(obj.body)
        status = obj.status
        head_only = request.method == "HEAD"
        if status == 200 and HostileOrigin._not_modified(obj, request):
            return _Plan(304, _without(headers, *BODY_FIELDS), payload, False)
        if status == 200 and (wanted := HostileOrigin._range(obj, request)) is not None:
            start, end = wanted
            size = len(obj.body)
            if start >= size or start > end:
                headers = _without(headers, "content-length") + [("Content-Range", f"bytes */{size}"),
                                                                  ("Content-Length", "0")]
                return _Plan(416, headers, memoryview(b""), False)
            end = min(end, size - 1)
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            payload, status = payload[start:end + 1], 206
        if status in (204, 304) or status < 200:
            return _Plan(status, _without(headers, "content-length"), payload, False)
        if _get([(k.lower(), v) for k, v in headers], "content-length") is None:
            headers.append(("Content-Length", str(len(payload))))
        return _Plan(status, headers, payload, not head_only)

    @staticmethod
    def _not_modified(obj: _Object, request: Request) -> bool:
        """RFC 9110 §13.1.2-3: If-None-Match (weak comparison) decides when present."""
        lower = [(k.lower(), v) for k, v in obj.headers]
        if_none_match = request.header("if-none-match")
        if if_none_match is not None:
            etag = _get(lower, "etag")
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return etag is not None and ("*" in tags or etag.removeprefix("W/") in tags)
        since, modified = request.header("if-modified-since"), _get(lower, "last-modified")
        if since is None or modified is None:
            return False
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False

    @staticmethod
    def _range(obj: _Object, request: Request) -> tuple[int, int] | None:
        """A single byte range as (first, last) inclusive; None: answer the whole body."""
        value = (request.header("range") or "").replace(" ", "")
        if not value.startswith("bytes=") or "," in value:
            return None
        if_range = request.header("if-range")
        if if_range is not None and if_range not in (_get([(k.lower(), v) for k, v in obj.headers], "etag"),
                                                     _get([(k.lower(), v) for k, v in obj.headers],
                                                          "last-modified")):
            return None
        first, dash, last = value[len("bytes="):].partition("-")
        size = len(obj.body)
        if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) or (
                last and not last.isdigit()):
            return None
        if not first:  # a suffix: the last N bytes
            return (max(size - int(last), 0), size - 1) if int(last) > 0 else (size, size)
        return int(first), int(last) if last else size - 1

    # -- putting bytes on the wire --------------------------------------------

    @staticmethod
    async def _send(conn: _Conn, head: bytes, body: memoryview | bytes = b"", tail: bytes = b"") -> None:
        """head, body and tail in as few writes as a bounded copy allows: small responses go
        in one write (so `tail` shares a segment with the body's end), big bodies in PIECE
        slices of a memoryview, each drained, the last one joined with `tail`."""
        body = memoryview(body)
        writer = conn.writer
        if len(body) <= PIECE:
            writer.write(head + bytes(body) + tail)
        else:
            writer.write(head)
            last = (len(body) - 1) // PIECE * PIECE
            for start in range(0, last, PIECE):
                writer.write(body[start:start + PIECE])
                await writer.drain()
            writer.write(bytes(body[last:]) + tail)
        await writer.drain()

    @staticmethod
    async def _flush(conn: _Conn, limit: float = 2.0) -> None:
        """Wait until what was written has left: out of asyncio's buffer and out of the kernel's
        send queue (acknowledged, on loopback at once), so a reset cannot discard it."""
        deadline = time.monotonic() + limit
        transport = conn.writer.transport
        while transport.get_write_buffer_size() and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        sock = conn.writer.get_extra_info("socket")
        while sock is not None and time.monotonic() < deadline:
            try:
                unsent = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            except OSError:
                break
            if not unsent:
                return
            await asyncio.sleep(0.002)

    async def _reset(self, conn: _Conn) -> None:
        """Abort with SO_LINGER 0: the kernel sends an RST instead of a FIN."""
        await self._flush(conn)
        sock = conn.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.writer.transport.abort()

    @staticmethod
    async def _close_clean(conn: _Conn) -> None:
        """FIN: shut the sending side once all is written, let the client close, then close.
        Closing with unread client bytes in the kernel would make Linux send an RST."""
        writer = conn.writer
        if writer.transport.is_closing():
            return
        if writer.can_write_eof():
            writer.write_eof()
        await conn.wait_gone(CLOSE_GRACE)
        writer.transport.close()

    # -- the faults: each returns whether the connection is kept --------------

    async def _f_fin_at(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                        fault: Fault) -> bool:
        await self._send(conn, _head(plan.status, plan.headers), plan.body[:fault.n])
        await self._close_clean(conn)
        return False

    async def _f_rst_at(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                        fault: Fault) -> bool:
        await self._send(conn, _head(plan.status, plan.headers), plan.body[:fault.n])
        await self._reset(conn)
        return False

    async def _f_short(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                       fault: Fault) -> bool:
        body = plan.body
        await self._send(conn, _head(plan.status, plan.headers), body[:min(fault.n or 0, max(len(body) - 1, 0))])
        await conn.wait_gone(None)
        return False

    async def _f_surplus_garbage(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                                 fault: Fault) -> bool:
        garbage = fault.data or b""
        if not fault.delay:
            await self._send(conn, _head(plan.status, plan.headers), plan.body, garbage)
            return True
        await self._send(conn, _head(plan.status, plan.headers), plan.body)
        if await conn.wait_gone(fault.delay):
            return False
        conn.writer.write(garbage)
        await conn.writer.drain()
        return True

    async def _f_smuggle(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                         fault: Fault) -> bool:
        body2 = fault.data or b""
        second = _head(200, [("Date", formatdate(usegmt=True)), ("Content-Type", "text/plain"),
                             ("Content-Length", str(len(body2))), ("ETag", SMUGGLED_ETAG),
                             ("Cache-Control", "max-age=3600")]) + body2
        await self._send(conn, _head(plan.status, plan.headers), plan.body, second)
        return True

    @staticmethod
    def _chunked_head(plan: _Plan) -> bytes:
        return _head(plan.status, _without(plan.headers, "content-length") + [("Transfer-Encoding", "chunked")])

    @staticmethod
    async def _send_chunks(conn: _Conn, body: memoryview) -> None:
        """Whole chunks of CHUNK_SIZE (the last one smaller) carrying `body`, no last chunk."""
        for start in range(0, len(body), CHUNK_SIZE):
            conn.writer.write(_chunk(body[start:start + CHUNK_SIZE]))
            await conn.writer.drain()

    async def _f_chunked_mid(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                             fault: Fault) -> bool:
        conn.writer.write(self._chunked_head(plan))
        body = plan.body
        if plan.has_body:
            n = min(fault.n or 0, len(body))
            whole = n // CHUNK_SIZE * CHUNK_SIZE
            await self._send_chunks(conn, body[:whole])
            # The chunk the break falls in: its size line promises at least one byte more
            # than is sent, also where n reaches the end of the body.
            promised = max(min(CHUNK_SIZE, len(body) - whole), n - whole + 1)
            conn.writer.write(b"%x\r\n" % promised + bytes(body[whole:n]))
        await conn.writer.drain()
        await self._close_clean(conn)
        return False

    async def _f_chunked_no_last(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                                 fault: Fault) -> bool:
        conn.writer.write(self._chunked_head(plan))
        body = plan.body
        await self._send_chunks(conn, body if fault.n is None else body[:fault.n])
        await conn.writer.drain()
        await self._close_clean(conn)
        return False

    async def _f_chunked_bad_size(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                                  fault: Fault) -> bool:
        conn.writer.write(self._chunked_head(plan))
        if plan.has_body:
            await self._send_chunks(conn, plan.body[:fault.n])
            conn.writer.write(BAD_CHUNK_SIZE_LINE)
        await conn.writer.drain()
        await conn.wait_gone(None)
        return False

    async def _f_stall_before_headers(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                                      fault: Fault) -> bool:
        if await conn.wait_gone(fault.seconds):
            return False
        await self._send(conn, _head(plan.status, plan.headers), plan.body)
        return True

    async def _f_stall_after_headers(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                                     fault: Fault) -> bool:
        await self._send(conn, _head(plan.status, plan.headers))
        if await conn.wait_gone(fault.seconds):
            return False
        await self._send(conn, b"", plan.body)
        return True

    async def _f_status(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                        fault: Fault) -> bool:
        body = fault.data if fault.data is not None else f"origin error {fault.code}\n".encode()
        headers = [("Date", formatdate(usegmt=True)), ("Content-Type", "text/plain"),
                   ("Content-Length", str(len(body)))] + [h for h in plan.headers if h[0].lower() == "connection"]
        await self._send(conn, _head(fault.code, headers), b"" if request.method == "HEAD" else body)
        return True

    async def _f_reset_before_headers(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                                      fault: Fault) -> bool:
        await self._reset(conn)
        return False

    async def _f_body_on_empty(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                               fault: Fault) -> bool:
        if plan.status in (204, 304):
            extra = fault.data if fault.data is not None else (obj.body if obj is not None else b"")
            headers = _without(plan.headers, "content-length") + [("Content-Length", str(len(extra)))]
            await self._send(conn, _head(plan.status, headers), extra)
        elif request.method == "HEAD":
            extra = fault.data if fault.data is not None else bytes(plan.payload)
            await self._send(conn, _head(plan.status, plan.headers), extra)
        else:
            await self._send(conn, _head(plan.status, plan.headers), plan.body)
        return True

    async def _f_no_length_close(self, conn: _Conn, request: Request, obj: _Object | None, plan: _Plan,
                                 fault: Fault) -> bool:
        headers = _without(plan.headers, "content-length", "connection") + [("Connection", "close")]
        body = plan.body if fault.n is None else plan.body[:fault.n]
        await self._send(conn, _head(plan.status, headers), body)
        await self._close_clean(conn)
        return False

    _f_no_length_close_short = _f_no_length_close
