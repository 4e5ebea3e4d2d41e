"""The pure HTTP rules: header parsers (property tests) and RFC 9111 / 9110 decisions."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from fallthrough.cache.freshness import (
    CachePolicy,
    Freshness,
    classify,
    current_age,
    freshen_headers,
    freshness_lifetime,
    invalidates,
    may_serve_stale_on_error,
    stale_windows,
    storable,
    vary_key,
    vary_names,
)
from fallthrough.cache.headers import (
    delta_seconds,
    format_http_date,
    parse_cache_control,
    parse_etag_list,
    parse_http_date,
    parse_targeted,
    split_list,
    strong_match,
    weak_match,
)
from fallthrough.server.conditional import evaluate
from fallthrough.server.ranges import (
    UNSATISFIABLE,
    if_range_allows,
    multipart_length,
    multipart_parts,
    multipart_trailer,
    parse_range,
)

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
H = CIMultiDict
POLICY = CachePolicy()
NOW = 1_700_000_000.0


# -- parsers ----------------------------------------------------------------------


@given(st.text())
def test_parsers_never_raise(text: str) -> None:
    parse_cache_control(text)
    delta_seconds(text)
    parse_http_date(text)
    parse_etag_list(text)
    split_list(text)
    parse_range(text, 1000)
    parse_targeted(text)


@given(st.dictionaries(st.sampled_from(["max-age", "s-maxage", "no-store", "private", "x-ext"]),
                       st.one_of(st.just(True), st.integers(0, 10**12), st.text(st.characters(min_codepoint=32,
                                                                                                max_codepoint=126)))))
def test_targeted_fields_keep_well_typed_directives_only(members: dict[str, object]) -> None:
    """A targeted field's directives (RFC 9213): bare ones and Integers where a count is
    due, Strings for field lists; a member of any other type is dropped, never misread."""
    def member(name: str, value: object) -> str:
        if value is True:
            return name
        if isinstance(value, int):
            return f"{name}={value}"
        return f'{name}="' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    parsed = parse_targeted(", ".join(member(k, v) for k, v in members.items()))
    assert parsed is not None
    for name, value in members.items():
        if value is True:
            assert parsed[name] is None
        elif name in ("max-age", "s-maxage") and isinstance(value, int):
            assert parsed[name] == str(value)
        elif name == "private" and isinstance(value, str):
            assert parsed[name] == value
        else:
            assert name not in parsed


@given(st.dictionaries(TOKEN, st.one_of(st.none(), st.integers(0, 10**9).map(str), st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=10))))
def test_cache_control_round_trip(directives: dict[str, str | None]) -> None:
    def quoted(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    text = ", ".join(k if v is None else f"{k}={quoted(v)}" for k, v in directives.items())
    assert parse_cache_control(text) == directives


def test_cache_control_examples() -> None:
    assert parse_cache_control("Max-Age=60, no-cache, private=\"Set-Cookie, X\"") == {
        "max-age": "60", "no-cache": None, "private": "Set-Cookie, X"}
    assert parse_cache_control(["max-age=1", "max-age=2, s-maxage=3"]) == {"max-age": "1", "s-maxage": "3"}
    assert parse_cache_control("max-age=5, ==junk, public") == {"max-age": "5", "public": None}


@given(st.integers(0, 2**40))
def test_delta_seconds(n: int) -> None:
    assert delta_seconds(str(n)) == min(n, 2**31)
    assert delta_seconds(f"-{n}") is None and delta_seconds(f"{n}.5") is None


@given(st.integers(0, 4_102_444_800))
def test_http_date_round_trip(ts: int) -> None:
    assert parse_http_date(format_http_date(ts)) == ts


def test_three_date_forms_mean_the_same_moment() -> None:
    expected = 784111777.0
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == expected
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == expected
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == expected
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 PST") is None
    assert parse_http_date("yesterday") is None


def test_etags() -> None:
    assert parse_etag_list('"a", W/"b" ,"c"') == ['"a"', 'W/"b"', '"c"']
    assert parse_etag_list("*") == "*"
    assert parse_etag_list("a, b") is None
    assert strong_match('"a"', '"a"') and not strong_match('W/"a"', 'W/"a"')
    assert weak_match('W/"a"', '"a"') and not weak_match('"a"', '"b"')


@given(st.lists(st.text(alphabet="abc ,", max_size=8), max_size=5))
def test_split_list_agrees_with_a_simple_model(values: list[str]) -> None:
    model = [m.strip() for v in values for m in v.split(",") if m.strip()]
    assert split_list(values) == model


# -- RFC 9111 ---------------------------------------------------------------------


def test_lifetime_order_of_precedence() -> None:
    date = format_http_date(NOW)
    assert freshness_lifetime(200, H({"cache-control": "s-maxage=5, max-age=9"}), POLICY) == 5
    assert freshness_lifetime(200, H({"cache-control": "max-age=9", "expires": format_http_date(NOW + 99),
                                      "date": date}), POLICY) == 9
    assert freshness_lifetime(200, H({"expires": format_http_date(NOW + 99), "date": date}), POLICY) == 99
    assert freshness_lifetime(200, H({"expires": "garbage", "date": date}), POLICY) == 0  # §5.3
    heuristic = H({"last-modified": format_http_date(NOW - 1000), "date": date})
    assert freshness_lifetime(200, heuristic, POLICY) == 100
    assert freshness_lifetime(200, H(), POLICY) == 0  # no information: revalidate every time
    assert freshness_lifetime(200, H(), CachePolicy(default_ttl=60)) == 60
    assert freshness_lifetime(404, H(), POLICY) == 10
    assert freshness_lifetime(200, H({"cache-control": "max-age=999"}), CachePolicy(max_ttl=30)) == 30
    assert freshness_lifetime(200, H({"cache-control": "max-age=999, no-cache"}), POLICY) == 0
    assert freshness_lifetime(200, H({"cache-control": "max-age=999"}), CachePolicy(default_ttl=5, honour_origin=False)) == 5


@pytest.mark.parametrize(
    ("status", "request_headers", "response_headers", "expected"),
    [
        (200, {}, {"cache-control": "max-age=60"}, True),
        (200, {}, {"cache-control": "max-age=60, private"}, False),
        (200, {}, {"cache-control": "no-store"}, False),
        (200, {"cache-control": "no-store"}, {"cache-control": "max-age=60"}, False),
        (200, {"authorization": "x"}, {"cache-control": "max-age=60"}, False),
        (200, {"authorization": "x"}, {"cache-control": "max-age=60, public"}, True),
        (200, {}, {"cache-control": "max-age=60", "vary": "*"}, False),
        (200, {}, {"cache-control": "max-age=60", "set-cookie": "a=b"}, True),  # explicit freshness
        (200, {}, {"etag": '"1"', "set-cookie": "a=b"}, False),
        (200, {}, {"cache-control": "max-age=60, public", "set-cookie": "a=b"}, True),
        (200, {}, {}, False),  # nothing to reuse it by
        (200, {}, {"etag": '"1"'}, True),  # reusable after revalidation
        (206, {}, {"cache-control": "max-age=60"}, False),  # never a partial body
        (500, {}, {}, False),
        (500, {}, {"cache-control": "max-age=60"}, True),
        (404, {}, {}, True),  # negative caching by policy
    ],
)
def test_storable(status: int, request_headers: dict, response_headers: dict, expected: bool) -> None:
    assert storable("GET", status, H(request_headers), H(response_headers), POLICY) is expected


def test_only_get_is_stored() -> None:
    assert not storable("POST", 200, H(), H({"cache-control": "max-age=60"}), POLICY)


@given(st.floats(0, 1e6), st.floats(0, 100), st.floats(0, 1e6), st.integers(0, 10**6))
def test_current_age_is_never_less_than_resident_time_or_the_age_header(
    delay: float, network: float, resident: float, age_header: int,
) -> None:
    request_time = NOW
    response_time = NOW + network
    headers = H({"age": str(age_header), "date": format_http_date(NOW - delay)})
    age = current_age(headers, request_time, response_time, response_time + resident)
    assert age >= resident + age_header - 1e-6
    assert age >= resident - 1e-6  # floating point: (t + r) - t may come out a little under r


def test_classify_follows_request_directives() -> None:
    stored = H({"cache-control": "max-age=100"})

    def state(request: dict, elapsed: float) -> Freshness:
        return classify(response_headers=stored, request_headers=H(request), age=elapsed,
                        lifetime=freshness_lifetime(200, stored, POLICY, response_time=NOW), policy=POLICY)

    assert state({}, 50) is Freshness.FRESH
    assert state({}, 150) is Freshness.STALE
    assert state({"cache-control": "no-cache"}, 1) is Freshness.STALE
    assert state({"pragma": "no-cache"}, 1) is Freshness.STALE
    assert state({"cache-control": "max-age=10"}, 50) is Freshness.STALE
    assert state({"cache-control": "min-fresh=60"}, 50) is Freshness.STALE
    assert state({"cache-control": "max-stale=100"}, 150) is Freshness.STALE_SERVABLE
    assert state({"cache-control": "max-stale=10"}, 150) is Freshness.STALE


def test_stale_windows() -> None:
    policy = CachePolicy(stale_while_revalidate=30, stale_if_error=300)
    assert stale_windows(H(), policy) == (30, 300)
    assert stale_windows(H({"cache-control": "max-age=1, stale-while-revalidate=5"}), policy) == (5, 300)
    assert stale_windows(H({"cache-control": "max-age=1, must-revalidate"}), policy) == (0, 0)
    assert stale_windows(H({"cache-control": "s-maxage=1"}), policy) == (0, 0)  # implies proxy-revalidate
    assert may_serve_stale_on_error(response_headers=H(), request_headers=H(), current_age=200, lifetime=100,
                                    policy=policy)
    assert not may_serve_stale_on_error(response_headers=H(), request_headers=H(), current_age=500,
                                        lifetime=100, policy=policy)


def test_a_304_refreshes_headers_but_not_the_body_ones() -> None:
    stored = H({"content-length": "10", "etag": '"1"', "cache-control": "max-age=1", "x-kept": "yes"})
    updated = freshen_headers(stored, H({"content-length": "0", "cache-control": "max-age=60", "etag": '"1"'}))
    assert updated["cache-control"] == "max-age=60"
    assert updated["content-length"] == "10" and updated["x-kept"] == "yes"


def test_vary() -> None:
    assert vary_names(H({"vary": "Accept-Encoding, accept-language"})) == ["accept-encoding", "accept-language"]
    assert vary_names(H({"vary": "*"})) == "*"
    assert vary_key(["accept-language"], H({"Accept-Language": "fr  ,EN"})) == ("en, fr",)
    assert vary_key(["accept-language"], H()) == ("",)


def test_unsafe_methods_invalidate_on_success_only() -> None:
    assert invalidates("POST", 200) and invalidates("DELETE", 204) and invalidates("PUT", 302)
    assert not invalidates("POST", 500) and not invalidates("GET", 200) and not invalidates("POST", 404)


# -- RFC 9110 ranges and conditionals ---------------------------------------------


@given(st.integers(1, 10_000), st.data())
def test_single_ranges_agree_with_slicing(size: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, size - 1))
    last = data.draw(st.integers(first, size + 100))
    assert parse_range(f"bytes={first}-{last}", size) == [(first, min(last + 1, size))]
    suffix = data.draw(st.integers(1, size + 100))
    assert parse_range(f"bytes=-{suffix}", size) == [(max(size - suffix, 0), size)]
    assert parse_range(f"bytes={first}-", size) == [(first, size)]


def test_range_edge_cases() -> None:
    assert parse_range("bytes=100-", 100) is UNSATISFIABLE
    # RFC 9110 §14.1.3: a suffix range of non-zero length is satisfiable even for an
    # empty representation; the whole (empty) representation answers it, as a 200.
    assert parse_range("bytes=-5", 0) == [(0, 0)]
    assert parse_range("bytes=5-1", 100) is None
    assert parse_range("items=0-1", 100) is None
    assert parse_range("bytes=0-1,5-6", 100) == [(0, 2), (5, 7)]
    assert parse_range("bytes=" + ",".join(["0-"] * 3), 100) == [(0, 100)]  # overlapping: whole
    assert parse_range("bytes=" + ",".join(f"{i}-{i}" for i in range(200)), 1000) == [(0, 1000)]


def test_if_range() -> None:
    lm = 784111777.0
    assert if_range_allows(None, '"a"', lm)
    assert if_range_allows('"a"', '"a"', lm) and not if_range_allows('"b"', '"a"', lm)
    assert not if_range_allows('W/"a"', 'W/"a"', lm)
    assert if_range_allows("Sun, 06 Nov 1994 08:49:37 GMT", None, lm)
    assert not if_range_allows("Sun, 06 Nov 1994 08:49:38 GMT", None, lm)


def test_multipart_body_parses_back() -> None:
    body = bytes(range(256)) * 4
    ranges = [(0, 10), (500, 600)]
    parts = multipart_parts(ranges, len(body), "application/x-test", "BOUNDARY")
    out = b"".join(h + body[s:e] for h, s, e in parts) + multipart_trailer("BOUNDARY")
    assert len(out) == multipart_length(ranges, len(body), "application/x-test", "BOUNDARY")
    message = email.message_from_bytes(b"Content-Type: multipart/byteranges; boundary=BOUNDARY\r\n\r\n" + out,
                                       policy=email.policy.HTTP)
    got = [(p["Content-Range"], p.get_payload(decode=True)) for p in message.iter_parts()]
    assert got == [("bytes 0-9/1024", body[0:10]), ("bytes 500-599/1024", body[500:600])]


@pytest.mark.parametrize(
    ("method", "request_headers", "expected"),
    [
        ("GET", {"if-none-match": '"a"'}, 304),
        ("GET", {"if-none-match": 'W/"a"'}, 304),
        ("GET", {"if-none-match": '"b"'}, None),
        ("PUT", {"if-none-match": "*"}, 412),
        ("GET", {"if-match": '"b"'}, 412),
        ("GET", {"if-match": '"a"'}, None),
        ("GET", {"if-match": "*"}, None),
        ("GET", {"if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT"}, 304),
        ("GET", {"if-modified-since": "Sun, 06 Nov 1994 08:49:36 GMT"}, None),
        ("GET", {"if-none-match": '"b"', "if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT"}, None),
        ("GET", {"if-unmodified-since": "Sun, 06 Nov 1994 08:49:36 GMT"}, 412),
        ("GET", {"if-modified-since": "nonsense"}, None),
    ],
)
def test_conditional_precedence(method: str, request_headers: dict, expected: int | None) -> None:
    assert evaluate(method, H(request_headers), etag='"a"', last_modified=784111777.0, now=NOW) == expected


def test_conditionals_apply_to_success_only() -> None:
    assert evaluate("GET", H({"if-none-match": '"a"'}), etag='"a"', last_modified=None, status=404) is None
