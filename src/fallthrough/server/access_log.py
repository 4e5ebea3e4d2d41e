"""The access log (`[log] access = true`): a line a request, written in batches.

A request's fields are read when its response has been handed to the HTTP server, and
kept as they are; the lines are made from them a few dozen at a time, which costs less a
line than one line between two requests (the code and the data it uses stay warm), and
go out in one write when there are hundreds or every half second. So a busy worker makes
a few writes a second, not one per request.

Formats: `combined` is the line nginx writes, then `cache=` (X-Cache's word), `rt=`
(seconds the request took here) and `ut=` (seconds it spent on the origin, `-` when it
asked none); `json` is one object a line with the same fields. A log file is appended to
by every worker; after log rotation moves it, each worker reopens it by its path within
half a second (on SIGUSR1 too, even if the path still names the same file).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterable

from ..config import LogSettings

FLUSH_LINES = 512  # lines a write
FLUSH_EVERY = 0.5  # seconds between writes at most (and checks that the file was not moved)
# Notes made into lines at a time: enough for the code to stay warm, few enough that the
# worker never stops for long (512 at once hold every response in flight back for about
# half a millisecond; 32, for some 25 µs).
MAKE_LINES = 32
_monotonic = time.monotonic  # one lookup less on every request

# A request as noted: client ("address:port"), method, path, query, HTTP version, Referer,
# User-Agent, status, bytes, cache word, started and ended (monotonic), upstream seconds.
Note = tuple[str, str, str, str, str, str | None, str | None, int, int, str, float, float, float | None]


class AccessLog:
    def __init__(self, settings: LogSettings) -> None:
        self.json = settings.format == "json"
        self.path = settings.file
        self._fd = -1
        self._notes: list[Note] = []
        self._made: list[str] = []  # lines made, not yet written
        self._made_lines = 0
        self._reopen = False
        self._stamp_second = -1
        self._stamp = ""
        self._wall = time.time() - time.monotonic()  # the wall clock, from the monotonic one
        self._clients: dict[str, str] = {}  # "address:port" → address
        self._open()
        try:
            signal.signal(signal.SIGUSR1, self._on_signal)
        except ValueError:  # not the main thread (a test's in-process app): no signal, the path is watched
            pass

    def _open(self) -> None:
        if self.path is None:
            self._fd = os.dup(sys.stderr.fileno())
        else:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def _on_signal(self, *_: object) -> None:
        self._reopen = True

    def note(self, scope, status: int, size: int, started: float, cache: str,  # noqa: ANN001
             upstream: float | None = None) -> None:
        """One request whose response has begun (status and body size as sent; seconds
        spent on the origin, if one was asked). Every request pays for this, so it only
        reads the request's fields; its line is made in the batch (flush)."""
        headers = scope.headers
        notes = self._notes
        notes.append((scope.client, scope.method, scope.path, scope.query_string, scope.http_version,
                      headers.get("referer"), headers.get("user-agent"), status, size, cache, started,
                      _monotonic(), upstream))
        if len(notes) >= MAKE_LINES:
            self._make()

    def note_hit(self, scope, status: int, size: int, started: float) -> None:  # noqa: ANN001
        """A fresh hit answered on the hot path: note() with what such a hit always is."""
        headers = scope.headers
        method = scope.method
        notes = self._notes
        notes.append((scope.client, method, scope.path, scope.query_string, scope.http_version,
                      headers.get("referer"), headers.get("user-agent"), status, 0 if method == "HEAD" else size,
                      "HIT", started, _monotonic(), None))
        if len(notes) >= MAKE_LINES:
            self._make()

    def flush(self) -> None:
        """Every FLUSH_EVERY: reopen the file if it was moved, then write all that was noted."""
        if self._reopen or self._moved():
            self._reopen = False
            os.close(self._fd)
            self._open()
        if self._notes:
            self._make()
        if self._made:
            self._write()

    def _make(self) -> None:
        notes = self._notes
        self._notes = []
        self._made.append(self._json_lines(notes) if self.json else self._combined_lines(notes))
        self._made_lines += len(notes)
        if self._made_lines >= FLUSH_LINES:
            self._write()

    def _write(self) -> None:
        data = "".join(self._made).encode("utf-8", "replace")
        self._made.clear()
        self._made_lines = 0
        try:
            _write_all(self._fd, data)
        except OSError as exc:  # a full disk costs log lines, never requests
            print(f"fallthrough: warning: access log: {exc.strerror}", file=sys.stderr, flush=True)

    def _combined_lines(self, notes: list[Note]) -> str:
        """The batch as combined lines; the fields are escaped only when one needs it."""
        lines = []
        add = lines.append
        address, stamp = self._address, self._time
        for client, method, path, query, version, referer, agent, status, size, cache, started, ended, up in notes:
            target = path + "?" + query if query else path
            agent = agent or "-"
            referer = referer or "-"
            fields = target + agent + referer + method
            if not fields.isprintable() or '"' in fields or "\\" in fields:
                method, target, agent, referer = _quoted(method), _quoted(target), _quoted(agent), _quoted(referer)
            ut = "-" if up is None else f"{up:.6f}"
            add(f'{address(client)} - - [{stamp(ended)}] "{method} {target} HTTP/{version}" {status} {size} '
                f'"{referer}" "{agent}" cache={cache or "-"} rt={ended - started:.6f} ut={ut}\n')
        return "".join(lines)

    def _json_lines(self, notes: list[Note]) -> str:
        lines = []
        for client, method, path, query, version, referer, agent, status, size, cache, started, ended, up in notes:
            lines.append(json.dumps({
                "time": self._time(ended), "client": self._address(client), "method": method,
                "target": path + "?" + query if query else path, "protocol": "HTTP/" + version, "status": status,
                "bytes": size, "referer": referer or None, "user_agent": agent or None, "cache": cache or None,
                "duration": round(ended - started, 6), "upstream_time": None if up is None else round(up, 6),
            }, ensure_ascii=False) + "\n")
        return "".join(lines)

    def _address(self, client: str) -> str:
        """The client's address without its port, split once per address."""
        address = self._clients.get(client)
        if address is None:
            if len(self._clients) > 4096:
                self._clients.clear()
            address = self._clients[client] = client.rsplit(":", 1)[0]
        return address

    def _time(self, monotonic: float) -> str:
        """The line's time, by the wall clock, formatted once a second."""
        second = int(monotonic + self._wall)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
        return self._stamp

    def _moved(self) -> bool:
        if self.path is None:
            return False
        try:
            return os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except OSError:
            return True  # gone: make it again

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


def _quoted(value: str) -> str:
    """A field as nginx escapes it: quotes, backslashes and control bytes as \\xHH."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return "".join(f"\\x{ord(c):02X}" if (not c.isprintable() or c in '"\\') else c for c in value)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def cache_word(headers: Iterable[tuple[str, str]]) -> str:
    for name, value in headers:
        if name.lower() == "x-cache":
            return value
    return ""
