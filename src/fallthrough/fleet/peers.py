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
                     found_more: Callable[[set[str]], None] | None = None) -> None:
    """Keep `peers` to the live nodes' chunk services, until cancelled (and tell
    `found_more` of each new set). Redis out of reach: the peers found last stay (each
    is set aside by itself if it stops answering)."""
    known: set[str] | None = None
    while True:
        try:
            found = await asyncio.wait_for(nodes.nodes(redis), LOOK_EVERY * 2)
            addresses = {status["listen"] for name, status in found.items()
                         if name != node and isinstance(status, dict) and isinstance(status.get("listen"), str)}
            addresses -= listed
            if addresses != known:
                log.info("fleet: peers %s", ", ".join(sorted(addresses)) or "none")
                peers.update(addresses)
                if found_more is not None:
                    found_more(addresses)
                known = addresses
        except (RedisError, OSError, TimeoutError):
            pass  # the purges and fills say Redis is out of reach; the peers stay as they were
        await asyncio.sleep(LOOK_EVERY)
