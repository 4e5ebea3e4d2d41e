"""A local directory as an origin (`file:///dir`), read with plain system calls.

A pread of a large piece on a worker thread streams a file at the page cache's speed,
several times what an object-store client's local backend gives; and a directory has
what HTTP needs: size, modification time (Last-Modified, and with the inode an ETag),
a type from the extension. Paths that leave the directory (`..`, or a symbolic link
pointing out of it) name nothing.
"""

from __future__ import annotations

import asyncio
import errno
import mimetypes
import os
import stat as stat_mode
from collections.abc import AsyncIterator, Mapping
from urllib.parse import unquote, urlsplit

from multidict import CIMultiDict

from ..cache.headers import format_http_date, parse_etag_list, parse_http_date, weak_match
from ..cache.origin import BadOriginURL, ListedObject, OriginBodyError, OriginResponse, OriginUnavailable, single_range
from .bucket import object_key

READ_SIZE = 1024 * 1024
# Errors of open() that mean the path names no file: a 404, not a failing origin.
NAMES_NOTHING = (errno.ENAMETOOLONG, errno.ELOOP)


class DirectoryOrigin:
    def __init__(self, url: str) -> None:
        path = unquote(urlsplit(url).path)
        if not os.path.isdir(path):
            raise BadOriginURL(f"bad origin URL {url!r}: {path} is not a directory")
        self.name = url
        self.root = os.path.realpath(path)

    def _resolve(self, path: str) -> str | None:
        full = os.path.realpath(os.path.join(self.root, object_key(path)))
        return full if full.startswith(self.root + os.sep) else None

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        if method not in ("GET", "HEAD"):
            return OriginResponse(405, CIMultiDict({"Allow": "GET, HEAD", "Content-Length": "0"}), 0)
        full = self._resolve(path)
        try:
            fd = os.open(full, os.O_RDONLY) if full is not None else -1
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            fd = -1
        except OSError as exc:
            if exc.errno not in NAMES_NOTHING:
                raise OriginUnavailable(f"origin {self.name}: {exc.strerror}") from None
            fd = -1  # a name longer than the filesystem allows, or links in a loop
        if fd < 0:
            return OriginResponse(404, CIMultiDict({"Content-Type": "text/plain; charset=utf-8"}), 0)
        stat = os.fstat(fd)
        if not stat_mode.S_ISREG(stat.st_mode):
            os.close(fd)
            return OriginResponse(404, CIMultiDict({"Content-Type": "text/plain; charset=utf-8"}), 0)
        etag = _etag(stat)
        modified = format_http_date(int(stat.st_mtime))
        out = CIMultiDict({"ETag": etag, "Last-Modified": modified})
        if _not_modified(headers, etag, int(stat.st_mtime)):
            os.close(fd)
            return OriginResponse(304, out, 0)
        out["Content-Type"] = mimetypes.guess_type(full)[0] or "application/octet-stream"
        status, start, end = 200, 0, stat.st_size
        wanted = single_range(next((v for k, v in headers.items() if k.lower() == "range"), None))
        if wanted is not None and wanted[0] < stat.st_size:
            status, start, end = 206, wanted[0], min(wanted[1] or stat.st_size, stat.st_size)
            out["Content-Range"] = f"bytes {start}-{end - 1}/{stat.st_size}"
        out["Content-Length"] = str(end - start)
        if method == "HEAD":
            os.close(fd)
            return OriginResponse(status, out, end - start)
        return OriginResponse(status, out, end - start, self._stream(fd, start, end), closer=lambda: _close(fd))

    async def _stream(self, fd: int, start: int, size: int) -> AsyncIterator[bytes]:
        position = start
        try:
            while position < size:
                piece = await asyncio.to_thread(os.pread, fd, min(READ_SIZE, size - position), position)
                if not piece:
                    raise OriginBodyError(f"origin {self.name}: the file shrank to {position} bytes while read")
                position += len(piece)
                yield piece
        except OSError as exc:
            raise OriginBodyError(f"origin {self.name}: {exc.strerror} after {position} bytes") from None
        finally:
            _close(fd)

    async def list_after(self, prefix: str, start_after: str) -> AsyncIterator[ListedObject]:
        for listed in await asyncio.to_thread(self._walk, prefix):
            if listed.key > start_after:
                yield listed

    def _walk(self, prefix: str) -> list[ListedObject]:
        """Every regular file under the folder the prefix lies in, sorted by key; links
        are not followed, so nothing outside the directory is listed."""
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = os.path.join(self.root, folder)
        found = []
        for where, _dirs, files in os.walk(top):
            for name in files:
                full = os.path.join(where, name)
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                if not key.startswith(prefix):
                    continue
                try:
                    stat = os.lstat(full)
                except OSError:
                    continue
                if stat_mode.S_ISREG(stat.st_mode):
                    found.append(ListedObject(key, stat.st_size, stat.st_mtime, _etag(stat)))
        found.sort(key=lambda listed: listed.key)
        return found

    async def close(self) -> None:
        return None


def _etag(stat: os.stat_result) -> str:
    """Changes whenever the file is replaced or rewritten."""
    return f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass  # closed already: the stream and aclose() may both get here


def _not_modified(headers: Mapping[str, str], etag: str, mtime: int) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    tags = parse_etag_list(lowered.get("if-none-match"))
    if tags is not None:
        return tags == "*" or any(weak_match(t, etag) for t in tags)
    since = parse_http_date(lowered.get("if-modified-since"))
    return since is not None and mtime <= since
