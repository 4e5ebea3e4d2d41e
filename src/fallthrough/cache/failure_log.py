"""The node's log of failures behind the cache: a warning line for each, naming the key,
the origin and the reason.

    /img/a.jpg: origin http://images.internal:8080: cannot connect: connection refused
    /img/b.jpg: origin http://images.internal:8080: answered 503
    /img/c.jpg: answered 504: not in the cache (only-if-cached)

A fill's failure is one line however many requests were waiting on it (each of them
has its own line in the access log, with the status it got). The origin is named as
configured, less any credentials in its URL.

An origin that is down while clients keep asking would otherwise write a line a
request, thousands a second, and drown the rest of the log (the system's journal
drops lines of a service that writes too fast). So each origin has at most
LINES_PER_WINDOW lines in WINDOW seconds; past that its failures are counted, and one
line at the end of the window says how many were not written.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .origin import origin_label

log = logging.getLogger(__name__)

WINDOW = 10.0
LINES_PER_WINDOW = 100


class _Window:
    """One origin's lines in the current window, and the failures left unwritten."""

    __slots__ = ("began", "lines", "held")

    def __init__(self, began: float) -> None:
        self.began = began
        self.lines = 0
        self.held = 0


_windows: dict[str, _Window] = {}


def failed(key: str, origin: str | None, reason: str, status: int | None = None) -> None:
    """One failure: `origin` is the origin's name (None when none was asked), `status`
    what the client was answered when this line stands for an answer."""
    label = origin_label(origin) if origin else ""
    if not _admitted(label):
        return
    answered = f"answered {status}: " if status is not None else ""
    named = f"origin {label}: " if label else ""
    log.warning("%s: %s%s%s", key, answered, named, reason)


def answered(key: str, origin: str | None, status: int, reason: str | None = None) -> None:
    """An origin's answer, logged when it is a failure of its own: a 5xx, but for 501 (a
    method or feature it does not implement is what the client asked, not a failure)."""
    if status >= 500 and status != 501:
        failed(key, origin, f"answered {status}: {reason}" if reason else f"answered {status}")


def _admitted(label: str) -> bool:
    now = time.monotonic()
    window = _windows.get(label)
    if window is None or now - window.began >= WINDOW:
        if window is not None:
            _say_held(label, window)
        if len(_windows) > 4096:  # origins come from the configuration; this bounds the odd case
            _windows.clear()
        window = _windows[label] = _Window(now)
    if window.lines < LINES_PER_WINDOW:
        window.lines += 1
        return True
    if window.held == 0:
        try:
            asyncio.get_running_loop().call_later(window.began + WINDOW - now, _say_held, label, window)
        except RuntimeError:  # no loop (a tool, a test): said when the next window begins
            pass
    window.held += 1
    return False


def _say_held(label: str, window: _Window) -> None:
    if window.held:
        log.warning("origin %s: %d more failure(s) in %g s, not written one by one", label or "-",
                    window.held, WINDOW)
        window.held = 0
