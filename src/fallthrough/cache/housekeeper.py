"""One process per node keeps the store within its budget and collects its garbage.

Every worker of a node shares one store on disk and one index (the journal), so eviction
must be decided once, from the whole node's view: if each worker kept books for its own
writes, it would evict chunks that another worker's newer blobs need, and entries still
in the index would find their bodies gone. So one process, elected by holding a lock
file (`<store>/run/housekeeper.lock`; when it dies the kernel frees the lock and another
takes over within ELECT_EVERY), keeps the books:

- which blobs the index references, which chunks their manifests list, and how many
  bytes those files take on disk. Bytes of fills in flight are not in the books until
  their entry is stored: the budget bounds what is committed, and the disk holds that
  plus the fills in flight.
- when each entry was last used, from the use logs every process writes (cache/uses.py).

When the books exceed the budget it evicts whole entries, least recently used first:
the entry leaves the index first (a journal record, so every worker sees a clean miss),
then its blob's manifest, then the chunks no other blob lists. A chunk that lost its last
blob is deleted only if no writer touched it since the node's oldest write in flight
began (castore/file.py touches a chunk it dedups against; cache/writes.py publishes each
process's oldest write), so a fill in flight never loses a chunk it counted on. Blobs left
without an entry by a purge or a newer fetch are collected after `gc_grace` (readers in
flight may still stream them), at once when the store is over budget. A store whose
record tier is not a local directory gets the collection without the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import struct
import time
from collections import Counter

from ..castore import B3Digest, BlobNotFound, BlobStore, CastoreError
from ..castore.errors import ManifestCorrupt
from ..castore.file import FileTier
from ..castore.manifest import decode_manifest
from .entry import Entry
from .index import Index
from .uses import EntryId, take_uses, uses_dir
from .writes import GATE_FORMAT, GATE_SIZE, gate_path, node_horizon, writes_dir

log = logging.getLogger(__name__)

# How often a process that is not the housekeeper tries to become it.
ELECT_EVERY = 2.0
# How often the housekeeper looks at the index and the books.
PASS_EVERY = 0.05
# How long the LRU order is trusted before it is sorted again with newer uses.
REORDER_EVERY = 2.0
# Chunk files no manifest lists, older than this, are debris (a crash mid-fill): deleted.
DEBRIS_AGE = 3600.0
DEBRIS_SWEEP_EVERY = 600.0
# Evictions per pass before the loop lets requests run.
EVICT_BATCH = 256
class Housekeeper:
    def __init__(self, index: Index, store: BlobStore, run_dir: str, max_bytes: int | None,
                 gc_grace: float) -> None:
        self.index = index
        self.store = store
        self.lock_path = os.path.join(run_dir, "housekeeper.lock")
        self.uses = uses_dir(run_dir)
        self.writes = writes_dir(run_dir)
        self._horizon = 0.0  # no chunk touched since this is deleted (writes.node_horizon)
        self.max_bytes = max_bytes
        self.gc_grace = gc_grace
        last = store.stack.tiers[-1]
        self.record: FileTier | None = last if isinstance(last, FileTier) else None
        self.active = False
        self._lock_fd = -1
        # The books: blob → (its chunks, its manifest's bytes); chunk → bytes, references.
        self._blobs: dict[B3Digest, tuple[tuple[B3Digest, ...], int]] = {}
        self._chunk_bytes: dict[B3Digest, int] = {}
        self._chunk_refs: Counter[B3Digest] = Counter()
        self.used = 0
        self._orphans: dict[B3Digest, float] = {}  # blob → when (wall clock) it lost its last entry
        self._adopted: set[B3Digest] = set()  # orphans found on disk at election, not seen orphaned
        # Chunks no blob lists any more, still on disk until nothing in flight may count on
        # them (see _reap); their bytes are in `doomed_bytes`.
        self._doomed: set[B3Digest] = set()
        self.doomed_bytes = 0
        self._last_use: dict[EntryId, float] = {}
        self._order: list[tuple[float, Entry]] = []
        self._ordered_at = 0.0
        self._debris_at = 0.0
        self.evicted = 0
        self.collected = 0
        self._gate: mmap.mmap | None = None
        self._gate_path = gate_path(run_dir)

    # -- election -------------------------------------------------------------------

    def _elect(self) -> bool:
        if self._lock_fd < 0:
            os.makedirs(os.path.dirname(self.lock_path), exist_ok=True)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, f"{os.getpid()}\n".encode(), 0)
        return True

    async def run(self) -> None:
        """Wait to be elected, then keep house until the process ends."""
        while not self._elect():
            await asyncio.sleep(ELECT_EVERY)
        self.active = True
        log.info("process %d keeps house for the node's store", os.getpid())
        self.index.new_blobs = []  # before the books are built, so no blob is missed
        self.index.orphans.clear()
        await self._build_books()
        self._open_gate()
        while True:
            try:
                await self.step()
            except CastoreError as exc:
                log.warning("housekeeping: %s", exc)
            except Exception:  # noqa: BLE001 - the housekeeper must outlive one bad pass
                import traceback, sys; traceback.print_exc(file=sys.stderr)
                log.exception("housekeeping pass failed")
            await asyncio.sleep(PASS_EVERY)

    def _open_gate(self) -> None:
        fd = os.open(self._gate_path + ".new", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, GATE_SIZE)
            self._gate = mmap.mmap(fd, GATE_SIZE)
        finally:
            os.close(fd)
        self._publish(0)
        os.replace(self._gate_path + ".new", self._gate_path)

    def _publish(self, booked_to: int) -> None:
        if self._gate is not None:
            struct.pack_into(GATE_FORMAT, self._gate, 0, os.getpid(), self.max_bytes or 0,
                             self.used - self.doomed_bytes, booked_to, self.doomed_bytes)

    def close(self) -> None:
        if self._gate is not None:
            self._gate.close()
            self._gate = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # frees the lock for another process
            self._lock_fd = -1

    # -- the books ------------------------------------------------------------------

    async def _build_books(self) -> None:
        for digest in list(self.index.refs):
            await self._add_blob(digest)
        now = time.time()
        async for digest in self.store.list():  # blobs no entry references: a crash or an earlier run's
            if digest not in self.index.refs:
                await self._add_blob(digest)
                self._orphans.setdefault(digest, now)
                # Or a write in flight whose entry is not stored yet: such a blob waits out
                # gc_grace, even when the store is over budget.
                self._adopted.add(digest)
        if self.record is not None:
            log.info("store: %d blobs, %d bytes on disk%s", len(self._blobs), self.used,
                     f" (budget {self.max_bytes})" if self.max_bytes is not None else "")

    async def _add_blob(self, digest: B3Digest) -> None:
        if digest in self._blobs or self.record is None:
            return
        data = await self.record.fetch_manifest(digest)
        if data is None:
            return
        try:
            members = tuple(c.digest for c in decode_manifest(data, digest)) or (digest,)
        except ManifestCorrupt:
            return  # a read finds it damaged and drops the entry
        new = [c for c in dict.fromkeys(members) if c not in self._chunk_bytes]
        sizes = await asyncio.to_thread(lambda: [self.record.chunk_bytes(c) for c in new])  # type: ignore[union-attr]
        for chunk, size in zip(new, sizes, strict=True):
            if size is not None:
                self._chunk_bytes[chunk] = size
                self.used += size
        for chunk in members:
            self._chunk_refs[chunk] += 1
            if chunk in self._doomed:  # listed again: it stays
                self._doomed.discard(chunk)
                self.doomed_bytes -= self._chunk_bytes.get(chunk, 0)
        self._blobs[digest] = (members, len(data))
        self.used += len(data)

    # -- one pass -------------------------------------------------------------------

    async def step(self) -> None:
        index = self.index
        # The horizon first, then the journal: a write stored after this look was not yet
        # stored when the horizon was taken, so the horizon covers it.
        self._horizon = node_horizon(self.writes)
        index.catch_up()
        booked_to = index.journal_span()[0]  # eviction catches up further, unbooked
        new, index.new_blobs = index.new_blobs or [], []
        for digest in new:
            self._orphans.pop(digest, None)
            await self._add_blob(digest)
        now = time.time()
        for digest in index.orphans:
            self._orphans.setdefault(digest, now)
        index.orphans.clear()
        await self._collect(now - self.gc_grace, now if self._over() else now - self.gc_grace)
        if self._over():
            await self._evict()
        if self._doomed:
            await self._reap()
        self._publish(booked_to)
        if self.record is not None and now - self._debris_at > DEBRIS_SWEEP_EVERY:
            self._debris_at = now
            await self._sweep_debris(now - DEBRIS_AGE)

    async def _collect(self, before: float, seen_before: float) -> None:
        """Delete the orphaned blobs that lost their last entry before `seen_before`, and
        those found on disk without an entry before `before`."""
        for digest, since in list(self._orphans.items()):
            if digest in self.index.refs:
                del self._orphans[digest]
                self._adopted.discard(digest)
            elif since <= (before if digest in self._adopted else seen_before):
                del self._orphans[digest]
                self._adopted.discard(digest)
                await self._delete_blob(digest)

    async def _delete_blob(self, digest: B3Digest) -> None:
        if self.record is None:  # no books: the store finds the chunks no other blob lists
            with contextlib.suppress(BlobNotFound):
                await self.store.delete(digest)
            self.collected += 1
            return
        if digest not in self._blobs:  # stored and gone again before a pass booked it
            await self._add_blob(digest)
        await self.store.stack.delete_manifest(digest)  # first: no manifest without its chunks
        members, manifest_bytes = self._blobs.pop(digest, ((), 0))
        self.used -= manifest_bytes
        for chunk in dict.fromkeys(members):
            self._chunk_refs[chunk] -= members.count(chunk)
            if self._chunk_refs[chunk] <= 0:
                del self._chunk_refs[chunk]
                self._doomed.add(chunk)
                self.doomed_bytes += self._chunk_bytes.get(chunk, 0)
        self.collected += 1
        await self._reap()

    async def _reap(self) -> None:
        """Delete the unlisted chunks nobody touched since the node's horizon; a touched
        one waits for the fill in flight that touched it to list it, or to end.

        The horizon alone decides: every write in flight began at or after it (a write
        that began after a process last published began after that process's horizon),
        so a chunk touched by one has an mtime at or after it too."""
        record = self.record
        assert record is not None
        doomed, horizon = list(self._doomed), self._horizon
        freed = await asyncio.to_thread(lambda: [record.delete_chunk_untouched(c, horizon) for c in doomed])
        gone = [c for c, size in zip(doomed, freed, strict=True) if size is not None]
        for chunk in gone:
            self._doomed.discard(chunk)
            size = self._chunk_bytes.pop(chunk, 0)
            self.used -= size
            self.doomed_bytes -= size
        for tier in self.store.stack.tiers[:-1]:  # this process's nearer copies
            for chunk in gone:
                with contextlib.suppress(CastoreError):
                    await tier.delete_chunk(chunk)

    async def _evict(self) -> None:
        """Whole entries out, least recently used first, until the books fit the budget."""
        assert self.max_bytes is not None
        now = time.time()
        if not self._order or now - self._ordered_at > REORDER_EVERY:
            self._reorder(now)
        done, reordered = 0, False
        while self._over() and done < EVICT_BATCH:
            if not self._order:
                if reordered:
                    break
                self._reorder(now)  # entries stored since the order was made
                reordered = True
                continue
            used_at, entry = self._order.pop()
            if not self.index.current(entry) or self._used_at(entry) > used_at or entry.digest not in self._blobs:
                continue  # replaced, removed or used since the order was made; or not booked yet
            self.index.drop(entry)
            self.evicted += 1
            done += 1
            if entry.digest not in self.index.refs:
                self.index.orphans.pop(entry.digest, None)
                self._orphans.pop(entry.digest, None)
                await self._delete_blob(entry.digest)
        if self._over() and not self._order:
            log.debug("store over budget (%d > %d) with nothing left to evict: fills in flight",
                      self.used, self.max_bytes)

    def _over(self) -> bool:
        """Over budget, not counting chunks already on their way out."""
        return self.max_bytes is not None and self.used - self.doomed_bytes > self.max_bytes

    def _used_at(self, entry: Entry) -> float:
        return max(self._last_use.get((entry.key, entry.variant), 0.0), entry.response_time)

    def _reorder(self, now: float) -> None:
        for entry_id, when in take_uses(self.uses):
            if when > self._last_use.get(entry_id, 0.0):
                self._last_use[entry_id] = when
        entries = list(self.index.entries())
        live = {(e.key, e.variant) for e in entries}
        self._last_use = {k: v for k, v in self._last_use.items() if k in live}
        # Newest first, so that the oldest pops off the end.
        self._order = sorted(((self._used_at(e), e) for e in entries), key=lambda p: p[0], reverse=True)
        self._ordered_at = now

    async def _sweep_debris(self, before: float) -> None:
        """Chunk files that no blob in the books lists and nobody touched since `before`."""
        record = self.record
        assert record is not None
        before = min(before, self._horizon)
        stray = [d async for d, _ in record.list_chunks() if d not in self._chunk_bytes]
        if stray:
            freed = await asyncio.to_thread(lambda: [record.delete_chunk_untouched(c, before) for c in stray])
            gone = sum(1 for f in freed if f)
            if gone:
                log.info("deleted %d chunk files no blob lists (left by an interrupted fill)", gone)
