"""`file:///path` (or a plain path): a tier in a local directory, created if missing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from urllib.parse import unquote, urlsplit

from obstore.store import LocalStore

from .digest import B3Digest, chunk_path
from .errors import BadStoreURL, ChunkNotFound, StoreUnavailable
from .frames import is_intact
from .objectstore import ObjectStoreTier

log = logging.getLogger(__name__)

# Seconds by which a file's mtime may trail the clock that set it (a kernel timer tick).
TOUCH_SLACK = 0.05


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

    A file already there is trusted only if this process wrote or checked that very file
    (same inode, size and mtime); any other is read back and compared first, so a chunk
    damaged at rest is written again by the next fill that brings it. (A file changed in
    place within the clock tick of its writing keeps its mtime; reads still catch that.)
    """

    def __init__(self, store: LocalStore, name: str, root: str) -> None:
        super().__init__(store, name)
        self._root = root

    def _os_error(self, exc: OSError) -> StoreUnavailable:
        return StoreUnavailable(f"store {self.name}: {exc.strerror or exc}: {exc.filename}")

    def _path(self, digest: B3Digest) -> str:
        return os.path.join(self._root, chunk_path(digest))

    async def has_chunk(self, digest: B3Digest) -> bool:
        return os.path.exists(self._path(digest))

    def fetch_chunk_sync(self, digest: B3Digest) -> bytes:
        """A blocking read, for a worker thread: a fifth of the cost of the object-store
        runtime's async get for a chunk-sized file."""
        try:
            with open(self._path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ChunkNotFound(f"chunk {digest} not found in {self.name}") from None
        except OSError as exc:
            raise self._os_error(exc) from None

    async def fetch_chunk(self, digest: B3Digest) -> bytes:
        return await asyncio.to_thread(self.fetch_chunk_sync, digest)

    async def store_chunk(self, digest: B3Digest, frame: bytes) -> None:
        try:
            await asyncio.to_thread(self._write, digest, frame)
        except OSError as exc:
            raise self._os_error(exc) from None

    async def store_chunks(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        try:
            return await asyncio.to_thread(self._write_new, chunks)
        except OSError as exc:
            raise self._os_error(exc) from None

    def _write_new(self, chunks: list[tuple[B3Digest, bytes]]) -> int:
        written = 0
        for digest, frame in chunks:
            if self._holds_good_file(digest, frame):
                continue
            self._write(digest, frame)
            written += 1
        return written

    def _holds_good_file(self, digest: B3Digest, frame: bytes) -> bool:
        """Whether the file there may stand in for `frame` (one stat when vouched for).

        A file taken instead of a write is touched: the node's housekeeper deletes a chunk
        no manifest lists only if nobody touched it since the chunk lost its last blob, so
        a fill in flight that counts on this copy keeps it (see cache/housekeeper.py)."""
        path = self._path(digest)
        try:
            token = _file_token(os.stat(path))
            if not self._vouched.holds(digest, token):
                with open(path, "rb") as f:
                    stored = f.read()
                if stored != frame and not is_intact(digest, stored):
                    log.warning("chunk %s in %s is damaged; writing it again", digest, self.name)
                    return False
            os.utime(path)
            self._vouched.add(digest, _file_token(os.stat(path)))
        except FileNotFoundError:
            return False
        return True

    def chunk_bytes(self, digest: B3Digest) -> int | None:
        """A chunk file's size on disk, or None if there is none (a blocking call)."""
        try:
            return os.stat(self._path(digest)).st_size
        except FileNotFoundError:
            return None

    def delete_chunk_untouched(self, digest: B3Digest, since: float) -> int | None:
        """Delete a chunk file unless it was written or touched at `since` or later (a
        blocking call). The bytes freed; 0 if there was no file; None if it was kept.
        File times tick coarser than the clock, so a touch just after `since` may read a
        little before it: anything within TOUCH_SLACK of it counts as touched."""
        path = self._path(digest)
        try:
            st = os.stat(path)
            if st.st_mtime >= since - TOUCH_SLACK:
                return None
            os.unlink(path)
        except FileNotFoundError:
            return 0
        self._vouched.discard(digest)
        return st.st_size

    def _write(self, digest: B3Digest, frame: bytes) -> None:
        """Write (or replace) one chunk file atomically, and vouch for the file written."""
        path = self._path(digest)
        staging = f"{path}#{uuid.uuid4().hex[:16]}"
        try:
            f = open(staging, "xb")  # noqa: SIM115 - closed below
        except FileNotFoundError:  # a shard folder not made yet: the rarer case
            os.makedirs(os.path.dirname(path), exist_ok=True)
            f = open(staging, "xb")  # noqa: SIM115
        try:
            with f:
                f.write(frame)
                f.flush()  # the token must see the whole file: a small frame waits in the buffer
                token = _file_token(os.fstat(f.fileno()))
            os.replace(staging, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(staging)
            raise
        self._vouched.add(digest, token)


def _file_token(st: os.stat_result) -> tuple[int, int, int, int]:
    """One file's identity: a copy replaced or rewritten in place gets another token."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def open_file(url: str) -> ObjectStoreTier:
    path = file_url_path(url)
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadStoreURL(f"bad store URL {url!r}: {path} is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadStoreURL(f"bad store URL {url!r}: cannot create {path}: {exc.strerror}") from None
    return FileTier(LocalStore(path), url, path)
