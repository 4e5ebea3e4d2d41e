"""A client that half-closes its connection (shutdown(SHUT_WR)) right after its request,
through the real server with raw sockets.

The HTTP server does not keep a half-closed connection: it closes it at once, and the
answer is lost (its HTTP library has no setting for it). What must hold: the client is not
left hanging, the work the request started is not lost (the fill goes on and is stored),
and the node logs no error and no traceback, only that a client went away.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from edge_server import EdgeServer
from origin_server import OriginServer


def half_closed_get(port: int, path: str, extra: str = "") -> tuple[bytes, float]:
    """What the server sends back after the request and our FIN, and how long until EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: edge\r\n{extra}\r\n".encode())
        conn.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        return data, time.monotonic() - started


def test_a_half_closed_client_is_not_kept_waiting_and_nothing_is_logged_as_an_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "small.txt").write_bytes(b"small")
    (site / "big.bin").write_bytes(os.urandom(3_000_000))
    with OriginServer() as origin:
        slow, slow_big = os.urandom(500_000), os.urandom(3_000_000)
        origin.put("/slow", slow, delay=0.5, headers={"Cache-Control": "max-age=600"})
        origin.put("/slow-big", slow_big, delay=0.5, headers={"Cache-Control": "max-age=600"})
        origin.put("/trickle", os.urandom(500_000), chunk_size=50_000, chunk_delay=0.05,
                   headers={"Cache-Control": "max-age=600"})
        mounts = (f'[[mount]]\nurl_prefix = "/f"\norigin = "file://{site}"\n'
                  f'[[mount]]\nurl_prefix = "/h"\norigin = "{origin.url}"\n')
        with EdgeServer(tmp_path, mounts, workers=1) as server:
            asked = ["/f/small.txt", "/f/big.bin", "/h/slow", "/h/slow-big", "/h/trickle", "/f/small.txt",
                     "/f/big.bin", "/h/trickle", "/_fallthrough/health"]
            for path in asked:
                _, waited = half_closed_get(server.port, path)
                assert waited < 5, path
            half_closed_get(server.port, "/f/big.bin", "Range: bytes=0-10,2000000-2000100\r\n")
            # The fills those requests started were not given up with them. The server may
            # also drop a half-closed request before it reaches the application at all (then
            # nothing was started, and the next request is a plain miss).
            deadline = time.monotonic() + 3
            while not all(origin.count(p) for p in ("/slow", "/slow-big")) and time.monotonic() < deadline:
                time.sleep(0.05)
            started = [(path, body) for path, body in (("/h/slow", slow), ("/h/slow-big", slow_big))
                       if origin.count(path.removeprefix("/h"))]
            server.wait_idle()
            for path, body in started:
                reply = server.get(path)
                assert (reply.status, reply.header("x-cache"), reply.body) == (200, "HIT", body)
                assert origin.count(path.removeprefix("/h")) == 1
            time.sleep(0.5)  # what a worker logs about the requests above is written by now
            log = server.log.read_text()
    assert "Traceback" not in log and "[ERROR]" not in log and " failed" not in log, log[-3000:]
    assert "internal error" not in log and "broken off" not in log, log[-3000:]
