"""`file:///path` (or a plain path): a tier in a local directory, created if missing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from urllib.parse import unquote, urlsplit

from obstore.store import LocalStore

from .digest import B3Digest, chunk_path
from .errors import BadStoreURL, ChunkNotFound, StoreUnavailable
from .objectstore import ObjectStoreTier


def file_url_path(url: str) -> str:
    """The absolute directory a file URL or plain path names."""
    if "://" not in url:
        return os.path.abspath(url)
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise BadStoreURL(f"bad store URL {url!r}: a file URL has no host (use file:///absolute/path)")
    if not parts.path:
        raise BadStoreURL(f"bad store URL {url!r}: no directory given")
    return unquote(parts.path)


class FileTier(ObjectStoreTier):
    """obstore reads and lists; the write path of new chunks talks to the disk itself.

    Ingest writes thousands of chunk files a second, each after an existence check
    (that check is what makes dedup free). Done as one worker-thread trip per batch of
    plain system calls, that costs a fraction of a trip through the object-store runtime
    per chunk, and leaves the GIL free while the kernel copies. The files are the same:
    written beside their final name, then renamed into place, so no reader sees part of one.
    """

    def __init__(self, store: LocalStore, name: str, root: str) -> None:
        super().__init__(store, name)
        self._root = root

    def _os_error(self, exc: OSError) -> StoreUnavailable:
        return StoreUnavailable(f"store {self.name}: {exc.strerror or exc}: {exc.filename}")

    async def has_chunk(self, digest: B3Digest) -> bool:
        return os.path.exists(os.path.join(self._root, chunk_path(digest)))

    def fetch_chunk_sync(self, digest: B3Digest) -> bytes:
        """A blocking read, for a worker thread: a fifth of the cost of the object-store
        runtime's async get for a chunk-sized file."""
        try:
            with open(os.path.join(self._root, chunk_path(digest)), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ChunkNotFound(f"chunk {digest} not found in {self.name}") from None
        except OSError as exc:
            raise self._os_error(exc) from None

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        return await asyncio.to_thread(self.fetch_chunk_sync, digest)

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        try:
            return await asyncio.to_thread(self._write_new, chunks)
        except OSError as exc:
            raise self._os_error(exc) from None

    def _write_new(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        written = 0
        for digest, frame in chunks:
            path = os.path.join(self._root, chunk_path(digest))
            if os.path.exists(path):
                continue
            staging = f"{path}#{uuid.uuid4().hex[:16]}"
            try:
                f = open(staging, "xb")  # noqa: SIM115 - closed below
            except FileNotFoundError:  # a shard folder not made yet: the rarer case
                os.makedirs(os.path.dirname(path), exist_ok=True)
                f = open(staging, "xb")  # noqa: SIM115
            try:
                with f:
                    f.write(frame)
                os.replace(staging, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(staging)
                raise
            written += 1
        return written


def open_file(url: str) -> ObjectStoreTier:
    path = file_url_path(url)
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadStoreURL(f"bad store URL {url!r}: {path} is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadStoreURL(f"bad store URL {url!r}: cannot create {path}: {exc.strerror}") from None
    return FileTier(LocalStore(path), url, path)
