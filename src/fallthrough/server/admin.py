"""The admin API under /_fallthrough/: purges and metrics behind a bearer token, health without.

    POST /_fallthrough/purge?url=/path        remove one URL (every variant) now
    POST /_fallthrough/purge?prefix=/path/    ban every key under a prefix
    POST /_fallthrough/purge?tag=name         ban every entry the origin tagged so
         ...&wait=all[&timeout=10]            in a fleet: answer once every live node applied it
                                              (per node, in the answer; 504 if one did not in time)
    GET  /_fallthrough/metrics                the node's metrics, Prometheus text (token unless
                                              [metrics] public = true; elsewhere with metrics.listen)
    GET  /_fallthrough/health                 every process of the node, alive or not (no token)
    GET  /_fallthrough/ready                  200 when the store and the index can be used, else 503
    GET  /_fallthrough/                       the dashboard: a page that reads the two below (no token
                                              for the page itself; it asks for one when the data needs it)
    GET  /_fallthrough/purges                 the node's recent purges and invalidations, JSON (as metrics)

Each purge is O(1) to issue: a URL is one dict removal, a prefix or tag one ban record
checked at lookup and swept in the background.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import os
import json
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..cache.cache import Cache
from ..cache.entry import derived_tag
from ..fleet.link import FleetLink
from .metrics import Metrics
from .metrics_files import CONTENT_TYPE


# Seconds a purge with ?wait=all waits for every node of the fleet, unless timeout= says.
WAIT_ALL = 10.0

# The page loads nothing from elsewhere: its script and style are inline, its data the node's.
DASHBOARD_HEADERS = [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store"),
                     ("content-security-policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                                 "style-src 'unsafe-inline'; img-src 'self' data:"),
                     ("x-content-type-options", "nosniff")]


@functools.cache
def dashboard_page() -> bytes:
    return resources.files("fallthrough.server").joinpath("dashboard/index.html").read_bytes()


def _json(proto, status: int, data: dict) -> None:  # noqa: ANN001
    proto.response_bytes(status, [("content-type", "application/json"), ("cache-control", "no-store")],
                         (json.dumps(data) + "\n").encode())


class Admin:
    PREFIX = "/_fallthrough/"

    def __init__(self, cache: Cache, token: str | None, key_of: Callable[[str, str], tuple[str, bool] | None],
                 stats: Callable[[], dict] | None = None, *, metrics: Metrics | None = None,
                 metrics_public: bool = False, metrics_elsewhere: bool = False,
                 node: Callable[[], dict[str, Any]] | None = None, ready: Callable[[], str | None] | None = None,
                 fleet: FleetLink | None = None) -> None:
        self.cache = cache
        self.fleet = fleet  # None: a node alone
        self.token = token
        # (path, query) → the cache key and whether it names a family of variants (a
        # transform's path, whose keys add a canonical query); None if no mount serves it
        self.key_of = key_of
        self.stats = stats  # more counters for the health endpoint
        self.metrics = metrics  # None: the metrics are off
        self.metrics_public = metrics_public
        self.metrics_elsewhere = metrics_elsewhere  # served on metrics.listen, not here
        self.node = node  # every process of the node (server/health.py)
        self.ready = ready  # None, or why the store or the index cannot be used

    def _authorized(self, proto, headers) -> bool:  # noqa: ANN001
        if self.token is None:
            _json(proto, 403, {"error": "the admin API is off: set server.admin_token or FALLTHROUGH_ADMIN_TOKEN"})
            return False
        given = headers.get("authorization") or ""
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), self.token.encode()):
            proto.response_bytes(401, [("content-type", "application/json"), ("www-authenticate", "Bearer")],
                                 b'{"error": "a valid bearer token is required"}\n')
            return False
        return True

    async def handle(self, scope, proto) -> None:  # noqa: ANN001
        action = scope.path[len(self.PREFIX):]
        if action == "health" and scope.method in ("GET", "HEAD"):
            cache = self.cache
            # This worker's own figures first (as before the node-wide view), then the node's.
            _json(proto, 200, {"status": "ok", "pid": os.getpid(), "entries": len(cache.index), "bytes": cache.index.bytes,
                               "fills": len(cache.fills), "origin_requests": cache.origin_requests,
                               **(self.stats() if self.stats is not None else {}),
                               **(self.node() if self.node is not None else {})})
            return
        if action == "ready" and scope.method in ("GET", "HEAD"):
            reason = await asyncio.to_thread(self.ready) if self.ready is not None else None
            if reason is None:
                _json(proto, 200, {"ready": True})
            else:
                _json(proto, 503, {"ready": False, "reason": reason})
            return
        if action == "metrics" and scope.method in ("GET", "HEAD"):
            await self._metrics(scope, proto)
            return
        if action == "" and scope.method in ("GET", "HEAD"):
            proto.response_bytes(200, DASHBOARD_HEADERS, dashboard_page() if scope.method == "GET" else b"")
            return
        if action == "purges" and scope.method in ("GET", "HEAD"):
            if self.metrics_public or self._authorized(proto, scope.headers):
                recent = sorted(self.cache.index.recent, key=lambda p: p.time, reverse=True)
                _json(proto, 200, {"purges": [{"time": p.time, "kind": p.kind, "value": p.value} for p in recent]})
            return
        if action != "purge":
            _json(proto, 404, {"error": f"no admin endpoint {scope.path}"})
            return
        if scope.method != "POST":
            _json(proto, 405, {"error": "purge takes POST"})
            return
        if not self._authorized(proto, scope.headers):
            return
        params = dict(parse_qsl(scope.query_string, keep_blank_values=True))
        given = [k for k in ("url", "prefix", "tag") if k in params]
        if len(given) != 1 or not params[given[0]]:
            _json(proto, 400, {"error": "give exactly one of url=, prefix= or tag= (non-empty)"})
            return
        kind, value = given[0], params[given[0]]
        if kind == "url" and value.lower().startswith(("http://", "https://")):
            parts = urlsplit(value)
            value = parts.path + (f"?{parts.query}" if parts.query else "")
        if kind in ("url", "prefix") and not value.startswith("/"):
            _json(proto, 400, {"error": f"{kind} must be a path beginning with '/' (or a full URL)"})
            return
        wait = params.get("wait")
        if wait not in (None, "all"):
            _json(proto, 400, {"error": "wait= takes 'all' (answer once every node of the fleet applied it)"})
            return
        try:
            timeout = float(params.get("timeout", WAIT_ALL))
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 300:
            _json(proto, 400, {"error": "timeout= takes seconds, more than 0 and at most 300"})
            return
        answer: dict[str, Any] = {"purged": kind, "value": value}
        if kind == "url":
            path, _, query = value.partition("?")
            target = self.key_of(path, query)
            if target is None:
                _json(proto, 404, {"error": f"no mount serves {path}"})
                return
            key, family = target
            answer["removed"] = self.cache.purge_url(key)
            ops = [("url", key)]
            if self.cache.derives:
                ops.append(("tag", derived_tag(key)))
            if family:
                self.cache.purge_prefix(key + "?")
                ops.append(("prefix", key + "?"))
        elif kind == "prefix":
            self.cache.purge_prefix(value)
            ops = [("prefix", value)]
        else:
            self.cache.purge_tag(value)
            ops = [("tag", value)]
        if self.metrics is not None:
            self.metrics.purged(kind)
        status = 200
        if self.fleet is not None:
            answer["fleet"] = await self.fleet.purge(ops, wait == "all", timeout)
            nodes = answer["fleet"].get("nodes", {})
            if wait == "all" and ("error" in answer["fleet"] or not all(n["applied"] for n in nodes.values())):
                status = 504  # said, but not every node has it yet: which, is in the answer
        elif wait == "all":
            answer["nodes"] = {"": {"applied": True}}  # a node alone is the whole fleet
        _json(proto, status, answer)

    async def _metrics(self, scope, proto) -> None:  # noqa: ANN001
        if self.metrics is None:
            _json(proto, 404, {"error": "the metrics are off (metrics.enabled = false)"})
            return
        if self.metrics_elsewhere:
            _json(proto, 404, {"error": "the metrics are served on their own listener (metrics.listen)"})
            return
        if not self.metrics_public and not self._authorized(proto, scope.headers):
            return
        self.metrics.fold()  # this worker's figures up to now; the others' are at most a second old
        body = await asyncio.to_thread(self.metrics.exposition)
        headers = [("content-type", CONTENT_TYPE), ("cache-control", "no-store")]
        if scope.method == "HEAD":
            proto.response_empty(200, [*headers, ("content-length", str(len(body)))])
        else:
            proto.response_bytes(200, headers, body)
