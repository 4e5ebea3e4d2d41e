"""One fetch from an origin, shared by every request that wants the same key meanwhile.

The fill runs as its own task, so a client that goes away does not abort it. Bytes from
the origin go into a spool file as they arrive; readers follow it at their own pace,
each from the byte it wants, and so does the store, which chunks, hashes and compresses
behind them: clients get the origin's speed, not the store's. The spool is an unlinked
temporary file: a reader far behind costs page cache, not process memory, and a 2 GiB
object with ten slow clients stays within a few MiB of RSS.

The latest piece is held back until the origin's body has ended and its length checked,
so that a body that breaks off or ends short is never delivered whole: readers get the
error instead, and the server cuts their responses. Nothing partial is ever named: the
entry is written only after the writer has closed (every chunk, then the manifest).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from multidict import CIMultiDict

from .entry import Entry

SPOOL_READ = 256 * 1024


class FileSpan(NamedTuple):
    """Bytes still in a file: what a sender may splice to a socket without reading them."""

    fd: int
    offset: int
    length: int


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
    headers: CIMultiDict[str]  # as the origin sent them: for the request that led the fill
    length: int | None
    shared: bool
    revalidated: Entry | None = None  # a 304 that refreshed the stale entry, or a peer's entry
    from_peer: bool = False  # another worker of this node stored it while we waited
    vary: tuple[str, ...] = ()  # request headers the response varies on
    variant: tuple[str, ...] = ()  # their values in the request that led the fill
    # RFC 9111 §4.2.3: the response's corrected initial age, and when it arrived; a
    # reader's Age is that plus the time since.
    initial_age: float = 0.0
    response_time: float = 0.0
    # The headers as they will be stored, for every other reader: without the fields the
    # origin withheld from a shared cache (private="...", no-cache="..."). None: `headers`.
    shared_headers: CIMultiDict[str] | None = None

    def headers_for(self, leader: bool) -> CIMultiDict[str]:
        return self.headers if leader or self.shared_headers is None else self.shared_headers

    def age_at(self, now: float) -> float:
        return self.initial_age + max(0.0, now - self.response_time)


class Fill:
    def __init__(self, key: str, variant: tuple[str, ...], spool_dir: str | None = None) -> None:
        self.key = key
        self.variant = variant
        self.head: asyncio.Future[FillHead] = asyncio.get_running_loop().create_future()
        self.entry: Entry | None = None
        self.received = 0
        self.released = 0  # readers may have bytes [0, released)
        self.error: BaseException | None = None
        self.body_complete = False  # the origin's body ended, its length checked
        self.fresh_until = 0.0  # until when a request may take the body without revalidating
        self.lifetime = 0.0  # the response's freshness lifetime (RFC 9111 §4.2.1)
        self.finished = False  # stored (or not), or failed: the fill's task is done
        self.leader_claimed = False
        self.passthrough: Any = None  # the origin's response when it is the leader's alone
        self.watchdog: float | None = None  # seconds the origin may go without progress
        self.part = False  # a fill of one range (Cache.part_fill): a 206 may be kept as a part
        self.origin = ""  # the origin's name, for the node's log
        # When the origin was asked and when its answer ended (whole or failed), by the
        # monotonic clock: the access log's upstream time. None: no origin was asked
        # (another worker's entry), or it has not answered yet.
        self.upstream_started: float | None = None
        self.upstream_ended: float | None = None
        # In a fleet, when this fill fetches for every node (cache/fleet_fill.py): told of
        # the head, the progress, the chunks stored and the end.
        self.lead: Any = None
        self.told_end = False
        self._spool_dir = spool_dir
        self._fd = -1
        self._readers = 0
        self._joined = 0
        self._progress = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # -- the fill's side -------------------------------------------------------

    def start_body(self, head: FillHead) -> None:
        if head.shared and head.revalidated is None:
            self._fd, path = tempfile.mkstemp(prefix="fill-", dir=self._spool_dir)
            os.unlink(path)
        if not self.head.done():
            self.head.set_result(head)

    def append(self, data: bytes, hold: int | None = None) -> None:
        """More of the body. Readers get what came before it, and of `data` all but its
        last `hold` bytes (None: all of it is held back until the next piece or the end)."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.released = self.received if hold is None else self.received + max(len(data) - hold, 0)
        self.received += len(data)
        if self.lead is not None:
            self.lead.progress()
        self._wake()

    def complete_body(self) -> None:
        self._upstream_done()
        self.released = self.received
        self.body_complete = True
        self._wake()

    def finish(self, entry: Entry | None) -> None:
        self.entry = entry
        if not self.body_complete:
            self.complete_body()
        self.finished = True
        self._wake()
        self._close_if_unread()

    def fail(self, error: BaseException) -> None:
        self._upstream_done()
        self.error = error
        self.finished = True
        if not self.head.done():
            self.head.set_exception(error)
            self.head.exception()  # retrieved: followers may never look
        self._wake()
        self._close_if_unread()

    def spooled(self, offset: int, length: int) -> bytes:
        """Bytes the fill holds already (offset + length <= received), for a fill that
        resumes to compare the origin's with."""
        return os.pread(self._fd, length, offset)

    def _upstream_done(self) -> None:
        if self.upstream_started is not None and self.upstream_ended is None:
            self.upstream_ended = time.monotonic()

    def upstream_time(self, joined: float, now: float) -> float | None:
        """The seconds a request that joined at `joined` spent waiting on the origin: from
        the later of its joining and the origin being asked, to the end of the origin's
        answer (or `now`, if the request ended first). None when it waited on nothing."""
        started = self.upstream_started
        if started is None:
            return None
        ended = self.upstream_ended
        spent = (now if ended is None else ended) - max(started, joined)
        return spent if spent >= 0.0 else None

    def _wake(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    # -- the readers' side -----------------------------------------------------

    def join(self) -> bool:
        """Count a reader in before it waits for the head, so the spool outlives the wait.
        True for the fill's first reader: the request that started it (a background
        revalidation's first reader is the store)."""
        self._readers += 1
        self._joined += 1
        return self._joined == 1

    @property
    def readers(self) -> int:
        return self._readers

    @property
    def tappable(self) -> bool:
        """Whether a new reader may join: the spool is open and nothing failed (a fill
        finished and left by its readers has closed it; a passed-through one never had one)."""
        return self._fd >= 0 and self.error is None

    def leave(self) -> None:
        self._readers -= 1
        self._close_if_unread()

    async def progress(self) -> None:
        """Until something changes: more bytes, the body's end, the fill's end."""
        await self._progress.wait()

    async def read(self, start: int, end: int | None, *, unreleased: bool = False,
                   size: int = SPOOL_READ) -> AsyncIterator[bytes]:
        """Bytes [start, end) as they arrive (between join() and leave()); raises FillFailed
        if the origin breaks off. `unreleased`: the store's reader, which may take the
        latest piece too (nothing is named until the body is complete)."""
        async for span in self.spans(start, end, unreleased=unreleased, size=size):
            data = os.pread(span.fd, span.length, span.offset)
            if len(data) != span.length:
                raise FillFailed("the spool file ended early")
            yield data

    async def spans(self, start: int, end: int | None, *, unreleased: bool = False,
                    size: int = SPOOL_READ) -> AsyncIterator[FileSpan]:
        """Like read(), as places in the spool file: valid until the reader leave()s."""
        position = start
        while end is None or position < end:
            limit = self.received if unreleased else self.released
            while limit <= position and not self.body_complete and self.error is None:
                await self._progress.wait()
                limit = self.received if unreleased else self.released
            if self.error is not None:
                raise FillFailed(str(self.error)) from self.error
            available = limit if end is None else min(limit, end)
            if position >= available:
                if self.body_complete:
                    return
                continue
            length = min(available - position, size)
            yield FileSpan(self._fd, position, length)
            position += length

    async def wait_finished(self) -> None:
        while not self.finished:
            await self._progress.wait()

    async def wait_body(self) -> None:
        """Until the origin's body has ended (whole, or failed)."""
        while not self.body_complete and self.error is None:
            await self._progress.wait()

    def _close_if_unread(self) -> None:
        if self.finished and self._readers == 0 and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
