"""Keys to entries, in memory, kept in step with the journal on disk.

A lookup is a dict access plus one fstat of the journal (to see what other workers
wrote): no lock, no file read, no query. Vary splits a key into variants, each its own
entry. Purges: a URL is removed at once; a prefix or a tag becomes a ban, a rule with a
time checked at lookup (O(1) to issue) that a background sweep applies to the whole
index and then retires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..castore import B3Digest
from .entry import Entry
from .freshness import vary_key
from .journal import Journal

log = logging.getLogger(__name__)

BanKind = Literal["prefix", "tag"]
# Rewrite the journal on open when fewer than this share of its records are live.
COMPACT_BELOW = 0.5
SWEEP_BATCH = 2000
# How long purges are remembered after they were applied, so that a fill which fetched
# its body before the purge and commits after it is not stored (see superseded()).
PURGE_MEMORY = 600.0
RECENT_PURGES = 50


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise ValueError(f"a record's {name!r} is not a string")
    return value


def _time(record: dict[str, Any], default: float | None) -> float:
    value = record.get("time", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1e12 < value < 1e12:
        raise ValueError("a record's 'time' is not a time")
    return float(value)


def journal_path(store_path: str) -> str:
    """Where a node keeps its index's journal, under `store.path`."""
    return os.path.join(os.path.abspath(store_path), "index", "journal")


@dataclass(frozen=True, slots=True)
class Ban:
    kind: BanKind
    value: str
    time: float

    def matches(self, entry: Entry) -> bool:
        """Whether the ban covers the entry: by key or tag, and asked of the origin before
        the ban (a response that arrives after a purge but was asked for before it may be
        the purged object: it is covered)."""
        if entry.request_time > self.time:
            return False
        if self.kind == "prefix":
            return entry.key.startswith(self.value)
        return self.value in entry.tags


@dataclass(frozen=True, slots=True)
class Purge:
    time: float
    kind: str  # url, prefix, tag; or invalidated, written, deleted, lost
    value: str


@dataclass(slots=True)
class KeyRecord:
    """All variants of one key; `vary` is the request headers the origin varied on."""

    vary: tuple[str, ...] = ()
    variants: dict[tuple[str, ...], Entry] = field(default_factory=dict)


