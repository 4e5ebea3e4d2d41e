"""Which nodes are in the fleet, and how each is doing: a heartbeat in Redis.

Every HEARTBEAT seconds a node's fleet process writes `ft:node:<name>` (its status, as
JSON) with an expiry of ALIVE_FOR; a node whose key has expired is gone. `ft:nodes`
names every node that ever joined, so `fallthrough fleet status` can list the gone too.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from redis.asyncio import Redis

NODES = "ft:nodes"
HEARTBEAT = 1.0  # seconds between a node's heartbeats
ALIVE_FOR = 5  # seconds a heartbeat vouches for the node


LOCAL = "fleet.json"  # under the node's run folder: the fleet process's last status, for the metrics


def local_status_path(run_dir: str) -> str:
    return os.path.join(run_dir, LOCAL)


def write_local_status(path: str, status: dict[str, Any]) -> None:
    """The status for this node's own processes to read (atomically: a reader never sees half)."""
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump({**status, "seen": time.time()}, f)
    os.replace(temporary, path)


def read_local_status(path: str, fresh_for: float = 3 * ALIVE_FOR) -> dict[str, Any] | None:
    """The fleet process's last status, or None if it is older than `fresh_for` seconds
    (the process is not running) or not there."""
    try:
        with open(path) as f:
            status = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict) or not isinstance(status.get("seen"), int | float):
        return None
    return status if time.time() - status["seen"] <= fresh_for else None


def node_key(node: str) -> str:
    return f"ft:node:{node}"


async def beat(redis: Redis, node: str, status: dict[str, Any]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.sadd(NODES, node)
        pipe.set(node_key(node), json.dumps({**status, "node": node, "seen": time.time()}), ex=ALIVE_FOR)
        await pipe.execute()


async def nodes(redis: Redis) -> dict[str, dict[str, Any] | None]:
    """Every node that ever joined: its last status, or None once it is gone."""
    names = sorted(n.decode() if isinstance(n, bytes) else n for n in await redis.smembers(NODES))
    if not names:
        return {}
    values = await redis.mget([node_key(n) for n in names])
    found: dict[str, dict[str, Any] | None] = {}
    for name, value in zip(names, values, strict=True):
        try:
            found[name] = json.loads(value) if value is not None else None
        except ValueError:
            found[name] = None
    return found


async def live(redis: Redis) -> list[str]:
    return [name for name, status in (await nodes(redis)).items() if status is not None]
