"""The edge: one request, read top to bottom.

    receive → route (mount) → key (+ variant) → lookup
        hit, fresh            → deliver                                  X-Cache: HIT
        hit, stale, in swr    → deliver, revalidate in the background    X-Cache: STALE
        hit, stale            → revalidate (a fill with validators)
                                  304 → deliver the stored body          X-Cache: REVALIDATED
                                  new body → stream it                    X-Cache: MISS
                                  origin ✗, in stale-if-error → deliver   X-Cache: STALE
        miss                  → join or lead the fill (single-flight)   X-Cache: MISS
    unsafe methods → pass through to the origin; a success invalidates the URL

Delivery (Range, conditional, HEAD) is delivery.py's, the same for every source.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from urllib.parse import unquote, urlsplit

from multidict import CIMultiDict

from ..cache.bodies import SMALL_BODY
from ..cache.cache import Cache, LookAgain, client_headers, fresh_for
from ..cache.entry import Entry
from ..cache import failure_log
from ..cache.fill import FileSpan, Fill, FillFailed, FillHead
from ..cache.headers import parse_http_date
from ..cache.parts import requested
from ..cache.freshness import (
    HOP_BY_HOP,
    Freshness,
    classify,
    invalidates,
    may_serve_stale_on_error,
    only_if_cached,
    reusable_post,
    vary_key,
)
from ..castore import CastoreError
from ..cache.origin import BadObjectPath, OriginError, OriginResponse, OriginTimeout, failure_reason
from ..transforms.derived import BadTransform
from . import cache_status
from .access_log import AccessLog
from .admin import Admin
from .delivery import WHOLE_UP_TO, BodyBroken, NotStarted, Representation, deliver, send_stream
from .mounts import Mount, Router
from .pipes import ClientGone, Pipes
from .ranges import if_range_allows, parse_range
from .requests import BadRequest, check_request, plainly_fine

log = logging.getLogger(__name__)

# Methods the edge does not forward: CONNECT asks for a tunnel, not a resource.
NOT_PASSED = frozenset({"CONNECT"})
# A Range that starts this far past what a fill has received asks the origin for itself.
FAR_AHEAD = 4 * 1024 * 1024
# How much of a spool one splice may move to a client.
SPLICE_SPAN = 1024 * 1024
# A request carrying any of these needs more than a plain fresh hit.
SLOW_PATH_HEADERS = ("range", "if-none-match", "if-modified-since", "if-match", "if-unmodified-since",
                     "cache-control", "pragma")
# Request headers the edge never forwards to an origin: it sets its own validators,
# fetches whole bodies (Range is served from the store) and asks for identity bodies.
NOT_FORWARDED = HOP_BY_HOP | {
    "host", "range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
    "accept-encoding", "content-length", "expect",
}


def text(proto, status: int, message: str, extra: list[tuple[str, str]] | None = None) -> None:  # noqa: ANN001
    headers = [("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store")] + (extra or [])
    proto.response_bytes(status, headers, (message + "\n").encode())


def upstream_failure(exc: BaseException) -> tuple[int, str]:
    """The status and the words a client gets for a failure behind us: 504 for an origin
    that went quiet, else 502, and never the origin's address or a library's error text
    (those go to the log)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OriginError):
            return (504 if isinstance(cause, OriginTimeout) else 502), f"upstream failed: {cause.public}"
        if isinstance(cause, CastoreError):
            return 502, "upstream failed: the cache's store could not give the body"
        cause = cause.__cause__
    return 502, "upstream failed: the origin failed"


# Derivations remembered per mount: a hit of a variant should cost what a plain hit costs.
DERIVATIONS_KEPT = 8192


def derived(mount: Mount, rest: str, query: str, headers: Mapping[str, str]) -> tuple[Mount, str, Mapping[str, str]]:
    """The mount, query and headers a request is served with once its mount's deriver has
    seen it: a transform's twin and its canonical query, with Accept as negotiated (so
    every client that negotiated the same format shares one cache entry). A deriver
    reads only the path, the query, Accept and Host, so its answers are remembered by
    those (refusals are not: they raise)."""
    memo = mount.derivations
    seen = (rest, query, headers.get("accept"), headers.get("host"))
    derivation = memo.get(seen, memo)
    if derivation is memo:
        derivation = mount.deriver.derive(rest, query, headers)  # type: ignore[union-attr]
        if len(memo) >= DERIVATIONS_KEPT:
            memo.clear()
        memo[seen] = derivation
    if derivation is None:
        return mount, query, headers
    return mount.derived, derivation.query, Negotiated(headers, derivation.accept)  # type: ignore[union-attr]


