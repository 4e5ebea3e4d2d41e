"""The fall-through cache: the index, the chunk store, the fills in flight, purges, GC.

The edge asks it three things: what is stored for a key (lookup), to fetch a key from
its origin (fill: one per key at a time, single-flight), and for a stored body (bodies).
The RFC 9111 decisions it makes come from freshness.py; it adds the I/O around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from typing import TypeVar

from multidict import CIMultiDict

from ..castore import B3Digest, BlobStore, CastoreError
from .bodies import SMALL_BODY, HotBodies
from .entry import COMPUTED, TAG_HEADERS, Entry, derived_tag, parse_tags
from .fill import Fill, FillHead
from .freshness import (
    CachePolicy,
    Freshness,
    classify,
    current_age,
    freshen_headers,
    freshness_lifetime,
    stale_windows,
    storable,
    vary_key,
    vary_names,
    withheld_fields,
)
from .headers import is_weak
from .housekeeper import Housekeeper
from .fleet_entries import FleetEntries
from .fleet_fill import fill_in_fleet
from .fleet_fills import FleetFills, LeadHead
from .index import PURGE_MEMORY, Index
from .parts import PART, content_range, covering, marker, requested, resolve, split_variant
from .nodelock import NodeLocks
from .origin import BadObjectPath, Origin, OriginError, OriginResponse, OriginTimeout, failure_reason
from . import failure_log
from .uses import UseLog
from .writes import Write, WritesInFlight

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bytes the store takes from a fill's spool at a time (a batch of the chunker).
STORE_READ = 8 * 1024 * 1024
# How often the background sweep applies bans and hands the uses to the housekeeper.
SWEEP_EVERY = 1.0
# Seconds by which the nodes' clocks may disagree: an entry from another node counts as
# fetched this much earlier than its time says, when a purge is held against it.
FLEET_CLOCK_SLACK = 2.0


class LookAgain(Exception):
    """A part fill found, once it held the key's node lock, that another worker stored
    what it was about to fetch: the request should look in the index again."""


class Cache:
    def __init__(self, store: BlobStore, index: Index, spool_dir: str | None, memory_bytes: int,
                 node_locks: NodeLocks | None = None) -> None:
        self.store = store
        self.node_locks = node_locks  # set when several workers share the store
        self.index = index
        index.on_purge = self._forget_purged
        self.spool_dir = spool_dir
        self.bodies = HotBodies(memory_bytes)
        self.fills: dict[tuple[str, tuple[str, ...]], Fill] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self.origin_requests = 0
        # Called with each entry a fill stored (a new body, not a 304's refresh).
        self.stored_hooks: list[Callable[[Entry], None]] = []
        # Some entries are derived from others (transforms): a URL purge reaches them too.
        self.derives = False
        self._background: set[asyncio.Task[None]] = set()  # combining parts, kept referenced
        # What this process served, for the node's LRU (cache/uses.py); where it goes is
        # set by the server (None: kept for nobody).
        self.uses = UseLog(None)
        self.writes = WritesInFlight()  # told to the node's housekeeper where the server sets it up
        self.housekeeper: Housekeeper | None = None
        self.fleet: FleetEntries | None = None  # set by the server in a fleet ([fleet])
        self.fleet_fills: FleetFills | None = None  # likewise: one fill of a cold miss for the fleet

    # -- lookup and fills -----------------------------------------------------

    def lookup(self, key: str, request_headers: Mapping[str, str]) -> Entry | None:
        entry = self.index.lookup(key, request_headers)
        if entry is not None:
            uses = self.uses  # the first lookup in a period notes the entry (uses.py)
            if entry.used is not uses.period:
                entry.used = uses.period
                uses.touched.append(entry)
        return entry

    @staticmethod
    def same_variant(head: FillHead, request_headers: Mapping[str, str]) -> bool:
        """Whether a request that joined a fill wants the variant the fill is fetching."""
        return not head.vary or vary_key(list(head.vary), request_headers) == head.variant

    def variant_of(self, key: str, request_headers: Mapping[str, str]) -> tuple[str, ...]:
        vary = self.index.vary_of(key)
        return vary_key(list(vary), request_headers) if vary else ()

    def fill(
        self, key: str, variant: tuple[str, ...], origin: Origin, path: str, query: str,
        origin_headers: Mapping[str, str], request_headers: Mapping[str, str], policy: CachePolicy,
        stale: Entry | None = None, watchdog: float | None = None,
    ) -> Fill:
        """The fill for this key, joining the one in flight or starting it. `watchdog`:
        how long the origin may go without progress (the head, then each piece of the
        body) before the fill fails and releases its followers."""
        fill = self.fills.get((key, variant))
        if fill is not None:
            return fill
        fill = self.fills[(key, variant)] = Fill(key, variant, self.spool_dir)
        fill.watchdog = watchdog
        fill.origin = origin.name
        if self.fleet_fills is not None and stale is None:  # a cold miss: one fill for the fleet
            work = fill_in_fleet(self, self.fleet_fills, fill, origin, path, query, origin_headers, request_headers,
                                 policy)
        else:
            work = self._fill_once(fill, origin, path, query, origin_headers, request_headers, policy, stale)
        fill.task = asyncio.create_task(self._run(fill, work))
        return fill

    async def _fill_once(
        self, fill: Fill, origin: Origin, path: str, query: str, origin_headers: Mapping[str, str],
        request_headers: Mapping[str, str], policy: CachePolicy, stale: Entry | None,
    ) -> None:
        if self.node_locks is None:
            await self._fetch_into(fill, origin, path, query, origin_headers, request_headers, policy, stale)
            return
        async with self.node_locks.hold(fill.key):
            # Whether we waited or not, another worker may have stored it since our
            # lookup: look again now that no one else is fetching it.
            peer = self._peer_entry(fill, request_headers, stale)
            if peer is not None and fresh_for(peer, request_headers, policy, time.time()):
                fill.start_body(FillHead(peer.status, peer.headers, peer.size, True, revalidated=peer,
                                         from_peer=True))
                fill.finish(peer)
            else:
                # Not fresh for this request: it is revalidated (with its validators), not
                # fetched again whole.
                await self._fetch_into(fill, origin, path, query, origin_headers, request_headers, policy,
                                       peer or stale)

    def _peer_entry(self, fill: Fill, request_headers: Mapping[str, str], stale: Entry | None) -> Entry | None:
        """What another worker stored while we waited for its fill, if it is new to us."""
        entry = self.index.lookup(fill.key, request_headers)
        if entry is None or (stale is not None and entry.response_time <= stale.response_time):
            return None
        return entry

    async def _fetch_into(
        self, fill: Fill, origin: Origin, path: str, query: str, origin_headers: Mapping[str, str],
        request_headers: Mapping[str, str], policy: CachePolicy, stale: Entry | None,
    ) -> None:
        # Lower-case names, as the request's own headers arrive: an origin may look them up
        # in a plain dict.
        headers = dict(origin_headers)
        if stale is not None:
            if stale.etag:
                headers["if-none-match"] = stale.etag
            if stale.headers.get("last-modified"):
                headers["if-modified-since"] = stale.headers["last-modified"]
        request_time = time.time()
        self.origin_requests += 1
        fill.upstream_started = time.monotonic()
        response = await _within(fill.watchdog, origin.fetch("GET", path, query, headers))
        response_time = time.time()
        await self._take(fill, response, request_headers, policy, stale, request_time, response_time)

    def part_fill(
        self, key: str, variant: tuple[str, ...], spec: str, origin: Origin, path: str, query: str,
        origin_headers: Mapping[str, str], request_headers: Mapping[str, str], policy: CachePolicy,
        watchdog: float | None = None,
    ) -> Fill:
        """A fill of one range of `key` (`spec`, a Range value such as "bytes=1000-1999"):
        the origin is asked for that range only, and its 206 is stored as a part (see
        parts.py). An origin that answers 200 instead gives the whole object, stored as
        usual. Requests for the same range meanwhile share the fill."""
        fill_key = (key, (*variant, PART + spec))
        fill = self.fills.get(fill_key)
        if fill is not None:
            return fill
        fill = self.fills[fill_key] = Fill(key, fill_key[1], self.spool_dir)
        fill.part = True
        fill.watchdog = watchdog
        fill.origin = origin.name
        ask = {**origin_headers, "range": spec}
        fill.task = asyncio.create_task(self._run(fill, self._part_once(fill, variant, spec, origin, path, query, ask,
                                                                          request_headers, policy)))
        return fill

    async def _part_once(self, fill: Fill, variant: tuple[str, ...], spec: str, origin: Origin, path: str,
                         query: str, ask: Mapping[str, str], request_headers: Mapping[str, str],
                         policy: CachePolicy) -> None:
        if self.node_locks is None:
            await self._fetch_into(fill, origin, path, query, ask, request_headers, policy, None)
            return
        async with self.node_locks.hold(fill.key):
            if self._held(fill.key, variant, spec, request_headers, policy):
                raise LookAgain(f"{fill.key}: another worker stored it meanwhile")
            await self._fetch_into(fill, origin, path, query, ask, request_headers, policy, None)

    def _held(self, key: str, variant: tuple[str, ...], spec: str, request_headers: Mapping[str, str],
              policy: CachePolicy) -> bool:
        """Whether the index now has what a request for range `spec` can be served from
        without the origin: the whole object, or a part holding the range, fresh enough
        for the request's directives."""
        now = time.time()
        whole = self.index.lookup(key, request_headers)
        candidates = [] if whole is None else [whole]
        asked = requested(spec)
        if asked is not None:
            for part, (start, end, total) in self.parts(key, variant):
                placed = resolve(asked, total)
                if placed is not None and start <= placed[0] and placed[1] <= end:
                    candidates.append(part)
        return any(fresh_for(entry, request_headers, policy, now) for entry in candidates)

    def parts(self, key: str, variant: tuple[str, ...]) -> list[tuple[Entry, tuple[int, int, int]]]:
        """The stored parts of one variant of `key`, with their (start, end, total)."""
        found = []
        for entry in self.index.variants_of(key):
            split = split_variant(entry.variant)
            if split is not None and split[0] == variant:
                found.append((entry, split[1]))
        return found

    def fill_from(self, key: str, response: OriginResponse, request_headers: Mapping[str, str],
                  policy: CachePolicy, request_time: float, response_time: float,
                  watchdog: float | None = None, origin: str = "") -> Fill | None:
        """A fill of `key` from a response already in hand (a POST's, which RFC 9110
        §9.3.3 lets a cache reuse for later GETs of the URI its Content-Location names);
        None if the key has a fill in flight already (then the caller relays it)."""
        vary = vary_names(response.headers)
        variant = vary_key(list(vary), request_headers) if isinstance(vary, list) and vary else ()
        if (key, variant) in self.fills:
            return None
        fill = self.fills[(key, variant)] = Fill(key, variant, self.spool_dir)
        fill.watchdog = watchdog
        fill.origin = origin
        fill.upstream_started = time.monotonic()  # its head is in hand: what is left is its body
        fill.task = asyncio.create_task(self._run(fill, self._take(fill, response, request_headers, policy, None,
                                                                   request_time, response_time)))
        return fill

    async def _run(self, fill: Fill, work: Awaitable[None]) -> None:
        try:
            await work
        except BaseException as exc:  # noqa: BLE001 - every failure ends the fill, and readers see it
            fill.fail(exc if isinstance(exc, Exception) else OriginError("the fill was cancelled"))
            if isinstance(exc, BadObjectPath | LookAgain):
                pass  # the client's mistake (a 400), or another worker's entry: no failure
            elif isinstance(exc, OriginError):
                failure_log.failed(fill.key, fill.origin, failure_reason(exc))  # once, whoever waited
            elif isinstance(exc, CastoreError):
                failure_log.failed(fill.key, None, f"the store failed: {failure_reason(exc)}")
            elif isinstance(exc, asyncio.CancelledError):
                log.info("fill of %s: cancelled", fill.key)
            else:
                log.exception("fill of %s failed", fill.key)
        finally:
            if self.fills.get((fill.key, fill.variant)) is fill:
                del self.fills[(fill.key, fill.variant)]

    async def _take(self, fill: Fill, response: OriginResponse, request_headers: Mapping[str, str],
                    policy: CachePolicy, stale: Entry | None, request_time: float, response_time: float) -> None:
        """The origin's response into the fill: a 304 refreshes `stale`; a response the
        cache may share is spooled for its readers and stored; any other is handed to
        the request that led the fill."""
        failure_log.answered(fill.key, fill.origin, response.status, response.reason)  # a 5xx: once, by the fill
        if response.status == 304 and stale is not None:
            await response.aclose()
            fresh = self._refreshed(stale, response.headers, request_time, response_time, policy)
            self.index.put(fresh)
            self._offer(fresh)
            fill.start_body(FillHead(fresh.status, fresh.headers, fresh.size, True, revalidated=fresh))
            fill.finish(fresh)
            return
        vary = vary_names(response.headers)
        # A 206 to a part fill is kept as a part when it names one range of a known
        # length that its own length agrees with; it is judged by the rules of the 200
        # it is a piece of. Any other 206 is the asking client's alone.
        span = content_range(response.headers.get("content-range")) if fill.part and response.status == 206 else None
        if span is not None and response.length is not None and response.length != span[1] - span[0]:
            span = None
        rules_status = 200 if span is not None else response.status
        shared = (
            response.status != 304
            and vary != "*"
            and (response.status != 206 or span is not None)
            and storable("GET", rules_status, request_headers, response.headers, policy)
        )
        names = tuple(sorted(vary)) if isinstance(vary, list) else ()
        variant = vary_key(list(names), request_headers) if names else ()
        initial_age = current_age(response.headers, request_time, response_time, response_time)
        fill.lifetime = freshness_lifetime(rules_status, response.headers, policy, response_time=response_time)
        fill.fresh_until = response_time + fill.lifetime - initial_age
        withheld = withheld_fields(response.headers, policy) if shared else frozenset()
        head = FillHead(response.status, response.headers, response.length, shared, vary=names, variant=variant,
                        initial_age=initial_age, response_time=response_time,
                        shared_headers=_without(response.headers, withheld) if withheld else None)
        fill.start_body(head)
        if not shared:
            if fill.lead is not None:
                fill.lead.passed()
            if fill.readers == 0:  # a background revalidation: nobody to hand it to
                await response.aclose()
            else:
                fill.passthrough = response
            fill.finish(None)
            return
        if fill.lead is not None and span is None:
            shared_headers = head.headers_for(False)
            fill.lead.head(LeadHead(response.status, list(shared_headers.items()), response.length, names, variant,
                                    request_time, response_time, initial_age))
        # The store follows the spool in a task of its own: clients get the origin's speed,
        # and a store that fails (a full disk, a far tier down) costs the cache this
        # object, not the clients their response.
        stored_variant = variant if span is None else (*variant, marker(*span))
        storing = asyncio.create_task(self._store(fill, response.status, response.headers, request_headers,
                                                  request_time, response_time, names, stored_variant, policy))
        entry = await self._pump(fill, response, response.body, response.length, span, storing)
        fill.finish(entry)
        if entry is not None and span is not None:
            task = asyncio.create_task(self._combine(fill.key, variant, span[2], policy))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _pump(self, fill: Fill, response: OriginResponse, body: AsyncIterator[bytes], length: int | None,
                    span: tuple[int, int, int] | None, storing: asyncio.Task[Entry | None]) -> Entry | None:
        """The origin's body into the fill's spool, checked against the length it
        promised (or the range it named), then the entry `storing` makes of it."""
        try:
            pieces = aiter(body)
            while (piece := await _within(fill.watchdog, anext(pieces, None))) is not None:
                fill.append(piece)
            if length is not None and fill.received != length:
                raise OriginError(f"the body ended at {fill.received} of the {length} bytes "
                                  "its Content-Length promised")
            if span is not None and fill.received != span[1] - span[0]:
                raise OriginError(f"the body ended at {fill.received} bytes of the range {span[0]}-{span[1] - 1}")
        except BaseException:
            storing.cancel()
            await asyncio.gather(storing, return_exceptions=True)
            await response.aclose()
            raise
        fill.complete_body()
        return await storing

    async def _combine(self, key: str, variant: tuple[str, ...], total: int, policy: CachePolicy) -> None:
        """Parts of one object with the same strong ETag that together cover all of it
        become one ordinary entry (RFC 9111 §3.4), taking the newest part's headers; the
        parts are then dropped. Parts without a strong validator are never combined."""
        now = time.time()
        held = self.parts(key, variant)
        newest = max((e for e, _ in held), key=lambda e: e.response_time, default=None)
        etag = newest.etag if newest is not None else None
        if etag is None or is_weak(etag) or any(e.variant == variant for e in self.index.variants_of(key)):
            return  # no strong validator to combine by, or the whole object is stored already
        parts = [(e, span) for e, span in held if span[2] == total and e.etag == etag and e.age_at(now) < e.lifetime]
        chain = covering([(span[0], span[1]) for _, span in parts], total)
        if chain is None:
            return
        if self.writes.gate is not None:
            await self.writes.gate.wait(self.index, total)
        with self._writing() as write:
            await self._combine_chain(key, variant, total, policy, parts, chain, newest, write)

    async def _combine_chain(self, key: str, variant: tuple[str, ...], total: int, policy: CachePolicy,
                             parts: list[tuple[Entry, tuple[int, int, int]]], chain: list[tuple[int, int, int]],
                             newest: Entry, write: Write) -> None:
        writer = self.store.open_write()
        try:
            for index, start, end in chain:
                part, span = parts[index]
                async for data in self.body(part, start - span[0], end - span[0]):
                    self.writes.wrote(write, len(data))  # before: the writer puts chunks on disk as it goes
                    await writer.write(data)
            digest = await writer.close()
        except BaseException as exc:
            await writer.abort()
            if not isinstance(exc, CastoreError):
                raise
            log.warning("not combining the parts of %s: %s", key, exc)
            return
        headers = _without(newest.headers, frozenset({"content-range"}))  # type: ignore[union-attr]
        whole = replace(
            self._entry(key, variant, 200, headers, digest, total, newest.request_time,  # type: ignore[union-attr]
                        newest.response_time, newest.vary, policy, writer.manifest_digest),  # type: ignore[union-attr]
            initial_age=newest.initial_age,  # type: ignore[union-attr]
        )
        if self.index.superseded(whole):
            return
        self._replace(whole)
        write.stored = True
        for part, _ in parts:
            self.index.drop(part)

    async def _store(
        self, fill: Fill, status: int, headers: CIMultiDict[str], request_headers: Mapping[str, str],
        request_time: float, response_time: float, vary: tuple[str, ...], variant: tuple[str, ...],
        policy: CachePolicy,
    ) -> Entry | None:
        """Chunk and store the spool as it grows; the entry once the body is whole."""
        if self.writes.gate is not None:  # the client is served from the spool meanwhile
            await self.writes.gate.wait(self.index, 0)
        with self._writing() as write:
            return await self._store_spool(fill, status, headers, request_time, response_time, vary, variant,
                                           policy, write)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Write]:
        """A write in flight (cache/writes.py), from its first chunk until the node's
        housekeeper has booked its entry."""
        write = self.writes.begin()
        try:
            yield write
        finally:
            self.writes.end(write, self.index)

    async def _store_spool(
        self, fill: Fill, status: int, headers: CIMultiDict[str], request_time: float, response_time: float,
        vary: tuple[str, ...], variant: tuple[str, ...], policy: CachePolicy, write: Write,
    ) -> Entry | None:
        writer = self.store.open_write()
        lead = fill.lead
        if lead is not None:  # the fleet's other nodes follow the chunks as they land
            writer.on_chunks = lambda offset, metas: lead.chunks(offset, [(m.digest, m.size) for m in metas])
        fill.join()  # the spool stays open for us
        try:
            async for data in fill.read(0, None, unreleased=True, size=STORE_READ):
                self.writes.wrote(write, len(data))  # before: the writer puts chunks on disk as it goes
                await writer.write(data)
                if lead is not None and len(data) < STORE_READ:
                    await writer.flush()  # caught up with the origin: the other nodes get what there is
            digest = await writer.close()
        except CastoreError as exc:
            await writer.abort()
            log.warning("not storing %s: %s", fill.key, exc)
            return None
        except BaseException:
            await writer.abort()
            raise
        finally:
            fill.leave()
        entry = self._entry(fill.key, variant, status, headers, digest, fill.received, request_time,
                            response_time, vary, policy, writer.manifest_digest)
        indexed = self._index_stored(fill, entry)
        if lead is not None:
            lead.end(digest, fill.received, entry.to_json() if indexed else None)
            fill.told_end = True
        if not indexed:
            return None
        write.stored = True
        for hook in self.stored_hooks:
            hook(entry)
        return entry

    def _index_stored(self, fill: Fill, entry: Entry) -> bool:
        if self.index.superseded(entry):
            log.info("not indexing %s: purged while it was being fetched", fill.key)
            return False
        try:
            self._replace(entry)
        except OSError as exc:
            log.warning("not indexing %s: %s", fill.key, exc)
            return False
        return True

    def _entry(
        self, key: str, variant: tuple[str, ...], status: int, headers: CIMultiDict[str], digest: bytes, size: int,
        request_time: float, response_time: float, vary: tuple[str, ...], policy: CachePolicy,
        manifest: B3Digest | None = None,
    ) -> Entry:
        stored = _without(headers, COMPUTED | withheld_fields(headers, policy))
        swr, sie = stale_windows(headers, policy)
        return Entry(
            key=key, variant=variant, status=status, headers=stored, digest=digest, size=size,  # type: ignore[arg-type]
            request_time=request_time, response_time=response_time,
            # A part (206) lives by the rules of the 200 it is a piece of.
            lifetime=freshness_lifetime(200 if status == 206 else status, headers, policy, response_time=response_time),
            stale_while_revalidate=swr, stale_if_error=sie, vary=vary, tags=parse_tags(headers),
            initial_age=current_age(headers, request_time, response_time, response_time), manifest=manifest,
        )

    def _refreshed(
        self, stale: Entry, not_modified: CIMultiDict[str], request_time: float, response_time: float,
        policy: CachePolicy,
    ) -> Entry:
        headers = freshen_headers(stale.headers, not_modified, response_time=response_time)
        swr, sie = stale_windows(headers, policy)
        return replace(
            stale, headers=_without(headers, COMPUTED | withheld_fields(headers, policy)),
            request_time=request_time, response_time=response_time,
            lifetime=freshness_lifetime(stale.status, headers, policy, response_time=response_time),
            stale_while_revalidate=swr, stale_if_error=sie, tags=parse_tags(headers),
            initial_age=current_age(headers, request_time, response_time, response_time), wire=None, hot=None,
        )

    def _replace(self, entry: Entry) -> None:
        self.index.put(entry)
        self._offer(entry)

    # -- the fleet ------------------------------------------------------------------

    async def from_fleet(self, key: str, request_headers: Mapping[str, str]) -> Entry | None:
        """On a local miss: the entry another node of the fleet stored, now this node's
        too, if this node can vouch for it. Not if a purge it applied covers the entry
        (the time it was asked for read as FLEET_CLOCK_SLACK earlier: another node's
        clock may run ahead), nor if it is older than the purges this node remembers."""
        if self.fleet is None:
            return None
        entry = await self.fleet.find(key, request_headers)
        return entry if entry is not None and self.taken_from_fleet(entry) else None

    def taken_from_fleet(self, entry: Entry) -> bool:
        """Index an entry another node stored, if this node can vouch for it (see from_fleet)."""
        if entry.response_time < time.time() - PURGE_MEMORY + FLEET_CLOCK_SLACK:
            return False
        if self.index.superseded(replace(entry, request_time=entry.request_time - FLEET_CLOCK_SLACK)):
            return False
        self.index.put(entry)
        return True

    def _offer(self, entry: Entry) -> None:
        if self.fleet is not None and entry.status != 206:
            self.fleet.offer(entry)

    # -- bodies ---------------------------------------------------------------

    def small_body(self, entry: Entry) -> bytes | None:
        """The body from memory, when it is small and hot."""
        return self.bodies.get(entry.digest)

    async def load_small(self, entry: Entry) -> bytes:
        """The whole body, checked against what was stored (manifest, size, blob digest)."""
        body = await self.store.get(entry.digest, manifest=entry.manifest, size=entry.size)
        self.bodies.put(entry.digest, body)
        return body

    async def body(self, entry: Entry, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the body. A manifest or size that is not the one stored
        raises before any byte goes out; a damaged chunk, before its bytes do."""
        try:
            if entry.size <= SMALL_BODY:
                body = self.small_body(entry) or await self.load_small(entry)
                yield body[start:end]
                return
            reader = await self.store.open_read(entry.digest, manifest=entry.manifest, size=entry.size)
            async for part in reader.iter_range(start, end):
                yield part
        except CastoreError:
            self.lost(entry)  # this response is cut short; the next request fetches it again
            raise

    def lost(self, entry: Entry) -> None:
        """The store no longer has (a good copy of) this entry's body: forget the entry,
        unless a newer fetch has replaced it already (then that one is kept)."""
        self.bodies.discard(entry.digest)
        self.index.catch_up()  # evicted or replaced by another process meanwhile: a plain miss
        if not self.index.holds(entry):
            return
        log.warning("the body of %s is gone from the store; it will be fetched again", entry.key)
        self.index.remove(entry.key, why="lost")

    # -- purge ----------------------------------------------------------------

    def purge_url(self, key: str, why: str = "purge", at: float | None = None) -> int:
        """`why`: what the node's recent purges say of it (a purge, or an invalidation by
        an unsafe method or a write through the S3 API)."""
        self._forget_purged("url", key)
        if self.derives:
            self.purge_tag(derived_tag(key))
        return len(self.index.remove(key, why, at))

    def purge_prefix(self, prefix: str) -> None:
        self.index.ban("prefix", prefix)
        self._forget_purged("prefix", prefix)

    def purge_tag(self, tag: str) -> None:
        self.index.ban("tag", tag)
        self._forget_purged("tag", tag)

    def _forget_purged(self, kind: str, value: str) -> None:
        """A purge another process of the node (or the fleet) applied: the fills here
        that it covers take no new followers, as for a purge made here."""
        if kind == "url":
            self._forget_fills(lambda fill: fill.key == value)
        elif kind == "prefix":
            self._forget_fills(lambda fill: fill.key.startswith(value))
        else:
            self._forget_fills(lambda fill: fill.head.done() and not fill.head.exception()
                               and value in parse_tags(fill.head.result().headers))

    def _forget_fills(self, matches: Callable[[Fill], bool]) -> None:
        """Fills in flight that a purge covers take no new followers (and store nothing)."""
        for fill_key, fill in list(self.fills.items()):
            if matches(fill):
                del self.fills[fill_key]

    # -- background: bans, uses, the housekeeper ---------------------------------

    def start_background(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever())
            if self.housekeeper is not None:
                self._keeper = asyncio.create_task(self.housekeeper.run())


    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                await self.sweep()
                self.uses.flush()
            except Exception:  # noqa: BLE001 - the sweeper must outlive one bad pass
                log.exception("background sweep failed")

    async def sweep(self) -> int:
        """Apply the bans to this process's index. Blobs left without an entry are the
        housekeeper's to collect; a process that is not it forgets them."""
        removed = await self.index.sweep()
        self.index.catch_up()
        if self.housekeeper is None or not self.housekeeper.active:
            self.index.orphans.clear()
        return removed

    async def close(self, grace: float = 10.0) -> None:
        """Let fills in flight finish storing (up to `grace` seconds), then stop."""
        for task in (self._sweeper, self._keeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        tasks = [f.task for f in self.fills.values() if f.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.housekeeper is not None:
            self.housekeeper.close()
        self.writes.close()
        self.index.close()
        await self.store.close()


def fresh_for(entry: Entry, request_headers: Mapping[str, str], policy: CachePolicy, now: float) -> bool:
    """Whether a stored entry may be reused for this request as it is: fresh, and fresh
    enough for the request's own directives (RFC 9111 §4.2, §5.2.1)."""
    return classify(response_headers=entry.headers, request_headers=request_headers, age=entry.age_at(now),
                    lifetime=entry.lifetime, policy=policy) is Freshness.FRESH


async def _within(seconds: float | None, step: Awaitable[T]) -> T:
    """One step of a fill, failed as a stalled origin if it takes longer than `seconds`."""
    if seconds is None:
        return await step
    try:
        async with asyncio.timeout(seconds):
            return await step
    except TimeoutError:
        raise OriginTimeout(f"timed out: no progress for {seconds:g} s",
                            "the origin did not answer in time") from None


def _without(headers: Mapping[str, str], names: frozenset[str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in names)


def spool_dir(store_path: str) -> str:
    path = os.path.join(os.path.abspath(store_path), "tmp")
    os.makedirs(path, exist_ok=True)
    return path


_NOT_FOR_CLIENTS = COMPUTED | set(TAG_HEADERS)


def client_headers(headers: CIMultiDict[str], hidden: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Stored or origin headers as a client gets them: without purge tags, without the
    ones the edge computes per response (lengths, Age, X-Cache), and without `hidden`
    (the mount's targeted cache-control fields, which are for this cache)."""
    drop = _NOT_FOR_CLIENTS | hidden if hidden else _NOT_FOR_CLIENTS
    return [(k, v) for k, v in headers.items() if k.lower() not in drop]
