"""`fallthrough serve` and `fallthrough purge` as a user runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from edge_server import FALLTHROUGH, EdgeServer, free_port, request
from origin_server import OriginServer


def run(*args: str, cwd: Path | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FALLTHROUGH, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_a_bad_config_stops_the_start_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nlisten = "127.0.0.1:8080"\n[[mount]]\nurl_prefix = "/a"\norigin = "http://x"\n'
                      'default_ttl = "soon"\n')
    result = run("serve", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "mount[0].default_ttl" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_origin_and_a_taken_port_are_one_line_errors(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n[store]\npath = "{tmp_path}/s"\n'
                      '[[mount]]\nurl_prefix = "/a"\norigin = "file:///no/such/dir"\n')
    result = run("serve", "--config", str(config))
    assert result.returncode == 1 and "mount[0].origin" in result.stderr and result.stderr.count("\n") == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n[store]\npath = "{tmp_path}/s"\n')
        result = run("serve", "--config", str(config))
    assert result.returncode == 1 and "server.listen" in result.stderr and result.stderr.count("\n") == 1


def test_the_embedded_default_serves_its_site(tmp_path: Path) -> None:
    # The default listens on 127.0.0.1:8080; skip quietly only if something else has it.
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8080)) == 0:
            import pytest

            pytest.skip("port 8080 is taken on this machine")
    process = subprocess.Popen([FALLTHROUGH, "serve"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                first = request("http://127.0.0.1:8080/")
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        assert first.status == 200 and b"fallthrough is running" in first.body
        assert first.header("content-type", ).startswith("text/html")
        assert request("http://127.0.0.1:8080/").header("x-cache") == "HIT"
        assert (tmp_path / ".fallthrough" / "castore").is_dir()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def test_purge_from_the_command_line_reaches_the_running_server(tmp_path: Path) -> None:
    with OriginServer() as origin:
        origin.put("/a/1", b"one", headers={"Cache-Control": "max-age=600", "Surrogate-Key": "t1"})
        origin.put("/a/2", b"two", headers={"Cache-Control": "max-age=600"})
        origin.put("/b/3", b"three", headers={"Cache-Control": "max-age=600"})
        mounts = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
        with EdgeServer(tmp_path, mounts) as server:
            for path in ("/o/a/1", "/o/a/2", "/o/b/3"):
                server.get(path)
            config = str(server.config)
            assert run("purge", "--config", config, f"{server.url}/o/b/3").returncode == 0
            assert server.get("/o/b/3").header("x-cache") == "MISS"
            assert run("purge", "--config", config, "--tag", "t1").returncode == 0
            assert server.get("/o/a/1").header("x-cache") == "MISS"
            assert server.get("/o/a/2").header("x-cache") == "HIT"
            assert run("purge", "--config", config, "--prefix", "/o/a/").returncode == 0
            assert server.get("/o/a/2").header("x-cache") == "MISS"
            bad = run("purge", "--config", config, "/elsewhere/x")
            assert bad.returncode == 1 and "no mount serves" in bad.stderr
            usage = run("purge", "--config", config)
            assert usage.returncode == 2 and "exactly one" in usage.stderr
