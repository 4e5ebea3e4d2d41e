"""A worker's peers, as the fleet's heartbeats tell of them: every live node's chunk
service but this node's own and those the config lists already (castore/peers.py reads
from them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..castore.peers import PeerSet
from . import nodes

log = logging.getLogger(__name__)

LOOK_EVERY = 2.0  # seconds between two looks at the heartbeats


async def find_peers(redis: Redis, node: str, listed: set[str], peers: PeerSet,
                     found: Callable[[dict[str, str]], None] | None = None) -> None:
    """Keep `peers` to the live nodes' chunk services, until cancelled (and tell `found`
    of the other live nodes, name → chunk service, when they change). Redis out of
    reach: the peers found last stay (each is set aside by itself if it stops answering)."""
    named: dict[str, str] | None = None
    known: set[str] | None = None
    while True:
        try:
            live = await asyncio.wait_for(nodes.nodes(redis), LOOK_EVERY * 2)
            others = {name: status["listen"] for name, status in live.items()
                      if name != node and isinstance(status, dict) and isinstance(status.get("listen"), str)}
            addresses = set(others.values()) - listed
            if addresses != known:
                log.info("fleet: peers %s", ", ".join(sorted(addresses)) or "none")
                peers.update(addresses)
                known = addresses
            if found is not None and others != named:
                found(others)
                named = others
        except (RedisError, OSError, TimeoutError):
            pass  # the purges and fills say Redis is out of reach; the peers stay as they were
        await asyncio.sleep(LOOK_EVERY)
