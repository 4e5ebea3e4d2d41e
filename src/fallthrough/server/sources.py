"""Sources for the transforms, read through the edge itself.

A transform asks for a path; this answers it exactly as the edge answers a client (hit,
fill, revalidation, stale-if-error, single-flight) by handing the edge a stand-in for a
client connection that keeps the body. So one source download serves every variant
made from it, and every rule of the cache applies to sources too.
"""

from __future__ import annotations

import os
import tempfile

import blake3
from multidict import CIMultiDict

from ..cache.entry import derived_tag
from ..cache.origin import OriginError, one_line
from ..castore import CastoreError
from ..transforms.source import Source, SourceError
from .delivery import BodyBroken
from .pipes import ClientGone

# Bodies up to this size stay in memory; larger ones go to a file the image library reads.
IN_MEMORY = 4 * 1024 * 1024


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
            self._file = tempfile.NamedTemporaryFile(dir=self.spool_dir, prefix="source-", delete=False)
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

    def bind(self, edge) -> None:  # noqa: ANN001 - the Edge (which imports the transforms)
        self.edge = edge

    async def read(self, path: str, limit: int) -> Source:
        edge = self.edge
        routed = edge.router.route(path)
        if routed is None:
            raise SourceError(404, f"no mount serves the source {path}")
        mount, rest = routed
        if mount.transform_only:
            raise SourceError(502, f"the source {path} is itself a transform")
        sink = SourceSink(limit, self.spool_dir)
        try:
            await edge.serve_object(sink, "GET", {}, mount, rest)
        except _TooLarge:
            sink.discard()
            raise SourceError(422, f"the source is larger than the limit of {limit:,} bytes") from None
        except (OriginError, CastoreError, BodyBroken, ClientGone) as exc:
            sink.discard()
            raise SourceError(502, f"the source {path} failed: {one_line(exc)}") from None
        if sink.status != 200:
            sink.discard()
            if sink.status in (404, 410):
                raise SourceError(404, f"no source image at {path}")
            raise SourceError(502, f"the source {path} answered {sink.status}")
        key = mount.key(rest, "")
        entry = edge.cache.lookup(key, {})
        tags = [derived_tag(key), *(entry.tags if entry is not None else ())]
        headers = sink.headers
        headers["surrogate-key"] = " ".join(tags)
        if entry is not None:
            _state_freshness(headers, entry.lifetime)
        return sink.source(headers)


def _state_freshness(headers: CIMultiDict[str], lifetime: float) -> None:
    """Say in the headers how long the source stays fresh when only the mount's policy
    (default_ttl) or a heuristic decided it, so what is derived from it inherits it."""
    control = headers.get("cache-control", "")
    if "max-age" in control or "s-maxage" in control or "expires" in headers:
        return
    stated = f"max-age={int(lifetime)}"
    headers["cache-control"] = f"{control}, {stated}" if control else stated
