"""The access log's lines, made from notes as the server takes them: every request one
line, fields escaped as nginx escapes them, times right across a second's edge.

The scope here is a plain object with the fields the HTTP server's scope has; the tests
through the real server are in test_access_log.py."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fallthrough.config import LogSettings
from fallthrough.server.access_log import AccessLog

LINE = re.compile(r'(\S+) - - \[([^\]]+)\] "(\S+) ([^"]*) HTTP/([^" ]+)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" '
                  r"cache=(\S+) rt=(\d+\.\d{6}) ut=(-|\d+\.\d{6})")


@dataclass
class Scope:
    path: str = "/o/a"
    query_string: str = ""
    method: str = "GET"
    client: str = "192.0.2.7:50123"
    http_version: str = "1.1"
    headers: dict[str, str] = field(default_factory=dict)


def unescaped(text: str) -> str:
    """A field as it was sent: each run of \\xHH is UTF-8."""
    return re.sub(r"(?:\\x[0-9A-F]{2})+", lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode(), text)


def lines_of(tmp_path: Path, form: str, *requests: Scope, took: float = 0.0) -> list[str]:
    log = AccessLog(LogSettings(access=True, format=form, file=str(tmp_path / f"{form}.log")))
    for scope in requests:
        log.note(scope, 200, 10, time.monotonic() - took, "MISS", 0.25)
    log.close()
    return (tmp_path / f"{form}.log").read_text().splitlines()


# Text a client may send: printable, quotes, backslashes, control bytes, newlines, beyond ASCII.
sent = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(path=sent, query=sent, referer=sent, agent=sent)
def test_whatever_the_client_sent_is_one_line_that_reads_back(tmp_path_factory, path: str, query: str,  # noqa: ANN001
                                                               referer: str, agent: str) -> None:
    tmp = tmp_path_factory.mktemp("log")
    plain = Scope(path="/plain", headers={"referer": "http://r/", "user-agent": "ua/1"})
    hostile = Scope(path="/" + path, query_string=query, headers={"referer": referer, "user-agent": agent})
    lines = lines_of(tmp, "combined", plain, hostile, plain)
    assert len(lines) == 3  # nothing a client sends splits a line or joins two
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert parsed[0].group(4, 8, 9) == parsed[2].group(4, 8, 9) == ("/plain", "http://r/", "ua/1")  # type: ignore[union-attr]
    got = parsed[1]
    target = "/" + path + ("?" + query if query else "")
    assert unescaped(got.group(4)) == target  # type: ignore[union-attr]
    assert unescaped(got.group(8)) == (referer or "-")  # type: ignore[union-attr]
    assert unescaped(got.group(9)) == (agent or "-")  # type: ignore[union-attr]

    record = json.loads(lines_of(tmp, "json", hostile)[0])
    assert (record["target"], record["referer"] or "-", record["user_agent"] or "-") == (
        target, referer or "-", agent or "-")


def test_a_header_that_is_absent_is_a_dash_and_the_port_is_not_the_address(tmp_path: Path) -> None:
    [line] = lines_of(tmp_path, "combined", Scope(query_string="v=1&w=2"))
    got = LINE.fullmatch(line)
    assert got is not None
    assert got.group(1, 3, 4, 5, 6, 7, 8, 9, 10, 12) == (
        "192.0.2.7", "GET", "/o/a?v=1&w=2", "1.1", "200", "10", "-", "-", "MISS", "0.250000")
    [record] = lines_of(tmp_path, "json", Scope())  # a file of its own (json.log)
    assert json.loads(record)["referer"] is None and json.loads(record)["user_agent"] is None


def test_rt_is_the_time_taken_in_whole_microseconds(tmp_path: Path) -> None:
    for i, (took, shown) in enumerate(((0.0, 0.0), (0.004, 0.004), (2.5, 2.5), (75.25, 75.25))):
        (tmp_path / str(i)).mkdir()
        [line] = lines_of(tmp_path / str(i), "combined", Scope(), took=took)
        rt = float(LINE.fullmatch(line).group(11))  # type: ignore[union-attr]
        assert shown <= rt < shown + 0.01, (took, line)  # the note is taken a moment after `took` is measured


def test_each_line_has_the_second_its_request_ended(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    log = AccessLog(LogSettings(access=True, file=str(tmp_path / "a.log")))
    edge = int(time.time()) + 5  # a wall-clock second's edge, in the log's monotonic terms
    for at in (edge - 0.001, edge - 0.0005, edge + 0.0001):
        monkeypatch.setattr("fallthrough.server.access_log._monotonic", lambda at=at: at - log._wall)
        log.note(Scope(), 200, 1, at - log._wall, "HIT")
    log.close()
    stamps = [LINE.fullmatch(line).group(2) for line in (tmp_path / "a.log").read_text().splitlines()]  # type: ignore[union-attr]
    before, after = (time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(s)) for s in (edge - 1, edge))
    assert stamps == [before, before, after]


@settings(max_examples=50, deadline=None)
@given(requests=st.lists(st.tuples(st.sampled_from(["/o/a", "/o/b", "/o/a\"b"]), st.sampled_from(["", "v=1"]),
                                   st.sampled_from(["GET", "HEAD"]), st.sampled_from(["1.1", "2"]),
                                   st.sampled_from([{}, {"user-agent": "wrk"}, {"referer": "http://r/", "user-agent": "x"}]),
                                   st.sampled_from([200, 404]), st.sampled_from([0, 10, 4096]),
                                   st.sampled_from(["HIT", "MISS", ""])), min_size=1, max_size=60))
def test_requests_alike_but_for_one_field_each_get_their_own_line(tmp_path_factory, requests) -> None:  # noqa: ANN001
    """Lines are made from parts kept for the requests seen before (the same few, mostly):
    however they repeat or differ, each line says its own request's fields."""
    path = tmp_path_factory.mktemp("log") / "a.log"
    log = AccessLog(LogSettings(access=True, file=str(path)))
    for target, query, method, version, headers, status, size, cache in requests:
        scope = Scope(path=target, query_string=query, method=method, http_version=version, headers=headers)
        log.note(scope, status, size, time.monotonic(), cache)
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == len(requests)
    for line, (target, query, method, version, headers, status, size, cache) in zip(lines, requests, strict=True):
        got = LINE.fullmatch(line)
        assert got is not None, line
        assert got.group(3, 4, 5, 6, 7, 8, 9, 10) == (
            method, target.replace('"', "\\x22") + ("?" + query if query else ""), version, str(status), str(size),
            headers.get("referer", "-"), headers.get("user-agent", "-"), cache or "-")


def test_the_parts_kept_are_bounded_and_lines_stay_right_past_the_bound(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("fallthrough.server.access_log.MIDDLES", 2)
    log = AccessLog(LogSettings(access=True, file=str(tmp_path / "a.log")))
    for i in (1, 2, 3, 1, 4, 2):
        log.note(Scope(path=f"/o/{i}"), 200, i, time.monotonic(), "HIT")
    log.close()
    assert 0 < len(log._middles) <= 2
    lines = (tmp_path / "a.log").read_text().splitlines()
    assert [LINE.fullmatch(line).group(4, 7) for line in lines] == [  # type: ignore[union-attr]
        (f"/o/{i}", str(i)) for i in (1, 2, 3, 1, 4, 2)]


def test_a_long_part_of_a_line_is_written_but_not_kept(tmp_path: Path) -> None:
    """Clients that send long, ever new User-Agents do not fill the worker's memory."""
    log = AccessLog(LogSettings(access=True, file=str(tmp_path / "a.log")))
    for agent in ("short", "x" * 600):
        log.note(Scope(headers={"user-agent": agent}), 200, 1, time.monotonic(), "HIT")
    log.close()
    agents = [LINE.fullmatch(line).group(9) for line in (tmp_path / "a.log").read_text().splitlines()]  # type: ignore[union-attr]
    assert agents == ["short", "x" * 600]
    assert [key[6] for key in log._middles] == ["short"]
