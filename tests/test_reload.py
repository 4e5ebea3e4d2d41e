"""Reloads through the real server: a good configuration reaches every worker without a
failed request; a bad one is refused and the node goes on serving the old one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_server import EdgeServer, request
from origin_server import OriginServer

FALLTHROUGH = str(Path(sys.executable).with_name("fallthrough"))


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        server.put("/a", b"a", headers={"Cache-Control": "max-age=600"})
        yield server


def mounts(origin: OriginServer, *prefixes: str) -> str:
    return "".join(f'[[mount]]\nurl_prefix = "{p}"\norigin = "{origin.url}"\n' for p in prefixes)


def rewrite(edge: EdgeServer, text: str) -> None:
    head = edge.config.read_text().split("[[mount]]")[0]
    edge.config.write_text(head + text)


def reload(edge: EdgeServer) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([FALLTHROUGH, "reload", "--config", str(edge.config)], capture_output=True, timeout=60)


def until(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.2)


class Load:
    """Requests one after another on fresh connections while a reload runs; every status."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.statuses.append(request(self.url, timeout=10).status)
            except OSError as exc:
                self.statuses.append(type(exc).__name__)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_good_reload_reaches_every_worker_without_a_failed_request(tmp_path: Path, origin: OriginServer) -> None:
    with EdgeServer(tmp_path, mounts(origin, "/o"), workers=2) as edge:
        assert edge.get("/p/a").status == 404
        with Load(edge.url + "/o/a") as load:
            rewrite(edge, mounts(origin, "/o", "/p"))
            result = reload(edge)
            assert result.returncode == 0, result.stderr
            # Both workers answer for the new mount once both are replaced.
            until(lambda: all(edge.get("/p/a").status == 200 for _ in range(20)))
        assert len(load.statuses) > 20 and set(load.statuses) == {200}
        assert "reloading" in edge.log.read_text()


def test_a_bad_configuration_is_refused_and_the_old_one_goes_on(tmp_path: Path, origin: OriginServer) -> None:
    with EdgeServer(tmp_path, mounts(origin, "/o"), workers=2) as edge:
        rewrite(edge, mounts(origin, "/o") + 'default_ttl = "soon"\n')
        refused = reload(edge)
        assert refused.returncode == 1 and b"mount[0].default_ttl" in refused.stderr
        assert len(refused.stderr.decode().strip().splitlines()) == 1
        # SIGHUP by hand, past the command's check: the node refuses it itself.
        with Load(edge.url + "/o/a") as load:
            os.kill(edge.process.pid, signal.SIGHUP)
            until(lambda: "reload refused" in edge.log.read_text())
            time.sleep(9)  # the workers are replaced (on the old configuration) one at a time
        assert set(load.statuses) == {200}
        assert edge.process.poll() is None and edge.get("/o/a").status == 200
        line = next(x for x in edge.log.read_text().splitlines() if "reload refused" in x)
        assert "mount[0].default_ttl" in line and "still serving the previous configuration" in line


def test_a_reload_cannot_move_the_listen_address(tmp_path: Path, origin: OriginServer) -> None:
    with EdgeServer(tmp_path, mounts(origin, "/o")) as edge:
        text = edge.config.read_text().replace(f"127.0.0.1:{edge.port}", "127.0.0.1:1")
        edge.config.write_text(text)
        os.kill(edge.process.pid, signal.SIGHUP)
        until(lambda: "reload refused" in edge.log.read_text())
        assert "server.listen: a reload cannot change it" in edge.log.read_text()
        assert edge.get("/o/a").status == 200


def test_reload_without_a_running_node_says_so(tmp_path: Path) -> None:
    config = tmp_path / "idle.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "store"}"\n')
    result = subprocess.run([FALLTHROUGH, "reload", "--config", str(config)], capture_output=True, timeout=60)
    assert result.returncode == 1 and b"no node is running" in result.stderr


def test_a_reload_reaches_the_s3_listener_too(tmp_path: Path, origin: OriginServer) -> None:
    from edge_server import free_port
    from test_s3_api import S3Edge, wait_port

    port = free_port()
    s3_section = (f'[s3]\nlisten = "127.0.0.1:{port}"\n[[s3.credentials]]\naccess_key = "edgekey"\n'
                  f'secret_key = "edgesecret"\n')
    bucket = 's3_bucket = "{}"\n'
    with EdgeServer(tmp_path, s3_section + mounts(origin, "/o") + bucket.format("one")) as edge:
        wait_port(port)
        s3 = S3Edge(edge, port).client()
        assert s3.get_object(Bucket="one", Key="a")["Body"].read() == b"a"
        rewrite(edge, mounts(origin, "/o") + bucket.format("one") + mounts(origin, "/p") + bucket.format("two"))
        assert reload(edge).returncode == 0

        def two_served() -> bool:
            try:
                return all(s3.get_object(Bucket="two", Key="a")["Body"].read() == b"a" for _ in range(10))
            except Exception:  # noqa: BLE001 - NoSuchBucket until the listener's workers are replaced
                return False

        until(two_served)
