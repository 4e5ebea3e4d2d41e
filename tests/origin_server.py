"""A real HTTP origin on loopback for tests: aiohttp.web on its own loop in a thread.

Tests put objects with the headers and misbehaviours they need (slow, truncated,
failing mid-body, validators, Vary) and read back which requests the origin received.
It runs in a thread of its own, so sync tests (driving a server in a subprocess) and
async tests (awaiting on their own loop) use it alike; every method is safe to call
from the test's thread while requests are being served.

    with OriginServer() as origin:
        origin.put("/a.txt", b"hello", headers={"Cache-Control": "max-age=60"}, etag='"1"')
        ...                                  # requests to origin.url + "/a.txt"
        assert origin.count("/a.txt") == 1
        assert origin.requests("/a.txt")[0].headers["accept-encoding"] == "identity"

What it answers:
- a put object: its status, headers and body; `Range: bytes=A-B` / `bytes=A-` / `bytes=-N`
  of a 200 gets a 206 (unless an If-Range names another ETag); If-None-Match /
  If-Modified-Since matching its validators get a 304;
- an unknown path: 404 with a short text body;
- any other method (POST, PUT, DELETE, PATCH, extension methods): recorded with its body
  and answered 200 `ok` (with the
  object's own headers, e.g. a Location); a PUT replaces the object's body, a DELETE
  removes it.
Paths are matched and recorded percent-decoded (`/a%20b` is the object `/a b`);
`Recorded.raw_path` keeps what was on the wire.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate

from aiohttp import web
from multidict import CIMultiDict

from loopback import LoopbackServer

# A 304 carries what a 200 would have, less the fields that describe the body itself
# (RFC 9110 §15.4.5): a cache merges the rest into the response it keeps.
BODY_FIELDS = ("content-length", "content-type", "content-encoding", "content-range", "content-language",
               "content-disposition", "transfer-encoding")


@dataclass
class Recorded:
    """One request as the origin received it (header names in lower case)."""

    method: str
    path: str  # percent-decoded
    query: str  # raw, without "?"
    headers: dict[str, str]
    body: bytes
    time: float
    raw_path: str = ""  # as sent, percent-encoding untouched, without the query


@dataclass
class Obj:
    body: bytes
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunk_size: int = 65536
    delay: float = 0.0
    chunk_delay: float = 0.0
    truncate_at: int | None = None
    fail_at: int | None = None
    chunked: bool = False
    etag: str | None = None
    last_modified: float | None = None
    vary_on: str | None = None
    variants: Mapping[str, bytes] | None = None
    first_delay: float = 0.0


class OriginServer(LoopbackServer):
    """An HTTP origin on 127.0.0.1 whose objects and failures a test sets."""

    thread_name = "origin-server"

    def __init__(self) -> None:
        super().__init__()
        self._objects: dict[str, Obj] = {}
        self._log: list[Recorded] = []
        self._sent: dict[str, int] = {}
        self._runner: web.AppRunner | None = None

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Requests still in flight at stop (a slow body a test walked away from) are cut
        # after a second rather than awaited.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- objects and the log --------------------------------------------------

    def put(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        chunk_size: int = 65536,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        truncate_at: int | None = None,
        fail_at: int | None = None,
        chunked: bool = False,
        etag: str | None = None,
        last_modified: float | None = None,
        vary_on: str | None = None,
        variants: Mapping[str, bytes] | None = None,
        first_delay: float = 0.0,
    ) -> None:
        """Serve `body` at `path` (decoded, e.g. "/a b.txt") from the next request on.

        headers: extra response fields (a list for repeated names).
        chunk_size / chunk_delay: the body goes out in writes of chunk_size bytes with
            chunk_delay seconds between them, so a test can see bytes before the end.
        first_delay: seconds to wait after the first write (the rest as chunk_delay says).
        delay: seconds to wait before the response headers.
        truncate_at: declare the full Content-Length, then drop the connection after
            this many body bytes (a short body).
        fail_at: send with chunked transfer (no Content-Length) and drop the
            connection after this many body bytes (no final chunk).
        chunked: send with chunked transfer, no Content-Length.
        etag / last_modified (epoch seconds): validators sent with the response; a
            matching If-None-Match (weak comparison) or If-Modified-Since gets a 304
            carrying ETag, Last-Modified, Date and the extra headers (Cache-Control,
            Expires, Vary, ...) but none that describe the body.
        vary_on / variants: the body is variants[request's vary_on header value]
            (b"" when absent or unlisted), and the response says `Vary: vary_on`.
        """
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        obj = Obj(body, status, pairs, chunk_size, delay, chunk_delay, truncate_at, fail_at, chunked, etag,
                  last_modified, vary_on, dict(variants) if variants is not None else None, first_delay)
        with self._lock:
            self._objects[path] = obj

    def remove(self, path: str) -> None:
        """Later requests for `path` get a 404."""
        with self._lock:
            self._objects.pop(path, None)

    def requests(self, path: str | None = None) -> list[Recorded]:
        """Requests received so far (for one decoded path, or all), oldest first."""
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def count(self, path: str, method: str = "GET") -> int:
        return sum(1 for r in self.requests(path) if r.method == method)

    def sent(self, path: str) -> int:
        """Body bytes written for `path` so far, over every request."""
        with self._lock:
            return self._sent.get(path, 0)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._sent.clear()

    # -- serving --------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        raw_path, _, query = request.raw_path.partition("?")
        with self._lock:
            self._log.append(Recorded(request.method, request.path, query,
                                      {k.lower(): v for k, v in request.headers.items()}, body, time.time(),
                                      raw_path))
            obj = self._objects.get(request.path)
            if request.method not in ("GET", "HEAD"):
                if request.method == "PUT":
                    self._objects[request.path] = Obj(body, headers=obj.headers if obj else [])
                elif request.method == "DELETE":
                    self._objects.pop(request.path, None)
                # The object's headers go out on the answer too (e.g. a Location to test).
                return web.Response(body=b"ok", headers=CIMultiDict(obj.headers) if obj is not None else None)
        if obj is None:
            return web.Response(status=404, body=b"not found\n", content_type="text/plain")
        if obj.delay:
            await asyncio.sleep(obj.delay)
        headers = list(obj.headers)
        if obj.etag:
            headers.append(("ETag", obj.etag))
        if obj.last_modified is not None:
            headers.append(("Last-Modified", formatdate(obj.last_modified, usegmt=True)))
        payload = obj.body
        if obj.vary_on:
            headers.append(("Vary", obj.vary_on))
            payload = (obj.variants or {}).get(request.headers.get(obj.vary_on, ""), b"")
        if self._not_modified(request, obj):
            kept = [(k, v) for k, v in headers if k.lower() not in BODY_FIELDS]
            return web.Response(status=304, headers=CIMultiDict(kept))
        status = obj.status
        # RFC 9110 §13.1.5: an If-Range that is not the current ETag asks for all of it.
        asked = request.headers.get("Range", "") if request.headers.get("If-Range", obj.etag) == obj.etag else ""
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", asked)
        suffix = re.fullmatch(r"bytes=-(\d+)", asked)
        if suffix and status == 200 and int(suffix.group(1)) > 0 and payload:
            wanted = re.fullmatch(r"(\d+)-(\d+)", f"{max(len(payload) - int(suffix.group(1)), 0)}-{len(payload) - 1}")
        if wanted and status == 200 and int(wanted.group(1)) < len(payload):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)) + 1 if wanted.group(2) else len(payload), len(payload))
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{len(payload)}"))
            payload, status = payload[start:end], 206
        response = web.StreamResponse(status=status, headers=CIMultiDict(headers))
        if obj.chunked or obj.fail_at is not None:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(payload)
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        limit = obj.truncate_at if obj.truncate_at is not None else obj.fail_at
        sent = 0
        for start in range(0, len(payload), obj.chunk_size):
            part = payload[start:start + obj.chunk_size]
            if limit is not None and sent + len(part) > limit:
                if limit > sent:
                    await response.write(part[:limit - sent])
                await asyncio.sleep(0.05)  # let those bytes leave before the connection dies
                request.transport.close()  # type: ignore[union-attr] - the connection dies mid-body
                return response
            await response.write(part)
            sent += len(part)
            with self._lock:
                self._sent[request.path] = self._sent.get(request.path, 0) + len(part)
            if obj.first_delay and start == 0:
                await asyncio.sleep(obj.first_delay)
            elif obj.chunk_delay:
                await asyncio.sleep(obj.chunk_delay)
        await response.write_eof()
        return response

    @staticmethod
    def _not_modified(request: web.Request, obj: Obj) -> bool:
        """RFC 9110 §13.1.2-3: If-None-Match (weak comparison) decides when present."""
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            if obj.etag is None:
                return False
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return "*" in tags or obj.etag.removeprefix("W/") in tags
        since = request.if_modified_since
        return since is not None and obj.last_modified is not None and int(obj.last_modified) <= since.timestamp()
