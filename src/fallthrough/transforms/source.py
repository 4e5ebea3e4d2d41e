"""What a transform reads: its source object, fetched through the cache.

A transform never talks to an origin itself. It asks for a path on this edge, and the
server answers it the way it answers a client (hit, fill, revalidation, single-flight),
so one download of a source serves every variant made from it. This module is the
contract between the two layers; the server implements `SourceReader`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from multidict import CIMultiDict

from .errors import TransformError


class SourceError(TransformError):
    """The source could not be had; `status` is what the transform answers (404, 422, 502)."""


@dataclass
class Source:
    """A whole source body: in memory when small, else in a file (which close() removes),
    so that large images are read by the image library from disk, a region at a time."""

    headers: CIMultiDict[str]  # as a client would get them, Age included
    size: int
    digest: bytes  # BLAKE3 of the body: what derived ETags are made from
    data: bytes | None = None
    file: str | None = None

    def close(self) -> None:
        if self.file is not None:
            try:
                os.unlink(self.file)
            except FileNotFoundError:
                pass
            self.file = None


class SourceReader(Protocol):
    async def read(self, path: str, limit: int, variant: str | None = None) -> Source:
        """The body at `path` on this edge (a path under a mount), at most `limit` bytes;
        raises SourceError for a missing source (404), a larger one (422) or a failure (502).
        With `variant` (a canonical query), the derived object of that path instead: what
        one size of an avatar is made from is its master, itself cached as a variant."""
        ...
