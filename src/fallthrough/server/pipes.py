"""Response bodies that go out at the client's pace.

The HTTP server's streaming transport queues whatever it is handed, without bound, and
never says when the client has taken it: a source faster than its client (a stored 2 GiB
body, a spool the origin has already filled) would pile the whole body up in memory.
A file response, though, is read by the server only as fast as the socket drains.

So a large body goes out as a "file" that is a named pipe: the server reads the pipe at
the client's pace, and this side writes into it without blocking. A full pipe (1 MiB)
makes the writer wait, which is the backpressure; a client that went away closes the
reading end, which the writer sees as a broken pipe. Spool bytes move into the pipe with
splice(2) and never pass through Python. Closing the pipe before the promised
Content-Length ends the response short, and the server then cuts the connection, so a
body that breaks off still reaches the client as a failed transfer.

Small bodies keep the plain transport: their memory is bounded by their size.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import tempfile
from itertools import count
from typing import Protocol

from ..cache.fill import FileSpan
from ..processes import alive

log = logging.getLogger(__name__)

# Bodies up to this size go out through the plain transport.
PIPED_FROM = 1024 * 1024
PIPE_BYTES = 1024 * 1024  # the most an unprivileged process may ask for (fs.pipe-max-size)
F_SETPIPE_SZ = 1031
# A client that takes nothing for this long is cut off (the pipe stays full).
SEND_STALL = 60.0
# How long the server may take to open the pipe after the response was handed over.
OPEN_WAIT = 10.0
# A worker's pipe directory under the store's tmp directory: pipes-<pid>-<random>.
PIPES_PREFIX = "pipes-"
_PIPES_NAME = re.compile(rf"{PIPES_PREFIX}(\d+)-\w+")
# Other files a worker names under the same directory carry its pid the same way (a
# transform's source, which the image library opens by name): `source-<pid>-<random>`.
_OWNED_NAME = re.compile(r"(?:source)-(\d+)-\w+")

Part = bytes | memoryview | FileSpan


class ClientGone(Exception):
    """The client closed its connection while its body was going out."""


class BodyOut(Protocol):
    async def send(self, part: Part) -> None: ...

    def close(self) -> None: ...


class StreamOut:
    """The server's own transport, for bodies small enough to queue whole."""

    def __init__(self, transport) -> None:  # noqa: ANN001
        self._transport = transport

    async def send(self, part: Part) -> None:
        if isinstance(part, FileSpan):
            part = os.pread(part.fd, part.length, part.offset)
        await self._transport.send_bytes(bytes(part) if isinstance(part, memoryview) else part)

    def close(self) -> None:
        pass


class PipeOut:
    """A body written into a named pipe that the server reads as the client drains it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()

    async def send(self, part: Part) -> None:
        if isinstance(part, FileSpan):
            await self._splice(part)
            return
        view = memoryview(part)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except BlockingIOError:
                await self._writable()
            except (BrokenPipeError, ConnectionResetError):
                raise ClientGone("the client went away") from None

    async def _splice(self, span: FileSpan) -> None:
        offset, left = span.offset, span.length
        while left:
            try:
                moved = os.splice(span.fd, self._fd, left, offset_src=offset,
                                  flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                await self._writable()
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise ClientGone("the client went away") from None
            if moved == 0:
                raise OSError(errno.EIO, "the spool file ended early")
            offset += moved
            left -= moved

    async def _writable(self) -> None:
        ready = self._loop.create_future()
        # Level-triggered: the callback may run again before this coroutine resumes.
        self._loop.add_writer(self._fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, SEND_STALL)
        except TimeoutError:
            raise ClientGone(f"the client took nothing for {SEND_STALL:.0f} s") from None
        finally:
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Pipes:
    """Where this worker makes its named pipes: a directory of its own, emptied as it goes
    (each pipe is unlinked as soon as both ends are open) and removed at shutdown.

    Under `root` (the store's tmp directory) the directory is named by the worker's pid,
    so a process killed before its shutdown leaves something the next start can tell from
    a live worker's and remove (see remove_dead); without a root it is a private folder of
    the system's temporary directory, where a predictable name could be taken first.
    """

    def __init__(self, root: str | None = None) -> None:
        self._root = root
        self._dir: str | None = None
        self._names = count()
        self._broken = False

    async def open(self, proto, status: int, headers: list[tuple[str, str]], length: int | None) -> BodyOut:  # noqa: ANN001
        """Begin a response whose body follows through the returned sender."""
        if (length is not None and length <= PIPED_FROM) or self._broken or not hasattr(proto, "response_file"):
            return StreamOut(proto.response_stream(status, headers))
        try:
            path = self._path()
            os.mkfifo(path, 0o600)
        except OSError as exc:  # a filesystem without pipes: keep serving, unpaced
            log.warning("named pipes unavailable (%s); large bodies are sent without pacing", exc)
            self._broken = True
            return StreamOut(proto.response_stream(status, headers))
        try:
            proto.response_file(status, headers, path)
            return PipeOut(await self._open_writer(path))
        finally:
            os.unlink(path)

    def _path(self) -> str:
        if self._dir is None:
            if self._root is None:
                self._dir = tempfile.mkdtemp(prefix="fallthrough-pipes-")
            else:
                os.makedirs(self._root, exist_ok=True)
                self._dir = tempfile.mkdtemp(prefix=f"{PIPES_PREFIX}{os.getpid()}-", dir=self._root)
        return os.path.join(self._dir, str(next(self._names)))

    @staticmethod
    async def _open_writer(path: str) -> int:
        """Open the writing end once the server has opened the reading end (until then a
        non-blocking open fails with ENXIO); no thread waits on the pipe."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OPEN_WAIT
        pause = 0.0002
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                if loop.time() > deadline:
                    raise ClientGone("the server never opened the response body") from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.01)
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # a lower system limit: the default 64 KiB pipe still paces
            pass
        return fd

    def remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def remove_dead(root: str) -> list[str]:
    """Remove the pipe directories (and named source files) under `root` whose process is gone (a killed worker
    never reached its shutdown); a live process's are left alone. Returns what went."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        match = _PIPES_NAME.fullmatch(name) or _OWNED_NAME.fullmatch(name)
        if match is None or alive(int(match.group(1))):
            continue
        path = os.path.join(root, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        removed.append(name)
    return removed
