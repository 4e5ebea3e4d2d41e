"""A cold miss in a fleet: claim the key and fetch it for every node, or follow the node
that does (cache/fleet_fills.py), taking its place if it goes silent.

A follower's fill is an ordinary Fill (fill.py) fed with the lead's bytes instead of an
origin's body: through the lead's tap as they arrive where it offers one, and from the
chunks it tells for whatever the tap does not bring (a tap that breaks off, or falls
behind the stored chunks). Its clients read it as they would any fill, and, as there,
the latest piece is held back until the body is known whole, here by the blob's digest
over every byte it was fed. A follower that takes over asks the origin for the rest only
(`Range: bytes=N-` with `If-Range`), or for all of it when the origin cannot do that, and
then checks that the bytes it already has are the ones the origin sends again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

import blake3
from multidict import CIMultiDict

from ..castore import B3Digest, CastoreError, ChunkNotFound
from .entry import Entry, parse_tags
from .fill import Fill, FillHead
from .fleet_fills import (
    FleetFills,
    Follow,
    Lead,
    LeadChunks,
    LeadEnd,
    LeadFailed,
    LeadGone,
    LeadHead,
    LeadPassed,
    TapUnavailable,
)
from .freshness import CachePolicy, freshness_lifetime
from .headers import is_weak
from .origin import Origin, OriginBodyError, OriginError
from .parts import content_range

if TYPE_CHECKING:
    from .cache import Cache

log = logging.getLogger(__name__)

# Chunks of the lead's a follower reads at once: enough to keep a far tier busy.
READ_AHEAD = 8
# Seconds a chunk the lead says is stored may take to be readable (a store that writes
# the far tier behind the near one).
CHUNK_PATIENCE = 5.0
# Seconds a tap may send nothing while the lead tells chunks it has not brought: then the
# follower reads the chunks instead.
TAP_STALL = 1.0


class Followed:
    """What a follower has been fed so far, kept across the leads it follows."""

    def __init__(self) -> None:
        self.hasher = blake3.blake3()
        self.request_time = 0.0


async def fill_in_fleet(cache: Cache, fills: FleetFills, fill: Fill, origin: Origin, path: str, query: str,
                        origin_headers: Mapping[str, str], request_headers: Mapping[str, str],
                        policy: CachePolicy) -> None:
    followed = Followed()
    claim = await fills.claim(fill.key, fill.variant)
    while True:
        if claim is None or _is_lead(claim):  # alone (no Redis), or for the fleet
            lead: Lead | None = claim  # type: ignore[assignment]
            if lead is not None and fill.head.done():
                fills.taken_over += 1
                log.info("fleet: taking over the fill of %s at byte %d", fill.key, fill.received)
            await _fetch(cache, fill, lead, followed, origin, path, query, origin_headers, request_headers, policy)
            return
        outcome = await _follow(cache, fills, fill, claim, followed, policy)  # type: ignore[arg-type]
        if outcome == "done":
            fills.followed += 1
            return
        if outcome == "alone":
            claim = None
            continue
        claim = await fills.claim(fill.key, fill.variant)


def _is_lead(claim: Lead | Follow) -> bool:
    return not hasattr(claim, "events")


async def _fetch(cache: Cache, fill: Fill, lead: Lead | None, followed: Followed, origin: Origin, path: str,
                 query: str, origin_headers: Mapping[str, str], request_headers: Mapping[str, str],
                 policy: CachePolicy) -> None:
    """Fetch from the origin: afresh, or from where a lead that went silent left it."""
    fill.lead = lead
    if lead is not None:
        lead.offer(fill)
    try:
        if fill.head.done():
            await _resume(cache, fill, followed, origin, path, query, origin_headers, policy)
        else:
            await cache._fill_once(fill, origin, path, query, origin_headers, request_headers, policy, None)
        if lead is not None and fill.entry is not None and not fill.told_end:
            entry = fill.entry  # another worker's entry, found under the node lock: no chunks told
            lead.end(entry.digest, entry.size, entry.to_json())
    except BaseException as exc:
        if lead is not None:
            lead.failed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    finally:
        fill.lead = None
        if lead is not None:
            await lead.close()


async def _resume(cache: Cache, fill: Fill, followed: Followed, origin: Origin, path: str, query: str,
                  origin_headers: Mapping[str, str], policy: CachePolicy) -> None:
    head = fill.head.result()
    have = fill.received
    headers = head.headers_for(False)
    etag = headers.get("etag")
    ask = dict(origin_headers)
    if have and etag and not is_weak(etag):  # without a strong validator, all of it (and compared)
        ask["range"] = f"bytes={have}-"
        ask["if-range"] = etag
    cache.origin_requests += 1
    fill.upstream_started = time.monotonic()
    response = await origin.fetch("GET", path, query, ask)
    try:
        if response.headers.get("etag") != etag:
            raise OriginError(f"the object changed while it was being fetched (ETag {etag} became "
                              f"{response.headers.get('etag')})")
        if response.status == 206:
            span = content_range(response.headers.get("content-range"))
            if span is None or span[0] != have or span[2] != head.length:
                raise OriginError(f"the origin's rest of the object is not bytes {have}- of {head.length}: "
                                  f"{response.headers.get('content-range')}")
            body = response.body
        elif response.status == 200 and (head.length is None or response.length in (None, head.length)):
            body = _same_prefix(fill, response.body, have)
        else:
            raise OriginError(f"the origin answered {response.status} to a resumed fill")
    except BaseException:
        await response.aclose()
        raise
    if fill.lead is not None:
        fill.lead.head(_told_head(head, headers, followed.request_time))
    storing = asyncio.create_task(cache._store(fill, head.status, headers, {}, followed.request_time,
                                               head.response_time, head.vary, head.variant, policy))
    entry = await cache._pump(fill, response, body, head.length, None, storing)
    fill.finish(entry)


async def _same_prefix(fill: Fill, body: AsyncIterator[bytes], have: int) -> AsyncIterator[bytes]:
    """The origin's whole body, less the `have` bytes the fill holds, which it must repeat."""
    seen = 0
    async for piece in body:
        if seen < have:
            mine = fill.spooled(seen, min(len(piece), have - seen))
            if piece[:len(mine)] != mine:
                raise OriginError("the object changed while it was being fetched (its bytes differ)")
            seen += len(mine)
            piece = piece[len(mine):]
        if piece:
            yield piece


