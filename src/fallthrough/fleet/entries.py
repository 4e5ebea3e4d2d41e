"""The fleet's entries: what one node stored, any other finds in the shared tier.

One record per key, `fleet/entries/<BLAKE3 of the key>.json`: the key's Vary fields and
its variants' entries, as the journal writes them. A node writes it after it committed
an entry (its blob is then in the shared tier, written through); a node that misses
reads it before it asks the origin, checks that the blob's manifest can be read, and
hands the entry to the cache, which holds it against the purges it knows of.

Records are data from elsewhere: one that does not parse, names another key or lists a
blob the store cannot find is no entry, and the origin is asked. Two nodes that store
variants of one key at the same time may overwrite each other's: the variant lost is a
miss, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import blake3

from ..cache.entry import Entry
from ..cache.freshness import vary_key
from ..castore import BlobStore, CastoreError
from .records import RecordsUnavailable, SharedRecords

log = logging.getLogger(__name__)

FOLDER = "entries"
LOOKUP_TIMEOUT = 5.0  # seconds a miss waits on the shared tier before it asks the origin


def record_name(key: str) -> str:
    return f"{FOLDER}/{blake3.blake3(key.encode()).hexdigest()}.json"


class SharedEntries:
    def __init__(self, records: SharedRecords, store: BlobStore) -> None:
        self.records = records
        self.store = store
        self._finding: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._offers: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, dict[tuple[str, ...], Entry]] = {}
        self.found = 0  # entries taken from the fleet (the origin requests saved)
        self._down = False

    async def find(self, key: str, request_headers: Mapping[str, str]) -> Entry | None:
        record = await self._record(key)
        if record is None or record.get("key") != key:
            return None
        vary = record.get("vary")
        variants = record.get("variants")
        if not isinstance(vary, list) or not all(isinstance(v, str) for v in vary) or not isinstance(variants, dict):
            return None
        raw = variants.get(json.dumps(list(vary_key(vary, request_headers)) if vary else []))
        if raw is None:
            return None
        try:
            entry = Entry.from_json(raw)
        except ValueError as exc:
            log.warning("fleet: the entry record of %s does not parse (%s); asking the origin", key, exc)
            return None
        if entry.key != key or entry.status == 206:
            return None
        try:  # the blob must be there, and be the one the entry names
            await asyncio.wait_for(self.store.stat(entry.digest, entry.manifest, entry.size), LOOKUP_TIMEOUT)
        except (CastoreError, TimeoutError) as exc:
            log.info("fleet: %s is in the fleet's entries but its blob cannot be read (%s)", key, exc)
            return None
        self.found += 1
        return entry

    async def _record(self, key: str) -> dict[str, Any] | None:
        """One read of the key's record however many requests miss it at once."""
        running = self._finding.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._finding[key] = future
        record = None
        try:
            record = await asyncio.wait_for(self.records.get(record_name(key)), LOOKUP_TIMEOUT)
            self._state(True)
        except (RecordsUnavailable, TimeoutError) as exc:
            self._state(False, exc)
        finally:
            del self._finding[key]
            future.set_result(record)  # the others waiting on it: what was found, or nothing
        return record

    def offer(self, entry: Entry) -> None:
        """Write (merge into) the key's record, in the background; the offers of one key
        are merged and written one at a time."""
        self._pending.setdefault(entry.key, {})[entry.variant] = entry
        if entry.key not in self._offers:
            self._offers[entry.key] = asyncio.get_running_loop().create_task(self._write(entry.key))

    async def _write(self, key: str) -> None:
        try:
            while self._pending.get(key):
                entries = self._pending.pop(key)
                try:
                    record = await self.records.get(record_name(key)) or {}
                    newest = list(entries.values())[-1]
                    variants = record.get("variants") if record.get("vary") == list(newest.vary) else None
                    variants = dict(variants) if isinstance(variants, dict) else {}
                    for entry in entries.values():
                        if list(entry.vary) == list(newest.vary):
                            variants[json.dumps(list(entry.variant))] = entry.to_json()
                    await self.records.put(record_name(key), {"key": key, "vary": list(newest.vary),
                                                              "variants": variants})
                    self._state(True)
                except RecordsUnavailable as exc:
                    self._state(False, exc)
        finally:
            del self._offers[key]

    @property
    def up(self) -> bool:
        """Whether the shared tier answered the last lookup or offer (for the metrics)."""
        return not self._down

    def _state(self, up: bool, exc: BaseException | None = None) -> None:
        if up and self._down:
            log.warning("fleet: the shared tier's entries answer again")
        elif not up and not self._down:
            log.warning("fleet: the shared tier's entries do not answer (%s); misses ask the origin", exc)
        self._down = not up
