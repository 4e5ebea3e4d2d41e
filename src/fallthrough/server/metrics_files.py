"""The node's metrics directory: one set of files per process, read together at a scrape.

Every server process (the edge's workers and the S3 listener's) writes its values into
files of its own under `<store.path>/run/metrics` (prometheus_client's multiprocess mode,
PROMETHEUS_MULTIPROC_DIR); a scrape reads them all and adds them up. `fallthrough serve`
empties the directory before any worker starts, so a node's counters start at zero.

A process that is gone leaves its files behind, and a scrape reads every file there: a
worker restarted a hundred times would leave a hundred sets. So the files of dead
processes are folded away (`tidy`): their counters and histograms are added into one
archive file per type (what they counted stays counted), and their gauges, which say
nothing once the process is gone, are removed. A scrape then reads the live processes'
files and two archives, however many processes came and went.

Folding and reading take a lock on the directory (exclusive and shared), so that a
scrape never sees a dead process's values both in its own file and in the archive.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..processes import alive, run_dir

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The types whose values outlive their process (added into the archive); gauges do not.
ARCHIVED = ("counter", "histogram")
ARCHIVE = "archive"  # in place of a pid: counter_archive.db, histogram_archive.db
_LOCK = "lock"
_FOLDING = ".folding"  # a dead process's file being folded: no longer read by a scrape


def metrics_dir(store_path: str) -> str:
    return os.path.join(run_dir(store_path), "metrics")


@contextlib.contextmanager
def locked(directory: str, exclusive: bool, wait: bool = True) -> Iterator[bool]:
    """The directory's lock; yields False (without it) when `wait` is off and it is taken."""
    fd = os.open(os.path.join(directory, _LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the file gives the lock back


def _pid_of(name: str) -> int | None:
    """The process a file belongs to (`counter_1234.db`, `gauge_livesum_1234.db`)."""
    if not name.endswith(".db"):
        return None
    tail = name[:-3].rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def tidy(directory: str) -> int:
    """Fold away the files of processes that are gone; how many processes that was.

    Does nothing (0) while another process is folding or nothing is dead."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    dead = {pid for pid in map(_pid_of, names) if pid is not None and not alive(pid)}
    if not dead and not any(name.endswith(_FOLDING) for name in names):
        return 0
    with locked(directory, exclusive=True, wait=False) as held:
        if not held:
            return 0
        names = os.listdir(directory)
        for name in names:  # a fold that a crash cut short: its values are in the archive or lost, never twice
            if name.endswith(_FOLDING):
                os.unlink(os.path.join(directory, name))
        for typ in ARCHIVED:
            files = [name for name in names if name.startswith(typ + "_") and _pid_of(name) in dead]
            if not files:
                continue
            totals: dict[str, float] = {}
            for name in files:
                path = os.path.join(directory, name)
                os.rename(path, path + _FOLDING)
                for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(path + _FOLDING):
                    totals[key] = totals.get(key, 0.0) + value
            archive = MmapedDict(os.path.join(directory, f"{typ}_{ARCHIVE}.db"))
            try:
                for key, value in totals.items():
                    before, _ = archive.read_value(key)
                    archive.write_value(key, before + value, 0.0)
            finally:
                archive.close()
            for name in files:
                os.unlink(os.path.join(directory, name + _FOLDING))
        for pid in dead:
            mark_process_dead(pid, directory)
            for name in names:  # anything else of it (a gauge mode that is not live)
                if _pid_of(name) == pid:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(directory, name))
    return len(dead)


def exposition(directory: str) -> bytes:
    """Every process's values, added up, in the Prometheus text format."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    with locked(directory, exclusive=False):
        return generate_latest(registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST
