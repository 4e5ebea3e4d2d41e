"""Failures behind the edge, through the real server: what the client is told (words, no
addresses, no library text) and what the node's log says (the key, the origin, the
reason, once per failure), and the origin's time in the access log."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import time
from pathlib import Path

from edge_server import EdgeServer, request
from hostile_origin import Fault, HostileOrigin
from origin_server import OriginServer
from test_access_log import COMBINED, lines_for, until


def dead_port() -> int:
    """A port nobody listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_says_nothing_of_the_origin(body: bytes, port: int) -> None:
    for leak in (b"127.0.0.1", str(port).encode(), b"Traceback", b"Errno", b"secret", b"Connect call"):
        assert leak not in body, (leak, body)


def node_log(edge: EdgeServer) -> list[str]:
    return edge.log.read_text(errors="replace").splitlines()


def test_a_refused_origin_is_a_502_in_words_and_a_line_naming_key_origin_and_reason(tmp_path: Path) -> None:
    port = dead_port()
    mounts = (f'[[mount]]\nurl_prefix = "/o"\norigin = "http://keeper:secret@127.0.0.1:{port}/base"\n'
              'connect_timeout = "1s"\n')
    with EdgeServer(tmp_path, mounts) as edge:
        reply = edge.get("/o/a.txt")
        assert reply.status == 502
        assert reply.body == b"upstream failed: the origin could not be reached\n"
        assert_says_nothing_of_the_origin(reply.body, port)
        posted = edge.get("/o/form", method="POST", body=b"x=1")  # not a fill: the edge asks itself
        assert posted.status == 502
        assert_says_nothing_of_the_origin(posted.body, port)
        until(lambda: any("/o/form" in line for line in node_log(edge)))
    lines = node_log(edge)
    origin = f"origin http://127.0.0.1:{port}/base"
    for key in ("/o/a.txt", "/o/form"):
        line = next(line for line in lines if line.lower().startswith(f"fallthrough: warning: {key}: "))
        assert origin in line and "cannot connect: connection refused" in line, line
    assert "answered 502" in next(line for line in lines if "/o/form" in line)
    assert not any("secret" in line or "keeper" in line for line in lines)  # the URL's credentials


def test_a_fill_that_fails_is_one_line_for_all_who_waited(tmp_path: Path) -> None:
    with HostileOrigin() as hostile:
        hostile.put("/slow", b"x" * 1000, fault=Fault.stall_before_headers(30))
        log = tmp_path / "access.log"
        mounts = (f'[log]\naccess = true\nfile = "{log}"\n'
                  f'[[mount]]\nurl_prefix = "/h"\norigin = "{hostile.url}"\nread_timeout = "1s"\n')
        with EdgeServer(tmp_path, mounts) as edge:
            with concurrent.futures.ThreadPoolExecutor(4) as clients:
                replies = list(clients.map(lambda _: edge.get("/h/slow"), range(4)))
            assert [r.status for r in replies] == [504] * 4
            for reply in replies:
                assert reply.body == b"upstream failed: the origin did not answer in time\n"
                assert_says_nothing_of_the_origin(reply.body, hostile.port)
            until(lambda: len(lines_for(log, "/h/slow")) == 4)
    failures = [line for line in node_log(edge) if "/h/slow" in line and "warning" in line.lower()]
    assert len(failures) == 1, failures
    assert f"origin {hostile.url}" in failures[0] and "timed out" in failures[0], failures[0]
    # Every request waited on the origin for about the read timeout: its upstream time says so.
    for line in lines_for(log, "/h/slow"):
        fields = COMBINED.fullmatch(line)
        assert fields is not None and fields.group(4) == "504", line
        assert 0.5 < float(fields.group(10)) <= float(fields.group(9)), line


def test_an_origin_answering_503_is_logged_once_and_passed_on(tmp_path: Path) -> None:
    with HostileOrigin() as hostile:
        hostile.put("/busy", b"x", fault=Fault.status(503))
        mounts = f'[[mount]]\nurl_prefix = "/h"\norigin = "{hostile.url}"\n'
        with EdgeServer(tmp_path, mounts) as edge:
            assert edge.get("/h/busy").status == 503
            until(lambda: any("/h/busy" in line for line in node_log(edge)))
    lines = [line for line in node_log(edge) if "/h/busy" in line]
    assert len(lines) == 1 and f"/h/busy: origin {hostile.url}: answered 503" in lines[0], lines


def test_upstream_time_in_both_formats(tmp_path: Path) -> None:
    with OriginServer() as origin:
        origin.put("/a", b"y" * 100, headers={"Cache-Control": "max-age=600"}, delay=0.3)
        for form in ("combined", "json"):
            log = tmp_path / f"{form}.log"
            mounts = (f'[log]\naccess = true\nformat = "{form}"\nfile = "{log}"\n'
                      f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n')
            (tmp_path / form).mkdir()
            with EdgeServer(tmp_path / form, mounts) as edge:
                with concurrent.futures.ThreadPoolExecutor(2) as clients:
                    first = clients.submit(edge.get, "/o/a")
                    time.sleep(0.15)  # joins the fill half way through the origin's delay
                    follower = clients.submit(edge.get, "/o/a")
                    assert first.result().header("x-cache") == follower.result().header("x-cache") == "MISS"
                edge.wait_idle()
                assert request(edge.url + "/o/a").header("x-cache") == "HIT"
                until(lambda: len(lines_for(log, "/o/a")) == 3)
            if form == "json":
                records = [json.loads(line) for line in lines_for(log, "/o/a")]
                times = sorted((r["upstream_time"] is not None, r["upstream_time"] or 0.0, r["duration"])
                               for r in records)
            else:
                matches = [COMBINED.fullmatch(line) for line in lines_for(log, "/o/a")]
                assert all(matches), lines_for(log, "/o/a")
                times = sorted((m.group(10) != "-", float(m.group(10)) if m.group(10) != "-" else 0.0,  # type: ignore[union-attr]
                                float(m.group(9))) for m in matches)  # type: ignore[union-attr]
            (hit, _, _), (_, joined, _), (_, led, took) = times
            assert hit is False  # the hit asked no origin: "-" / null
            assert 0.25 < led <= took  # the request that led the fill: the origin's whole delay
            assert 0.05 < joined < led  # the one that joined it: the time it waited on the fill


def test_an_origin_is_named_without_its_credentials() -> None:
    from fallthrough.cache.origin import origin_label
    assert origin_label("http://u:p@host:8080/base") == "http://host:8080/base"
    assert origin_label("https://a@b@h/") == "https://h/"
    assert origin_label("s3://bucket/prefix") == "s3://bucket/prefix"
    assert origin_label("generator:module:function") == "generator:module:function"


def test_an_origin_that_keeps_failing_is_counted_past_its_lines(monkeypatch, caplog) -> None:  # noqa: ANN001
    """A flood of one origin's failures: LINES_PER_WINDOW lines, then one line saying how
    many more there were; another origin's lines are not held back meanwhile."""
    import logging
    import types

    from fallthrough.cache import failure_log
    clock = [1000.0]
    monkeypatch.setattr(failure_log, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(failure_log, "_windows", {})
    with caplog.at_level(logging.WARNING, logger=failure_log.__name__):
        for i in range(failure_log.LINES_PER_WINDOW + 50):
            failure_log.failed(f"/k{i}", "http://down.example", "cannot connect: connection refused")
        failure_log.failed("/other", "http://up.example", "answered 503")
        clock[0] += failure_log.WINDOW  # the next window: the held ones are said
        failure_log.failed("/again", "http://down.example", "cannot connect: connection refused")
    lines = [r.getMessage() for r in caplog.records]
    down = [line for line in lines if line.startswith("/k")]
    assert len(down) == failure_log.LINES_PER_WINDOW
    assert "/other: origin http://up.example: answered 503" in lines
    assert "origin http://down.example: 50 more failure(s) in 10 s, not written one by one" in lines
    assert lines[-1] == "/again: origin http://down.example: cannot connect: connection refused"
