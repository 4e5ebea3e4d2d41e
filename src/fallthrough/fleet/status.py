"""`fallthrough fleet status`: the fleet's nodes as Redis knows them."""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError

from ..config import Settings
from . import nodes
from .link import redis_client
from .purges import EPOCH, STREAM, as_text


class FleetUnreachable(Exception):
    """Redis did not answer: nobody else keeps the fleet's roll."""


async def status(settings: Settings) -> dict[str, Any]:
    fleet = settings.fleet
    if fleet is None:
        raise FleetUnreachable("this configuration has no [fleet]: the node is alone")
    redis = redis_client(fleet.redis)
    try:
        found = await nodes.nodes(redis)
        info = await redis.xinfo_stream(STREAM) if await redis.exists(STREAM) else {}
        epoch = await redis.get(EPOCH)
    except (RedisError, OSError) as exc:
        raise FleetUnreachable(f"Redis at {fleet.redis} does not answer: {exc}") from None
    finally:
        await redis.aclose()
    last = info.get("last-generated-id", b"") if info else b""
    return {"node": fleet.node, "epoch": as_text(epoch), "purges": {"last": as_text(last), "length": info.get("length", 0)
                                                                  if info else 0},
            "nodes": found}


def table(report: dict[str, Any]) -> str:
    now = time.time()
    rows = [("node", "state", "seen", "http", "chunk service", "purges applied", "position", "lag")]
    for name, node in report["nodes"].items():
        if node is None:
            rows.append((name, "gone", "-", "-", "-", "-", "-", "-"))
            continue
        purges = node.get("purges", {})
        rows.append((name, "live", f"{now - node.get('seen', now):.1f}s ago", str(node.get("http", "-")),
                     str(node.get("listen", "-")), str(purges.get("applied", "-")), purges.get("stream_id") or "-",
                     f"{purges.get('lag', 0) * 1000:.0f} ms"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    stream = report["purges"]
    lines.append(f"purge stream: last {stream['last'] or '-'}, {stream['length']} kept")
    return "\n".join(lines)