def _told_head(head: FillHead, headers: CIMultiDict[str], request_time: float) -> LeadHead:
    return LeadHead(head.status, list(headers.items()), head.length, head.vary, head.variant, request_time,
                    head.response_time, head.initial_age)


async def _follow(cache: Cache, fills: FleetFills, fill: Fill, follow: Follow, followed: Followed,
                  policy: CachePolicy) -> str:
    """Feed the fill from another node's; "done", "gone" (the lead went silent) or
    "alone" (its answer is not for us, or its chunks cannot be read: ask the origin
    ourselves, for the rest)."""
    tap = _Tap(cache, fills, fill, followed, policy)
    tap.start(follow.tapped(fill.received))  # at once: its head may come before the stream's
    told: list[LeadChunks] = []  # the lead's chunks, read only for what the tap does not bring
    try:
        async for event in follow.events():
            if isinstance(event, LeadHead):
                if not _take_head(cache, fill, event, followed, policy):
                    return "alone"
            elif isinstance(event, LeadChunks):
                if not fill.head.done():
                    raise OriginError("another node's fill told chunks before its head")
                told.append(event)
                if tap.bringing(event):
                    continue
                await tap.stop()
                if not await _take_told(cache, fill, told, followed):
                    return "alone"
            elif isinstance(event, LeadEnd):
                await tap.finish(event.size)
                if not await _take_told(cache, fill, told, followed):
                    return "alone"
                try:
                    _take_end(cache, fill, event, followed)
                except OriginError:
                    if tap.brought:
                        follow.distrust()
                    raise
                return "done"
            elif isinstance(event, LeadFailed):
                raise OriginBodyError(f"the node that fetched it failed: {event.reason}")
            elif isinstance(event, LeadPassed):
                return "alone"
            elif isinstance(event, LeadGone):
                return "gone"
        return "gone"
    finally:
        await tap.stop()


class _Tap:
    """The lead's head and bytes through its tap, fed into the fill as they arrive; the
    only feeder while it runs (the chunks wait until it is stopped)."""

    def __init__(self, cache: Cache, fills: FleetFills, fill: Fill, followed: Followed, policy: CachePolicy) -> None:
        self.cache = cache
        self.fills = fills
        self.fill = fill
        self.followed = followed
        self.policy = policy
        self.task: asyncio.Task[None] | None = None
        self.brought = 0  # bytes fed from the tap
        self.last = 0.0  # when it last brought some (monotonic)

    def start(self, pieces: AsyncIterator[LeadHead | bytes] | None) -> None:
        if pieces is None:
            return
        self.last = time.monotonic()
        self.task = asyncio.create_task(self._feed(pieces))

    async def _feed(self, pieces: AsyncIterator[LeadHead | bytes]) -> None:
        fill = self.fill
        try:
            async for piece in pieces:
                if isinstance(piece, LeadHead):
                    # The same head as the stream's (the first of the two is taken, the
                    # other must agree); one not for us ends the tap, and the stream's
                    # head then says so.
                    if not _take_head(self.cache, fill, piece, self.followed, self.policy):
                        return
                    continue
                length = fill.head.result().length
                if length is not None and fill.received + len(piece) > length:
                    raise TapUnavailable(f"the tap sent more than the {length} bytes of the head")
                self.followed.hasher.update(piece)
                fill.append(piece, hold=1)  # the last byte waits for the blob's digest
                self.brought += len(piece)
                self.fills.tapped += len(piece)
                self.last = time.monotonic()
        except TapUnavailable as exc:
            log.info("fleet: the tap on the fill of %s ended at byte %d (%s); reading its chunks",
                     fill.key, fill.received, exc)

    def bringing(self, chunks: LeadChunks) -> bool:
        """Whether the tap still feeds the fill: running, and ahead of these chunks or
        bringing bytes lately."""
        if self.task is None or self.task.done():
            return False
        end = chunks.offset + sum(size for _, size in chunks.chunks)
        return self.fill.received >= end or time.monotonic() - self.last < TAP_STALL

    async def finish(self, size: int) -> None:
        """The lead's body ended at `size`: let the tap bring the rest while it makes
        progress (one that brought nothing yet is no use now: every chunk is stored)."""
        while self.brought and self.task is not None and not self.task.done() and self.fill.received < size:
            brought = self.brought
            await asyncio.wait([self.task], timeout=TAP_STALL)
            if self.brought == brought:
                break
        await self.stop()

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _take_told(cache: Cache, fill: Fill, told: list[LeadChunks], followed: Followed) -> bool:
    """The told chunks' bytes the fill lacks; False if they cannot be read here."""
    try:
        for chunks in told:
            await _take_chunks(cache, fill, chunks, followed)
    except CastoreError as exc:  # the chunks cannot be read here: fetch the rest ourselves
        log.warning("fleet: the chunks another node is storing for %s cannot be read (%s); "
                    "asking the origin for the rest", fill.key, exc)
        return False
    told.clear()
    return True


