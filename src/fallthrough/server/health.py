"""Node-wide health: each server process says how it is, health reads them all.

A request reaches one worker of one listener, but a node is all of them: the edge's
workers and the S3 listener's. So every server process publishes a small status of its
own (pid, front, when it started, entries, fills and requests in flight) into a file
under `<store.path>/run/workers/`, once a second from a background task, and the health
endpoint lists them: a process whose pid is gone, or whose last heartbeat is older than
STALE_AFTER (its event loop is stuck), is not alive. A gone process stays listed for
GONE_KEPT, so that a crash is seen, then its file is removed.

Readiness is another question: can this node serve from its store? A write, read and
delete of a tiny probe in the store's tmp directory (where fills spool), and a read of
the index journal, answer it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

from ..processes import alive, run_dir

HEARTBEAT_EVERY = 1.0
STALE_AFTER = 10.0
GONE_KEPT = 60.0
# What a status holds that is summed over the node's live processes.
SUMMED = ("fills", "in_flight", "origin_requests", "rss_bytes")


def workers_dir(store_path: str) -> str:
    return os.path.join(run_dir(store_path), "workers")


class Heartbeat:
    """This process's status file."""

    def __init__(self, directory: str, front: str, status: Callable[[], dict[str, Any]]) -> None:
        self.directory = directory
        self.front = front
        self.status = status  # the figures of the moment: entries, fills, in_flight, ...
        self.pid = os.getpid()
        self.started = time.time()
        self.path = os.path.join(directory, f"{self.pid}.json")

    def snapshot(self) -> dict[str, Any]:
        return {"pid": self.pid, "front": self.front, "started": self.started, "heartbeat": time.time(),
                **self.status()}

    def publish(self) -> None:
        """Written whole (a rename), so a reader never sees half of it; a full disk costs
        the heartbeat (the process then shows as not alive), never a request."""
        temporary = os.path.join(self.directory, f".{self.pid}.tmp")
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump(self.snapshot(), f)
            os.replace(temporary, self.path)
        except OSError:
            pass

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def _read(directory: str) -> list[dict[str, Any]]:
    found = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                status = json.load(f)
        except (OSError, ValueError):
            continue  # gone meanwhile, or not one of ours
        if isinstance(status, dict) and isinstance(status.get("pid"), int):
            found.append(status)
    return found


def node_health(beat: Heartbeat, expected: dict[str, int]) -> dict[str, Any]:
    """Every process of the node as its status file says (this one as it is now), with
    the node's totals. `expected`: how many processes each front should have."""
    now = time.time()
    own = beat.snapshot()
    workers = []
    for status in _read(beat.directory):
        pid = status["pid"]
        if pid == beat.pid:
            continue
        age = now - float(status.get("heartbeat", 0))
        gone = not alive(pid)
        if gone and age > GONE_KEPT:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(beat.directory, f"{pid}.json"))
            continue
        workers.append({**status, "alive": not gone and age < STALE_AFTER})
    workers.append({**own, "alive": True})
    listed = []
    for status in sorted(workers, key=lambda s: (str(s.get("front")), float(s.get("started", 0)))):
        started, heartbeat = float(status.pop("started", 0)), float(status.pop("heartbeat", 0))
        listed.append({**status, "uptime": round(max(now - started, 0.0), 3),
                       "heartbeat_age": round(max(now - heartbeat, 0.0), 3)})
    live = [s for s in listed if s["alive"]]
    alive_by_front = {front: sum(1 for s in live if s.get("front") == front) for front in expected}
    totals: dict[str, Any] = {
        "processes": len(listed), "alive": len(live), "expected": expected, "alive_by_front": alive_by_front,
        # The index is one, shared: every process holds all of it.
        "entries": max((int(s.get("entries", 0)) for s in live), default=0),
    }
    for name in SUMMED:
        totals[name] = sum(int(s.get(name) or 0) for s in live)
    healthy = all(alive_by_front[front] >= count for front, count in expected.items()) and len(live) == len(listed)
    return {"status": "ok" if healthy else "degraded", "node": totals, "workers": listed}


def readiness(spool_dir: str, journal_path: str) -> str | None:
    """None when the store's tmp directory takes a write and the index journal reads;
    else why not, in words (no path: the answer needs no token)."""
    probe = os.path.join(spool_dir, f"ready-{os.getpid()}.probe")
    data = b"ready\n"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        with open(probe, "rb") as f:
            if f.read() != data:
                return "the store's tmp directory gave back other bytes than were written"
    except OSError as exc:
        return f"the store's tmp directory cannot be written: {exc.strerror or exc}"
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)
    try:
        with open(journal_path, "rb") as f:
            f.read(1)
    except OSError as exc:
        return f"the index journal cannot be read: {exc.strerror or exc}"
    return None
