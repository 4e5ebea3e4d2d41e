"""`[metrics] listen`: the node's metrics on an address of their own.

A process of its own (started by `fallthrough serve` beside the edge's and the S3 API's
servers) that only reads the node's metrics directory: no worker needs to take the
address, a scrape never waits behind requests, and the edge's listener need not answer
for the metrics at all. It answers GET (and HEAD) of /metrics and /_fallthrough/metrics,
with the same rule as the edge: the admin token unless `[metrics] public = true`. The
token is read from the node's configuration snapshot again when that changes (a reload).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import signal
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer

from ..config import ConfigError, Settings
from .app import CONFIG_VARIABLE, settings_from_environment
from .metrics_files import CONTENT_TYPE, exposition, metrics_dir, tidy

PATHS = ("/metrics", "/_fallthrough/metrics")


class _Rules:
    """The token and the public flag, as the node's current configuration says."""

    def __init__(self, settings: Settings) -> None:
        self.token = settings.server.admin_token
        self.public = settings.metrics.public
        self._stamp: float | None = None

    def refresh(self) -> None:
        path = os.environ.get(CONFIG_VARIABLE)
        if not path:
            return
        try:
            stamp = os.stat(path).st_mtime
        except OSError:
            return
        if stamp == self._stamp:
            return
        try:
            settings = settings_from_environment()
        except ConfigError:
            return  # the node's main process checks every snapshot before writing it
        self._stamp = stamp
        self.token, self.public = settings.server.admin_token, settings.metrics.public


def _handler(directory: str, rules: _Rules) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fallthrough"
        sys_version = ""

        def log_message(self, *_: object) -> None:  # a line per scrape is noise
            pass

        def _json(self, status: int, data: dict[str, str], extra: tuple[tuple[str, str], ...] = ()) -> None:
            body = (json.dumps(data) + "\n").encode()
            self.send_response(status)
            for name, value in (("content-type", "application/json"), ("content-length", str(len(body))),
                                ("cache-control", "no-store"), *extra):
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _allowed(self) -> bool:
            rules.refresh()
            if rules.public:
                return True
            if rules.token is None:
                self._json(403, {"error": "the admin API is off: set server.admin_token or FALLTHROUGH_ADMIN_TOKEN"})
                return False
            scheme, _, credentials = (self.headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(),
                                                                     rules.token.encode()):
                self._json(401, {"error": "a valid bearer token is required"}, (("www-authenticate", "Bearer"),))
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path.split("?", 1)[0] not in PATHS:
                self._json(404, {"error": "only /metrics is served here"})
                return
            if not self._allowed():
                return
            tidy(directory)
            body = exposition(directory)
            self.send_response(200)
            self.send_header("content-type", CONTENT_TYPE)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET  # noqa: N815

    return Handler


def run() -> None:
    """The listener's process: serves until the node's main process ends it (SIGTERM).
    Its settings are the node's snapshot, as the workers read them."""
    # The node's signals are not this process's business: a reload (SIGHUP) and a log
    # rotation (SIGUSR1, passed on to every child) would end it, Ctrl-C reaches the
    # whole process group and the main process stops us in turn.
    for number in (signal.SIGHUP, signal.SIGUSR1, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
    settings = settings_from_environment()
    directory = metrics_dir(settings.store.path)
    metrics = settings.metrics
    family = socket.AF_INET6 if ":" in metrics.host else socket.AF_INET

    class Server(HTTPServer):
        address_family = family

    with Server((metrics.host, metrics.port), _handler(directory, _Rules(settings))) as server:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
