"""`fallthrough serve`: check everything that can be checked, then hand over to the server.

A bad origin URL, an unusable store or a taken port stops the start here with one line,
before any worker starts; the workers then build the same application from the same
configuration (see server/app.py).
"""

from __future__ import annotations

import os
import socket

from .castore import CastoreError
from .config import Settings
from .origins import OriginError, open_origin
from .serve_errors import ServeError
from .server.app import CONFIG_VARIABLE, index_path

MAX_REQUEST_HEAD = 64 * 1024


def check(settings: Settings) -> None:
    for i, mount in enumerate(settings.mounts):
        try:
            open_origin(mount.origin, mount.options or None)
        except OriginError as exc:
            raise ServeError(f"mount[{i}].origin: {exc}") from None
    try:
        settings.store.open()
        os.makedirs(os.path.dirname(index_path(settings)), exist_ok=True)
    except (CastoreError, OSError) as exc:
        raise ServeError(f"store.path: {exc}") from None
    server = settings.server
    try:
        family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((server.host, server.port))
    except OSError as exc:
        raise ServeError(f"server.listen: cannot listen on {server.listen}: {exc.strerror}") from None


def serve(settings: Settings, config_path: str | None) -> int:
    check(settings)
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings

    os.environ[CONFIG_VARIABLE] = os.path.abspath(config_path) if config_path else ""
    server = settings.server
    print(f"fallthrough: serving on http://{server.listen} with {server.workers} worker(s)", flush=True)
    Granian(
        "fallthrough.server.app:build", factory=True, address=server.host, port=server.port,
        interface=Interfaces.RSGI, workers=server.workers, log_access=False, websockets=False,
        loop=Loops.uvloop,  # a third more requests per second than the stock event loop
        # A request head larger than this is answered 431 before it reaches us.
        http1_settings=HTTP1Settings(max_buffer_size=MAX_REQUEST_HEAD),
    ).serve()
    return 0