class Negotiated(Mapping[str, str]):
    """A request's headers with Accept replaced by the negotiated media type (or gone)."""

    __slots__ = ("_headers", "_accept")

    def __init__(self, headers: Mapping[str, str], accept: str | None) -> None:
        self._headers = headers
        self._accept = accept

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if name == "accept":
            return self._accept if self._accept is not None else default
        return self._headers.get(name, default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return self._accept is not None if name == "accept" else name in self._headers

    def __iter__(self) -> Iterator[str]:
        for name in self._headers.keys():
            if name.lower() != "accept":
                yield name
        if self._accept is not None:
            yield "accept"

    def __len__(self) -> int:
        return sum(1 for _ in self)


def note_source(proto, source: str) -> None:  # noqa: ANN001
    """Tell the protocol object where a response's body came from, if it records that
    for the metrics (app.Recorder, and the S3 API's reply that wraps it)."""
    note = getattr(proto, "note_source", None)
    if note is not None:
        note(source)


def note_upstream(proto, seconds: float | None) -> None:  # noqa: ANN001
    """Tell the protocol object how long the request spent on its origin, if it records
    that for the access log (app.Recorder, and the S3 API's reply that wraps it)."""
    note = getattr(proto, "note_upstream", None)
    if note is not None and seconds is not None:
        note(seconds)


def log_failure(key: str, origin: str | None, exc: BaseException, status: int | None = None) -> None:
    """A failure behind a request, in the node's log: one line with the key, the origin
    and the reason; `status`, what the client was answered. A failure that came out of a
    fill was logged by the fill, once for all its readers: then only at info."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, FillFailed):
            log.info("%s: answered %s: the fill failed (logged above)", key, status or "-")
            return
        if isinstance(cause, CastoreError):
            failure_log.failed(key, None, f"the store failed: {failure_reason(cause)}", status)
            return
        cause = cause.__cause__
    failure_log.failed(key, origin, failure_reason(_innermost(exc)), status)


def forwarded(request_headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in request_headers.items() if k.lower() not in NOT_FORWARDED}


class Edge:
    def __init__(self, cache: Cache, router: Router, admin: Admin) -> None:
        self.cache = cache
        self.router = router
        self.admin = admin
        self.pipes = Pipes()
        self._telling: set[asyncio.Task[object]] = set()  # invalidations on their way to the fleet

    def invalidate(self, keys: list[str], why: str, at: float | None = None) -> None:
        """What these URLs hold goes: here at once and, in a fleet, on every node (told in
        the background, as a purge is: the client's answer does not wait on the fleet)."""
        for key in keys:
            self.cache.purge_url(key, why=why, at=at)
        fleet = self.admin.fleet
        if fleet is not None and keys:
            task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
                fleet.purge([("url", key) for key in keys], False, 0.0))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    async def handle(self, scope, proto) -> None:  # noqa: ANN001
        try:
            await self._handle(scope, proto)
        except BadRequest as exc:
            text(proto, exc.status, exc.message)
        except BadObjectPath as exc:
            text(proto, 400, str(exc))
        except BadTransform as exc:
            text(proto, exc.status, exc.message, [("access-control-allow-origin", "*")])
        except ClientGone as exc:
            log.info("%s %s: %s", scope.method, scope.path, exc)
        except BodyBroken as exc:
            # The response has begun and its body ends short of the promised
            # Content-Length: the server cuts the connection, which the client sees as a
            # failed transfer. Logged here as what it is, not as the server's error.
            key, origin = self._where(scope)
            log_failure(key, origin, exc)
        except (OriginError, CastoreError, NotStarted) as exc:
            status, words = upstream_failure(exc)
            key, origin = self._where(scope)
            log_failure(key, origin, exc, status)
            self._fail(proto, status, words)
        except Exception:
            log.exception("%s %s failed", scope.method, scope.path)
            self._fail(proto, 500, "internal error (logged on the server)")

    def _where(self, scope) -> tuple[str, str | None]:  # noqa: ANN001
        """The key and the origin of a request that failed, for the node's log."""
        routed = self.router.route(scope.path)
        if routed is None:
            return scope.path, None
        mount, rest = routed
        query = scope.query_string
        if mount.deriver is not None:
            try:
                mount, query, _ = derived(mount, rest, query, scope.headers)
            except BadTransform:
                pass
        return mount.key(rest, query), mount.origin.name

    @staticmethod
    def _fail(proto, status: int, message: str) -> None:  # noqa: ANN001
        try:
            text(proto, status, message)
        except RuntimeError:  # the response had begun: its short body makes the server cut it
            log.warning("the response had begun; it is cut short instead")

    def fast_hit(self, scope, proto, log: AccessLog | None = None, started: float = 0.0) -> Entry | None:  # noqa: ANN001
        """The hot path: a fresh hit, small body in memory, no conditional or Range, no
        request Cache-Control. No header parsing, no allocation beyond the header list,
        no await. The entry served, or None: anything else takes the full path below.
        With an access log, the hit is noted with the fields read here (`started`: when
        the request came), so that no field is read twice."""
        method = scope.method
        if method != "GET" and method != "HEAD":
            return None
        path = scope.path
        if not plainly_fine(path) or path.startswith(Admin.PREFIX):
            return None
        routed = self.router.route(path)
        if routed is None:
            return None
        headers = asked = scope.headers
        for name in SLOW_PATH_HEADERS:
            if name in headers:
                return None
        mount, rest = routed
        query = asked_query = scope.query_string
        if mount.deriver is not None:
            try:
                mount, query, headers = derived(mount, rest, query, headers)
            except BadTransform:
                return None
        entry = self.cache.lookup(mount.key(rest, query), headers)
        if entry is None:
            return None
        age = entry.initial_age + (time.time() - entry.response_time)  # Entry.age_at, inlined
        if age >= entry.lifetime:
            return None
        body = self.cache.bodies.get(entry.digest)
        if body is None:
            return None
        second = int(age)
        hot = entry.hot
        if hot is None or hot[0] != second:
            wire = entry.wire
            if wire is None:
                wire = entry.wire = self._wire(entry, mount)
            hot = entry.hot = (second, [*wire, ("age", str(second)), ("x-cache", "HIT"),
                                        ("cache-status", cache_status.hit(entry.lifetime - age))])
        out = hot[1]
        if method == "HEAD":
            proto.response_empty(entry.status, out)
        else:
            proto.response_bytes(entry.status, out, body)
            mount.hit_bytes += len(body)
        mount.hits += 1  # for the metrics (server/metrics.py folds these in once a second)
        if log is not None:
            log.note_hit(scope, method, path, asked_query, asked, entry.status, entry.size, started)
        return entry

    @staticmethod
    def _wire(entry: Entry, mount: Mount) -> list[tuple[str, str]]:
        accept = [("accept-ranges", "bytes")] if entry.status == 200 else []
        return [*client_headers(entry.headers, mount.policy.hidden_fields), *accept, ("content-length", str(entry.size))]

    async def _handle(self, scope, proto) -> None:  # noqa: ANN001
        method = scope.method
        headers = scope.headers
        check_request(scope)
        if scope.path.startswith(Admin.PREFIX):
            await self.admin.handle(scope, proto)
            return
        routed = self.router.route(scope.path)
        if routed is None:
            text(proto, 404, "no mount serves this path")
            return
        mount, rest = routed
        query = scope.query_string
        if mount.deriver is not None and (method in ("GET", "HEAD") or mount.transform_only):
            mount, query, headers = derived(mount, rest, query, headers)
        key = mount.key(rest, query)
        if method in ("GET", "HEAD"):
            await self._get(proto, method, headers, mount, key, rest, query)
        elif method == "OPTIONS":
            proto.response_empty(204, [("allow", "GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH")])
        elif method in NOT_PASSED:
            text(proto, 405, f"method {method} not allowed", [("allow", "GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH")])
        else:
            # Every other method, extension methods included (RFC 9110 §9.1), goes to the
            # origin as it is; a success invalidates what it names (RFC 9111 §4.4).
            await self._pass(proto, scope, mount, key, rest)

    # -- GET and HEAD ---------------------------------------------------------

    async def serve_object(self, proto, method: str, headers, mount: Mount, rest: str,  # noqa: ANN001
                           query: str = "") -> None:
        """GET or HEAD of one object of a mount, by path (and a canonical query, for a
        transform's own variants), for another front (the S3 API, the transforms' sources):
        the same cache entries, fills and delivery as the edge's own requests."""
        await self._get(proto, method, headers, mount, mount.key(rest, query), rest, query)

    async def _get(self, proto, method: str, headers, mount: Mount, key: str, rest: str, query: str) -> None:  # noqa: ANN001
        cache = self.cache
        entry = cache.lookup(key, headers)
        if entry is not None:
            age = entry.age_at(time.time())
            if age < entry.lifetime and "cache-control" not in headers and "pragma" not in headers:
                state = Freshness.FRESH  # the hot path: no header parsing
            else:
                state = classify(response_headers=entry.headers, request_headers=headers, age=age,
                                 lifetime=entry.lifetime, policy=mount.policy)
            if state is Freshness.FRESH:
                if await self._deliver_entry(proto, mount, method, headers, entry, "HIT", age):
                    return
            elif state is Freshness.STALE_SERVABLE:
                self._fill(mount, key, rest, query, headers, entry)  # revalidate in the background
                if await self._deliver_entry(proto, mount, method, headers, entry, "STALE", age):
                    return
            else:
                # RFC 9211: "request" when only the request's own directives refused it.
                reason = "request" if age < entry.lifetime else "stale"
                await self._revalidate(proto, method, headers, mount, key, rest, query, entry, age, reason)
                return
        elif method == "GET" and "range" in headers:
            if await self._partial(proto, mount, headers, key, rest, query):
                return
        if only_if_cached(headers):
            failure_log.failed(key, None, "not in the cache (only-if-cached)", 504)
            text(proto, 504, "not in the cache (only-if-cached)")
            return
        await self._miss(proto, method, headers, mount, key, rest, query)

    async def _partial(self, proto, mount: Mount, headers, key: str, rest: str, query: str) -> bool:  # noqa: ANN001
        """A Range request for an object not held whole: served from a stored part that
        holds all of the range; else fetched as a part of its own and stored
        (cache/parts.py): a seek, a file's tail or head, a piece of a large object. False:
        the whole object's path serves it: for `bytes=0-`, which asks for all of it
        anyway (a player starting a video), or when a fill of it is under way."""
        value = headers.get("range")
        asked = requested(value)
        if asked is None:
            return False
        cache = self.cache
        variant = cache.variant_of(key, headers)
        now = time.time()
        for part, (start, end, total) in cache.parts(key, variant):
            ranges = parse_range(value, total)
            if not isinstance(ranges, list) or not start <= ranges[0][0] or ranges[0][1] > end:
                continue
            if not fresh_for(part, headers, mount.policy, now):
                continue
            if not if_range_allows(headers.get("if-range"), part.etag,
                                   parse_http_date(part.headers.get("last-modified"))):
                return False  # the client wants the whole object unless it is this one
            await self._deliver_part(proto, mount, headers, part, (start, end, total), part.age_at(now))
            return True
        if only_if_cached(headers) or asked == (0, None) or (key, variant) in cache.fills:
            return False
        fill = cache.part_fill(key, variant, value.strip(" \t"), mount.origin, mount.origin_path(rest),
                               mount.origin_query(query), forwarded(headers), headers, mount.policy,
                               watchdog=mount.watchdog)
        await self._follow(proto, "GET", headers, mount, key, rest, query, fill, None, 0.0, "partial")
        return True

    async def _deliver_part(self, proto, mount: Mount, headers, part: Entry, span: tuple[int, int, int],  # noqa: ANN001
                            age: float) -> None:
        """A range from a stored part, through the one delivery path: the part stands for
        the whole object (its total size), and the range was checked to lie inside it, so
        only the part's own bytes are ever asked for."""
        start, end, total = span

        def body(a: int, b: int) -> AsyncIterator[bytes]:
            if a < start or b > end:
                raise NotStarted(f"bytes {a}-{b - 1} are not in the stored part {start}-{end - 1}")
            return self.cache.body(part, a - start, b - start)

        out = [(k, v) for k, v in self._headers(part.headers, age, "HIT", mount,
                                                 cache_status.hit(part.lifetime - age))
               if k.lower() != "content-range"]
        await deliver(proto, self.pipes, "GET", headers, Representation(200, out, total, body))

    def _fill(self, mount: Mount, key: str, rest: str, query: str, headers, stale: Entry | None) -> Fill:  # noqa: ANN001
        variant = stale.variant if stale is not None else self.cache.variant_of(key, headers)
        return self.cache.fill(key, variant, mount.origin, mount.origin_path(rest), mount.origin_query(query),
                               forwarded(headers), headers, mount.policy, stale, watchdog=mount.watchdog)

    async def _spent_fill(self, key: str, variant: tuple[str, ...], headers, mount: Mount) -> bool:  # noqa: ANN001
        """A fill whose body has all arrived is a stored response in all but name: a
        request may join it only as it could reuse the entry, so it must be fresh, and
        fresh enough for the request's own directives (no-cache, max-age, min-fresh).
        Else wait for it to be stored; True if there was one (then the caller looks
        again, and revalidates as the entry's freshness says)."""
        running = self.cache.fills.get((key, variant))
        if running is None or not running.body_complete or not running.head.done():
            return False
        now = time.time()
        if now < running.fresh_until and (("cache-control" not in headers and "pragma" not in headers)
                                          or self._fresh_for(running, headers, mount, now)):
            return False
        await running.wait_finished()
        return True

    @staticmethod
    def _fresh_for(fill: Fill, headers, mount: Mount, now: float) -> bool:  # noqa: ANN001
        head = fill.head.result() if fill.error is None else None
        if head is None or not head.shared:
            return True  # nothing stored to be fresh or not: the fill's own rules apply
        return classify(response_headers=head.headers, request_headers=headers, age=head.age_at(now),
                        lifetime=fill.lifetime, policy=mount.policy) is Freshness.FRESH

    async def _miss(self, proto, method: str, headers, mount: Mount, key: str, rest: str, query: str) -> None:  # noqa: ANN001
        if (await self._spent_fill(key, self.cache.variant_of(key, headers), headers, mount)
                and self.cache.lookup(key, headers)):
            await self._get(proto, method, headers, mount, key, rest, query)
            return
        cache = self.cache
        if cache.fleet is not None and (key, cache.variant_of(key, headers)) not in cache.fills \
                and await cache.from_fleet(key, headers) is not None and cache.lookup(key, headers) is not None:
            await self._get(proto, method, headers, mount, key, rest, query)  # another node stored it
            return
        fill = self._fill(mount, key, rest, query, headers, None)
        reason = "vary-miss" if self.cache.index.vary_of(key) else "uri-miss"
        await self._follow(proto, method, headers, mount, key, rest, query, fill, None, 0.0, reason)

    async def _revalidate(self, proto, method: str, headers, mount: Mount, key: str, rest: str, query: str,  # noqa: ANN001
                          stale: Entry, age: float, reason: str) -> None:
        if await self._spent_fill(key, stale.variant, headers, mount):
            await self._get(proto, method, headers, mount, key, rest, query)
            return
        fill = self._fill(mount, key, rest, query, headers, stale)
        await self._follow(proto, method, headers, mount, key, rest, query, fill, stale, age, reason)

    async def _follow(self, proto, method: str, headers, mount: Mount, key: str, rest: str, query: str,  # noqa: ANN001
                      fill: Fill, stale: Entry | None, age: float, reason: str) -> None:
        """Join `fill` and answer from it. `reason`: why the origin is asked, for
        Cache-Status (uri-miss, vary-miss, stale, request)."""
        # Joining a fill whose body has all arrived costs the origin nothing: a hit.
        label = "HIT" if fill.body_complete else "MISS"
        leader = fill.join()
        joined = time.monotonic()
        left: float | None = None  # when this request stopped waiting on the fill, if it went elsewhere
        try:
            try:
                head = await asyncio.shield(fill.head)
            except BadObjectPath:
                raise  # the client's mistake, found by the origin: a 400
            except LookAgain:
                left = time.monotonic()
                await self._get(proto, method, headers, mount, key, rest, query)  # another worker stored it
                return
            except (OriginError, CastoreError) as exc:
                unreachable = isinstance(exc, OriginError)
                if (stale is not None and self._stale_on_error(stale, headers, age, mount, unreachable=unreachable)
                        and await self._deliver_entry(proto, mount, method, headers, stale, "STALE", age)):
                    return
                # The fill logged its failure, once for every request that waited on it.
                status, words = upstream_failure(exc)
                if stale is not None and unreachable:
                    status = 504  # RFC 9111 §5.2.2.2: a stale copy it may not serve, and no origin
                text(proto, status, words)
                return
            if head.revalidated is not None:
                label = "HIT" if head.from_peer else "REVALIDATED"
                revalidated = head.revalidated
                if not await self._deliver_entry(proto, mount, method, headers, revalidated, label,
                                                 revalidated.age_at(time.time()), reason):
                    # Its body left the store before a byte went out (evicted the moment
                    # another worker stored it): a miss like any other.
                    await self._get(proto, method, headers, mount, key, rest, query)
                return
            if head.status >= 500 and stale is not None and self._stale_on_error(stale, headers, age, mount):
                await self._close_passthrough(fill)
                if not await self._deliver_entry(proto, mount, method, headers, stale, "STALE", age):
                    failure_log.failed(key, mount.origin.name, f"answered {head.status}; the stored copy is gone", 502)
                    text(proto, 502, "the origin failed and the stored copy is gone")
                return
            if head.shared and not self.cache.same_variant(head, headers):
                # We joined before the origin said it varies; our variant is another fill.
                left = time.monotonic()
                own = self.cache.fill(key, vary_key(list(head.vary), headers), mount.origin,
                                      mount.origin_path(rest), mount.origin_query(query), forwarded(headers),
                                      headers, mount.policy, None, watchdog=mount.watchdog)
                await self._follow(proto, method, headers, mount, key, rest, query, own, None, 0.0, "vary-miss")
                return
            if not head.shared:
                asked = time.monotonic()  # the fill's time ends at the head: the body is relayed
                try:
                    response = self._claim(fill)
                    if response is None:  # another request's private answer: ask for our own
                        response = await mount.origin.fetch("GET", mount.origin_path(rest),
                                                            mount.origin_query(query), forwarded(headers))
                        failure_log.answered(key, mount.origin.name, response.status, response.reason)
                    await self._relay(proto, mount, method, response, "MISS",
                                      cache_status.forwarded(reason, response.status))
                finally:
                    note_upstream(proto, time.monotonic() - asked)
                return
            far = self._far_range(method, headers, head, fill)
            if far is not None:
                asked = time.monotonic()
                try:
                    response = await self._fetch_range(mount, key, rest, query, headers, far)
                    if response is not None:
                        await self._relay(proto, mount, method, response, "MISS",
                                          cache_status.forwarded("partial", response.status))
                        return
                finally:
                    note_upstream(proto, time.monotonic() - asked)
            length = head.length
            if length is None:
                # Without a declared length a broken body could not be told from a whole
                # one, so this response waits for the whole body and goes out with its size.
                await fill.wait_body()
                if fill.error is not None:  # logged by the fill
                    text(proto, *upstream_failure(fill.error))
                    return
                length = fill.received
            age = head.age_at(time.time())
            ttl = fill.lifetime - age
            status = (cache_status.hit(ttl) if label == "HIT" else
                      cache_status.forwarded(reason, head.status, stored=True, collapsed=not leader, ttl=ttl))
            out = self._headers(head.headers_for(leader), age, label, mount, status)
            rep = Representation(head.status, out, length,
                                 lambda start, end: fill.spans(start, end, size=SPLICE_SPAN))
            await deliver(proto, self.pipes, method, headers, rep)
        finally:
            note_upstream(proto, fill.upstream_time(joined, time.monotonic() if left is None else left))
            fill.leave()
            if fill.passthrough is not None and fill.readers == 0:
                await self._close_passthrough(fill)  # nobody is left to want the private answer

    @staticmethod
    def _far_range(method: str, headers, head: FillHead, fill: Fill) -> tuple[int, int] | None:  # noqa: ANN001
        """A single Range that starts well past what the fill has received (a seek in a
        video that is still arriving): worth its own ranged request to the origin rather
        than a wait for the fill to get there."""
        value = headers.get("range")
        if method != "GET" or value is None or head.status != 200 or head.length is None:
            return None
        etag = head.headers.get("etag")
        if not if_range_allows(headers.get("if-range"), etag, parse_http_date(head.headers.get("last-modified"))):
            return None
        ranges = parse_range(value, head.length)
        if not isinstance(ranges, list) or len(ranges) != 1 or ranges[0][0] < fill.received + FAR_AHEAD:
            return None
        return ranges[0]

    async def _fetch_range(self, mount: Mount, key: str, rest: str, query: str, headers,  # noqa: ANN001
                           wanted: tuple[int, int]) -> OriginResponse | None:
        """The origin's 206 for `wanted`, or None (then the request waits for the fill)."""
        ask = {**forwarded(headers), "Range": f"bytes={wanted[0]}-{wanted[1] - 1}"}
        try:
            response = await mount.origin.fetch("GET", mount.origin_path(rest), mount.origin_query(query), ask)
        except OriginError as exc:
            log_failure(key, mount.origin.name, exc)  # the request waits for the fill instead
            return None
        if response.status == 206:
            return response
        await response.aclose()  # the origin ignores Range: the fill will get there
        return None

    def _stale_on_error(self, stale: Entry, headers, age: float, mount: Mount,  # noqa: ANN001
                        unreachable: bool = False) -> bool:
        return may_serve_stale_on_error(
            response_headers=stale.headers, request_headers=headers, current_age=age, lifetime=stale.lifetime,
            policy=mount.policy, unreachable=unreachable,
        )

    def _local_key(self, reference: str | None, scope) -> str | None:  # noqa: ANN001
        """The key a Location-style reference names, if it is a path on this edge."""
        if not reference:
            return None
        parts = urlsplit(reference)
        if parts.scheme or parts.netloc:
            host = scope.headers.get("host")
            if parts.netloc != host:
                return None
        path = unquote(parts.path)
        if not path.startswith("/"):
            return None
        routed = self.router.route(path)
        return None if routed is None else routed[0].key(routed[1], parts.query)

    @staticmethod
    def _claim(fill: Fill) -> OriginResponse | None:
        if fill.leader_claimed or fill.passthrough is None:
            return None
        fill.leader_claimed = True
        return fill.passthrough

    async def _close_passthrough(self, fill: Fill) -> None:
        response = self._claim(fill)
        if response is not None:
            await response.aclose()

    async def _relay(self, proto, mount: Mount, method: str, response: OriginResponse,  # noqa: ANN001
                     x_cache: str, status_field: str) -> None:
        """Send an origin's response through as it is (not stored)."""
        headers = client_headers(response.headers, mount.policy.hidden_fields) + [
            ("x-cache", x_cache), ("cache-status", status_field)]
        headers += [("age", age) for age in response.headers.getall("age", [])[:1]]  # not ours to change
        if response.length is not None:
            headers.append(("content-length", str(response.length)))
        try:
            if method == "HEAD" or response.status in (204, 304):
                proto.response_empty(response.status, headers)
                return
            length, parts = response.length, response.body
            if length is None:
                # Unframed, a body that broke off would end as if whole: take it all first.
                length, parts = await self._whole(response.body)
                headers.append(("content-length", str(length)))
            await send_stream(proto, self.pipes, response.status, headers, length, parts)
        finally:
            await response.aclose()

    async def _whole(self, body: AsyncIterator[bytes]) -> tuple[int, AsyncIterator[bytes | FileSpan]]:
        """A body of unknown length read to its end: in memory while small, else in an
        unlinked spool file sent from there. NotStarted if it breaks off."""
        pieces: list[bytes] = []
        size = 0
        spool: int | None = None
        try:
            async for part in body:
                size += len(part)
                if spool is None and size > WHOLE_UP_TO:
                    spool, path = tempfile.mkstemp(prefix="relay-", dir=self.cache.spool_dir)
                    os.unlink(path)
                    for piece in pieces:
                        _write_all(spool, piece)
                    pieces = []
                if spool is None:
                    pieces.append(part)
                else:
                    _write_all(spool, part)
        except OriginError as exc:
            if spool is not None:
                os.close(spool)
            raise NotStarted(str(exc)) from exc
        if spool is None:
            return size, _pieces([b"".join(pieces)])
        return size, _spool_spans(spool, size)

    # -- hits -----------------------------------------------------------------

    @staticmethod
    def _headers(stored: CIMultiDict[str], age: float, x_cache: str, mount: Mount,
                 status_field: str) -> list[tuple[str, str]]:
        return client_headers(stored, mount.policy.hidden_fields) + [
            ("age", str(int(max(age, 0.0)))), ("x-cache", x_cache), ("cache-status", status_field)]

    async def _deliver_entry(self, proto, mount: Mount, method: str, headers, entry: Entry, x_cache: str,  # noqa: ANN001
                             age: float, reason: str = "stale") -> bool:
        """Serve a stored entry; False if its body is gone from the store (then it is a miss).
        `reason`: why it was revalidated, when it was (x_cache REVALIDATED)."""
        cache = self.cache
        ttl = entry.lifetime - age
        status = cache_status.forwarded(reason, 304, ttl=ttl) if x_cache == "REVALIDATED" else cache_status.hit(ttl)
        out = self._headers(entry.headers, age, x_cache, mount, status)
        body: bytes | None = cache.small_body(entry)
        if body is not None:
            note_source(proto, "memory")
        elif entry.size <= SMALL_BODY:
            try:
                body = await cache.load_small(entry)
            except CastoreError:
                cache.lost(entry)
                return False
        if body is not None:
            await deliver(proto, self.pipes, method, headers, Representation(entry.status, out, entry.size, body))
            return True
        try:
            # Before promising a 200: is the blob still there, and is it the one stored?
            await cache.store.stat(entry.digest, manifest=entry.manifest, size=entry.size)
        except CastoreError:
            cache.lost(entry)
            return False
        try:
            await deliver(proto, self.pipes, method, headers, Representation(
                entry.status, out, entry.size, lambda start, end: cache.body(entry, start, end)))
        except NotStarted as exc:
            if not isinstance(exc.__cause__, CastoreError):
                raise
            return False  # nothing was sent and the entry is forgotten: fetch it again
        return True

    # -- unsafe methods -------------------------------------------------------

    async def _pass(self, proto, scope, mount: Mount, key: str, rest: str) -> None:  # noqa: ANN001
        declared = scope.headers.get("content-length")
        expected = int(declared) if declared is not None and declared.strip().isdigit() else None

        async def body() -> AsyncIterator[bytes]:
            received = 0
            async for part in proto:
                received += len(part)
                yield part
            if expected is not None and received != expected:
                # Raised inside the upload: the origin's connection is dropped before the
                # body's end, so it never takes a cut body for a whole one.
                raise BadRequest(400, f"the request body ended after {received} of {expected} bytes")

        ask = forwarded(scope.headers)
        if expected is not None:
            ask["content-length"] = str(expected)  # the origin frames the upload by it too
        # Without a length or a transfer coding the request has no body (RFC 9112 §6.3).
        upload = body() if expected is not None or "transfer-encoding" in scope.headers else None
        request_time = time.time()
        asked = time.monotonic()
        try:
            response = await mount.origin.fetch(scope.method, mount.origin_path(rest),
                                                mount.origin_query(scope.query_string), ask, upload)
        except OriginError as exc:
            note_upstream(proto, time.monotonic() - asked)
            status, words = upstream_failure(exc)
            log_failure(key, mount.origin.name, exc, status)
            text(proto, status, words)
            return
        note_upstream(proto, time.monotonic() - asked)  # to its head; its body is counted as it goes
        failure_log.answered(key, mount.origin.name, response.status, response.reason)
        if invalidates(scope.method, response.status):
            # RFC 9111 §4.4: the target, and what Location / Content-Location name on this
            # edge; what was stored before this request was made (its own answer may be
            # stored next, and what is asked for after it stays).
            targets = [self._local_key(response.headers.get(name), scope) for name in ("location", "content-location")]
            self.invalidate(list(dict.fromkeys([key, *(t for t in targets if t is not None)])), "invalidated",
                            request_time)
        if (scope.method == "POST" and self._local_key(response.headers.get("content-location"), scope) == key
                and reusable_post(response.status, scope.headers, response.headers, mount.policy)):
            # RFC 9110 §9.3.3: the answer names the POST's own URI as its content, fresh
            # for a while: it is what a GET of that URI would get, so it is stored as that.
            fill = self.cache.fill_from(key, response, scope.headers, mount.policy, request_time, time.time(),
                                        watchdog=mount.watchdog, origin=mount.origin.name)
            if fill is not None:
                await self._follow(proto, scope.method, scope.headers, mount, key, rest, scope.query_string, fill,
                                   None, 0.0, "method")
                return
        asked = time.monotonic()
        try:
            await self._relay(proto, mount, scope.method, response, "PASS",
                              cache_status.forwarded("method", response.status))
        finally:
            note_upstream(proto, time.monotonic() - asked)



def _innermost(exc: BaseException) -> BaseException:
    """The failure a log line should name: the innermost cause says most."""
    while exc.__cause__ is not None and isinstance(exc, NotStarted | BodyBroken):
        exc = exc.__cause__
    return exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


async def _pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _spool_spans(fd: int, size: int) -> AsyncIterator[FileSpan]:
    try:
        offset = 0
        while offset < size:
            length = min(size - offset, SPLICE_SPAN)
            yield FileSpan(fd, offset, length)
            offset += length
    finally:
        os.close(fd)
