"""Small bodies kept in memory, so that a hit on a hot small object touches memory only.

Keyed by blob digest (two keys with the same bytes share one copy), least recently used
out first, bounded in bytes. Only bodies up to SMALL_BODY are kept: a larger object is
streamed from the store chunk by chunk, where the disk tier's page cache does this job.
"""

from __future__ import annotations

from collections import OrderedDict

from ..castore import B3Digest

SMALL_BODY = 2 * 1024 * 1024


class HotBodies:
    def __init__(self, max_bytes: int, largest: int = SMALL_BODY) -> None:
        self.max_bytes = max_bytes
        self.largest = largest  # bodies above this size are never kept
        self.bytes = 0
        self._bodies: OrderedDict[B3Digest, bytes] = OrderedDict()

    def get(self, digest: B3Digest) -> bytes | None:
        body = self._bodies.get(digest)
        if body is not None:
            self._bodies.move_to_end(digest)
        return body

    def put(self, digest: B3Digest, body: bytes) -> None:
        if len(body) > self.largest or len(body) > self.max_bytes or digest in self._bodies:
            return
        self._bodies[digest] = body
        self.bytes += len(body)
        while self.bytes > self.max_bytes:
            _, old = self._bodies.popitem(last=False)
            self.bytes -= len(old)

    def discard(self, digest: B3Digest) -> None:
        body = self._bodies.pop(digest, None)
        if body is not None:
            self.bytes -= len(body)
