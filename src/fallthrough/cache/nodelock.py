"""One fill per key per node, across the worker processes that share a store.

Within a process, requests for a key join its Fill. Across processes, the leader of a
fill first takes an exclusive flock on one of 65,536 lock files chosen by the key's
hash; a worker that finds it taken waits (polling, so no thread is parked on a lock held
by another process) and then looks in the index, where the other worker's entry is by
then. Two keys that share a lock file only wait on each other's fills.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

POLL_FIRST = 0.005
POLL_MAX = 0.05


class NodeLocks:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def _path(self, key: str) -> str:
        stripe = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=2).hexdigest()
        return os.path.join(self.directory, stripe)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the key's lock (then look in the index: another worker may have stored
        what we were about to fetch, whether we had to wait or not)."""
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o644)
        delay = POLL_FIRST
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, POLL_MAX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock
