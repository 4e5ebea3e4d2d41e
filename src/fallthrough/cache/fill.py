"""One fetch from an origin, shared by every request that wants the same key meanwhile.

The fill runs as its own task, so a client that goes away does not abort it. Bytes from
the origin go two ways as they arrive: into the chunk store (through a BlobWriter) and
into a spool file that readers follow at their own pace, each from the byte it wants.
The spool is an unlinked temporary file: a reader far behind costs page cache, not
process memory, and a 2 GiB object with ten slow clients stays within a few MiB of RSS.

Nothing partial is ever named: the entry is written only after the writer has closed
(every chunk, then the manifest) and the byte count matched the origin's
Content-Length. If the origin fails or ends short, the writer is aborted and readers get
the error, so the server can cut their responses short rather than end them cleanly.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from .entry import Entry

SPOOL_READ = 256 * 1024


class FillFailed(Exception):
    """The origin broke off (or ended short); nothing was stored."""


@dataclass(slots=True)
class FillHead:
    """What the origin answered, known before its body.

    `shared` is False for a response the cache must not hand to anyone but the request
    that asked (not storable: private, no-store, an error); the other requests waiting
    on the fill then go to the origin themselves.
    """

    status: int
    headers: CIMultiDict[str]
    length: int | None
    shared: bool
    revalidated: Entry | None = None  # a 304 that refreshed the stale entry, or a peer's entry
    from_peer: bool = False  # another worker of this node stored it while we waited
    vary: tuple[str, ...] = ()  # request headers the response varies on
    variant: tuple[str, ...] = ()  # their values in the request that led the fill


class Fill:
    def __init__(self, key: str, variant: tuple[str, ...], spool_dir: str | None = None) -> None:
        self.key = key
        self.variant = variant
        self.head: asyncio.Future[FillHead] = asyncio.get_running_loop().create_future()
        self.entry: Entry | None = None
        self.received = 0
        # Readers see all but the latest piece until the entry is committed, so a client
        # whose response has ended finds the entry in the index on its next request.
        self.released = 0
        self.error: BaseException | None = None
        self.finished = False
        self.leader_claimed = False
        self.passthrough: Any = None  # the origin's response when it is the leader's alone
        self._spool_dir = spool_dir
        self._fd = -1
        self._readers = 0
        self._progress = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # -- the fill's side -------------------------------------------------------

    def start_body(self, head: FillHead) -> None:
        if head.shared:
            self._fd, path = tempfile.mkstemp(prefix="fill-", dir=self._spool_dir)
            os.unlink(path)
        if not self.head.done():
            self.head.set_result(head)

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.released = self.received
        self.received += len(data)
        self._wake()

    def finish(self, entry: Entry | None) -> None:
        self.entry = entry
        self.released = self.received
        self.finished = True
        self._wake()
        self._close_if_unread()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.finished = True
        if not self.head.done():
            self.head.set_exception(error)
            self.head.exception()  # retrieved: followers may never look
        self._wake()
        self._close_if_unread()

    def _wake(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    # -- the readers' side -----------------------------------------------------

    def join(self) -> None:
        """Count a reader in before it waits for the head, so the spool outlives the wait."""
        self._readers += 1

    @property
    def readers(self) -> int:
        return self._readers

    def leave(self) -> None:
        self._readers -= 1
        self._close_if_unread()

    async def read(self, start: int, end: int | None) -> AsyncIterator[bytes]:
        """Bytes [start, end) as they arrive (between join() and leave()); raises FillFailed
        if the origin breaks off."""
        position = start
        while end is None or position < end:
            while self.released <= position and not self.finished:
                await self._progress.wait()
            if self.error is not None:
                raise FillFailed(str(self.error)) from self.error
            available = self.released if end is None else min(self.released, end)
            if position >= available:
                if self.finished:
                    return
                continue
            data = os.pread(self._fd, min(available - position, SPOOL_READ), position)
            if not data:
                raise FillFailed("the spool file ended early")
            position += len(data)
            yield data

    async def wait(self) -> None:
        """Until the fill has ended, stored or failed."""
        while not self.finished:
            await self._progress.wait()

    def _close_if_unread(self) -> None:
        if self.finished and self._readers == 0 and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
