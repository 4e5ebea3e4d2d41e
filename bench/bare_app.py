"""The HTTP server's own ceiling: an app that answers every GET with a file's bytes
from memory and does nothing else. bench/edge.py runs it under the same server settings
as `fallthrough serve`, so fallthrough / ceiling is what the cache costs on top."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ["BARE_ROOT"])
BODIES = {f"/{p.name}": p.read_bytes() for p in ROOT.iterdir() if p.is_file() and p.stat().st_size <= 4 << 20}


async def app(scope, proto) -> None:  # noqa: ANN001
    body = BODIES.get(scope.path)
    if body is None:
        proto.response_bytes(404, [], b"")
        return
    proto.response_bytes(200, [("content-type", "application/octet-stream"), ("content-length", str(len(body)))], body)
