"""`fallthrough serve`: check everything that can be checked, then hand over to the server.

A bad origin URL, an unusable store or a taken port stops the start here with one line,
before any worker starts; the workers then build the same application from the same
configuration (see server/app.py).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from .cache.cache import spool_dir
from .castore import CastoreError
from .castore.s3 import s3_store
from .config import ServerSettings, Settings
from .limits import LimitError, WorkerLimits, raise_open_files, worker_limits
from .cache.origin import OriginUnavailable
from .origins import OriginError, open_origin
from .processes import empty_folder
from .reload import Reloader, pid_path, snapshot_path, write_atomically
from .serve_errors import ServeError
from .transforms.avatars.remote import RendererError
from .transforms.avatars.service import check as check_avatars
from .server.app import CONFIG_VARIABLE, index_path
from .server import health, metrics_files
from .server.metrics_listener import run as run_metrics_listener
from .server.pipes import remove_dead

MAX_REQUEST_HEAD = 64 * 1024
# Seconds before a worker that died is started again.
RESPAWN_AFTER = 1.0


def check(settings: Settings, listen: bool = True) -> None:
    """Everything a start needs, each failure one line naming the key. `listen=False`
    (`fallthrough check`) leaves out the listen addresses: the node may hold them."""
    for i, mount in enumerate(settings.mounts):
        if mount.avatar is not None:  # drawn here, not fetched: its renderer must be able to draw
            try:
                check_avatars(mount.avatar)
            except RendererError as exc:
                raise ServeError(f"mount[{i}].avatar: {exc}") from None
            continue
        try:
            open_origin(mount.origin, mount.options or None)
        except OriginError as exc:
            raise ServeError(f"mount[{i}].origin: {exc}") from None
        if mount.mirror_to is not None:
            options = mount.options if mount.origin.lower().startswith("s3://") else {}
            try:
                s3_store(mount.mirror_to, dict(options))
            except CastoreError as exc:
                raise ServeError(f"mount[{i}].mirror_to: {exc}") from None
    try:
        settings.store.open()
        os.makedirs(os.path.dirname(index_path(settings)), exist_ok=True)
    except (CastoreError, OSError) as exc:
        raise ServeError(f"store.path: {exc}") from None
    if settings.log.access and settings.log.file is not None:
        try:
            os.makedirs(os.path.dirname(settings.log.file), exist_ok=True)
            os.close(os.open(settings.log.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640))
        except OSError as exc:
            raise ServeError(f"log.file: cannot write {settings.log.file}: {exc.strerror}") from None
    try:
        os.makedirs(health.workers_dir(settings.store.path), exist_ok=True)
        if settings.metrics.enabled:
            os.makedirs(metrics_files.metrics_dir(settings.store.path), exist_ok=True)
    except OSError as exc:
        raise ServeError(f"store.path: cannot make the node's run directory: {exc.strerror}") from None
    if listen:
        _check_listen("server.listen", settings.server.host, settings.server.port, settings.server.listen)
        if settings.s3 is not None:
            _check_listen("s3.listen", settings.s3.host, settings.s3.port, settings.s3.listen)
        if settings.metrics.listen is not None:
            _check_listen("metrics.listen", settings.metrics.host, settings.metrics.port, settings.metrics.listen)


# A path no origin holds: asking for it shows the origin answers, whatever it answers.
PROBE_PATH = "/.fallthrough-check"


async def reach_origins(settings: Settings) -> int:
    """Ask each fetching origin for one object (HEAD): any answer, a 404 included, shows
    it can be reached; no answer is a one-line error naming the mount. Generators and
    avatar mounts are not asked (nothing stands behind them to reach)."""
    reached = 0
    for i, mount in enumerate(settings.mounts):
        if mount.avatar is not None or mount.origin.lower().startswith("generator:"):
            continue
        origin = open_origin(mount.origin, mount.options or None, connect_timeout=mount.connect_timeout,
                             read_timeout=mount.read_timeout)
        try:
            response = await origin.fetch("HEAD", PROBE_PATH, "", {})
            await response.aclose()
        except OriginUnavailable as exc:
            raise ServeError(f"mount[{i}].origin (for {mount.url_prefix}): {exc}") from None
        except OriginError:
            pass  # it answered, with something we would not serve: reached
        finally:
            await origin.close()
        reached += 1
    return reached


def _check_listen(key: str, host: str, port: int, listen: str) -> None:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ServeError(f"{key}: cannot listen on {listen}: {exc.strerror}") from None


def run_granian(factory: str, host: str, port: int, workers: int, backlog: int, connections: int,
                on_reload: Callable[[], None] | None = None, tls: tuple[str, str] | None = None) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    server = Granian(
        factory, factory=True, address=host, port=port,
        interface=Interfaces.RSGI, workers=workers, log_access=False, websockets=False,
        loop=Loops.uvloop,  # a third more requests per second than the stock event loop
        # The server holds one permit per connection, taken before accept() and kept until
        # the connection closes, idle or not ("backpressure"): past it, connections wait
        # unanswered in the kernel's queue. Its default (backlog // workers) was 512.
        backlog=backlog, backpressure=connections,
        # Plain HTTP: HTTP/1 only. With the protocol left to detection, a connection that
        # never sends a byte is never timed out and keeps its permit for good; here it is
        # closed after the header timeout (30 s), like an idle keep-alive connection.
        # With TLS the protocol is agreed in the handshake (ALPN): HTTP/2 or HTTP/1.1.
        http=HTTPModes.auto if tls else HTTPModes.http1,
        **({"ssl_cert": Path(tls[0]), "ssl_key": Path(tls[1])} if tls else {}),
        # A request head larger than this is answered 431 before it reaches us.
        http1_settings=HTTP1Settings(max_buffer_size=MAX_REQUEST_HEAD),
        # A worker that dies (killed, out of memory) is replaced; the node goes on serving.
        respawn_failed_workers=True, respawn_interval=RESPAWN_AFTER,
    )
    if on_reload is not None:
        server.on_reload(on_reload)  # SIGHUP: runs before the workers are replaced
    # SIGUSR1 (log rotation) would end a process that does not handle it: this one passes
    # it on to its children (the workers, and the S3 listener's server), which reopen
    # their access logs.
    signal.signal(signal.SIGUSR1, _pass_on)
    server.serve()


def _pass_on(signum: int, _frame: object) -> None:
    for child in multiprocessing.active_children():
        if child.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(child.pid, signum)


def limits(server: ServerSettings) -> WorkerLimits:
    """Raise the open-file limit (the workers inherit it) and size the workers to it."""
    try:
        return worker_limits(server, raise_open_files())
    except LimitError as exc:
        raise ServeError(str(exc)) from None


def serve(settings: Settings, config_path: str | None) -> int:
    check(settings)
    server = settings.server
    sized = limits(server)
    # A killed worker leaves its pipe directory behind; no worker of this node runs yet.
    remove_dead(spool_dir(settings.store.path))
    # Nor has any process of this node published its status or its metrics yet: what is
    # there is the last run's. Every server process started from here on writes its
    # metrics into that directory (prometheus_client reads the variable).
    empty_folder(health.workers_dir(settings.store.path))
    if settings.metrics.enabled:
        directory = metrics_files.metrics_dir(settings.store.path)
        empty_folder(directory)
        os.environ[metrics_files.VARIABLE] = directory
    reloader = None
    os.environ[CONFIG_VARIABLE] = ""  # the embedded default
    if config_path:
        # The workers read the checked snapshot, never the file itself (see reload.py).
        with open(config_path, encoding="utf-8") as f:
            write_atomically(snapshot_path(settings), f.read())
        os.environ[CONFIG_VARIABLE] = snapshot_path(settings)
        reloader = Reloader(os.path.abspath(config_path), settings, lambda new: (check(new, listen=False),
                                                                                  limits(new.server)))
    write_atomically(pid_path(settings), f"{os.getpid()}\n")
    print(f"fallthrough: serving on {server.scheme}://{server.listen} with {server.workers} worker(s), each taking up to "
          f"{sized.connections:,} connections and {sized.requests:,} requests at once", flush=True)
    s3 = listener = fleet = None
    if settings.fleet is not None:
        # Before any worker serves: the purges this node missed while it was away.
        # In a process of its own: the object-store client's runtime, once it has run in
        # this process, would not work in the workers forked from it.
        from .fleet.process import run as run_fleet, run_catch_up
        catching_up = multiprocessing.get_context("spawn").Process(
            target=run_catch_up, args=(os.environ[CONFIG_VARIABLE],), name="fallthrough-fleet-catch-up")
        catching_up.start()
        catching_up.join()
        print(f"fallthrough: fleet node {settings.fleet.node!r}, chunk service on {settings.fleet.listen}", flush=True)
        fleet = multiprocessing.get_context("spawn").Process(
            target=run_fleet, args=(os.environ[CONFIG_VARIABLE],), name="fallthrough-fleet")
        fleet.start()
    if settings.metrics.listen is not None:
        print(f"fallthrough: metrics on http://{settings.metrics.listen}/metrics", flush=True)
        listener = multiprocessing.get_context("spawn").Process(
            target=run_metrics_listener, name="fallthrough-metrics")
        listener.start()
    if settings.s3 is not None:
        # The S3 API listens apart, in its own server (a fresh process: one HTTP server per
        # process), with as many workers; both share the store and the index on disk.
        print(f"fallthrough: S3 API on http://{settings.s3.listen}", flush=True)
        s3 = multiprocessing.get_context("spawn").Process(
            target=run_granian, args=("fallthrough.server.app:build_s3", settings.s3.host, settings.s3.port,
                                      server.workers, server.backlog, sized.connections), name="fallthrough-s3")
        s3.start()
        if reloader is not None and s3.pid is not None:
            reloader.followers.append(s3.pid)
    try:
        tls = (server.tls_cert, server.tls_key) if server.tls_cert and server.tls_key else None
        run_granian("fallthrough.server.app:build", server.host, server.port, server.workers, server.backlog,
                    sized.connections, on_reload=reloader, tls=tls)
    finally:
        for child in (s3, listener, fleet):
            if child is not None:
                child.terminate()
                child.join(15)
        if fleet is not None:
            from .fleet.process import leave
            leave(settings)
        with contextlib.suppress(OSError):
            os.unlink(pid_path(settings))
    return 0
