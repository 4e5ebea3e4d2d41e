"""A worker's link to the fleet: publish the purges it applied, wait for the others.

Each worker has its own Redis client (made on first use, in the worker's event loop) and
reaches the shared tier's records itself; following the fleet is the fleet process's job
(fleet/process.py), not a worker's.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..config import FleetSettings, StoreSettings
from . import nodes
from .purges import Op, Publisher
from .records import SharedRecords

# Seconds a Redis call may take before the fleet counts Redis as out of reach.
REDIS_TIMEOUT = 2.0


def redis_client(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)


def shared_records(store: StoreSettings) -> SharedRecords:
    shared = next(t for t in store.tiers if t.shared)
    return SharedRecords(shared.url, shared.options)


class FleetLink:
    def __init__(self, fleet: FleetSettings, store: StoreSettings) -> None:
        self.node = fleet.node
        self._fleet = fleet
        self._store = store
        self._publisher: Publisher | None = None

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = Publisher(self.node, redis_client(self._fleet.redis), shared_records(self._store))
        return self._publisher

    async def purge(self, ops: list[Op], wait_all: bool, timeout: float) -> dict[str, Any]:
        """Tell the fleet of a purge applied here; with `wait_all`, answer once every live
        node says it applied it too (or `timeout` seconds passed)."""
        publisher = self.publisher
        landed = await publisher.publish(ops)
        if wait_all:
            try:
                live = await nodes.live(publisher.redis)
            except (RedisError, OSError) as exc:
                landed["nodes"] = {self.node: {"applied": True}}
                landed["error"] = f"Redis: {exc}; the other nodes apply it within fleet.purge_poll"
                return landed
            if self.node not in live:
                live.append(self.node)
            landed["nodes"] = await publisher.wait_all(landed["id"], sorted(live), timeout)
        return landed
