"""The fleet's process on a node: follows the purges other nodes issue, beats the node's
heartbeat, and serves the node's chunks to its peers.

One per node, started by `fallthrough serve` beside the workers (like the metrics
listener); it applies purges through the node's index journal, which every worker reads.
Before the workers start, `catch_up` applies what the node missed while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time

from redis import Redis as SyncRedis
from redis.exceptions import RedisError

from ..cache.index import Index, journal_path
from ..castore import open_store
from ..castore.blob_server import BlobServer
from ..config import Settings, default_settings, load
from ..processes import run_dir
from . import nodes
from .link import REDIS_TIMEOUT, redis_client, shared_records
from .purges import Follower, position_path
from .taps import TapService

log = logging.getLogger(__name__)


def follower(settings: Settings) -> Follower:
    fleet = settings.fleet
    assert fleet is not None
    return Follower(fleet.node, redis_client(fleet.redis), shared_records(settings.store),
                    Index(journal_path(settings.store.path)), position_path(settings.store.path), fleet.purge_poll)


async def catch_up(settings: Settings) -> None:
    """Before this node serves: every purge it missed applied (or, if nobody can say
    which, every entry dropped)."""
    following = follower(settings)
    try:
        await following.catch_up()
        # Live in the fleet before a worker serves: a purge with ?wait=all from now on
        # waits for this node too (its fleet process applies it from the saved position).
        with contextlib.suppress(Exception):
            await nodes.beat(following.redis, settings.fleet.node, _status(settings, following, time.time()))  # type: ignore[union-attr]
    finally:
        following.index.close()
        await following.redis.aclose()


def run_catch_up(config_path: str) -> None:
    """catch_up, in a process of its own (the node's main process waits for it)."""
    settings = _settings(config_path)
    asyncio.run(catch_up(settings))


def run(config_path: str) -> None:
    """The fleet process: until the node's main process ends it (SIGTERM)."""
    for number in (signal.SIGHUP, signal.SIGUSR1, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
    settings = _settings(config_path)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings))


def leave(settings: Settings) -> None:
    """The node stops (its main process, once its children ended): it is not live any
    more, so no purge with ?wait=all waits for it until it is back. A node killed
    outright is not live once its last heartbeat expires."""
    fleet = settings.fleet
    assert fleet is not None
    client = SyncRedis.from_url(fleet.redis, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
    with contextlib.suppress(RedisError, OSError):
        client.delete(nodes.node_key(fleet.node))
    client.close()


def _settings(config_path: str) -> Settings:
    settings = load(config_path) if config_path else default_settings()
    logging.basicConfig(level=getattr(logging, settings.log.level.upper()),
                        format="fallthrough: %(levelname)s: %(message)s")
    return settings


async def _serve(settings: Settings) -> None:
    fleet = settings.fleet
    assert fleet is not None
    following = follower(settings)
    await following.catch_up()  # what came in between the main process's catch-up and now
    # The chunk service serves what this node holds itself: a peer that wants what only
    # the shared tier has reads it there, not through us.
    own = [t for t in settings.store.tier_specs() if not t.shared]
    store = open_store(own, settings.store.write, settings.store.compression_level)  # type: ignore[arg-type]
    # Beside the chunks, the fills this node's workers lead, read by followers as they arrive.
    taps = [TapService(run_dir(settings.store.path)).add_to] if fleet.tap else []
    chunks = BlobServer(store, fleet.listen, services=taps)
    try:
        await chunks.start()
    except OSError as exc:
        log.warning("fleet: the chunk service cannot listen on %s (%s); peers will not read from this node",
                    fleet.listen, exc)
    started = time.time()
    beating = asyncio.create_task(_beat_forever(settings, following, started))
    following_task = asyncio.create_task(following.run())
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    try:
        await asyncio.wait([following_task, asyncio.create_task(stopping.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (beating, following_task):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await chunks.stop(1.0)
        await store.close()
        following.index.close()


async def _beat_forever(settings: Settings, following: Follower, started: float) -> None:
    fleet = settings.fleet
    assert fleet is not None
    redis = following.redis
    local = nodes.local_status_path(run_dir(settings.store.path))
    while True:
        status = _status(settings, following, started)
        try:
            await nodes.beat(redis, fleet.node, status)
        except Exception:  # noqa: BLE001 - Redis out of reach: the follower says so once
            pass
        try:
            nodes.write_local_status(local, {**status, "redis": following.redis_ok is not False})
        except OSError as exc:
            log.debug("fleet: cannot write %s: %s", local, exc)
        await asyncio.sleep(nodes.HEARTBEAT)


def _status(settings: Settings, following: Follower, started: float) -> dict:
    fleet = settings.fleet
    assert fleet is not None
    position = following.position
    return {"listen": fleet.listen, "http": settings.server.listen, "pid": os.getpid(), "started": started,
            "purges": {"stream_id": position.stream_id if position else "", "applied": following.applied_count,
                       "lag": round(following.lag, 4)},
            "shared": following.shared_ok is not False}
