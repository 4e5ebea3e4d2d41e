"""One fill for the whole fleet, coordinated through Redis (cache/fleet_fills.py says what
the cache asks of it).

The claim on a key is `ft:lease:<name>` set-if-absent with an expiry and a token of its
own; the lead renews it every RENEW seconds while its fill makes progress. What the lead
tells goes into the Redis Stream `ft:fill:<name>:<token>`, one stream per claim, read by
every follower from its start (so a late follower misses nothing). After a stored end the
claim is kept ENDED_KEEP seconds with its stream, so that a miss in that time follows the
finished fill (every chunk is in the shared tier) instead of asking the origin; after a
failure the claim is given up at once.

A claim's token names its node and worker (`<node>-<pid>.<random>`): a follower asks
that worker's tap (fleet/taps.py) for the head and the bytes as soon as it finds the
claim, before the stream tells anything, and reads the chunks the stream tells for what
the tap does not bring.

A follower that reads nothing for a while looks at the claim: gone, or held by another
token, and the lead is gone (LeadGone); the cache then claims the key again and, if it
gets it, resumes. Redis out of reach: no claim (None), and each node fills alone; that is
noticed once and not asked again for DOWN_FOR seconds, so that misses do not each wait
on a Redis that does not answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import blake3
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ..cache.fill import Fill
from ..cache.fleet_fills import (
    LeadChunks,
    LeadEnd,
    LeadEvent,
    LeadFailed,
    LeadGone,
    LeadHead,
    LeadPassed,
    TapUnavailable,
)
from ..castore import B3Digest
from .taps import Taps

log = logging.getLogger(__name__)

LEASE = 5.0  # seconds a claim lives without renewal: how soon a dead lead is taken over
RENEW = 1.0  # seconds between renewals
STALL = 30.0  # seconds without progress after which the lead stops renewing
ENDED_KEEP = 30.0  # seconds a stored fill's claim and stream are kept for late misses
STREAM_KEEP = 120.0  # seconds a stream outlives its last entry
DOWN_FOR = 5.0  # seconds the fills leave Redis alone after it did not answer
READ_BLOCK = 0.5  # seconds a follower's read blocks before it looks at the claim
REDIS_ERRORS = (RedisError, OSError, TimeoutError)

# Renew (or, with 0, keep for ENDED_KEEP) a claim only while it is still ours.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_GIVE_UP = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def claim_name(key: str, variant: tuple[str, ...]) -> str:
    return blake3.blake3(json.dumps([key, list(variant)]).encode()).hexdigest()[:32]


class RedisFills:
    def __init__(self, node: str, redis: Redis, taps: Taps | None = None) -> None:
        self.node = node
        self.redis = redis
        self.taps = taps  # None: followers read stored chunks only
        self.followed = 0
        self.taken_over = 0
        self.tapped = 0
        self._down_until = 0.0
        self._set_get = True  # SET with NX and GET at once (Redis 7.0 on)
        self._renew = redis.register_script(_RENEW)
        self._give_up = redis.register_script(_GIVE_UP)

    async def claim(self, key: str, variant: tuple[str, ...]) -> RedisLead | RedisFollow | None:
        if time.monotonic() < self._down_until:
            return None
        name = claim_name(key, variant)
        lease = f"ft:lease:{name}"
        token = f"{self.node}-{os.getpid()}.{secrets.token_hex(6)}"
        try:
            async with asyncio.timeout(LEASE):
                for _ in range(3):  # a claim that lapses between our two calls: try again
                    claimed, holder = await self._set_or_get(lease, token)
                    if claimed:
                        self._up()
                        return RedisLead(self, lease, token, f"ft:fill:{name}:{token}")
                    if holder is not None:
                        self._up()
                        holder = holder.decode()
                        return RedisFollow(self, lease, holder, f"ft:fill:{name}:{holder}")
        except REDIS_ERRORS as exc:
            self.down(exc)
        return None

    async def _set_or_get(self, lease: str, token: str) -> tuple[bool, bytes | None]:
        """Claim the lease, or learn who holds it: one round trip (SET NX GET, Redis 7),
        two on a Redis that does not take both (then again: it may have lapsed between)."""
        if self._set_get:
            try:
                holder = await self.redis.set(lease, token, nx=True, px=int(LEASE * 1000), get=True)
                return holder is None, holder
            except ResponseError:
                self._set_get = False
        if await self.redis.set(lease, token, nx=True, px=int(LEASE * 1000)):
            return True, None
        return False, await self.redis.get(lease)

    @property
    def up(self) -> bool:
        """Whether Redis answered this worker's last call (for the metrics)."""
        return time.monotonic() >= self._down_until

    def down(self, exc: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("fleet: Redis does not answer (%s); each node fills its misses alone for now", exc)
        self._down_until = time.monotonic() + DOWN_FOR

    def _up(self) -> None:
        if self._down_until:
            log.warning("fleet: Redis answers again; fills are shared across the fleet again")
            self._down_until = 0.0


class RedisLead:
    def __init__(self, fills: RedisFills, lease: str, token: str, stream: str) -> None:
        self._fills = fills
        self._lease = lease
        self._token = token
        self._stream = stream
        self._queue: list[tuple[str, dict[str, Any]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._ended = False
        self._progressed = time.monotonic()
        self.lost = False  # the claim lapsed or Redis failed: the others may have moved on
        self._task = asyncio.get_running_loop().create_task(self._run())

    def offer(self, fill: Fill) -> None:
        if self._fills.taps is not None:
            self._fills.taps.point.offer(self._token, fill)

    def head(self, head: LeadHead) -> None:
        self._tell(head)
        if self._fills.taps is not None:
            self._fills.taps.point.tell_head(self._token, json.dumps(encode(head)[1]).encode())

    def chunks(self, offset: int, chunks: list[tuple[B3Digest, int]]) -> None:
        self._tell(LeadChunks(offset, chunks))

    def progress(self) -> None:
        self._progressed = time.monotonic()

    def end(self, digest: B3Digest, size: int, entry: dict | None) -> None:
        self._ended = entry is not None
        self._tell(LeadEnd(digest, size, entry))

    def failed(self, reason: str) -> None:
        self._tell(LeadFailed(reason))

    def passed(self) -> None:
        self._tell(LeadPassed())

    def _tell(self, event: LeadEvent) -> None:
        self._progressed = time.monotonic()
        self._queue.append(encode(event))
        self._wake.set()

    async def _run(self) -> None:
        redis = self._fills.redis
        renewed = time.monotonic()
        try:
            while not self.lost:
                if not self._queue and not self._closing:
                    try:
                        await asyncio.wait_for(self._wake.wait(), RENEW)
                    except TimeoutError:
                        pass
                self._wake.clear()
                told, self._queue = self._queue, []
                if told:
                    async with redis.pipeline(transaction=False) as pipe:
                        for kind, data in told:
                            pipe.xadd(self._stream, {"t": kind, "d": json.dumps(data)})
                        pipe.pexpire(self._stream, int(STREAM_KEEP * 1000))
                        await asyncio.wait_for(pipe.execute(), LEASE)
                if self._closing and not self._queue:
                    return
                now = time.monotonic()
                if now - renewed >= RENEW and now - self._progressed < STALL:
                    if not await asyncio.wait_for(self._fills._renew(keys=[self._lease],
                                                                     args=[self._token, int(LEASE * 1000)]), LEASE):
                        log.warning("fleet: the claim on a fill lapsed (%s); another node may take it over",
                                    self._stream)
                        self.lost = True
                    renewed = now
        except REDIS_ERRORS as exc:
            self.lost = True
            self._fills.down(exc)

    async def close(self) -> None:
        """Tell what is left, then keep the claim a while (a stored end) or give it up."""
        self._closing = True
        self._wake.set()
        if self._fills.taps is not None:  # a follower that comes now reads the stored chunks
            self._fills.taps.point.withdraw(self._token)
        await asyncio.gather(self._task, return_exceptions=True)
        if self.lost:
            return
        try:
            if self._ended:
                await asyncio.wait_for(self._fills._renew(keys=[self._lease],
                                                          args=[self._token, int(ENDED_KEEP * 1000)]), LEASE)
            else:
                await asyncio.wait_for(self._fills._give_up(keys=[self._lease], args=[self._token]), LEASE)
        except REDIS_ERRORS as exc:
            self._fills.down(exc)


class RedisFollow:
    def __init__(self, fills: RedisFills, lease: str, holder: str, stream: str) -> None:
        self._fills = fills
        self._lease = lease
        self._holder = holder
        self._stream = stream
        self._tapping: str | None = None  # the chunk service whose tap tapped() reads

    def tapped(self, offset: int) -> AsyncIterator[LeadHead | bytes] | None:
        taps = self._fills.taps
        node, _, rest = self._holder.rpartition("-")
        worker = rest.partition(".")[0]
        address = taps.reader.nodes.get(node) if taps is not None else None
        if taps is None or address is None or not worker.isdigit() or int(worker) >= 2**32 \
                or not taps.reader.usable(address):  # a pid, as the tap's request carries it
            return None
        self._tapping = address
        return _head_then_bytes(taps.reader.read(address, self._holder, int(worker), offset))

    def distrust(self) -> None:
        if self._fills.taps is not None and self._tapping is not None:
            self._fills.taps.reader.avoid(self._tapping, "what it sent did not add up to the blob the lead told")

    async def events(self) -> AsyncIterator[LeadEvent]:
        redis = self._fills.redis
        position = "0"
        while True:
            try:
                replies = await asyncio.wait_for(
                    redis.xread({self._stream: position}, count=64, block=int(READ_BLOCK * 1000)), LEASE + READ_BLOCK)
                if not replies:
                    holder = await asyncio.wait_for(redis.get(self._lease), LEASE)
                    if holder is None or holder.decode() != self._holder:
                        # One more look: what the lead told just before it gave the claim up.
                        replies = await asyncio.wait_for(redis.xread({self._stream: position}, count=64), LEASE)
                        if not replies:
                            yield LeadGone()
                            return
            except REDIS_ERRORS as exc:
                self._fills.down(exc)
                yield LeadGone()
                return
            for _, entries in replies:
                for entry_id, fields in entries:
                    position = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    event = decode(fields)
                    if event is None:
                        log.warning("fleet: a fill's stream %s holds an entry that is not one; not following it",
                                    self._stream)
                        yield LeadGone()
                        return
                    yield event
                    if isinstance(event, LeadEnd | LeadFailed | LeadPassed):
                        return


async def _head_then_bytes(pieces: AsyncIterator[Any]) -> AsyncIterator[LeadHead | bytes]:
    """A tap's messages as the head (read as the stream's would be), then the body's bytes."""
    first = True
    async for piece in pieces:
        if first:
            head = decode({b"t": b"head", b"d": piece.head})
            if not isinstance(head, LeadHead):
                raise TapUnavailable("the tap's first message is not a head")
            yield head
            first = False
        elif piece.data:
            yield piece.data


def encode(event: LeadEvent) -> tuple[str, dict[str, Any]]:
    """An event as a stream entry's kind and JSON data."""
    if isinstance(event, LeadHead):
        return "head", {"status": event.status, "headers": event.headers, "length": event.length,
                        "vary": list(event.vary), "variant": list(event.variant), "request_time": event.request_time,
                        "response_time": event.response_time, "age": event.initial_age}
    if isinstance(event, LeadChunks):
        return "chunks", {"offset": event.offset, "chunks": [[d.hex(), size] for d, size in event.chunks]}
    if isinstance(event, LeadEnd):
        return "end", {"digest": event.digest.hex(), "size": event.size, "entry": event.entry}
    if isinstance(event, LeadFailed):
        return "failed", {"reason": event.reason}
    return "passed", {}


def decode(fields: dict[bytes, bytes]) -> LeadEvent | None:
    """One stream entry as an event; None if it is not one (a stream is data from elsewhere)."""
    try:
        kind = fields[b"t"].decode()
        data = json.loads(fields[b"d"])
        if kind == "head":
            headers = [(str(k), str(v)) for k, v in data["headers"]]
            length = data["length"]
            clocks = [float(data[name]) for name in ("request_time", "response_time", "age")]
            if not all(math.isfinite(c) for c in clocks) or (length is not None and int(length) < 0) \
                    or not 100 <= int(data["status"]) <= 999:
                return None
            return LeadHead(int(data["status"]), headers, None if length is None else int(length),
                            tuple(map(str, data["vary"])), tuple(map(str, data["variant"])), *clocks)
        if kind == "chunks":
            chunks = [(B3Digest.from_hex(d), int(size)) for d, size in data["chunks"]]
            if any(size <= 0 for _, size in chunks) or int(data["offset"]) < 0:
                return None
            return LeadChunks(int(data["offset"]), chunks)
        if kind == "end":
            entry = data["entry"]
            return LeadEnd(B3Digest.from_hex(data["digest"]), int(data["size"]),
                           entry if isinstance(entry, dict) else None)
        if kind == "failed":
            return LeadFailed(str(data["reason"]))
        if kind == "passed":
            return LeadPassed()
    except (KeyError, TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return None
