"""The access log (`[log] access = true`): a line a request, written in batches.

When a request's response has been handed to the HTTP server, the request is noted: its
scope and the fields the edge read already. The rest is read, and the lines are made, a
few dozen requests at a time, which costs less a line than one line between two requests
(the code and the data it uses stay warm); the lines go out in one write when there are
hundreds or every half second. So a busy worker makes a few writes a second, not one per
request. Fields the client sent are escaped as nginx escapes them (\\xHH, a byte of UTF-8
each, for a quote, a backslash or what does not print), so no request splits a line.

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
# Notes made into lines at a time: enough for the code to stay warm (more saves nothing
# measurable), few enough that the worker never stops for long (32 take some 40 µs).
MAKE_LINES = 32
_monotonic = time.monotonic  # one lookup less on every request

# A request as noted: the HTTP server's scope (the rest of its fields are read when the
# line is made), its method, path, query and headers, status, bytes, cache word, when it
# started and ended (monotonic), and seconds on the origin (None when it asked none).
Note = tuple[object, str, str, str, object, int, int, str, float, float, float | None]
# rt= of the requests that took under 10 ms (hits: a few µs), each formatted once.
RT_TABLE = 10_000
MIDDLES = 4096  # requests (method, target, ... cache word) whose part of the line is kept made
MIDDLE_KEPT = 512  # characters of such a part at most: longer ones (a long User-Agent) are made anew
_RTS: list[str | None] = [None] * RT_TABLE


class AccessLog:
    def __init__(self, settings: LogSettings) -> None:
        self.json = settings.format == "json"
        self.path = settings.file
        self._fd = -1
        self._notes: list[Note] = []
        self._made: list[str] = []  # lines made, not yet written
        self._made_lines = 0
        self._reopen = False
        self._stamps: dict[int, str] = {}  # wall-clock second → its time as the line writes it
        self._wall = time.time() - time.monotonic()  # the wall clock, from the monotonic one
        self._clients: dict[str, str] = {}  # "address:port" → address
        self._middles: dict[tuple[str, str, str, int, int, str, str, str], str] = {}
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
        spent on the origin, if one was asked)."""
        notes = self._notes
        notes.append((scope, scope.method, scope.path, scope.query_string, scope.headers, status, size, cache or "-",
                      started, _monotonic(), upstream))
        if len(notes) >= MAKE_LINES:
            self._make()

    def note_hit(self, scope, method: str, path: str, query: str, headers, status: int,  # noqa: ANN001
                 size: int, started: float) -> None:
        """A fresh hit answered on the hot path, with the fields that path has read
        already. Every hit pays for this, so it keeps the request's scope and reads
        nothing more: the other fields are read a batch at a time (_make), which costs
        less a request than reading them between two requests (the code and what it
        uses stay warm)."""
        notes = self._notes
        notes.append((scope, method, path, query, headers, status, 0 if method == "HEAD" else size, "HIT", started,
                      _monotonic(), None))
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
        lines = []
        add = lines.append
        rts, clients, wall = _RTS, self._clients, self._wall
        first, last = int(notes[0][9] + wall), int(notes[-1][9] + wall)
        stamp = self._stamp(last) if first == last else ""  # one second, mostly: one time for all
        middles = self._middles
        for scope, method, path, query, headers, status, size, cache, started, ended, up in notes:
            client = scope.client
            address = clients.get(client) or self._address(client)
            version = scope.http_version
            referer = headers.get("referer") or "-"
            agent = headers.get("user-agent") or "-"
            target = path + "?" + query if query else path
            # The line from the request to the cache word, made once for each such request
            # (a busy edge answers the same few of them over and over).
            key = (method, target, version, status, size, referer, agent, cache)
            middle = middles.get(key)
            if middle is None:
                middle = self._middle(key)
            us = int((ended - started) * 1e6)  # whole microseconds, as the line shows them
            rt = rts[us] if us < RT_TABLE else None
            if rt is None:
                rt = f"{us // 1_000_000}.{us % 1_000_000:06d}"
                if us < RT_TABLE:
                    rts[us] = rt
            add(f'{address} - - [{stamp or self._stamp(int(ended + wall))}] {middle} rt={rt} '
                f'ut={"-" if up is None else f"{up:.6f}"}\n')
        return "".join(lines)

    def _middle(self, key: tuple[str, str, str, int, int, str, str, str]) -> str:
        """The part of a line from the request to the cache word, kept for the next such
        request when it is short: the kept parts stay within a few MiB whatever clients send."""
        method, target, version, status, size, referer, agent, cache = key
        sent = method + target + referer + agent + version
        if not sent.isprintable() or '"' in sent or "\\" in sent:
            method, target, referer, agent, version = map(_quoted, (method, target, referer, agent, version))
        middle = f'"{method} {target} HTTP/{version}" {status} {size} "{referer}" "{agent}" cache={cache}'
        if len(middle) <= MIDDLE_KEPT:
            if len(self._middles) >= MIDDLES:
                self._middles.clear()
            self._middles[key] = middle
        return middle

    def _json_lines(self, notes: list[Note]) -> str:
        lines = []
        for scope, method, path, query, headers, status, size, cache, started, ended, up in notes:
            lines.append(json.dumps({
                "time": self._stamp(int(ended + self._wall)), "client": self._address(scope.client), "method": method,
                "target": path + "?" + query if query else path, "protocol": "HTTP/" + scope.http_version,
                "status": status, "bytes": size, "referer": headers.get("referer") or None,
                "user_agent": headers.get("user-agent") or None, "cache": None if cache == "-" else cache,
                "duration": round(ended - started, 6), "upstream_time": None if up is None else round(up, 6),
            }) + "\n")  # ASCII: no character in a field reads as a line break anywhere
        return "".join(lines)

    def _address(self, client: str) -> str:
        """The client's address without its port, split once per address."""
        if len(self._clients) > 4096:
            self._clients.clear()
        address = self._clients[client] = client.rsplit(":", 1)[0]
        return address

    def _stamp(self, second: int) -> str:
        """A wall-clock second as the line writes it, formatted once."""
        stamp = self._stamps.get(second)
        if stamp is None:
            if len(self._stamps) > 8:
                self._stamps.clear()
            stamp = self._stamps[second] = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
        return stamp

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
    """A field as nginx escapes it: quotes, backslashes and what does not print as \\xHH,
    a byte of its UTF-8 each."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return "".join("".join(f"\\x{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                   if (not c.isprintable() or c in '"\\') else c for c in value)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def cache_word(headers: Iterable[tuple[str, str]]) -> str:
    for name, value in headers:
        if name.lower() == "x-cache":
            return value
    return ""
