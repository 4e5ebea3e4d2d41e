"""How many connections and requests a worker takes on, bounded by its open files.

Every connection is an open file, and a request in flight may hold two more (the ends of
the pipe its body goes out through; a fill's spool file is shared by all its readers). A
worker that runs out of files fails whatever needs one next, and the HTTP server, unable
to accept, retries at once, a busy loop. So the open-file limit is raised to what the
system allows at start, and the limits a configuration leaves unset are what fits in it:
as many requests as connections (one request at a time on an HTTP/1 connection), beside
a reserve for the store, the index and the origins.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from .config import ServerSettings

FILES_PER_REQUEST = 2
RESERVED_FILES = 256
MAX_DEFAULT_CONNECTIONS = 65536
MAX_DEFAULT_REQUESTS = 16384
UNLIMITED_FILES = 1 << 20


class LimitError(Exception):
    """Limits the process's open-file limit cannot hold; the message names the key."""


@dataclass(frozen=True)
class WorkerLimits:
    connections: int  # held open at once; past it the server stops accepting
    requests: int  # in flight at once; past it a request is answered 503 at once


def raise_open_files() -> int:
    """Raise the soft open-file limit to the hard one; the limit now in force. Workers
    and the S3 API's process, started after, inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # a system that caps it lower (fs.nr_open)
            pass
    return open_files()


def open_files() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return UNLIMITED_FILES if soft == resource.RLIM_INFINITY else soft


def worker_limits(server: ServerSettings, files: int | None = None) -> WorkerLimits:
    """The limits of each worker: the configured ones, and for those left unset what
    fits beside them in `files` (the open-file limit); LimitError when the configured
    ones could run a worker out of files."""
    files = open_files() if files is None else files
    spare = files - RESERVED_FILES
    share = spare // (1 + FILES_PER_REQUEST)  # as many requests as connections
    connections, requests = server.max_connections, server.max_requests
    if connections is None:
        expected = requests if requests is not None else min(MAX_DEFAULT_REQUESTS, share)
        connections = min(MAX_DEFAULT_CONNECTIONS, spare - FILES_PER_REQUEST * expected)
    if requests is None:
        requests = min(MAX_DEFAULT_REQUESTS, connections, (spare - connections) // FILES_PER_REQUEST)
    if connections < 1 or requests < 1 or connections + FILES_PER_REQUEST * requests > spare:
        key = "server.max_connections" if server.max_connections is not None else "server.max_requests"
        connections, requests = max(connections, 1), max(requests, 1)
        needed = connections + FILES_PER_REQUEST * requests + RESERVED_FILES
        raise LimitError(f"{key}: {connections:,} connections and {requests:,} in-flight request(s) per worker "
                         f"may need {needed:,} open files, and this process may open {files:,} "
                         f"(raise its limit, e.g. ulimit -n, or lower server.max_connections or server.max_requests)")
    return WorkerLimits(connections, requests)
