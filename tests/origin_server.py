"""A real HTTP origin on loopback for tests: aiohttp.web on its own loop in a thread.

Tests put objects with the headers and misbehaviours they need (slow, truncated,
failing mid-body, validators, Vary) and read back what requests the origin received.

    origin = OriginServer().start()
    origin.put("/a.txt", b"hello", headers={"Cache-Control": "max-age=60"}, etag='"1"')
    ...                      # requests to origin.url + "/a.txt"
    assert origin.count("/a.txt") == 1
    origin.stop()
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    time: float


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


class OriginServer:
    def __init__(self) -> None:
        self._objects: dict[str, Obj] = {}
        self._log: list[Recorded] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None

    # -- life -----------------------------------------------------------------

    def start(self) -> OriginServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> OriginServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- objects and the log --------------------------------------------------

    def put(self, path: str, body: bytes = b"", *, status: int = 200,
            headers: Mapping[str, str] | list[tuple[str, str]] | None = None, **behaviour: object) -> None:
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        with self._lock:
            self._objects[path] = Obj(body, status, pairs, **behaviour)  # type: ignore[arg-type]

    def remove(self, path: str) -> None:
        with self._lock:
            self._objects.pop(path, None)

    def requests(self, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def count(self, path: str, method: str = "GET") -> int:
        return sum(1 for r in self.requests(path) if r.method == method)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- serving --------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self._log.append(Recorded(request.method, request.path, request.raw_path.partition("?")[2],
                                      {k.lower(): v for k, v in request.headers.items()}, body, time.time()))
            obj = self._objects.get(request.path)
            if request.method in ("POST", "PUT", "DELETE", "PATCH"):
                if request.method == "PUT":
                    self._objects[request.path] = Obj(body, headers=obj.headers if obj else [])
                elif request.method == "DELETE":
                    self._objects.pop(request.path, None)
                # The object's headers go out on the answer too (e.g. a Location to test).
                return web.Response(body=b"ok", headers=_multi(obj.headers) if obj is not None else None)
        if obj is None:
            return web.Response(status=404, body=b"not found\n", content_type="text/plain")
        if obj.delay:
            await asyncio.sleep(obj.delay)
        headers = list(obj.headers)
        if obj.etag:
            headers.append(("ETag", obj.etag))
        if obj.last_modified is not None:
            headers.append(("Last-Modified", formatdate(obj.last_modified, usegmt=True)))
        if self._not_modified(request, obj):
            kept = [(k, v) for k, v in headers
                    if k.lower() in ("etag", "cache-control", "expires", "last-modified", "vary", "surrogate-key")]
            return web.Response(status=304, headers=_multi(kept))
        payload = obj.body
        if obj.vary_on:
            headers.append(("Vary", obj.vary_on))
            payload = (obj.variants or {}).get(request.headers.get(obj.vary_on, ""), b"")
        status = obj.status
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", ""))
        if wanted and status == 200 and int(wanted.group(1)) < len(payload):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)) + 1 if wanted.group(2) else len(payload), len(payload))
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{len(payload)}"))
            payload, status = payload[start:end], 206
        response = web.StreamResponse(status=status, headers=_multi(headers))
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
                await response.write(part[:limit - sent])
                await asyncio.sleep(0.05)
                request.transport.close()  # type: ignore[union-attr] - the connection dies mid-body
                return response
            await response.write(part)
            sent += len(part)
            if obj.chunk_delay:
                await asyncio.sleep(obj.chunk_delay)
        await response.write_eof()
        return response

    @staticmethod
    def _not_modified(request: web.Request, obj: Obj) -> bool:
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and obj.etag is not None:
            return obj.etag.removeprefix("W/") in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        since = request.if_modified_since
        return since is not None and obj.last_modified is not None and obj.last_modified <= since.timestamp()


def _multi(pairs: list[tuple[str, str]]):  # noqa: ANN202 - a CIMultiDict
    from multidict import CIMultiDict

    return CIMultiDict(pairs)
