"""RFC 9111 / 9110 rules of a shared cache, end to end through the real server.

Each test is a rule the public HTTP caching suite checks, written as the client and the
origin see it: what the origin sent, what each client got, how often the origin was
asked. The rules' pure parts are tested with hypothesis in test_http_rules.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_server import EdgeServer
from fallthrough.cache.headers import format_http_date
from origin_server import OriginServer


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, origin: OriginServer) -> Iterator[EdgeServer]:
    mount = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\nstale_while_revalidate = "0s"\n'
    with EdgeServer(tmp_path_factory.mktemp("rules"), mount) as server:
        yield server


_names = iter(range(10**9))


def fresh_path(name: str) -> str:
    """A path no other test of the module used (the edge and origin are shared)."""
    return f"/{name}-{next(_names)}"


# -- Age: one source of truth (RFC 9111 §4.2.3, §5.1) -----------------------------------


@pytest.mark.parametrize("request_headers", [{}, {"Cache-Control": "max-stale=0"}, {"Pragma": "x"}])
def test_an_age_past_max_age_is_stale_on_every_path(edge: EdgeServer, origin: OriginServer,
                                                    request_headers: dict[str, str]) -> None:
    path = fresh_path("old")
    origin.put(path, b"old", headers={"Cache-Control": "max-age=3600", "Age": "7200"})
    first = edge.get("/o" + path)
    assert first.status == 200 and int(first.header("age")) >= 7200  # a miss says its age too
    edge.wait_idle()
    second = edge.get("/o" + path, headers=request_headers)
    assert second.header("x-cache") != "HIT"
    assert origin.count(path) == 2


def test_a_hit_counts_the_origin_age_plus_its_time_here(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("aged")
    origin.put(path, b"x", headers={"Cache-Control": "max-age=600", "Age": "30"})
    edge.get("/o" + path)
    edge.wait_idle()
    time.sleep(1.1)
    for headers in ({}, {"Cache-Control": "max-age=500"}):
        hit = edge.get("/o" + path, headers=headers)
        assert hit.header("x-cache") == "HIT" and int(hit.header("age")) >= 31


def test_a_passed_through_response_keeps_its_age(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("private")
    origin.put(path, b"x", headers={"Cache-Control": "private", "Age": "12"})
    reply = edge.get("/o" + path)
    assert reply.status == 200 and reply.header("age") == "12"


# -- storing header fields (RFC 9111 §3.1, §5.2.2.4, §5.2.2.7) ---------------------------


def test_a_fresh_response_that_sets_a_cookie_is_stored_with_it(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("cookie")
    origin.put(path, b"page", headers={"Cache-Control": "max-age=600", "Set-Cookie": "a=b"})
    first = edge.get("/o" + path)
    edge.wait_idle()
    hit = edge.get("/o" + path)
    assert (first.header("set-cookie"), hit.header("x-cache"), hit.header("set-cookie")) == ("a=b", "HIT", "a=b")
    assert origin.count(path) == 1


def test_a_cookie_with_only_heuristic_freshness_is_never_shared(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("heuristic-cookie")
    origin.put(path, b"page", headers={"Set-Cookie": "id=1"}, last_modified=time.time() - 86400)
    assert edge.get("/o" + path).header("set-cookie") == "id=1"
    edge.wait_idle()
    again = edge.get("/o" + path)
    assert again.header("x-cache") != "HIT" and origin.count(path) == 2


@pytest.mark.parametrize("directive", ['private="Set-Cookie"', 'no-cache="Set-Cookie, X-Session"'])
def test_withheld_fields_go_to_the_fetching_client_only(edge: EdgeServer, origin: OriginServer,
                                                        directive: str) -> None:
    path = fresh_path("withheld")
    origin.put(path, b"page", headers={"Cache-Control": f"max-age=600, {directive}", "Set-Cookie": "id=1",
                                       "X-Session": "s1", "X-Kept": "k"})
    first = edge.get("/o" + path)
    assert first.header("set-cookie") == "id=1"
    edge.wait_idle()
    hit = edge.get("/o" + path)
    assert (hit.header("x-cache"), hit.header("set-cookie"), hit.header("x-kept")) == ("HIT", None, "k")
    if "X-Session" in directive:
        assert first.header("x-session") == "s1" and hit.header("x-session") is None
    assert origin.count(path) == 1


def test_store_set_cookie_off_keeps_cookies_out(tmp_path: Path, origin: OriginServer) -> None:
    mount = (f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\nstore_set_cookie = false\n')
    path = fresh_path("no-cookies")
    origin.put(path, b"page", headers={"Cache-Control": "max-age=600", "Set-Cookie": "id=1"})
    with EdgeServer(tmp_path, mount) as server:
        server.get("/o" + path)
        server.wait_idle()
        assert server.get("/o" + path).header("x-cache") != "HIT"
        assert origin.count(path) == 2


def test_a_content_range_on_a_200_is_stored_and_ranges_get_their_own(edge: EdgeServer,
                                                                     origin: OriginServer) -> None:
    path = fresh_path("content-range")
    origin.put(path, b"0123456789", headers={"Cache-Control": "max-age=600", "Content-Range": "bytes 0-9/10"})
    edge.get("/o" + path)
    edge.wait_idle()
    hit = edge.get("/o" + path)
    assert (hit.header("x-cache"), hit.header("content-range")) == ("HIT", "bytes 0-9/10")
    part = edge.get("/o" + path, headers={"Range": "bytes=2-4"})
    assert (part.status, part.body, part.headers.get_all("content-range")) == (206, b"234", ["bytes 2-4/10"])


# -- methods (RFC 9110 §9.1, RFC 9111 §4.4) ----------------------------------------------


def test_an_extension_method_is_forwarded_and_its_success_invalidates(edge: EdgeServer,
                                                                       origin: OriginServer) -> None:
    path = fresh_path("search")
    origin.put(path, b"v1", headers={"Cache-Control": "max-age=600"})
    edge.get("/o" + path)
    edge.wait_idle()
    assert edge.get("/o" + path).header("x-cache") == "HIT"
    answer = edge.get("/o" + path, method="M-SEARCH")
    assert (answer.status, answer.body) == (200, b"ok")
    assert [r.method for r in origin.requests(path)] == ["GET", "M-SEARCH"]
    assert origin.requests(path)[1].body == b""
    assert edge.get("/o" + path).header("x-cache") == "MISS"  # the success invalidated it


def test_connect_is_not_forwarded(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("tunnel")
    assert edge.get("/o" + path, method="CONNECT").status in (400, 405)
    assert origin.requests(path) == []


# -- stale when the origin is unreachable (RFC 9111 §4.2.4) -------------------------------


def test_a_stale_entry_stands_in_while_the_origin_is_unreachable(tmp_path: Path) -> None:
    with OriginServer() as origin:
        origin.put("/a", b"kept", headers={"Cache-Control": "max-age=1"})
        origin.put("/strict", b"strict", headers={"Cache-Control": "max-age=1, must-revalidate"})
        mount = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\nconnect_timeout = "1s"\n'
        with EdgeServer(tmp_path, mount) as edge:
            edge.get("/o/a")
            edge.get("/o/strict")
            edge.wait_idle()
            origin.stop()  # nothing listens on its port any more
            time.sleep(1.2)
            stale = edge.get("/o/a")
            assert (stale.status, stale.body, stale.header("x-cache")) == (200, b"kept", "STALE")
            assert edge.get("/o/strict").status == 504  # must-revalidate: never stale (RFC 9111 §5.2.2.2)
    with OriginServer() as origin:
        origin.put("/a", b"kept", headers={"Cache-Control": "max-age=1"})
        mount = (f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\nconnect_timeout = "1s"\n'
                 f'stale_if_unreachable = "0s"\n')
        (tmp_path / "off").mkdir()
        with EdgeServer(tmp_path / "off", mount) as edge:
            edge.get("/o/a")
            edge.wait_idle()
            origin.stop()
            time.sleep(1.2)
            assert edge.get("/o/a").status == 504


# -- CDN-Cache-Control (RFC 9213) --------------------------------------------------------


def test_cdn_cache_control_rules_this_cache_and_stays_here(edge: EdgeServer, origin: OriginServer) -> None:
    long_for_us = fresh_path("cdn-long")
    origin.put(long_for_us, b"x", headers={"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"})
    short_for_us = fresh_path("cdn-short")
    origin.put(short_for_us, b"y", headers={"Cache-Control": "max-age=600", "CDN-Cache-Control": "no-store"})
    for path in (long_for_us, short_for_us):
        first = edge.get("/o" + path)
        assert first.header("cdn-cache-control") is None  # for this cache, not for clients
        edge.wait_idle()
    hit = edge.get("/o" + long_for_us)
    assert (hit.header("x-cache"), hit.header("cache-control"), hit.header("cdn-cache-control")) == (
        "HIT", "no-store", None)
    assert edge.get("/o" + short_for_us).header("x-cache") == "MISS"
    assert (origin.count(long_for_us), origin.count(short_for_us)) == (1, 2)


def test_a_mount_names_its_own_targeted_field_and_may_forward_it(tmp_path: Path, origin: OriginServer) -> None:
    path = fresh_path("own-field")
    origin.put(path, b"x", headers={"Cache-Control": "max-age=600", "Edge-Cache-Control": "no-store",
                                    "CDN-Cache-Control": "max-age=600"})
    mount = (f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
             f'targeted_cache_control = ["Edge-Cache-Control", "CDN-Cache-Control"]\n'
             f'forward_targeted_cache_control = true\n')
    with EdgeServer(tmp_path, mount) as server:
        first = server.get("/o" + path)
        assert first.header("edge-cache-control") == "no-store"
        server.wait_idle()
        assert server.get("/o" + path).header("x-cache") == "MISS"
        assert origin.count(path) == 2


# -- Vary normalisation (RFC 9111 §4.1) and If-Modified-Since without Last-Modified ----


def test_equivalent_accept_language_values_share_a_variant(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("lang")
    origin.put(path, b"de", headers={"Cache-Control": "max-age=600", "Vary": "Accept-Language"})
    edge.get("/o" + path, headers={"Accept-Language": "en, de"})
    edge.wait_idle()
    for value in ("de, en", "eN, De", " en ,   de"):
        assert edge.get("/o" + path, headers={"Accept-Language": value}).header("x-cache") == "HIT"
    assert edge.get("/o" + path, headers={"Accept-Language": "fr"}).header("x-cache") == "MISS"
    assert origin.count(path) == 2


def test_if_modified_since_is_answered_from_the_date_without_last_modified(edge: EdgeServer,
                                                                           origin: OriginServer) -> None:
    path = fresh_path("no-lm")
    origin.put(path, b"x", headers={"Cache-Control": "max-age=600"})
    first = edge.get("/o" + path)
    edge.wait_idle()
    assert first.header("last-modified") is None and first.header("date") is not None
    later = format_http_date(time.time())  # not in the future, and no earlier than the Date
    reply = edge.get("/o" + path, headers={"If-Modified-Since": later})
    assert (reply.status, reply.body) == (304, b"")
    earlier = format_http_date(time.time() - 3600)
    assert edge.get("/o" + path, headers={"If-Modified-Since": earlier}).status == 200


def test_a_no_cache_request_does_not_take_a_fill_that_is_still_being_stored(tmp_path: Path, origin: OriginServer,
                                                                           s3_url: str) -> None:
    """A fill whose body has all arrived is joined as a hit; a request with no-cache must
    revalidate instead, even before the entry is indexed. The store here writes through
    to a bucket, so the entry is committed a while after the first client's body ended."""
    path = fresh_path("storing")
    body = os.urandom(16 * 1024 * 1024)
    origin.put(path, body, headers={"Cache-Control": "max-age=600"}, etag='"big"')
    store = f'write = "through"\n[[store.tier]]\nurl = "memory://"\n[[store.tier]]\nurl = "{s3_url}"\n'
    mount = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
    with EdgeServer(tmp_path, mount, store=store) as edge:
        assert edge.get("/o" + path).body == body
        reply = edge.get("/o" + path, headers={"Cache-Control": "no-cache"})
        assert reply.body == body and reply.header("x-cache") in ("REVALIDATED", "MISS")
        assert len(origin.requests(path)) == 2


