"""Sources for the transforms, read through the edge itself.

A transform asks for a path; this answers it exactly as the edge answers a client (hit,
fill, revalidation, stale-if-error, single-flight) by handing the edge a stand-in for a
client connection that keeps the body. So one source download serves every variant
made from it, and every rule of the cache applies to sources too.
"""

from __future__ import annotations

import os
import tempfile
import time

import blake3
from multidict import CIMultiDict

from ..cache.bodies import HotBodies
from ..cache.cache import client_headers
from ..cache.entry import Entry, derived_tag
from ..cache.origin import OriginError
from ..castore import CastoreError
from ..transforms.source import Source, SourceError
from .delivery import BodyBroken, NotStarted
from .edge import log_failure, upstream_failure
from .pipes import ClientGone

# Bodies up to this size stay in memory; larger ones go to a file the image library reads.
IN_MEMORY = 4 * 1024 * 1024
# Recently read sources kept in memory, by digest: the next variant of a fresh source
# (another size of the same sticker) starts from its bytes, not from the store.
RECENT_BYTES = 32 * 1024 * 1024


class _TooLarge(ClientGone):
    """The body passed the limit: the edge stops sending, as if a client had gone."""


class SourceSink:
    """What the edge believes is a client: it keeps the status, headers and body."""

    def __init__(self, limit: int, spool_dir: str | None) -> None:
        self.limit = limit
        self.spool_dir = spool_dir
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.size = 0
        self._memory = bytearray()
        self._file: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._hash = blake3.blake3()

    def _start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = CIMultiDict(headers)
        length = self.headers.get("content-length", "")
        if status == 200 and length.isdigit() and int(length) > self.limit:
            raise _TooLarge(f"{length} bytes")

    def _write(self, data: bytes) -> None:
        if self.status != 200:
            return  # an error page: only its status matters
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge(f"over {self.limit} bytes")
        self._hash.update(data)
        if self._file is None and self.size <= IN_MEMORY:
            self._memory += data
            return
        if self._file is None:
            self._file = tempfile.NamedTemporaryFile(dir=self.spool_dir, prefix=f"source-{os.getpid()}-",
                                                     delete=False)  # named for the image library
            self._file.write(self._memory)
            self._memory = bytearray()
        self._file.write(data)

    # -- the parts of the server's protocol object the edge uses ---------------

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self._start(status, headers)

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._start(status, headers)
        self._write(body)

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> SourceSink:
        self._start(status, headers)
        return self

    async def send_bytes(self, data: bytes) -> None:
        self._write(data)

    # -- the result ---------------------------------------------------------------

    def source(self, headers: CIMultiDict[str]) -> Source:
        if self._file is None:
            return Source(headers, self.size, self._hash.digest(), data=bytes(self._memory))
        self._file.close()
        return Source(headers, self.size, self._hash.digest(), file=self._file.name)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            os.unlink(self._file.name)
            self._file = None


class EdgeSources:
    """The SourceReader of a server: bound to its edge once both exist."""

    def __init__(self, spool_dir: str | None) -> None:
        self.spool_dir = spool_dir
        self.edge = None  # the Edge, set by bind()
        self.recent = HotBodies(RECENT_BYTES, largest=IN_MEMORY)

    def bind(self, edge) -> None:  # noqa: ANN001 - the Edge (which imports the transforms)
        self.edge = edge

    async def read(self, path: str, limit: int, variant: str | None = None) -> Source:
        edge = self.edge
        routed = edge.router.route(path)
        if routed is None:
            raise SourceError(404, f"no mount serves the source {path}")
        mount, rest = routed
        if variant is not None:
            mount = mount.derived  # a transform's own variant: its master, named by the transform
        elif mount.transform_only:
            raise SourceError(502, f"the source {path} is itself a transform")
        query = variant or ""
        key = mount.key(rest, query)
        cache = edge.cache
        entry = cache.lookup(key, {})
        if entry is not None and entry.status == 200 and entry.size <= limit:
            age = entry.age_at(time.time())
            data = self.recent.get(entry.digest) if age < entry.lifetime else None
            if data is not None:  # fresh, and its bytes at hand: what the edge would send
                headers = CIMultiDict(client_headers(entry.headers))
                headers["age"] = str(int(age))
                self._describe(headers, key, entry)
                return Source(headers, entry.size, bytes(entry.digest), data=data)
        sink = SourceSink(limit, self.spool_dir)
        try:
            await edge.serve_object(sink, "GET", {}, mount, rest, query)
        except _TooLarge:
            sink.discard()
            raise SourceError(422, f"the source is larger than the limit of {limit:,} bytes") from None
        except (OriginError, CastoreError, BodyBroken, NotStarted, ClientGone) as exc:
            sink.discard()
            if not isinstance(exc, ClientGone):
                log_failure(key, mount.origin.name, exc)  # the transform's own 502 is logged by its fill
            raise SourceError(502, f"the source {path} failed: {upstream_failure(exc)[1]}") from None
        if sink.status != 200:
            sink.discard()
            if sink.status in (404, 410):
                raise SourceError(404, f"no source image at {path}")
            raise SourceError(502, f"the source {path} answered {sink.status}")
        entry = cache.lookup(key, {})
        self._describe(sink.headers, key, entry)
        source = sink.source(sink.headers)
        if entry is not None and source.data is not None and bytes(entry.digest) == source.digest:
            self.recent.put(entry.digest, source.data)
        return source

    @staticmethod
    def _describe(headers: CIMultiDict[str], key: str, entry: Entry | None) -> None:
        """Tags and freshness that what is derived from the source inherits."""
        headers["surrogate-key"] = " ".join([derived_tag(key), *(entry.tags if entry is not None else ())])
        if entry is not None:
            _state_freshness(headers, entry.lifetime)


def _state_freshness(headers: CIMultiDict[str], lifetime: float) -> None:
    """Say in the headers how long the source stays fresh when only the mount's policy
    (default_ttl) or a heuristic decided it, so what is derived from it inherits it."""
    control = headers.get("cache-control", "")
    if "max-age" in control or "s-maxage" in control or "expires" in headers:
        return
    stated = f"max-age={int(lifetime)}"
    headers["cache-control"] = f"{control}, {stated}" if control else stated