class Index:
    def __init__(self, path: str | None = None, compact: bool = True) -> None:
        """`compact=False` for a process that joins running workers (a CLI purge): only
        a server starting up may rewrite the journal under the others' feet."""
        self._keys: dict[str, KeyRecord] = {}
        self.bans: list[Ban] = []
        self._retired: list[Ban] = []  # applied and retired, still remembered for a while
        self._removed: dict[str, float] = {}  # key → when a URL purge removed it
        # The node's latest purges and invalidations, as this process saw them go by in the
        # journal (the dashboard's list; not kept across a restart).
        self.recent: deque[Purge] = deque(maxlen=RECENT_PURGES)
        # Told of each purge another process wrote to the journal (kind, value), so that
        # this process's fills in flight that it covers take no more followers.
        self.on_purge: Callable[[str, str], None] | None = None
        self.refs: Counter[B3Digest] = Counter()
        # Blobs that lost their last entry, and when (monotonic): candidates for collection.
        self.orphans: dict[B3Digest, float] = {}
        # Blobs that gained their first entry, for the node's housekeeper to learn of
        # (None, and not kept, in every other process).
        self.new_blobs: list[B3Digest] | None = None
        self.bytes = 0
        self._journal: Journal | None = None
        if path is not None:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._journal = Journal(path)
            for record in self._journal.open(self._compact if compact else None):
                self._apply(record, replay=True)
            self.bans.clear()  # replay applied them in full
            self.orphans.clear()  # collected by a full pass, not by a replay

    # -- reading ---------------------------------------------------------------

    def lookup(self, key: str, request_headers: Mapping[str, str]) -> Entry | None:
        self.catch_up()
        record = self._keys.get(key)
        if record is None:
            return None
        entry = record.variants.get(vary_key(list(record.vary), request_headers) if record.vary else ())
        if entry is None:
            return None
        for ban in self.bans:
            if ban.matches(entry):
                self._drop(entry)
                return None
        return entry

    def holds(self, entry: Entry) -> bool:
        """Whether the key's variant still has this entry's body (no newer fetch replaced it)."""
        record = self._keys.get(entry.key)
        current = record.variants.get(entry.variant) if record is not None else None
        return current is not None and current.digest == entry.digest

    def variants_of(self, key: str) -> list[Entry]:
        """Every entry of a key (its variants and its parts), bans applied."""
        self.catch_up()
        record = self._keys.get(key)
        if record is None:
            return []
        found = []
        for entry in list(record.variants.values()):
            if any(ban.matches(entry) for ban in self.bans):
                self._drop(entry)
            else:
                found.append(entry)
        return found

    def vary_of(self, key: str) -> tuple[str, ...]:
        record = self._keys.get(key)
        return record.vary if record is not None else ()

    def __len__(self) -> int:
        return sum(len(r.variants) for r in self._keys.values())

    def entries(self) -> Iterator[Entry]:
        for record in list(self._keys.values()):
            yield from list(record.variants.values())

    # -- writing ---------------------------------------------------------------

    def put(self, entry: Entry) -> Entry | None:
        """Store (or replace) an entry; returns the one it replaced."""
        self._log({"op": "put", "entry": entry.to_json()})
        return self._put(entry)

    def remove(self, key: str, why: str = "purge", at: float | None = None) -> list[Entry]:
        """Every variant of a URL's key, gone now (a URL purge, an unsafe method, a body
        the store lost: `why` says which, for the recent purges). `at`: the time it
        counts from, when not now (what was asked of the origin since stays)."""
        now = time.time() if at is None else at
        self._log({"op": "del", "key": key, "time": now, "why": why})
        self._removed[key] = now
        self.recent.append(Purge(now, "url" if why == "purge" else why, key))
        return self._remove(key)

    def drop(self, entry: Entry) -> None:
        """One variant of a key gone for good (a part merged into the whole object), if it
        is still that entry."""
        if self.current(entry):
            self._log({"op": "drop", "key": entry.key, "variant": list(entry.variant), "digest": entry.digest.hex()})
            self._drop(entry)

    def superseded(self, entry: Entry) -> bool:
        """Whether a purge issued after this response was asked for covers it: a fill
        that began before a purge and commits after it must not bring back what the purge
        removed, even if the origin's answer arrived after the purge."""
        self.catch_up()
        if self._removed.get(entry.key, 0.0) > entry.request_time:
            return True
        return any(ban.matches(entry) for ban in (*self.bans, *self._retired))

    def ban(self, kind: BanKind, value: str, at: float | None = None) -> Ban:
        ban = Ban(kind, value, time.time() if at is None else at)
        self._log({"op": "ban", "kind": kind, "value": value, "time": ban.time})
        self.bans.append(ban)
        self.recent.append(Purge(ban.time, kind, value))
        return ban

    def catch_up(self) -> None:
        """Apply what other workers appended to the journal since we last looked."""
        if self._journal is not None:
            for record in self._journal.read_new():
                self._apply(record, replay=False)

    async def sweep(self) -> int:
        """Apply the pending bans to every entry, a batch at a time, then retire them."""
        bans = list(self.bans)
        if not bans:
            return 0
        removed = 0
        for i, entry in enumerate(self.entries()):
            if any(ban.matches(entry) for ban in bans) and self.current(entry):
                self._drop(entry)
                removed += 1
            if i % SWEEP_BATCH == SWEEP_BATCH - 1:
                await asyncio.sleep(0)
        self.bans = [b for b in self.bans if b not in bans]
        horizon = time.time() - PURGE_MEMORY
        self._retired = [b for b in (*self._retired, *bans) if b.time >= horizon]
        self._removed = {k: t for k, t in self._removed.items() if t >= horizon}
        return removed

    def journal_span(self) -> tuple[int, int]:
        """(how far this process has applied the journal, how far the journal reaches)."""
        if self._journal is None:
            return 0, 0
        return self._journal.position, self._journal.end

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    # -- internals -------------------------------------------------------------

    def _log(self, record: dict[str, Any]) -> None:
        if self._journal is not None:
            self.catch_up()  # keep our memory in the journal's order
            self._journal.append(record)

    def current(self, entry: Entry) -> bool:
        """Whether this very entry (not a newer one for its variant) is in the index."""
        record = self._keys.get(entry.key)
        return record is not None and record.variants.get(entry.variant) is entry

    def _put(self, entry: Entry) -> Entry | None:
        record = self._keys.get(entry.key)
        if record is None or record.vary != entry.vary:
            # The origin changed what it varies on: older variants were keyed on other headers.
            for old in self._remove(entry.key):
                log.debug("dropped variant %s of %s", old.variant, old.key)
            record = self._keys[entry.key] = KeyRecord(entry.vary)
        old = record.variants.get(entry.variant)
        if old is not None:
            self._forget(old)
        record.variants[entry.variant] = entry
        self.refs[entry.digest] += 1
        self.orphans.pop(entry.digest, None)
        if self.new_blobs is not None and self.refs[entry.digest] == 1:
            self.new_blobs.append(entry.digest)
        self.bytes += entry.size
        return old

    def _remove(self, key: str) -> list[Entry]:
        record = self._keys.pop(key, None)
        if record is None:
            return []
        for entry in record.variants.values():
            self._forget(entry)
        return list(record.variants.values())

    def _drop(self, entry: Entry) -> None:
        """Forget one variant in memory only (bans replay from the journal)."""
        record = self._keys.get(entry.key)
        if record is None or record.variants.get(entry.variant) is not entry:
            return
        del record.variants[entry.variant]
        self._forget(entry)
        if not record.variants:
            del self._keys[entry.key]

    def _forget(self, entry: Entry) -> None:
        self.refs[entry.digest] -= 1
        if self.refs[entry.digest] <= 0:
            del self.refs[entry.digest]
            self.orphans.setdefault(entry.digest, time.monotonic())
        self.bytes -= entry.size

    def _apply(self, record: dict[str, Any], replay: bool, quiet: bool = False) -> None:
        """Apply one record from the journal, or skip it with one line: the journal is data
        from disk, and no record in it, whatever it holds, may keep the index from opening.
        `quiet` for the compaction's pass, so a bad record is reported once, not twice."""
        try:
            self._apply_record(record, replay)
        except Exception as exc:  # noqa: BLE001 - see above: a bad record costs itself only
            if not quiet:
                log.warning("index: skipped a record that does not parse (%s)",
                            str(exc)[:200] or type(exc).__name__)

    def _apply_record(self, record: dict[str, Any], replay: bool) -> None:
        op = record.get("op")
        if op == "put":
            self._put(Entry.from_json(record.get("entry")))
        elif op == "del":
            key, when = _text(record, "key"), _time(record, 0.0)
            self._remove(key)
            if replay:
                if when >= time.time() - PURGE_MEMORY:  # remembered across a restart too
                    self._removed[key] = max(when, self._removed.get(key, 0.0))
            elif self._removed.get(key) != when:  # not our own, read back
                self._removed[key] = when
                why = record.get("why", "purge")
                self.recent.append(Purge(when, "url" if why == "purge" else str(why)[:20], key))
                if self.on_purge is not None:
                    self.on_purge("url", key)
        elif op == "drop":
            variant = record.get("variant")
            if not isinstance(variant, list) or not all(isinstance(v, str) for v in variant):
                raise ValueError("a drop's 'variant' is not a list of strings")
            current = self._keys.get(_text(record, "key"))
            entry = current.variants.get(tuple(variant)) if current is not None else None
            if entry is not None and entry.digest.hex() == _text(record, "digest"):
                self._drop(entry)
        elif op == "ban":
            kind = record.get("kind")
            if kind not in ("prefix", "tag"):
                raise ValueError("a ban is of kind 'prefix' or 'tag'")
            ban = Ban(kind, _text(record, "value"), _time(record, None))
            if replay:
                for entry in list(self.entries()):
                    if ban.matches(entry):
                        self._drop(entry)
                if ban.time >= time.time() - PURGE_MEMORY and ban not in self._retired:
                    self._retired.append(ban)  # applied in full; remembered, as after a sweep
            elif ban not in self.bans and ban not in self._retired:  # not our own, read back
                self.bans.append(ban)
                self.recent.append(Purge(ban.time, kind, ban.value))
                if self.on_purge is not None:
                    self.on_purge(kind, ban.value)
        else:
            raise ValueError("a record's op is 'put', 'del', 'drop' or 'ban'")

    def _compact(self, records: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The live records when most of the journal is dead, else None (keep it)."""
        scratch = Index()
        for record in records:
            scratch._apply(record, replay=True, quiet=True)
        live = [{"op": "put", "entry": e.to_json()} for e in scratch.entries()]
        if len(records) > 64 and len(live) < COMPACT_BELOW * len(records):
            # The purges still remembered stay, before the entries that outlived them: a
            # fill (or another node's copy) asked for before one must not come back.
            remembered = [{"op": "del", "key": k, "time": t, "why": "purge"} for k, t in scratch._removed.items()]
            remembered += [{"op": "ban", "kind": b.kind, "value": b.value, "time": b.time} for b in scratch._retired]
            return remembered + live
        return None
