"""The node's metrics: counted per process in plain integers, exported through prometheus_client.

A request is counted with an addition to a Python int (the fresh small hit, on the Mount
that served it, see Edge.fast_hit; every other request in `Metrics.note`), and origin and
transform timings are kept in short lists. Once a second (and before each scrape) the
process folds those into prometheus_client's values, whose multiprocess mode keeps them in
a file per process under the node's metrics directory (metrics_files.py). So the request
path never takes the library's lock or writes to its files: a fold costs some
microseconds per series that changed, once a second, whatever the request rate.

Labels name only what the configuration names: a front (edge, s3, image, iiif, avatar),
a cache status, a source, a mount's URL prefix, a tier's position and kind, a purge's or
a transform's kind, an origin's status code. Never a key, a path or a digest.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, values

from ..castore import tier_scheme
from ..castore.budget import BudgetTier
from ..config import Settings
from ..fleet import nodes
from ..processes import run_dir
from .metrics_files import VARIABLE, exposition, tidy

if TYPE_CHECKING:
    from ..cache.cache import Cache
    from .mounts import Mount, Router

FOLD_EVERY = 1.0
# X-Cache's word → the cache status label.
CACHE_WORDS = {"HIT": "hit", "MISS": "miss", "STALE": "stale", "REVALIDATED": "revalidated", "PASS": "pass"}
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def tier_kind(url: str) -> str:
    """A tier's kind as the metrics name it: memory, disk or object_store."""
    return {"memory": "memory", "file": "disk"}.get(tier_scheme(url), "object_store")


def resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class Timings:
    """One origin's (or one kind of transform's) answers since the last fold."""

    __slots__ = ("statuses", "first_bytes", "durations", "bytes")

    def __init__(self) -> None:
        self.statuses: Tally[str] = Tally()
        self.first_bytes: list[float] = []
        self.durations: list[float] = []
        self.bytes = 0

    def answered(self, status: str, first_byte: float) -> None:
        self.statuses[status] += 1
        self.first_bytes.append(first_byte)

    def ended(self, duration: float, received: int) -> None:
        self.durations.append(duration)
        self.bytes += received


def _bind(directory: str, process: Callable[[], int]) -> None:
    """This process's values go to its own files in `directory` from now on.

    prometheus_client picks its value class when it is imported, by whether the
    variable is set then; a worker may have imported it earlier (its parent did, before
    the node set the variable), so the class is set here, for this process, once its
    directory is known. `process` names the files (the pid; a test writes the files
    of many processes from one)."""
    os.makedirs(directory, exist_ok=True)
    os.environ[VARIABLE] = directory
    values.ValueClass = values.MultiProcessValue(process)