def _take_head(cache: Cache, fill: Fill, event: LeadHead, followed: Followed, policy: CachePolicy) -> bool:
    headers = CIMultiDict(event.headers)
    if fill.head.done():  # a new lead, after a takeover: it must fetch the same thing
        head = fill.head.result()
        if (head.status, head.length, head.headers_for(False).get("etag")) != (event.status, event.length,
                                                                                headers.get("etag")):
            raise OriginError("the node that took over the fill got another object")
        return True
    probe = Entry(fill.key, event.variant, event.status, headers, B3Digest(bytes(32)), event.length or 0,
                  event.request_time, event.response_time, 0.0, 0.0, 0.0, tags=parse_tags(headers))
    if cache.index.superseded(probe):
        return False  # fetched before a purge this node applied: not for us
    followed.request_time = event.request_time
    fill.upstream_started = time.monotonic()
    fill.lifetime = freshness_lifetime(event.status, headers, policy, response_time=event.response_time)
    fill.fresh_until = event.response_time + fill.lifetime - event.initial_age
    fill.start_body(FillHead(event.status, headers, event.length, True, vary=event.vary, variant=event.variant,
                             initial_age=event.initial_age, response_time=event.response_time))
    return True


async def _take_chunks(cache: Cache, fill: Fill, event: LeadChunks, followed: Followed) -> None:
    if event.offset > fill.received:
        raise OriginError(f"another node's fill skipped bytes {fill.received}-{event.offset - 1}")
    wanted, at = [], event.offset
    for digest, size in event.chunks:
        if at + size > fill.received:
            wanted.append((digest, size, max(fill.received - at, 0)))
        at += size
    length = fill.head.result().length
    if length is not None and at > length:
        raise OriginError(f"another node's fill told more than the {length} bytes of its head")
    gate = asyncio.Semaphore(READ_AHEAD)

    async def read(digest: B3Digest, size: int) -> bytes:
        async with gate:
            return await _read_chunk(cache, digest, size)

    reads = [asyncio.ensure_future(read(digest, size)) for digest, size, _ in wanted]
    try:
        for (_, _, skip), reading in zip(wanted, reads, strict=True):
            data = await reading
            piece = data[skip:] if skip else data
            followed.hasher.update(piece)
            # Verified by its digest: all of it goes out at once but for one byte, kept
            # until the whole adds up to the blob's digest (an origin's piece is held whole).
            fill.append(piece, hold=1)
    finally:
        for reading in reads:
            reading.cancel()
        await asyncio.gather(*reads, return_exceptions=True)


async def _read_chunk(cache: Cache, digest: B3Digest, size: int) -> bytes:
    deadline = time.monotonic() + CHUNK_PATIENCE
    while True:
        try:
            return await cache.store.read_chunk(digest, size)
        except ChunkNotFound:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def _take_end(cache: Cache, fill: Fill, event: LeadEnd, followed: Followed) -> None:
    entry = None
    if event.entry is not None:
        try:
            entry = Entry.from_json(event.entry)
        except ValueError as exc:
            log.warning("fleet: the entry another node stored for %s does not parse (%s)", fill.key, exc)
        if entry is not None and (entry.key != fill.key or entry.digest != event.digest or entry.size != event.size):
            raise OriginError(f"another node's entry for {fill.key} is not the blob it told")
    if not fill.head.done():  # another worker's stored entry: nothing streamed
        if entry is None or not cache.taken_from_fleet(entry):
            raise OriginError(f"another node's fill of {fill.key} ended without a body to follow")
        fill.start_body(FillHead(entry.status, entry.headers, entry.size, True, revalidated=entry, from_peer=True))
        fill.finish(entry)
        return
    length = fill.head.result().length
    if fill.received != event.size or (length is not None and length != event.size) \
            or B3Digest(followed.hasher.digest()) != event.digest:
        raise OriginError(f"another node's fill of {fill.key} does not add up to the blob it told")
    fill.complete_body()
    fill.finish(entry if entry is not None and cache.taken_from_fleet(entry) else None)
