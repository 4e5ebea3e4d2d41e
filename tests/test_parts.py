"""Parts: stored 206 responses (RFC 9111 §3.3, §3.4). The pure rules with hypothesis,
then the whole story end to end through the real server."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_server import EdgeServer
from fallthrough.cache.parts import content_range, covering, marker, requested, resolve, split_variant
from fallthrough.server.ranges import parse_range
from origin_server import OriginServer

# -- the rules -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("bytes 0-4/10", (0, 5, 10)),
    ("bytes 9-9/10", (9, 10, 10)),
    (" bytes 4-9/10 ", (4, 10, 10)),
    ("bytes 4-10/10", None),  # past the end
    ("bytes 5-4/10", None),
    ("bytes 0-4/*", None),  # unknown length: nothing to place it in
    ("bytes */10", None),  # an unsatisfied range
    ("items 0-4/10", None), ("bytes 0-4", None), ("bytes -1-4/10", None), (None, None), ("", None),
    ("bytes 0-4/10, bytes 5-6/10", None),
])
def test_content_range(value: str | None, expected: tuple[int, int, int] | None) -> None:
    assert content_range(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("bytes=0-99", (0, 99)), ("bytes=100-", (100, None)), ("bytes=-500", (None, 500)), (" bytes=5-5 ", (5, 5)),
    ("bytes=0-", (0, None)),
    ("bytes=-0", None), ("bytes=-", None), ("bytes=9-5", None), ("bytes=0-1,5-6", None), ("items=0-1", None),
    ("bytes=a-b", None), (None, None),
])
def test_requested(value: str | None, expected: tuple[int | None, int | None] | None) -> None:
    assert requested(value) == expected


@given(st.one_of(st.tuples(st.integers(0, 300), st.none() | st.integers(0, 300)),
                 st.tuples(st.none(), st.integers(1, 300))), st.integers(1, 250))  # a part has a byte
def test_resolve_agrees_with_the_edge_s_range_rules(asked: tuple[int | None, int | None], total: int) -> None:
    first, last = asked
    if first is not None and last is not None and last < first:
        return
    spec = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    edge = parse_range(spec, total)
    assert resolve(asked, total) == (edge[0] if isinstance(edge, list) else None)


@given(st.text())
def test_the_parsers_never_raise(text: str) -> None:
    content_range(text)
    requested(text)


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(1, 10**12), st.lists(st.text(max_size=3)))
def test_a_marker_is_read_back_and_never_looks_like_a_variant(a: int, b: int, total: int, base: list[str]) -> None:
    variant = (*base, marker(a, b, total))
    assert split_variant(variant) == (tuple(base), (a, b, total))
    assert split_variant(tuple(base)) is None or any("\x00" in v for v in base)


@given(st.integers(1, 200), st.data())
def test_covering_gives_contiguous_pieces_inside_their_spans(total: int, data: st.DataObject) -> None:
    spans = data.draw(st.lists(st.tuples(st.integers(0, total - 1), st.integers(1, total)).map(
        lambda t: (min(t[0], t[1] - 1), max(t[0] + 1, t[1]))), max_size=8))
    pieces = covering(spans, total)
    held = set().union(*(range(a, b) for a, b in spans)) if spans else set()
    if pieces is None:
        assert held != set(range(total))
        return
    assert held >= set(range(total))
    reached = 0
    for index, start, end in pieces:
        assert start == reached and spans[index][0] <= start < end <= spans[index][1]
        reached = end
    assert reached == total


# -- end to end ----------------------------------------------------------------------

BODY = os.urandom(1_000_000)


@pytest.fixture
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        server.put("/v.mp4", BODY, headers={"Cache-Control": "max-age=600"}, etag='"v1"')
        server.put("/weak", BODY, headers={"Cache-Control": "max-age=600"}, etag='W/"w"')
        server.put("/none", BODY, headers={"Cache-Control": "max-age=600"})
        yield server


@pytest.fixture
def edge(tmp_path: Path, origin: OriginServer) -> Iterator[EdgeServer]:
    with EdgeServer(tmp_path, f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n', workers=1) as server:
        yield server


def ranges_asked(origin: OriginServer, path: str) -> list[str | None]:
    return [r.headers.get("range") for r in origin.requests(path)]


def test_a_seek_fetches_and_keeps_only_its_range(edge: EdgeServer, origin: OriginServer) -> None:
    first = edge.get("/o/v.mp4", headers={"Range": "bytes=500000-599999"})
    assert (first.status, first.header("content-range"), first.body) == (
        206, "bytes 500000-599999/1000000", BODY[500000:600000])
    assert ranges_asked(origin, "/v.mp4") == ["bytes=500000-599999"]  # not the whole object
    edge.wait_idle()
    again = edge.get("/o/v.mp4", headers={"Range": "bytes=500000-599999"})
    inside = edge.get("/o/v.mp4", headers={"Range": "bytes=550000-550009"})
    assert (again.status, again.header("x-cache"), again.body) == (206, "HIT", BODY[500000:600000])
    assert (inside.status, inside.header("x-cache"), inside.body) == (206, "HIT", BODY[550000:550010])
    assert inside.header("content-range") == "bytes 550000-550009/1000000"
    assert len(origin.requests("/v.mp4")) == 1
    outside = edge.get("/o/v.mp4", headers={"Range": "bytes=599990-600009"})  # runs past the part
    assert (outside.status, outside.body) == (206, BODY[599990:600010])
    assert ranges_asked(origin, "/v.mp4")[-1] == "bytes=599990-600009"


def test_a_part_is_never_served_as_the_whole(edge: EdgeServer, origin: OriginServer) -> None:
    edge.get("/o/v.mp4", headers={"Range": "bytes=-1000"})  # the tail, as a format's index is read
    edge.wait_idle()
    assert edge.get("/o/v.mp4", headers={"Range": "bytes=-1000"}).header("x-cache") == "HIT"
    whole = edge.get("/o/v.mp4")
    assert (whole.status, whole.header("x-cache"), whole.header("content-length")) == (200, "MISS", "1000000")
    assert hashlib.sha256(whole.body).digest() == hashlib.sha256(BODY).digest()
    assert ranges_asked(origin, "/v.mp4") == ["bytes=-1000", None]
    head = edge.get("/o/v.mp4", method="HEAD", headers={"Range": "bytes=-1000"})
    assert head.status in (200, 206)


def test_parts_with_a_strong_etag_that_meet_become_the_whole(edge: EdgeServer, origin: OriginServer) -> None:
    for spec in ("bytes=0-399999", "bytes=300000-"):
        assert edge.get("/o/v.mp4", headers={"Range": spec}).status == 206
        edge.wait_idle()
    # The parts are combined in the background once the second is stored.
    deadline = time.monotonic() + 10
    while edge.get("/o/v.mp4", headers={"Cache-Control": "only-if-cached"}).status != 200:
        assert time.monotonic() < deadline, "the parts were never combined"
        time.sleep(0.02)
    whole = edge.get("/o/v.mp4")
    assert (whole.status, whole.header("x-cache"), whole.body == BODY) == (200, "HIT", True)
    assert ranges_asked(origin, "/v.mp4") == ["bytes=0-399999", "bytes=300000-"]


@pytest.mark.parametrize("path", ["/weak", "/none"])
def test_parts_without_a_strong_validator_are_never_combined(edge: EdgeServer, origin: OriginServer,
                                                             path: str) -> None:
    for spec in ("bytes=0-499999", "bytes=500000-"):
        edge.get("/o" + path, headers={"Range": spec})
        edge.wait_idle()
    assert edge.get("/o" + path, headers={"Range": "bytes=10-19"}).header("x-cache") == "HIT"  # each part serves
    whole = edge.get("/o" + path)
    assert (whole.header("x-cache"), whole.body == BODY) == ("MISS", True)


def test_the_same_range_asked_at_once_is_one_origin_request(edge: EdgeServer, origin: OriginServer) -> None:
    origin.put("/slow", BODY, headers={"Cache-Control": "max-age=600"}, etag='"s"', delay=0.5)
    replies = []

    def ask() -> None:
        replies.append(edge.get("/o/slow", headers={"Range": "bytes=1000-1999"}))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [(r.status, r.body) for r in replies] == [(206, BODY[1000:2000])] * 5
    assert len(origin.requests("/slow")) == 1


def test_a_206_that_disagrees_with_itself_is_not_kept(edge: EdgeServer, origin: OriginServer) -> None:
    """Content-Range says six bytes, the body has five: passed on as the origin sent it,
    never stored, never served to anyone else."""
    origin.put("/liar", b"01234", status=206, headers={"Cache-Control": "max-age=600", "Content-Range": "bytes 4-9/10"})
    first = edge.get("/o/liar", headers={"Range": "bytes=4-9"})
    assert first.status == 206 and first.body == b"01234"
    edge.wait_idle()
    edge.get("/o/liar", headers={"Range": "bytes=4-9"})
    assert len(origin.requests("/liar")) == 2


def test_parts_outlive_a_restart(tmp_path: Path, origin: OriginServer) -> None:
    mount = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
    with EdgeServer(tmp_path, mount) as edge:
        edge.get("/o/v.mp4", headers={"Range": "bytes=1000-1999"})
        edge.wait_idle()
    with EdgeServer(tmp_path, mount) as edge:
        again = edge.get("/o/v.mp4", headers={"Range": "bytes=1500-1599"})
        assert (again.header("x-cache"), again.body) == ("HIT", BODY[1500:1600])
    assert len(origin.requests("/v.mp4")) == 1
