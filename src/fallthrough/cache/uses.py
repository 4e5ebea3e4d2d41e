"""When each entry was last used, across every process of a node, for LRU eviction.

The node's housekeeper evicts the entries used least recently by any worker, so each
worker must tell it what it served. Doing so per hit would add a write to the hot path;
instead a lookup that finds an entry compares one attribute (the entry's `used`, the
period that last noted it) and, the first time in a period, appends the entry to a list.
Once a period (USE_FLUSH seconds) the worker writes that list as one file,
`<store>/run/uses/<pid>-<n>.json`, renamed into place whole; the housekeeper reads and
deletes the files. A file holds `[key, variant, time]` rows: a use names the entry, not
its body, because an entry is what eviction removes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator

from .entry import Entry

log = logging.getLogger(__name__)

USE_FLUSH = 1.0

EntryId = tuple[str, tuple[str, ...]]


def uses_dir(run: str) -> str:
    """In the node's run folder (processes.run_dir)."""
    return os.path.join(run, "uses")


class UseLog:
    """This process's uses since its last flush."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.period = object()
        self.touched: list[Entry] = []
        self._files = 0

    def flush(self) -> None:
        """Write this period's uses as one file, and start a new period."""
        touched, self.touched, self.period = self.touched, [], object()
        if not touched or self.directory is None:
            return
        now = round(time.time(), 3)
        rows = [[e.key, list(e.variant), now] for e in touched]
        self._files += 1
        path = os.path.join(self.directory, f"{os.getpid()}-{self._files}.json")
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(path + ".tmp", "w") as f:
                json.dump(rows, f, separators=(",", ":"))
            os.replace(path + ".tmp", path)
        except OSError as exc:  # eviction then goes by older uses; serving is not hurt
            log.warning("could not write the use log %s: %s", path, exc.strerror or exc)


def take_uses(directory: str) -> Iterator[tuple[EntryId, float]]:
    """Every use the node's processes wrote since the last call, each file deleted once
    read. A damaged file (a crash mid-write cannot leave one: files are renamed whole)
    is skipped with one line."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path) as f:
                rows = json.load(f)
        except (OSError, ValueError) as exc:
            log.warning("skipped the use log %s: %s", path, exc)
            rows = []
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        if not isinstance(rows, list):
            continue
        for row in rows:
            try:
                key, variant, when = row
                yield (str(key), tuple(str(v) for v in variant)), float(when)
            except (TypeError, ValueError):
                continue
