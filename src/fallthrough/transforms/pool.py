"""The bounded pool that image work runs in.

libvips releases the GIL while it works, so threads give real parallelism and the event
loop never waits on a transform. The pool is bounded twice: `workers` transforms run at
once, and at most `queue` more may wait. A request beyond that is refused at once (the
edge answers 503 with Retry-After) rather than queued without bound: a burst of misses
must cost the clients a retry, not the server its memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """Every worker is busy and the queue is full; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the image workers are busy; retry in {retry_after} s")
        self.retry_after = retry_after


class TransformPool:
    def __init__(self, workers: int, queue: int, retry_after: int = 1) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.retry_after = retry_after
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transform")
        self.admitted = 0  # running or waiting now
        self.refused = 0
        self.runs = 0  # pieces of image work started

    def admit(self) -> Admission:
        """A place in the pool, held from before the source is read until the work ends,
        so the sources held in memory are bounded by the pool too."""
        if self.admitted >= self.capacity:
            self.refused += 1
            raise PoolFull(self.retry_after)
        self.admitted += 1
        return Admission(self)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Admission:
    def __init__(self, pool: TransformPool) -> None:
        self._pool = pool
        self._held = True

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` on a pool thread. A caller that is cancelled meanwhile leaves
        the thread to finish: libvips work cannot be interrupted part-way."""
        loop = asyncio.get_running_loop()
        self._pool.runs += 1
        return await loop.run_in_executor(self._pool._executor, work, *args)

    def release(self) -> None:
        if self._held:
            self._held = False
            self._pool.admitted -= 1

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
