"""The access log (`[log] access = true`): a line a request, written in batches.

A line is formatted when its response has been handed to the HTTP server and kept in a
list; the list goes out in one write when it is long or every half second, so a busy
worker makes a few writes a second, not one per request. Formats: `combined` is the
line nginx writes, then `cache=` (X-Cache's word) and `rt=` (seconds the request took
here); `json` is one object a line with the same fields. A log file is appended to by
every worker; after log rotation moves it, each worker reopens it by its path (on its
next batch, or at once on SIGUSR1).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterable

from ..config import LogSettings

FLUSH_LINES = 512
FLUSH_EVERY = 0.5


class AccessLog:
    def __init__(self, settings: LogSettings) -> None:
        self.json = settings.format == "json"
        self.path = settings.file
        self._fd = -1
        self._lines: list[str] = []
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

    def _time(self, second: int) -> str:
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
        return self._stamp

    def note(self, scope, status: int, size: int, started: float, cache: str) -> None:  # noqa: ANN001
        """One request whose response has begun (status and body size as sent).

        Built with as few calls as it can be (every request pays for it): the wall clock
        from the monotonic one by a fixed offset, the client's address split once per
        address, and the fields escaped only when one of them needs it."""
        now = time.monotonic()
        headers = scope.headers
        query = scope.query_string
        target = scope.path + "?" + query if query else scope.path
        agent = headers.get("user-agent") or "-"
        referer = headers.get("referer") or "-"
        client = self._clients.get(scope.client)
        if client is None:
            if len(self._clients) > 4096:
                self._clients.clear()
            client = self._clients[scope.client] = scope.client.rsplit(":", 1)[0]
        stamp = self._time(int(now + self._wall))
        method = scope.method
        if self.json:
            line = json.dumps({
                "time": stamp, "client": client, "method": method, "target": target,
                "protocol": "HTTP/" + scope.http_version, "status": status, "bytes": size,
                "referer": None if referer == "-" else referer, "user_agent": None if agent == "-" else agent,
                "cache": cache or None, "duration": round(now - started, 6),
            }, ensure_ascii=False) + "\n"
        else:
            fields = target + agent + referer + method
            if not fields.isprintable() or '"' in fields or "\\" in fields:
                method, target, agent, referer = _quoted(method), _quoted(target), _quoted(agent), _quoted(referer)
            line = (f'{client} - - [{stamp}] "{method} {target} HTTP/{scope.http_version}" {status} {size} '
                    f'"{referer}" "{agent}" cache={cache or "-"} rt={now - started:.6f}\n')
        lines = self._lines
        lines.append(line)
        if len(lines) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        if self._reopen or self._moved():
            self._reopen = False
            os.close(self._fd)
            self._open()
        if not self._lines:
            return
        data = "".join(self._lines).encode("utf-8", "replace")
        self._lines.clear()
        try:
            _write_all(self._fd, data)
        except OSError as exc:  # a full disk costs log lines, never requests
            print(f"fallthrough: warning: access log: {exc.strerror}", file=sys.stderr, flush=True)

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
