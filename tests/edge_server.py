"""The real edge server, started as `fallthrough serve --config FILE` for end-to-end tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FALLTHROUGH = str(Path(sys.executable).with_name("fallthrough"))
TOKEN = "test-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None,
            timeout: float = 30) -> Reply:
    """One request on its own connection, the raw bytes of the path sent as given."""
    assert url.startswith("http://")
    hostport, _, path = url[len("http://"):].partition("/")
    host, port = hostport.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, "/" + path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


class EdgeServer:
    def __init__(self, workdir: Path, mounts: str, *, store: str = "", server: str = "", workers: int = 1) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "fallthrough.toml"
        self.config.write_text(
            f'[server]\nlisten = "127.0.0.1:{self.port}"\nworkers = {workers}\nadmin_token = "{TOKEN}"\n{server}\n'
            f'[store]\npath = "{workdir / "store"}"\n{store}\n{mounts}\n'
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self) -> EdgeServer:
        log = open(self.log, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [FALLTHROUGH, "serve", "--config", str(self.config)], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if request(self.url + "/_fallthrough/health", timeout=2).status == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None) -> Reply:
        return request(self.url + path, method, headers, body)

    def wait_stored(self, entries: int, timeout: float = 10) -> None:
        """Until the index holds this many entries: a response can end before its body is
        committed to the store (the store follows the client, not the other way round)."""
        deadline = time.monotonic() + timeout
        while json.loads(self.get("/_fallthrough/health").body)["entries"] < entries:
            assert time.monotonic() < deadline, "the entry was never stored"
            time.sleep(0.01)

    def wait_idle(self, timeout: float = 10) -> None:
        """Until no fill is running in any process of the node (every body fetched so far
        is stored or given up). The node's totals come from each process's heartbeat, so
        they count only once every process has beaten since the fills were seen done."""
        deadline = time.monotonic() + timeout
        idle_since = None
        while True:
            health = json.loads(self.get("/_fallthrough/health").body)
            now = time.monotonic()
            if health["fills"] or health["node"]["fills"]:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif all(w["heartbeat_age"] < now - idle_since for w in health["workers"] if w["alive"]):
                return
            assert now < deadline, "fills still running"
            time.sleep(0.01)

    def purge(self, **params: str) -> Reply:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return request(f"{self.url}/_fallthrough/purge?{query}", "POST", {"Authorization": f"Bearer {TOKEN}"})

    def __enter__(self) -> EdgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