class Metrics:
    """One server process's metrics: its tallies, and the prometheus values they fold into."""

    def __init__(self, directory: str, front: str, settings: Settings, cache: Cache, router: Router,
                 in_flight: Callable[[], int], refused: Callable[[], int] | None = None,
                 process: Callable[[], int] = os.getpid) -> None:
        self.directory = directory
        self.front = front
        self.cache = cache
        self.router = router
        self._in_flight = in_flight
        self._refused = refused  # the transform pool's refusals so far
        specs = settings.store.tier_specs()
        self._tiers = [(str(i), tier_kind(spec.url)) for i, spec in enumerate(specs)]
        # Tallies, cleared by each fold.
        self._requests: Tally[tuple[str, str]] = Tally()
        self._bytes: Tally[tuple[str, str]] = Tally()
        self._coalesced: Tally[str] = Tally()
        self._purges: Tally[str] = Tally()
        self.origins: dict[str, Timings] = {}
        self.transforms: dict[str, Timings] = {}
        self._seen: dict[tuple[str, ...], float] = {}  # cumulative figures kept elsewhere, as last folded
        self._fleet_status = nodes.local_status_path(run_dir(settings.store.path))
        self._peers_shown: set[str] = set()
        _bind(directory, process)
        fronts = ("front",)
        tier = ("tier", "kind")
        self.requests = Counter("fallthrough_requests", "Requests answered, by front and cache status",
                                fronts + ("cache",), registry=None)
        self.response_bytes = Counter("fallthrough_response_bytes", "Response body bytes the cache served "
                                      "(as declared), by where they came from", fronts + ("source",), registry=None)
        self.coalesced = Counter("fallthrough_coalesced_requests", "Requests answered from a fill another "
                                 "request led", fronts, registry=None)
        self.fills = Gauge("fallthrough_fills_in_flight", "Fills from origins under way", registry=None,
                           multiprocess_mode="livesum")
        self.in_flight = Gauge("fallthrough_requests_in_flight", "Requests being answered", fronts, registry=None,
                               multiprocess_mode="livesum")
        self.origin_requests = Counter("fallthrough_origin_requests", "Requests to origins, by mount and status "
                                       "(timeout, unreachable or error when none came)", ("mount", "status"),
                                       registry=None)
        self.origin_first_byte = Histogram("fallthrough_origin_first_byte_seconds", "Time until an origin's "
                                           "response head", ("mount",), buckets=SECONDS, registry=None)
        self.origin_duration = Histogram("fallthrough_origin_duration_seconds", "Time until an origin's response "
                                         "body ended", ("mount",), buckets=SECONDS, registry=None)
        self.origin_bytes = Counter("fallthrough_origin_bytes", "Body bytes received from origins", ("mount",),
                                    registry=None)
        self.store_bytes = Gauge("fallthrough_store_bytes", "Bytes in a budgeted tier's books", tier,
                                 registry=None, multiprocess_mode="livesum")
        self.store_max_bytes = Gauge("fallthrough_store_max_bytes", "A tier's byte budget", tier, registry=None,
                                     multiprocess_mode="livesum")
        self.store_objects = Gauge("fallthrough_store_objects", "Blobs in a budgeted tier's books", tier,
                                   registry=None, multiprocess_mode="livesum")
        self.store_evictions = Counter("fallthrough_store_evictions", "Blobs evicted to keep a tier in its budget",
                                       tier, registry=None)
        self.store_failures = Counter("fallthrough_store_verification_failures", "Chunks and manifests read "
                                      "from a tier that failed their check", tier, registry=None)
        self.store_read_bytes = Counter("fallthrough_store_read_bytes", "Chunk bytes read from a tier", tier,
                                        registry=None)
        self.index_entries = Gauge("fallthrough_index_entries", "Entries in the index", registry=None,
                                   multiprocess_mode="livemax")
        self.index_bytes = Gauge("fallthrough_index_bytes", "Body bytes of the entries in the index",
                                 registry=None, multiprocess_mode="livemax")
        self.memory_bytes = Gauge("fallthrough_memory_bodies_bytes", "Bytes of small bodies kept in memory",
                                  fronts, registry=None, multiprocess_mode="livesum")
        self.fleet_found = Counter("fallthrough_fleet_entries_found", "Misses answered from an entry another node "
                                   "of the fleet stored: origin requests saved", registry=None)
        self.fleet_followed = Counter("fallthrough_fleet_fills_followed", "Cold misses served while another node "
                                      "of the fleet fetched the object: fills coalesced across nodes", registry=None)
        self.fleet_redis_up = Gauge("fallthrough_fleet_redis_up", "1 while Redis answers the fleet's calls "
                                    "(every process of the node), else 0", registry=None, multiprocess_mode="livemin")
        self.fleet_shared_up = Gauge("fallthrough_fleet_shared_tier_up", "1 while the shared tier answers the "
                                     "fleet's records, else 0", registry=None, multiprocess_mode="livemin")
        self.fleet_process_up = Gauge("fallthrough_fleet_process_up", "1 while the node's fleet process reports "
                                      "(follows purges, beats, serves chunks), else 0", registry=None,
                                      multiprocess_mode="livemin")
        self.fleet_purge_lag = Gauge("fallthrough_fleet_purge_lag_seconds", "Seconds from another node's issuing "
                                     "of the last purge applied here to its applying", registry=None,
                                     multiprocess_mode="livemax")
        self.fleet_purges_applied = Gauge("fallthrough_fleet_purges_applied", "Purges from other nodes applied "
                                          "here since the fleet process started", registry=None,
                                          multiprocess_mode="livemax")
        self.fleet_peer_up = Gauge("fallthrough_fleet_peer_up", "1 while a peer's chunk service answers soundly, "
                                   "0 while it is set aside", ("peer",), registry=None, multiprocess_mode="livemin")
        self.fleet_tapped = Counter("fallthrough_fleet_tapped_bytes", "Bytes of other nodes' fills read through "
                                    "their taps as they arrived (before their chunks were stored)", registry=None)
        self.fleet_taken_over = Counter("fallthrough_fleet_fills_taken_over", "Fills this node resumed after the "
                                        "node fetching them went silent", registry=None)
        self.purges = Counter("fallthrough_purges", "Purges through the admin API, by kind", ("kind",),
                              registry=None)
        self.transform_runs = Counter("fallthrough_transforms", "Transforms run, by kind and status",
                                      ("kind", "status"), registry=None)
        self.transform_duration = Histogram("fallthrough_transform_duration_seconds", "Time a transform took, "
                                            "its output's end included", ("kind",), buckets=SECONDS, registry=None)
        self.transform_refused = Counter("fallthrough_transforms_refused", "Transforms refused: the pool and its "
                                         "queue were full", registry=None)
        self.resident = Gauge("fallthrough_process_resident_memory_bytes", "Resident memory of a server process",
                              fronts, registry=None, multiprocess_mode="liveall")
        self.started = Gauge("fallthrough_process_start_time_seconds", "When a server process started (Unix time)",
                             fronts, registry=None, multiprocess_mode="liveall")
        self.started.labels(front).set(time.time())

    # -- counting (every request pays for these: plain additions) ----------------------

    def note(self, front: str, status: int, size: int, word: str, source: str | None, collapsed: bool) -> None:
        """One answered request that did not take the fresh-hit path.

        `word`: its X-Cache; none means it never was a cache transaction (an error page,
        an OPTIONS, an S3 listing). `source`: where a stored body came from, when the
        edge said (memory), else the store for what was stored and the origin for the rest."""
        cache = CACHE_WORDS.get(word)
        if cache is None:
            self._requests[front, "error" if status == 0 or status >= 400 else "pass"] += 1
            return
        self._requests[front, cache] += 1
        if source is None:
            source = "origin" if cache in ("miss", "pass") else "store"
        self._bytes[front, source] += size
        if collapsed:
            self._coalesced[front] += 1

    def purged(self, kind: str) -> None:
        self._purges[kind] += 1

    def origin(self, mount: str) -> Timings:
        return self.origins.setdefault(mount, Timings())

    def transform(self, kind: str) -> Timings:
        return self.transforms.setdefault(kind, Timings())

    # -- folding (once a second) --------------------------------------------------------

    def _mounts(self) -> Iterator[Mount]:
        for mount in self.router.mounts:
            yield mount
            if mount.derived is not mount:
                yield mount.derived

    def _grow(self, counter: Counter, labels: tuple[str, ...], total: float) -> None:
        """Add to `counter` what a cumulative figure kept elsewhere gained since the last fold."""
        key = (str(id(counter)), *labels)
        gained = total - self._seen.get(key, 0.0)
        self._seen[key] = total
        if gained > 0:
            (counter.labels(*labels) if labels else counter).inc(gained)

    def fold(self) -> None:
        """The tallies into the prometheus values; the gauges sampled now."""
        for mount in self._mounts():
            if mount.hits:
                self._requests[mount.front, "hit"] += mount.hits
                self._bytes[mount.front, "memory"] += mount.hit_bytes
                mount.hits = mount.hit_bytes = 0
        for (front, cache), n in self._requests.items():
            self.requests.labels(front, cache).inc(n)
        for (front, source), n in self._bytes.items():
            self.response_bytes.labels(front, source).inc(n)
        for front, n in self._coalesced.items():
            self.coalesced.labels(front).inc(n)
        for kind, n in self._purges.items():
            self.purges.labels(kind).inc(n)
        self._requests.clear()
        self._bytes.clear()
        self._coalesced.clear()
        self._purges.clear()
        self._fold_timings()
        cache = self.cache
        self.fills.set(len(cache.fills))
        self.in_flight.labels(self.front).set(self._in_flight())
        self.index_entries.set(len(cache.index))
        self.index_bytes.set(cache.index.bytes)
        self.memory_bytes.labels(self.front).set(cache.bodies.bytes)
        rss = resident_bytes()
        if rss is not None:
            self.resident.labels(self.front).set(rss)
        if self._refused is not None:
            self._grow(self.transform_refused, (), self._refused())
        if cache.fleet is not None:
            self._grow(self.fleet_found, (), cache.fleet.found)
        if cache.fleet_fills is not None:
            self._fold_fleet()
        self._fold_store()

    def _fold_fleet(self) -> None:
        cache = self.cache
        fills = cache.fleet_fills
        self._grow(self.fleet_followed, (), fills.followed)  # type: ignore[union-attr]
        self._grow(self.fleet_taken_over, (), fills.taken_over)  # type: ignore[union-attr]
        self._grow(self.fleet_tapped, (), fills.tapped)  # type: ignore[union-attr]
        status = nodes.read_local_status(self._fleet_status)
        self.fleet_process_up.set(status is not None)
        purges = status.get("purges") if status is not None else None
        if isinstance(purges, dict):
            self.fleet_purge_lag.set(float(purges.get("lag", 0.0)))
            self.fleet_purges_applied.set(float(purges.get("applied", 0)))
        self.fleet_redis_up.set(bool(getattr(fills, "up", True)) and (status is None or status.get("redis") is not False))
        shared = getattr(cache.fleet, "up", True)
        self.fleet_shared_up.set(bool(shared) and (status is None or status.get("shared") is not False))
        peers = {}  # HOST:PORT → up: the listed peers' tiers, and those the heartbeats found
        for tier in cache.store.stack.tiers:
            found = getattr(tier, "peers", None)
            for peer in found.values() if isinstance(found, dict) else [tier]:
                if getattr(peer, "peer", False) and hasattr(peer, "address"):
                    peers[peer.address] = not peer.is_down
        for gone in self._peers_shown - peers.keys():  # left the fleet: not answering (a series stays)
            self.fleet_peer_up.labels(gone).set(0)
        for address, up in peers.items():
            self.fleet_peer_up.labels(address).set(up)
        self._peers_shown |= set(peers)

    def _fold_timings(self) -> None:
        for mount, timings in self.origins.items():
            for status, n in timings.statuses.items():
                self.origin_requests.labels(mount, status).inc(n)
            _observe(self.origin_first_byte, mount, timings.first_bytes)
            _observe(self.origin_duration, mount, timings.durations)
            if timings.bytes:
                self.origin_bytes.labels(mount).inc(timings.bytes)
        for kind, timings in self.transforms.items():
            for status, n in timings.statuses.items():
                self.transform_runs.labels(kind, status).inc(n)
            _observe(self.transform_duration, kind, timings.durations)
        self.origins.clear()
        self.transforms.clear()

    def _fold_store(self) -> None:
        stack = self.cache.store.stack
        stats = stack.stats
        seen: set[str] = set()
        housekeeper = getattr(self.cache, "housekeeper", None)
        tiers = [t for t in stack.tiers if not getattr(t, "peer", False)]  # the config's tiers, as labelled
        for i, (tier, labels) in enumerate(zip(tiers, self._tiers, strict=False)):
            if tier.name in seen:  # the stack's figures are by name: one tier gets them
                continue
            seen.add(tier.name)
            self._grow(self.store_read_bytes, labels, stats[f"read_bytes:{tier.name}"])
            self._grow(self.store_failures, labels, stats[f"verification_failures:{tier.name}"])
            if isinstance(tier, BudgetTier):
                self.store_bytes.labels(*labels).set(tier.used)
                self.store_max_bytes.labels(*labels).set(tier.max_bytes)
                self.store_objects.labels(*labels).set(tier.blob_count)
                self._grow(self.store_evictions, labels, tier.evicted_blobs)
            elif i == len(tiers) - 1 and housekeeper is not None and getattr(housekeeper, "active", False):
                # The farthest tier's books are the node's, kept by its one housekeeper:
                # that process alone reports them (every blob the index references is there).
                self.store_bytes.labels(*labels).set(housekeeper.used)
                if housekeeper.max_bytes is not None:
                    self.store_max_bytes.labels(*labels).set(housekeeper.max_bytes)
                self.store_objects.labels(*labels).set(len(self.cache.index.refs))
                self._grow(self.store_evictions, labels, housekeeper.evicted)

    # -- scraping -----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """Every process's values as last folded (dead processes' files folded away first).
        Reads files only: it may run in a thread, beside the event loop that folds."""
        tidy(self.directory)
        return exposition(self.directory)

    def scrape(self) -> bytes:
        """Every process's values, this one's folded first."""
        self.fold()
        return self.exposition()


def _observe(histogram: Histogram, label: str, values: list[float]) -> None:
    if values:
        child = histogram.labels(label)
        for value in values:
            child.observe(value)