# -- Cache-Status (RFC 9211) -------------------------------------------------------------


def _status(reply) -> dict[str, str | bool]:  # noqa: ANN001
    """Our member of Cache-Status as a dict of its parameters (True for bare ones)."""
    member = reply.header("cache-status").split(",")[-1].strip()
    name, *params = [p.strip() for p in member.split(";")]
    assert name == "fallthrough"
    return {k: (v if v else True) for k, _, v in (p.partition("=") for p in params)}


def test_cache_status_says_how_each_response_was_made(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("status")
    origin.put(path, b"x", headers={"Cache-Control": "max-age=600"}, etag='"s"')
    miss = _status(edge.get("/o" + path))
    assert miss["fwd"] == "uri-miss" and miss["fwd-status"] == "200" and miss["stored"] is True
    assert 590 <= int(miss["ttl"]) <= 600
    edge.wait_idle()
    hit = _status(edge.get("/o" + path))
    assert hit["hit"] is True and "fwd" not in hit and 590 <= int(hit["ttl"]) <= 600
    slow_hit = _status(edge.get("/o" + path, headers={"Range": "bytes=0-0"}))  # not the hot path
    assert slow_hit["hit"] is True
    revalidated = _status(edge.get("/o" + path, headers={"Cache-Control": "no-cache"}))
    assert (revalidated["fwd"], revalidated["fwd-status"]) == ("request", "304")
    passed = _status(edge.get("/o" + path, method="POST", body=b"x"))
    assert (passed["fwd"], passed["fwd-status"]) == ("method", "200") and "stored" not in passed
    private = fresh_path("status-private")
    origin.put(private, b"p", headers={"Cache-Control": "private"})
    answer = _status(edge.get("/o" + private))
    assert answer["fwd"] == "uri-miss" and "stored" not in answer


def test_a_fresh_post_answer_naming_its_own_uri_serves_later_gets(edge: EdgeServer, origin: OriginServer) -> None:
    """RFC 9110 §9.3.3: explicit freshness and a Content-Location equal to the target."""
    path = fresh_path("post")
    origin.put(path, b"ignored", headers={"Cache-Control": "max-age=600", "Content-Location": "/o" + path})
    posted = edge.get("/o" + path, method="POST", body=b"form")
    assert (posted.status, posted.body) == (200, b"ok")
    edge.wait_idle()
    got = edge.get("/o" + path)
    assert (got.header("x-cache"), got.body) == ("HIT", b"ok")
    assert [r.method for r in origin.requests(path)] == ["POST"]
    other = fresh_path("post-elsewhere")  # names another URI: passed through, nothing stored
    origin.put(other, b"x", headers={"Cache-Control": "max-age=600", "Content-Location": "/o/somewhere-else"})
    edge.get("/o" + other, method="POST", body=b"form")
    edge.wait_idle()
    assert edge.get("/o" + other).body == b"x" and origin.count(other) == 1


def test_a_stored_no_cache_response_is_revalidated_from_any_worker(tmp_path: Path, origin: OriginServer) -> None:
    """Two workers: the second request may reach the other worker while the first one's
    entry is being stored; once it holds the key's lock it finds that entry and must
    revalidate it (a conditional request), not fetch it whole again."""
    mount = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
    paths = [fresh_path("no-cache-workers") for _ in range(12)]
    for path in paths:
        origin.put(path, os.urandom(3_000_000), headers={"Cache-Control": "no-cache"}, etag='"nc"')
    with EdgeServer(tmp_path, mount, workers=2) as edge:
        for path in paths:
            assert edge.get("/o" + path).status == 200
            assert edge.get("/o" + path).status == 200
    second = [origin.requests(path)[1].headers.get("if-none-match") for path in paths]
    assert second == ['"nc"'] * len(paths)
