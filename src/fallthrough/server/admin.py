"""The admin API under /_fallthrough/: purges and health, behind a bearer token.

    POST /_fallthrough/purge?url=/path        remove one URL (every variant) now
    POST /_fallthrough/purge?prefix=/path/    ban every key under a prefix
    POST /_fallthrough/purge?tag=name         ban every entry the origin tagged so
    GET  /_fallthrough/health                 liveness and a few counters (no token)

Each purge is O(1) to issue: a URL is one dict removal, a prefix or tag one ban record
checked at lookup and swept in the background.
"""

from __future__ import annotations

import hmac
import os
import json
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from ..cache.cache import Cache


def _json(proto, status: int, data: dict) -> None:  # noqa: ANN001
    proto.response_bytes(status, [("content-type", "application/json"), ("cache-control", "no-store")],
                         (json.dumps(data) + "\n").encode())


class Admin:
    PREFIX = "/_fallthrough/"

    def __init__(self, cache: Cache, token: str | None, key_of: Callable[[str, str], tuple[str, bool] | None],
                 stats: Callable[[], dict] | None = None) -> None:
        self.cache = cache
        self.token = token
        # (path, query) → the cache key and whether it names a family of variants (a
        # transform's path, whose keys add a canonical query); None if no mount serves it
        self.key_of = key_of
        self.stats = stats  # more counters for the health endpoint

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
            _json(proto, 200, {"status": "ok", "pid": os.getpid(), "entries": len(cache.index), "bytes": cache.index.bytes,
                               "fills": len(cache.fills), "origin_requests": cache.origin_requests,
                               **(self.stats() if self.stats is not None else {})})
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
        if kind == "url":
            path, _, query = value.partition("?")
            target = self.key_of(path, query)
            if target is None:
                _json(proto, 404, {"error": f"no mount serves {path}"})
                return
            key, family = target
            removed = self.cache.purge_url(key)
            if family:
                self.cache.purge_prefix(key + "?")
            _json(proto, 200, {"purged": kind, "value": value, "removed": removed})
        elif kind == "prefix":
            self.cache.purge_prefix(value)
            _json(proto, 200, {"purged": kind, "value": value})
        else:
            self.cache.purge_tag(value)
            _json(proto, 200, {"purged": kind, "value": value})
