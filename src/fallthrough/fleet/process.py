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

from ..cache.index import Index, journal_path
from ..config import Settings, default_settings, load
from . import nodes
from .link import redis_client, shared_records
from .purges import Follower, position_path

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
    started = time.time()
    beating = asyncio.create_task(_beat_forever(settings, following, started))
    try:
        await following.run()
    finally:
        beating.cancel()


async def _beat_forever(settings: Settings, following: Follower, started: float) -> None:
    fleet = settings.fleet
    assert fleet is not None
    redis = following.redis
    while True:
        position = following.position
        status = {"listen": fleet.listen, "http": settings.server.listen, "pid": os.getpid(), "started": started,
                  "purges": {"stream_id": position.stream_id if position else "", "applied": following.applied_count,
                             "lag": round(following.lag, 4)},
                  "shared": following.shared_ok is not False}
        try:
            await nodes.beat(redis, fleet.node, status)
        except Exception:  # noqa: BLE001 - Redis out of reach: the follower says so once
            pass
        await asyncio.sleep(nodes.HEARTBEAT)
