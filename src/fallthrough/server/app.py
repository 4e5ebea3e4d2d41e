"""The application each server worker runs, built from the configuration.

The server imports `build` in every worker process (the configuration travels in the
FALLTHROUGH_CONFIG variable: a file's path, or empty for the embedded default), so
each worker opens the store and the index itself; they share them through the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time

from ..cache.cache import Cache, spool_dir
from ..cache.housekeeper import Housekeeper
from ..cache.index import Index, journal_path
from ..fleet.entries import SharedEntries
from ..castore.peers import PeerSet
from ..fleet.fills import RedisFills
from ..fleet.peers import find_peers
from ..fleet.taps import TapPoint, TapReader, Taps
from ..fleet.link import FleetLink, redis_client, shared_records
from ..cache.nodelock import NodeLocks
from ..cache.uses import UseLog, uses_dir
from ..cache.writes import BudgetGate, WriteHorizon, WritesInFlight, writes_dir
from ..config import Settings, default_settings, has_transforms, load
from ..limits import worker_limits
from ..processes import run_dir
from ..transforms.setup import Transforms
from .access_log import FLUSH_EVERY, AccessLog, cache_word
from .admin import Admin
from .edge import Edge
from .fronts import front_of
from .health import HEARTBEAT_EVERY, Heartbeat, node_health, readiness, workers_dir
from .measured import measure_origins
from .metrics import Metrics, resident_bytes
from .metrics_files import metrics_dir, tidy
from .mirror import Mirror
from .mounts import build_router
from .pipes import Pipes
from .sources import EdgeSources
from .s3.api import S3Api

log = logging.getLogger(__name__)

CONFIG_VARIABLE = "FALLTHROUGH_CONFIG"
# A busy worker says so at most this often in its log.
BUSY_LOG_EVERY = 10.0
BUSY_BODY = b"busy: too many requests at once here, retry in a moment\n"
BUSY_HEADERS = [("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store"),
                ("retry-after", "1"), ("connection", "close"), ("content-length", str(len(BUSY_BODY)))]


def settings_from_environment() -> Settings:
    path = os.environ.get(CONFIG_VARIABLE)
    return load(path) if path else default_settings()


def index_path(settings: Settings) -> str:
    return journal_path(settings.store.path)


class App:
    """An RSGI application: `__rsgi__` per request; the cache's tasks start with the loop."""

    def __init__(self, settings: Settings, front: str = "edge") -> None:
        self.settings = settings
        fleet = settings.fleet
        peers = tuple(p for p in fleet.peers if p != fleet.listen) if fleet is not None else ()  # one config for all
        store, budget = settings.store.open_for_node(settings.processes, peers)
        locks = NodeLocks(os.path.join(os.path.abspath(settings.store.path), "locks")) \
            if settings.processes > 1 else None
        index = Index(index_path(settings))
        self.cache = Cache(store, index, spool_dir(settings.store.path), settings.store.memory_bytes, locks)
        self._peers: PeerSet | None = None
        self._taps: Taps | None = None
        self._finding_peers: asyncio.Task[None] | None = None
        self._opening_tap: asyncio.Task[None] | None = None
        if fleet is not None:
            self.cache.fleet = SharedEntries(shared_records(settings.store), store)
            self._taps = Taps(TapPoint(run_dir(settings.store.path)), TapReader()) if fleet.tap else None
            self.cache.fleet_fills = RedisFills(fleet.node, redis_client(fleet.redis), self._taps)
            # The peers the heartbeats name, read after the listed ones, before the shared tier.
            self._peers = PeerSet()
            store.stack.tiers.insert(len(store.stack.tiers) - 1, self._peers)
        run = run_dir(settings.store.path)
        self.cache.uses = UseLog(uses_dir(run))
        self.cache.writes = WritesInFlight(WriteHorizon(writes_dir(run)), BudgetGate(run))
        self.cache.housekeeper = Housekeeper(index, store, run, budget, settings.store.gc_grace)
        self.sources = EdgeSources(self.cache.spool_dir)
        self.transforms = Transforms(settings.images, self.sources) if has_transforms(settings) else None
        self.cache.derives = self.transforms is not None
        self.router = build_router(settings, self.transforms)
        self.front = "s3" if front == "s3" and settings.s3 is not None else "edge"
        self.in_flight = 0
        self.metrics = self._metrics(settings)
        self.mirror = Mirror(self.cache, self.router)
        stats = self.transforms.stats if self.transforms is not None else None
        self.heartbeat = Heartbeat(workers_dir(settings.store.path), self.front, self._status)
        self.heartbeat.publish()  # listed by health from the start, before any request
        expected = {"edge": settings.server.workers, **({"s3": settings.server.workers} if settings.s3 else {})}
        admin = Admin(self.cache, settings.server.admin_token, self._key_of, stats, metrics=self.metrics,
                      metrics_public=settings.metrics.public, metrics_elsewhere=settings.metrics.listen is not None,
                      node=lambda: node_health(self.heartbeat, expected),
                      ready=lambda: readiness(self.cache.spool_dir, index_path(settings)),
                      fleet=FleetLink(settings.fleet, settings.store) if settings.fleet is not None else None)
        self.edge = Edge(self.cache, self.router, admin)
        # The pipes live under the store's tmp directory, named by pid, so that the next
        # start removes a killed worker's (serve.py) instead of leaving them in /tmp.
        self.edge.pipes = Pipes(self.cache.spool_dir)
        self.max_requests = worker_limits(settings.server).requests
        self._refused = 0
        self._refused_logged = 0.0
        self.sources.bind(self.edge)
        uploads = os.path.join(os.path.abspath(settings.store.path), "uploads")
        self.s3 = S3Api(self.edge, self.router, settings.s3, uploads, self.mirror) \
            if front == "s3" and settings.s3 is not None else None
        self._started = False
        self.access = AccessLog(settings.log) if settings.log.access else None
        if self.access is None:  # a log rotation's SIGUSR1 must not end the worker
            with contextlib.suppress(ValueError):  # not the main thread: no signals to handle
                signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        self._flusher: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None

    def _metrics(self, settings: Settings) -> Metrics | None:
        """The metrics of this process, its mounts' origins measured; None when they are off."""
        if not settings.metrics.enabled:
            return None
        pool = self.transforms.pool if self.transforms is not None else None
        metrics = Metrics(metrics_dir(settings.store.path), self.front, settings, self.cache, self.router,
                          lambda: self.in_flight, (lambda: pool.refused) if pool is not None else None)
        measure_origins(self.router, metrics)
        return metrics

    def _status(self) -> dict[str, int | None]:
        """This process's figures for the node's health (server/health.py)."""
        cache = self.cache
        return {"entries": len(cache.index), "fills": len(cache.fills), "in_flight": self.in_flight,
                "origin_requests": cache.origin_requests, "rss_bytes": resident_bytes()}

    async def _report_forever(self) -> None:
        """Once a second: the metrics folded, the heartbeat written; now and then the
        files of dead processes folded away (in a thread: that one touches the disk)."""
        beats = 0
        while True:
            try:
                if self.metrics is not None:
                    self.metrics.fold()
                    if beats % 10 == 0:
                        await asyncio.to_thread(tidy, self.metrics.directory)
                self.heartbeat.publish()
            except Exception:  # noqa: BLE001 - the reporting must outlive one bad pass
                log.exception("metrics or heartbeat failed")
            beats += 1
            await asyncio.sleep(HEARTBEAT_EVERY)

    def _key_of(self, path: str, query: str) -> tuple[str, bool] | None:
        routed = self.router.route(path)
        if routed is None:
            return None
        mount, rest = routed
        if mount.transform_only:
            return mount.key(rest, ""), True
        return mount.key(rest, query), False

    async def __rsgi__(self, scope, proto) -> None:  # noqa: ANN001
        if not self._started:
            self._started = True
            self.cache.start_background()
            self._start_fleet()
            if self.access is not None:
                self._flusher = asyncio.create_task(self._flush_forever(self.access))
            if self._reporter is None:  # no __rsgi_init__ (an application run by hand)
                self._reporter = asyncio.create_task(self._report_forever())
        access = self.access
        started = time.monotonic() if access is not None else 0.0
        # The fresh small hit is answered here, without another coroutine, and is never
        # refused: it costs no more than the refusal would.
        if self.s3 is None:
            if self.edge.fast_hit(scope, proto, access, started) is not None:
                return
        metrics = self.metrics
        if access is not None or metrics is not None:
            proto = Recorder(proto)
        if self.in_flight >= self.max_requests:
            self._busy(proto)
        else:
            self.in_flight += 1
            try:
                if self.s3 is not None:
                    await self.s3.handle(scope, proto)
                else:
                    await self.edge.handle(scope, proto)
            finally:
                self.in_flight -= 1
        if access is not None:
            # No response at all: the client went away first (nginx's 499).
            access.note(scope, proto.status or 499, proto.size, started, proto.cache, proto.upstream)
        if metrics is not None and not scope.path.startswith(Admin.PREFIX):
            metrics.note(self.front if self.s3 is not None else front_of(self.router, scope), proto.status,
                         proto.size, proto.cache, proto.source, proto.collapsed)

    @staticmethod
    async def _flush_forever(access: AccessLog) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            access.flush()

    def _busy(self, proto) -> None:  # noqa: ANN001
        """Past max_requests a request is answered at once, and its connection closed,
        rather than queued behind the others: the client may retry, here or elsewhere."""
        proto.response_bytes(503, BUSY_HEADERS, BUSY_BODY)
        self._refused += 1
        now = time.monotonic()
        if now - self._refused_logged >= BUSY_LOG_EVERY:
            log.warning("busy: %d request(s) answered 503, %d in flight (server.max_requests = %d)",
                        self._refused, self.in_flight, self.max_requests)
            self._refused, self._refused_logged = 0, now

    def __rsgi_init__(self, loop) -> None:  # noqa: ANN001
        # Started with the worker, not with its first request: health lists it either way.
        self._reporter = loop.create_task(self._report_forever())
        # The same for the cache's tasks: a worker that takes no request still stands for
        # election as the node's housekeeper, and takes over when the holder dies.
        loop.call_soon(self.cache.start_background)
        loop.call_soon(self._start_fleet)

    def _start_fleet(self) -> None:
        fleet, fills = self.settings.fleet, self.cache.fleet_fills
        if self._peers is not None and self._finding_peers is None and fleet is not None \
                and isinstance(fills, RedisFills):
            listed = {*fleet.peers, fleet.listen}
            reader = self._taps.reader if self._taps is not None else None
            # This node's own too: another worker here may lead a fill a worker follows.
            found = (lambda others: reader.found({**others, fleet.node: fleet.listen})) if reader is not None else None
            self._finding_peers = asyncio.get_running_loop().create_task(
                find_peers(fills.redis, fleet.node, listed, self._peers, found))
        if self._taps is not None and self._opening_tap is None:
            self._opening_tap = asyncio.get_running_loop().create_task(self._taps.point.start())

    def __rsgi_del__(self, loop) -> None:  # noqa: ANN001
        try:
            loop.run_until_complete(self._close())
        except RuntimeError:  # the loop is already closed or still running: the OS cleans up
            pass

    async def _close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        if self._finding_peers is not None:
            self._finding_peers.cancel()
        if self._taps is not None:
            await self._taps.point.close()
            await self._taps.reader.close()
        if self._reporter is not None:
            self._reporter.cancel()
        if self.metrics is not None:
            self.metrics.fold()  # what this worker counted in its last second
        self.heartbeat.remove()  # a worker that ends on purpose is not a dead one
        if self.access is not None:
            self.access.close()
        await self.cache.close()
        await self.mirror.close()
        await self.router.close()
        if self.transforms is not None:
            self.transforms.close()
        self.edge.pipes.remove()


