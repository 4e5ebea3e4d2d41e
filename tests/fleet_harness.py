"""A fleet on loopback: a real redis-server, a real SeaweedFS bucket (the shared tier) and
`fallthrough serve` nodes, each with its own store folder and the same config but its
`node` name."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis

from edge_server import EdgeServer, free_port
from redis_server import RedisServer


class FleetNode(EdgeServer):
    def __init__(self, workdir: Path, name: str, redis_url: str, shared_url: str, mounts: str,
                 purge_poll: str = "0.5s", workers: int = 1, fleet_extra: str = "") -> None:
        self.name = name
        workdir.mkdir(parents=True, exist_ok=True)
        self.chunk_port = free_port()
        fleet = (f'[fleet]\nnode = "{name}"\nredis = "{redis_url}"\nlisten = "127.0.0.1:{self.chunk_port}"\n'
                 f'purge_poll = "{purge_poll}"\n{fleet_extra}')
        store = (f'[[store.tier]]\nurl = "file://{workdir / "castore"}"\nmax_bytes = "1GiB"\n'
                 f'[[store.tier]]\nurl = "{shared_url}"\nshared = true\n')
        super().__init__(workdir, fleet + mounts, store=store, server='[log]\nlevel = "info"\n', workers=workers)

    def entries(self) -> int:
        return json.loads(self.get("/_fallthrough/health").body)["entries"]


class Fleet:
    """`size` nodes named n0, n1, ...; start() starts Redis and every node."""

    def __init__(self, workdir: Path, shared_url: str, mounts: str, size: int = 3, persistent_redis: bool = False,
                 purge_poll: str = "0.5s", fleet_extra: str = "", workers: int = 1) -> None:
        self.redis = RedisServer(workdir / "redis", persistent=persistent_redis)
        self.nodes = [FleetNode(workdir / f"n{i}", f"n{i}", self.redis.url, shared_url, mounts, purge_poll,
                                workers=workers, fleet_extra=fleet_extra) for i in range(size)]

    def start(self) -> Fleet:
        self.redis.start()
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.stop()

    def wait_live(self, seconds: float = 10.0) -> None:
        """Until Redis has a heartbeat of every node (after Redis itself restarted, say)."""
        client = redis.Redis.from_url(self.redis.url, socket_timeout=2)
        try:
            until(lambda: all(client.exists(f"ft:node:{n.name}") for n in self.nodes), seconds,
                  "not every node beats in Redis")
        finally:
            client.close()

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def until(check, seconds: float = 10.0, what: str = "it never happened") -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
