"""Purges that reach every node of the fleet, and stick.

A purge issued on any node is applied there at once, then published twice: a durable
record in the shared tier (`fleet/purges/<ms>-<id>.json`), then an entry in the Redis
Stream `ft:purges`. Each node's fleet process reads the stream from the position it
saved, applies what other nodes issued (a purge is named by its id: applying one twice
is skipped) and says so (`ft:acks:<id>`, what `?wait=all` waits for).

What the stream cannot vouch for, the durable records can: when a node starts, when
Redis comes back with another epoch (it lost its data) or with the stream trimmed past
the node's position, and every `purge_poll` seconds in any case (so a purge published
while Redis was unreachable, by a node cut off from it, still lands within that time),
the node lists the records issued since the last one it applied, less CLOCK_SLACK for
the clocks of the nodes that wrote them. A node that can tell neither (Redis and the
shared tier both out of reach at a start with an old position) drops every entry it
holds: it cannot vouch for any of them.

A purge is applied with this node's clock: every entry fetched here before it learnt of
the purge goes, so a fill that began before the purge never brings the object back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..cache.index import Index
from .records import RecordsUnavailable, SharedRecords

log = logging.getLogger(__name__)

STREAM = "ft:purges"
EPOCH = "ft:epoch"  # set once by the first node to reach a Redis; a new value: Redis lost its data
STREAM_LENGTH = 100_000  # entries kept (about): a node further behind reads the durable records
ACKS_KEPT = 600  # seconds an ack (for ?wait=all) is kept
CLOCK_SLACK = 60.0  # seconds: how far the nodes' clocks may disagree, and records lag their time
REMEMBERED = 20_000  # ids of applied purges kept, so a purge read twice is applied once
FOLDER = "purges"

# One operation of a purge: ("url", cache key), ("prefix", key prefix) or ("tag", name).
Op = tuple[str, str]


def record_name(issued: float, purge_id: str) -> str:
    return f"{int(issued * 1000):013d}-{purge_id}.json"


def new_purge(node: str, ops: list[Op]) -> dict[str, Any]:
    return {"id": secrets.token_hex(8), "node": node, "time": time.time(), "ops": [list(op) for op in ops]}


def parse_purge(record: object) -> dict[str, Any] | None:
    """A purge record as read from Redis or the bucket, or None if it is not one (data
    from outside the process is checked before it removes anything)."""
    if not isinstance(record, dict):
        return None
    purge_id, node, issued, ops = record.get("id"), record.get("node"), record.get("time"), record.get("ops")
    if not (isinstance(purge_id, str) and isinstance(node, str) and isinstance(issued, int | float)
            and isinstance(ops, list) and ops):
        return None
    for op in ops:
        if not (isinstance(op, list) and len(op) == 2 and op[0] in ("url", "prefix", "tag")
                and isinstance(op[1], str)):
            return None
    return record


def apply_ops(index: Index, ops: list[Op] | list[list[str]], why: str = "fleet") -> None:
    """A purge's operations on this node's index (its journal tells every worker)."""
    for kind, value in ops:
        if kind == "url":
            index.remove(value, why)
        else:
            index.ban(kind, value)  # type: ignore[arg-type]


class Publisher:
    """What a worker does after applying a purge itself: tell the fleet."""

    def __init__(self, node: str, redis: Redis, records: SharedRecords) -> None:
        self.node = node
        self.redis = redis
        self.records = records

    async def publish(self, ops: list[Op]) -> dict[str, Any]:
        """The durable record first (what a node that misses the stream reads), then the
        stream. Either may fail; what landed is returned, with the purge's id."""
        purge = new_purge(self.node, ops)
        landed: dict[str, Any] = {"id": purge["id"], "shared": True, "redis": True}
        try:
            await self.records.put(f"{FOLDER}/{record_name(purge['time'], purge['id'])}", purge)
        except RecordsUnavailable as exc:
            landed["shared"] = False
            log.warning("fleet: the purge %s has no durable record (the shared tier: %s)", purge["id"], exc)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(STREAM, {"purge": json.dumps(purge)}, maxlen=STREAM_LENGTH, approximate=True)
                pipe.hset(f"ft:acks:{purge['id']}", self.node, json.dumps({"time": time.time()}))
                pipe.expire(f"ft:acks:{purge['id']}", ACKS_KEPT)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            landed["redis"] = False
            log.warning("fleet: the purge %s went to the shared tier only (Redis: %s); every node reads it there "
                        "within fleet.purge_poll", purge["id"], exc)
        return landed

    async def wait_all(self, purge_id: str, live: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        """Per live node: whether it applied the purge within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        acks: dict[str, Any] = {}
        while True:
            try:
                acks = {k.decode() if isinstance(k, bytes) else k: v
                        for k, v in (await self.redis.hgetall(f"ft:acks:{purge_id}")).items()}
            except (RedisError, OSError) as exc:
                return {node: {"applied": node == self.node, "error": f"Redis: {exc}"} for node in live}
            if all(node in acks for node in live) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
        return {node: ({"applied": True, **json.loads(acks[node])} if node in acks else
                       {"applied": False, "error": f"no word within {timeout:g}s"}) for node in live}


@dataclass
class Position:
    """How far this node has applied the fleet's purges, kept in its store folder so a
    restart goes on from there."""

    epoch: str = ""  # the Redis epoch the stream id belongs to
    stream_id: str = ""  # the last stream entry applied ("" : none)
    issued: float = 0.0  # the issue time of the newest durable record applied
    applied: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def seen(self, purge_id: str) -> bool:
        return purge_id in self.applied

    def note(self, purge_id: str) -> None:
        self.applied[purge_id] = None
        while len(self.applied) > REMEMBERED:
            self.applied.popitem(last=False)

    @staticmethod
    def load(path: str) -> Position | None:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return Position(str(data["epoch"]), str(data["stream_id"]), float(data["issued"]),
                            OrderedDict.fromkeys(str(i) for i in data["applied"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("fleet: %s does not parse; this node cannot tell which purges it applied", path)
            return None

    def save(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump({"epoch": self.epoch, "stream_id": self.stream_id, "issued": self.issued,
                       "applied": list(self.applied)[-2000:]}, f)
        os.replace(temporary, path)


def position_path(store_path: str) -> str:
    return os.path.join(os.path.abspath(store_path), "fleet", "purges.json")


class Follower:
    """The fleet process's half: read the purges other nodes issue, apply them here."""

    def __init__(self, node: str, redis: Redis, records: SharedRecords, index: Index, path: str,
                 poll: float) -> None:
        self.node = node
        self.redis = redis
        self.records = records
        self.index = index
        self.path = path
        self.poll = poll
        self.position = Position.load(path)
        self.applied_count = 0
        self.redis_ok: bool | None = None
        self.shared_ok: bool | None = None
        self.lag = 0.0  # seconds from issue to applied here, of the last purge applied
        self._polled = 0.0
        self._unacked: list[tuple[str, float, float]] = []  # (purge id, when applied, lag)

    # -- starting: catch up before serving --------------------------------------------

    async def catch_up(self) -> None:
        """Everything issued while this node was away, applied; or, if that cannot be
        told, every entry dropped."""
        known = self.position
        position = known or Position()
        self.position = position
        epoch, end = await self._stream_state()
        if epoch is not None and known is not None and known.epoch == epoch and known.stream_id:
            if await self._stream_holds(known.stream_id):
                await self._read_stream(block=None)
                self._save()
                return
        # No stream to go on from: the durable records, from where this node was.
        if known is None and len(self.index) == 0:
            since = time.time()  # a node that holds nothing has nothing to vouch for
        else:
            since = position.issued - CLOCK_SLACK if known is not None else 0.0
        await self._from_records(since, epoch, end)

    async def _from_records(self, since: float, epoch: str | None, end: str) -> None:
        """Catch up from the durable records issued since `since`, then go on in the
        stream from `end` (its last id before they were read); if the records cannot be
        read either, drop every entry: nobody can say which purges this node missed."""
        position = self.position
        assert position is not None
        if not await self._read_records(since):
            if len(self.index):
                log.warning("fleet: neither Redis nor the shared tier can say which purges this node missed; "
                            "it drops every entry it holds")
                self.index.ban("prefix", "")
            position.issued = time.time()
        if epoch is not None:
            position.epoch, position.stream_id = epoch, end
        self._save()

    async def _stream_state(self) -> tuple[str | None, str]:
        """(the Redis epoch, the stream's last id), or (None, "") when Redis is out of reach.
        The last id is read before the durable records are: what is added after it is
        read from the stream, what came before is in the records."""
        try:
            await self.redis.set(EPOCH, secrets.token_hex(8), nx=True)
            epoch = await self.redis.get(EPOCH)
            info = await self.redis.xinfo_stream(STREAM) if await self.redis.exists(STREAM) else None
        except (RedisError, OSError) as exc:
            self._redis(False, exc)
            return None, ""
        self._redis(True)
        last = info.get("last-generated-id", b"0-0") if info else b"0-0"
        return as_text(epoch), as_text(last)

    async def _stream_holds(self, stream_id: str) -> bool:
        """Whether the stream still has every entry after `stream_id` (not trimmed past it)."""
        try:
            first = await self.redis.xrange(STREAM, count=1)
        except (RedisError, OSError):
            return False
        if not first:
            return True
        return _id_key(as_text(first[0][0])) <= _id_key(stream_id) or stream_id == "0-0"

    async def _read_stream(self, block: int | None) -> int:
        """Apply what the stream has after our position; `block` ms to wait for more."""
        position = self.position
        assert position is not None
        start = position.stream_id or "0-0"
        applied = 0
        while True:
            answer = await self.redis.xread({STREAM: start}, count=500, block=block)
            if not answer:
                return applied
            for entry_id, fields in answer[0][1]:
                start = as_text(entry_id)
                raw = fields.get(b"purge") or fields.get("purge")
                try:
                    purge = parse_purge(json.loads(raw)) if raw is not None else None
                except ValueError:
                    purge = None
                if purge is None:
                    log.warning("fleet: skipped a stream entry that is not a purge (%s)", start)
                else:
                    applied += await self._apply(purge)
                position.stream_id = start
            await self._ack()
            if applied:
                self._save()
            block = None  # then take what is there without waiting

    async def _read_records(self, since: float) -> bool:
        """Apply the durable records issued since `since`; False if they cannot be read."""
        position = self.position
        assert position is not None
        try:
            names = await self.records.names(FOLDER, after=f"{max(0, int(since * 1000)):013d}")
            for name in names:
                purge_id = name.rsplit("-", 1)[-1].removesuffix(".json")
                if position.seen(purge_id):
                    continue
                purge = parse_purge(await self.records.get(f"{FOLDER}/{name}"))
                if purge is None:
                    log.warning("fleet: skipped the record %s: it is not a purge", name)
                    continue
                await self._apply(purge)
        except RecordsUnavailable as exc:
            self._shared(False, exc)
            return False
        finally:
            await self._ack()
        self._shared(True)
        return True

    async def _apply(self, purge: dict[str, Any]) -> int:
        position = self.position
        assert position is not None
        if position.seen(purge["id"]):
            return 0
        if purge["node"] != self.node:  # the issuing node applied it itself
            apply_ops(self.index, purge["ops"])
            self.lag = max(0.0, time.time() - purge["time"])
        position.note(purge["id"])
        position.issued = max(position.issued, float(purge["time"]))
        self.applied_count += 1
        self._unacked.append((purge["id"], time.time(), self.lag))
        return 1

    async def _ack(self) -> None:
        """Say which purges this node applied (for ?wait=all): a batch in one round trip,
        so that a node far from Redis keeps up with purges issued back to back."""
        acks, self._unacked = self._unacked, []
        if not acks:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for purge_id, applied, lag in acks:
                    pipe.hset(f"ft:acks:{purge_id}", self.node, json.dumps({"time": applied, "lag": lag}))
                    pipe.expire(f"ft:acks:{purge_id}", ACKS_KEPT)
                await pipe.execute()
        except (RedisError, OSError):
            pass  # the acks are for ?wait=all only; the purges are applied

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the stream; read the durable records every `poll` seconds; when Redis
        comes back with another epoch, or the stream was trimmed past us, catch up."""
        while True:
            now = time.monotonic()
            if now - self._polled >= self.poll:
                self._polled = now
                position = self.position
                assert position is not None
                if await self._read_records(position.issued - CLOCK_SLACK):
                    self._save()
            try:
                if self.redis_ok is not True:
                    epoch, end = await self._stream_state()
                    if epoch is None:
                        await asyncio.sleep(min(1.0, self.poll))
                        continue
                    await self._rejoin(epoch, end)
                await self._read_stream(block=int(min(1.0, self.poll) * 1000))
            except (RedisError, OSError) as exc:
                self._redis(False, exc)
                await asyncio.sleep(min(1.0, self.poll))

    async def _rejoin(self, epoch: str, end: str) -> None:
        position = self.position
        assert position is not None
        if position.epoch == epoch and position.stream_id and await self._stream_holds(position.stream_id):
            return  # go on from where we were
        log.warning("fleet: Redis lost the purges after this node's position (a new epoch, or the stream trimmed); "
                    "reading the durable records instead")
        await self._from_records(position.issued - CLOCK_SLACK, epoch, end)

    def _save(self) -> None:
        if self.position is not None:
            try:
                self.position.save(self.path)
            except OSError as exc:
                log.warning("fleet: cannot save the purge position in %s: %s", self.path, exc.strerror)

    def _redis(self, ok: bool, exc: BaseException | None = None) -> None:
        if ok != self.redis_ok:
            if ok and self.redis_ok is False:
                log.warning("fleet: Redis answers again")
            elif not ok:
                log.warning("fleet: Redis does not answer (%s); purges go on through the shared tier", exc)
            self.redis_ok = ok

    def _shared(self, ok: bool, exc: BaseException | None = None) -> None:
        if ok != self.shared_ok:
            if not ok:
                log.warning("fleet: the shared tier does not answer (%s)", exc)
            elif self.shared_ok is False:
                log.warning("fleet: the shared tier answers again")
            self.shared_ok = ok


def as_text(value: object) -> str:
    """A Redis reply as text (None: "")."""
    return value.decode() if isinstance(value, bytes) else "" if value is None else str(value)


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms or 0), int(seq or 0)
