"""What the cache asks of a fleet (fleet/entries.py implements it): on a local miss, the
entry another node stored for the key; on a commit, this node's entry for the others.

The cache decides whether it may use what the fleet offers (cache.Cache.from_fleet): a
purge this node applied covers it, or it is older than this node remembers purges, and
it is not taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .entry import Entry


class FleetEntries(Protocol):
    found: int  # entries taken from the fleet so far (origin requests saved), for the metrics

    async def find(self, key: str, request_headers: Mapping[str, str]) -> Entry | None:
        """The fleet's entry for the key and the request's variant, its blob present
        where this node can read it; None if there is none (or the fleet cannot say)."""
        ...

    def offer(self, entry: Entry) -> None:
        """This node stored `entry` (its blob is in the shared tier): tell the fleet,
        in the background."""
        ...
