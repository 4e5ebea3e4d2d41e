"""Writes to the store in flight, as the node's housekeeper must see them.

Two things about a write matter to the housekeeper (cache/housekeeper.py), and each
process says them in a small file it maps into memory, `<store>/run/writes/<pid>`, so
saying them costs a memory write, not a system call:

- when its oldest write began (the horizon). A fill that dedups against a chunk already
  on disk touches that file instead of writing it; the housekeeper deletes a chunk no
  blob lists only if its mtime is older than the node's horizon, so no write in flight
  loses a chunk it counted on.
- how many bytes its writes in flight hold, so that what is on disk can be compared with
  the budget plus the fills in flight (health, metrics, the tests).

A write's bytes stay in flight until the housekeeper has booked its entry, not only until
the entry is stored: until then they are in no book.

The gate (`<store>/run/housekeeper.gate`, written by the housekeeper) is where a write
waits before it begins while the store is near its budget: until the housekeeper has
booked every entry stored before. So what is stored beyond the budget is what the writes
that passed together bring, however far a busy housekeeper lags behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import struct
import time
from dataclasses import dataclass

from ..processes import alive
from .index import Index

log = logging.getLogger(__name__)

# A process's file: horizon, bytes in flight, each written twice (see WriteHorizon).
SLOT_FORMAT = "<dddd"
SLOT_SIZE = struct.calcsize(SLOT_FORMAT)
# The gate's state: the housekeeper's pid, the budget, the booked bytes, how far the
# journal is booked, and the bytes of unlisted chunks kept for writes in flight.
GATE_FORMAT = "<qqqqq"
GATE_SIZE = struct.calcsize(GATE_FORMAT)
# How long a write waits at the gate for the housekeeper before it goes in anyway.
GATE_WAIT = 2.0
GATE_POLL = 0.005
# How often a process looks whether the housekeeper has booked its stored writes.
RELEASE_POLL = 0.02


def gate_path(run: str) -> str:
    return os.path.join(run, "housekeeper.gate")


def writes_dir(run: str) -> str:
    return os.path.join(run, "writes")


class WriteHorizon:
    """This process's slot. Each value is written twice, and a reader takes a slot only
    when both copies agree: it must never take half of an update for the truth."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, str(os.getpid()))
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, SLOT_SIZE)
            self._map = mmap.mmap(fd, SLOT_SIZE)
        finally:
            os.close(fd)

    def set(self, oldest_write: float | None, in_flight: int = 0) -> None:
        value = 0.0 if oldest_write is None else oldest_write
        struct.pack_into(SLOT_FORMAT, self._map, 0, value, float(in_flight), value, float(in_flight))

    def close(self) -> None:
        self._map.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def node_writes(directory: str) -> tuple[float, int]:
    """(the node's horizon, the bytes its writes in flight hold). The horizon is the start
    of the oldest write in flight, or now if there is none: a write that begins after
    this call touches its chunks after it. A dead process's file is removed."""
    horizon, in_flight = time.time(), 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return horizon, in_flight
    for name in names:
        if not name.isdigit():
            continue
        path = os.path.join(directory, name)
        if not alive(int(name)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        for _ in range(100):
            try:
                with open(path, "rb") as f:
                    start, size, start_again, size_again = struct.unpack(SLOT_FORMAT, f.read(SLOT_SIZE))
            except (OSError, struct.error):
                break
            if (start, size) == (start_again, size_again):
                if start > 0:
                    horizon = min(horizon, start)
                in_flight += int(size)
                break
    return horizon, in_flight


def node_horizon(directory: str) -> float:
    return node_writes(directory)[0]


class BudgetGate:
    """The writers' side of the gate (the housekeeper writes it)."""

    def __init__(self, run_dir: str) -> None:
        self.path = gate_path(run_dir)
        self._map: mmap.mmap | None = None

    def state(self) -> tuple[int, int, int, int, int] | None:
        """(pid, budget, booked bytes, journal position booked, bytes kept for writes in
        flight), or None before there is a housekeeper."""
        if self._map is None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return None
            try:
                if os.fstat(fd).st_size < GATE_SIZE:
                    return None
                self._map = mmap.mmap(fd, GATE_SIZE, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
        return struct.unpack_from(GATE_FORMAT, self._map)

    def booked_to(self) -> int | None:
        """How far the housekeeper has booked the journal; None without a live one."""
        state = self.state()
        return None if state is None or not alive(state[0]) else state[3]

    async def wait(self, index: Index, size: int) -> None:
        deadline = time.monotonic() + GATE_WAIT
        stored_before = index.journal_span()[1]  # not a moving target: others keep storing
        alive_checked = False
        while True:
            state = self.state()
            if state is None:
                return
            pid, budget, booked, position, _ = state
            if budget <= 0 or booked + size <= budget // 2:
                return  # no budget kept, or far under it
            if position >= stored_before:
                return  # everything stored so far is booked
            if not alive_checked:
                alive_checked = True
                if not alive(pid):
                    return  # the housekeeper died; another is being elected
            if time.monotonic() > deadline:
                log.debug("the housekeeper is behind; writing without waiting longer")
                return
            await asyncio.sleep(GATE_POLL)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


@dataclass(eq=False, slots=True)
class Write:
    began: float
    bytes: int = 0
    stored_at: int = -1  # where the journal reached once its entry was stored
    stored: bool = False  # set by the writer once its entry is in the index


class WritesInFlight:
    """This process's writes, from their first chunk until the housekeeper booked them."""

    def __init__(self, slot: WriteHorizon | None = None, gate: BudgetGate | None = None) -> None:
        self.slot = slot
        self.gate = gate
        self._writes: dict[Write, None] = {}  # in the order they began
        self._releaser: asyncio.Task[None] | None = None

    def begin(self) -> Write:
        write = Write(time.time())
        self._writes[write] = None
        self._publish()
        return write

    def wrote(self, write: Write, count: int) -> None:
        write.bytes += count
        self._publish()

    def end(self, write: Write, index: Index) -> None:
        """The write is over: its entry is stored (`write.stored`) or it failed. A stored
        one stays until the housekeeper has booked it."""
        if not write.stored or self.gate is None or self.gate.booked_to() is None:
            self._writes.pop(write, None)
        else:
            write.stored_at = index.journal_span()[1]
            if self._releaser is None or self._releaser.done():
                self._releaser = asyncio.get_running_loop().create_task(self._release())
        self._publish()

    async def _release(self) -> None:
        while any(w.stored_at >= 0 for w in self._writes):
            booked = self.gate.booked_to() if self.gate is not None else None
            for write in list(self._writes):
                if write.stored_at >= 0 and (booked is None or booked >= write.stored_at):
                    del self._writes[write]
            self._publish()
            await asyncio.sleep(RELEASE_POLL)

    def _publish(self) -> None:
        """The horizon is the oldest write not yet stored: one stored but not yet booked
        is booked in the housekeeper's pass before its horizon matters (it reads the
        horizon, then the journal), so only its bytes are still in flight."""
        if self.slot is not None:
            oldest = next((w for w in self._writes if w.stored_at < 0), None)
            self.slot.set(oldest.began if oldest is not None else None, sum(w.bytes for w in self._writes))

    def close(self) -> None:
        if self._releaser is not None:
            self._releaser.cancel()
        if self.slot is not None:
            self.slot.close()
        if self.gate is not None:
            self.gate.close()
