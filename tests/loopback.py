"""A test server on 127.0.0.1 that runs on an event loop of its own, in a thread of its own,
so sync and async tests use it alike while it serves."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Self


class LoopbackServer:
    """Start, stop and the listening socket; subclasses serve it in `_start` and let go
    of what they hold in `_stop`."""

    thread_name = "loopback-server"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.thread_name, daemon=True)
        # Bound now and kept, so the port is known before start and nobody can take it
        # between choosing and listening.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self._started = False
        self._stopped = False

    def start(self) -> Self:
        self._thread.start()
        self._started = True
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Close the listener and every connection; later requests are refused. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._started and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
