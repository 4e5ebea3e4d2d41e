"""A node killed outright (SIGKILL, the OOM killer, a power cut of the container) leaves
its temporary folders behind; its next start removes them (through the real server)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from edge_server import EdgeServer

BIG = 3 * 1024 * 1024  # a body large enough to go out through a named pipe


def pipe_folders(store_tmp: Path, system_tmp: Path) -> set[Path]:
    found = {p for p in store_tmp.glob("pipes-*") if p.is_dir()}
    return found | {p for p in system_tmp.glob("fallthrough-pipes-*") if p.is_dir()}


def test_the_next_start_removes_the_pipe_folders_of_a_killed_node(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    system_tmp = tmp_path / "system-tmp"  # the server's own temporary directory, watched here
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    site = tmp_path / "site"
    site.mkdir()
    body = os.urandom(BIG)
    (site / "big.bin").write_bytes(body)
    store_tmp = tmp_path / "store" / "tmp"
    server = EdgeServer(tmp_path, f'[[mount]]\nurl_prefix = "/f"\norigin = "file://{site}"\n', workers=2)
    server.start()
    try:
        for _ in range(6):
            assert server.get("/f/big.bin").body == body
        made = pipe_folders(store_tmp, system_tmp)
        assert made, "the workers made no pipe folder"
        process = server.process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        server.process = None
        assert pipe_folders(store_tmp, system_tmp) == made  # nobody was left to remove them
        server.start()
        assert not pipe_folders(store_tmp, system_tmp) & made
        assert server.get("/f/big.bin").body == body  # and pipes are made again
        assert pipe_folders(store_tmp, system_tmp)
    finally:
        server.stop()
    assert not pipe_folders(store_tmp, system_tmp)  # a clean stop removes its own


def test_a_dead_workers_source_files_go_and_a_live_ones_stay(tmp_path: Path) -> None:
    """A transform's source is a named file (the image library opens it by name); one a
    killed worker left is removed at the next start, one a running worker uses is not."""
    from fallthrough.server.pipes import remove_dead

    child = subprocess.Popen(["true"])
    child.wait()  # a pid that no process has now
    dead = tmp_path / f"source-{child.pid}-abc123"
    live = tmp_path / f"source-{os.getpid()}-def456"
    other = tmp_path / "fill-notours"
    for path in (dead, live, other):
        path.write_bytes(b"x")
    assert remove_dead(str(tmp_path)) == [dead.name]
    assert not dead.exists() and live.exists() and other.exists()