class Recorder:
    """A request's protocol object, noting what the response was for the access log and
    the metrics (the body size as the response declares it: a body sent through a pipe
    is not counted by us byte by byte)."""

    __slots__ = ("_proto", "status", "size", "cache", "source", "collapsed", "upstream")

    def __init__(self, proto) -> None:  # noqa: ANN001
        self._proto = proto
        self.status, self.size, self.cache = 0, 0, ""
        self.source: str | None = None  # where the body came from, when the edge says (metrics)
        self.upstream: float | None = None  # seconds spent on the origin, when one was asked (access log)
        self.collapsed = False  # answered from a fill another request led (Cache-Status)

    def note_upstream(self, seconds: float) -> None:
        self.upstream = seconds if self.upstream is None else self.upstream + seconds

    def note_source(self, source: str) -> None:
        self.source = source

    def _note(self, status: int, headers: list[tuple[str, str]], size: int | None) -> None:
        self.status = status
        self.cache = cache_word(headers)
        self.collapsed = any(k.lower() == "cache-status" and "; collapsed" in v for k, v in headers)
        if size is None:
            declared = next((v for k, v in headers if k.lower() == "content-length"), "0")
            size = int(declared) if declared.isdigit() else 0
        self.size = size

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._note(status, headers, len(body))
        self._proto.response_bytes(status, headers, body)

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self._note(status, headers, 0)
        self._proto.response_empty(status, headers)

    def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
        self._note(status, headers, None)
        self._proto.response_file(status, headers, path)

    def response_stream(self, status: int, headers: list[tuple[str, str]]):  # noqa: ANN201 - the server's transport
        self._note(status, headers, None)
        return self._proto.response_stream(status, headers)

    def __aiter__(self):  # noqa: ANN204 - the request body, as the server gives it
        return self._proto.__aiter__()

    def __call__(self):  # noqa: ANN204
        return self._proto()

    def __getattr__(self, name: str):  # noqa: ANN204 - anything else the server offers
        return getattr(self._proto, name)


def _logging(settings: Settings) -> Settings:
    logging.basicConfig(level=getattr(logging, settings.log.level.upper()),
                        format="fallthrough: %(levelname)s: %(message)s")
    return settings


def build() -> App:
    return App(_logging(settings_from_environment()))


def build_s3() -> App:
    """The S3 API's workers: the same store, index and mounts, another front."""
    return App(_logging(settings_from_environment()), front="s3")
