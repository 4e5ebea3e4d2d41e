"""The access log through the real server: a line a request, both formats, rotation."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from edge_server import EdgeServer
from origin_server import OriginServer

COMBINED = re.compile(r'(\S+) - - \[[^\]]+\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]*)" '
                      r"cache=(\S+) rt=(\d+\.\d{6}) ut=(-|\d+\.\d{6})")


def until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.1)


def lines_for(log: Path, path: str) -> list[str]:
    if not log.exists():
        return []
    return [line for line in log.read_text().splitlines() if f" {path} " in line or f'"{path}"' in line]


def config(origin: OriginServer, log: Path, form: str) -> str:
    return (f'[log]\nlevel = "info"\naccess = true\nformat = "{form}"\nfile = "{log}"\n'
            f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n')


def test_every_request_gets_a_combined_line(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "access.log"  # its folder is made at start
    with OriginServer() as origin:
        origin.put("/a", b"x" * 1000, headers={"Cache-Control": "max-age=600"})
        with EdgeServer(tmp_path, config(origin, log, "combined"), workers=2) as edge:
            edge.get("/o/a", headers={"User-Agent": "tester/1", "Referer": "http://r/"})  # a miss
            edge.wait_idle()
            for _ in range(3):
                edge.get("/o/a")  # hits, the hot path among them
            edge.get("/o/a", method="HEAD")
            edge.get("/o/missing")
            edge.get("/nowhere")
            until(lambda: len(lines_for(log, "/o/a")) == 5 and lines_for(log, "/nowhere"))
    fields = [COMBINED.fullmatch(line) for line in lines_for(log, "/o/a")]
    assert all(fields), lines_for(log, "/o/a")
    # Two workers write their own batches: the lines are all there, not in request order.
    miss = next(f for f in fields if f.group(8) == "MISS")  # type: ignore[union-attr]
    assert miss.groups()[:7] == ("127.0.0.1", "GET", "/o/a", "200", "1000", "http://r/", "tester/1")
    assert miss.group(10) != "-" and float(miss.group(10)) <= float(miss.group(9))  # the origin's time, within rt
    assert all(f.group(10) == "-" for f in fields if f.group(8) == "HIT")  # type: ignore[union-attr]
    assert sorted((f.group(2), f.group(5), f.group(8)) for f in fields) == sorted(  # type: ignore[union-attr]
        [("GET", "1000", "MISS"), ("GET", "1000", "HIT"), ("GET", "1000", "HIT"), ("GET", "1000", "HIT"),
         ("HEAD", "0", "HIT")])
    assert COMBINED.fullmatch(lines_for(log, "/o/missing")[0]).group(4) == "404"
    assert COMBINED.fullmatch(lines_for(log, "/nowhere")[0]).group(4, 8) == ("404", "-")


def test_json_lines_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with OriginServer() as origin:
        origin.put("/a", b"y" * 10, headers={"Cache-Control": "max-age=600"})
        with EdgeServer(tmp_path, config(origin, log, "json")) as edge:
            edge.get("/o/a?v=1")
            until(lambda: bool(lines_for(log, "/o/a?v=1")))
            record = json.loads(lines_for(log, "/o/a?v=1")[0])
            assert (record["method"], record["status"], record["bytes"], record["cache"]) == ("GET", 200, 10, "MISS")
            assert record["protocol"] == "HTTP/1.1" and record["duration"] >= record["upstream_time"] >= 0
            os.rename(log, tmp_path / "access.log.1")  # as logrotate does
            os.kill(edge.process.pid, signal.SIGUSR1)  # the main process passes it on
            edge.get("/o/a?v=2")
            until(lambda: bool(lines_for(log, "/o/a?v=2")))
            assert edge.process.poll() is None and edge.get("/o/a?v=1").status == 200
    assert lines_for(tmp_path / "access.log.1", "/o/a?v=1") and not lines_for(tmp_path / "access.log.1", "/o/a?v=2")


def test_sigusr1_without_an_access_log_ends_nothing(tmp_path: Path) -> None:
    with OriginServer() as origin:
        origin.put("/a", b"z", headers={"Cache-Control": "max-age=600"})
        with EdgeServer(tmp_path, f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n', workers=2) as edge:
            os.kill(edge.process.pid, signal.SIGUSR1)
            time.sleep(0.5)
            assert edge.process.poll() is None
            assert all(edge.get("/o/a").status == 200 for _ in range(10))
