"""The index on disk: an append-only log of records, shared by the workers of a node.

Every change to the index (an entry stored, a key removed, a ban issued) is one line,
`<crc32 hex> <json>\\n`, appended with a single write under an exclusive lock, so lines
from several processes never interleave. Each worker keeps the whole index in memory
and reads the lines the others appended when the file has grown (one fstat per
lookup, no read unless something changed). A crash can leave a torn last line; its
checksum fails, and the next open cuts it off. Opening rewrites the log as the live
records only when most of it is dead, so it stays proportional to the index.

How far the log reaches is also kept in an 8-byte file every worker maps into memory
(`<journal>.end`): a writer stores the new end after each append, and a lookup compares
it with how far it has read. So seeing that nothing changed costs one memory read, not a
system call, on the hot path.
"""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


def encode(record: dict[str, Any]) -> bytes:
    payload = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode(line: bytes) -> dict[str, Any] | None:
    """A record, or None for a line that is torn or damaged."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        record = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return None
    return record if isinstance(record, dict) else None


class Journal:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock_path = path + ".lock"
        self._fd = -1
        self._offset = 0
        self._pending = b""
        self._end: mmap.mmap | None = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def open(self, compact: Any = None) -> list[dict[str, Any]]:
        """Read every record; `compact(records)` may return the live ones to rewrite.

        Runs under the lock so that a worker starting beside others never rewrites the
        log while another is reading or appending to it.
        """
        with self._locked():
            records, good_end = self._read_all()
            size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
            if good_end < size:
                log.warning("index %s: dropped %d damaged bytes at its end", self.path, size - good_end)
                with open(self.path, "r+b") as f:
                    f.truncate(good_end)
            live = compact(records) if compact is not None else None
            if live is not None:
                self._rewrite(live)
                records = live
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._offset = os.fstat(self._fd).st_size
            self._end = self._map_end()
            struct.pack_into("<Q", self._end, 0, self._offset)
        return records

    def _map_end(self) -> mmap.mmap:
        fd = os.open(self.path + ".end", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            return mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def _read_all(self) -> tuple[list[dict[str, Any]], int]:
        if not os.path.exists(self.path):
            return [], 0
        records: list[dict[str, Any]] = []
        good_end = 0
        with open(self.path, "rb") as f:
            position = 0
            for line in f:
                position += len(line)
                if not line.endswith(b"\n"):
                    break
                record = decode(line[:-1])
                if record is None:
                    log.warning("index %s: skipped a damaged record at byte %d", self.path, position - len(line))
                else:
                    records.append(record)
                good_end = position
        return records, good_end

    def _rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        staging = self.path + ".new"
        with open(staging, "wb") as f:
            for record in records:
                f.write(encode(record))
            f.flush()
            os.fsync(f.fileno())
        os.replace(staging, self.path)

    def append(self, record: dict[str, Any]) -> None:
        line = encode(record)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            before = os.fstat(self._fd).st_size
            caught_up = before == self._offset and not self._pending
            os.write(self._fd, line)
            if self._end is not None:
                struct.pack_into("<Q", self._end, 0, before + len(line))
            if caught_up:  # nobody wrote in between: no need to read our own line back
                self._offset += len(line)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @property
    def position(self) -> int:
        """How far the records applied here reach."""
        return self._offset - len(self._pending)

    @property
    def end(self) -> int:
        """How far the journal reaches, as its writers last said (a memory read)."""
        return struct.unpack_from("<Q", self._end)[0] if self._end is not None else self._offset

    def read_new(self) -> list[dict[str, Any]]:
        """Records appended since the last call (ours included; applying them is idempotent)."""
        if self._end is not None and struct.unpack_from("<Q", self._end)[0] == self._offset:
            return []
        size = os.fstat(self._fd).st_size
        if size <= self._offset:
            return []
        data = self._pending + os.pread(self._fd, size - self._offset, self._offset)
        self._offset = size
        lines = data.split(b"\n")
        self._pending = lines.pop()  # a line still being written
        return [r for r in map(decode, lines) if r is not None]

    def close(self) -> None:
        if self._end is not None:
            self._end.close()
            self._end = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
