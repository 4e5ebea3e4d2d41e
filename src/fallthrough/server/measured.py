"""An origin that times its answers, for the metrics: every fetch, whoever asks for it.

Fills, passed-through methods and ranged fetches all reach an origin through its mount,
so wrapping the mount's origin counts each of them once, in one place: the status (or
why there was none) and the time to the response head when `fetch` returns, the body's
bytes and the time to its end when the body is read to its end or the response closed.
Anything else an origin offers (listing, writes, its store) is the wrapped origin's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from functools import partial

from ..cache.origin import Origin, OriginError, OriginResponse, OriginTimeout, OriginUnavailable
from .metrics import Metrics, Timings
from .mounts import Router


def failure_word(exc: BaseException) -> str:
    """The status label of a fetch that got no response."""
    if isinstance(exc, OriginTimeout):
        return "timeout"
    if isinstance(exc, OriginUnavailable):
        return "unreachable"
    return "error"


class MeasuredOrigin:
    def __init__(self, inner: Origin, timings: Callable[[], Timings]) -> None:
        self._inner = inner
        self._timings = timings  # the current tally (a fold starts a new one)

    def __getattr__(self, name: str):  # noqa: ANN204 - whatever the origin offers besides fetch
        return getattr(self._inner, name)

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        started = time.monotonic()
        try:
            response = await self._inner.fetch(method, path, query, headers, body)
        except OriginError as exc:
            self._timings().answered(failure_word(exc), time.monotonic() - started)
            raise
        self._timings().answered(str(response.status), time.monotonic() - started)
        _Watched(response, started, self._timings)
        return response

    async def close(self) -> None:
        await self._inner.close()


class _Watched:
    """A response's body and closer, wrapped to note its end once (read out, broken or closed)."""

    __slots__ = ("_response", "_started", "_timings", "_body", "_closer", "_received", "_done")

    def __init__(self, response: OriginResponse, started: float, timings: Callable[[], Timings]) -> None:
        self._response = response
        self._started = started
        self._timings = timings
        self._body = aiter(response.body)
        self._closer = response.closer
        self._received = 0
        self._done = False
        response.body = self
        response.closer = self._close

    def _end(self) -> None:
        if not self._done:
            self._done = True
            self._timings().ended(time.monotonic() - self._started, self._received)

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> bytes:
        try:
            piece = await self._body.__anext__()
        except BaseException:  # the end, or a body that broke off
            self._end()
            raise
        self._received += len(piece)
        return piece

    def _close(self):  # noqa: ANN202 - the closer's own answer (maybe an awaitable)
        self._end()
        closer, self._closer = self._closer, None
        return closer() if closer is not None else None  # type: ignore[operator]


def measure_origins(router: Router, metrics: Metrics) -> None:
    """Wrap every mount's origin: a plain origin's fetches are counted by the mount's
    prefix, a transform's (image routes, IIIF, avatars, a mount's ?w= twin) by its kind."""
    for mount in router.mounts:
        if mount.front == "edge":
            mount.origin = MeasuredOrigin(mount.origin, partial(metrics.origin, mount.prefix))
        else:
            mount.origin = MeasuredOrigin(mount.origin, partial(metrics.transform, mount.front))
        twin = mount.derived
        if twin is not mount:
            twin.origin = MeasuredOrigin(twin.origin, partial(metrics.transform, twin.front))
