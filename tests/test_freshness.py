"""RFC 9111 decisions for a shared cache: one example per rule, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from fallthrough.cache.freshness import (
    HOP_BY_HOP,
    CachePolicy,
    Freshness,
    classify,
    current_age,
    end_to_end,
    freshen_headers,
    freshness_lifetime,
    invalidates,
    may_serve_stale_on_error,
    only_if_cached,
    stale_windows,
    storable,
    vary_key,
    vary_names,
    withheld_fields,
)
from fallthrough.cache.headers import format_http_date

NOW = 1_700_000_000.0
POLICY = CachePolicy()
IGNORE_ORIGIN = CachePolicy(honour_origin=False, default_ttl=60, negative_ttl=5)
NO_COOKIES = CachePolicy(store_set_cookie=False)


def H(*pairs: tuple[str, str], **fields: str) -> CIMultiDict[str]:  # noqa: N802
    headers: CIMultiDict[str] = CIMultiDict(pairs)
    for name, value in fields.items():
        headers.add(name.replace("_", "-"), value)
    return headers


def date(ts: float) -> str:
    return format_http_date(ts)


# -- storable (RFC 9111 §3) -------------------------------------------------------------


@pytest.mark.parametrize(("method", "status", "request_headers", "response", "policy", "expected"), [
    ("GET", 200, H(), H(cache_control="max-age=60"), POLICY, True),
    ("HEAD", 200, H(), H(cache_control="max-age=60"), POLICY, False),
    ("POST", 200, H(), H(cache_control="max-age=60"), POLICY, False),
    ("GET", 206, H(), H(cache_control="max-age=60"), POLICY, False),  # never a partial
    ("GET", 304, H(), H(cache_control="max-age=60"), POLICY, False),
    ("GET", 103, H(), H(cache_control="max-age=60"), POLICY, False),  # not final
    ("GET", 600, H(), H(cache_control="max-age=60"), POLICY, False),
    ("GET", 200, H(), H(cache_control="max-age=60, no-store"), POLICY, False),
    ("GET", 200, H(cache_control="no-store"), H(cache_control="max-age=60"), POLICY, False),
    ("GET", 200, H(), H(cache_control="max-age=60, private"), POLICY, False),
    # A qualified private withholds its fields (withheld_fields), not the response.
    ("GET", 200, H(), H(cache_control='max-age=60, private="set-cookie"'), POLICY, True),
    ("GET", 200, H(), H(cache_control='max-age=60, private=""'), POLICY, False),  # an empty list: plain
    ("GET", 200, H(authorization="Basic eA=="), H(cache_control="max-age=60"), POLICY, False),
    ("GET", 200, H(authorization="Basic eA=="), H(cache_control="max-age=60, public"), POLICY, True),
    ("GET", 200, H(authorization="Basic eA=="), H(cache_control="s-maxage=60"), POLICY, True),
    ("GET", 200, H(authorization="Basic eA=="), H(cache_control="max-age=60, must-revalidate"), POLICY, True),
    ("GET", 200, H(), H(cache_control="max-age=60", vary="*"), POLICY, False),
    ("GET", 200, H(), H(("Vary", "accept"), ("Vary", "*"), cache_control="max-age=60"), POLICY, False),
    # Set-Cookie: stored with explicit freshness or public; only public with store_set_cookie off.
    ("GET", 200, H(), H(cache_control="max-age=60", set_cookie="id=1"), POLICY, True),
    ("GET", 200, H(), H(expires=date(NOW + 60), set_cookie="id=1"), POLICY, True),
    ("GET", 200, H(), H(last_modified=date(NOW - 999), set_cookie="id=1"), POLICY, False),  # heuristic only
    ("GET", 200, H(), H(cache_control="max-age=60", set_cookie="id=1"), NO_COOKIES, False),
    ("GET", 200, H(), H(cache_control='max-age=60, private="Set-Cookie"', set_cookie="id=1"), NO_COOKIES, True),
    ("GET", 200, H(), H(cache_control="max-age=60, public", set_cookie="id=1"), POLICY, True),
    ("GET", 200, H(), H(cache_control="max-age=60, public", set_cookie="id=1"), NO_COOKIES, True),
    ("GET", 200, H(), H(cache_control="no-store, must-understand, max-age=60"), POLICY, True),  # §5.2.2.3
    ("GET", 299, H(), H(cache_control="max-age=60, must-understand"), POLICY, False),
    ("GET", 299, H(), H(expires=date(NOW + 60)), POLICY, True),  # explicit freshness, any final status
    ("GET", 200, H(), H(), POLICY, False),  # nothing to reuse it by
    ("GET", 200, H(), H(etag='"a"'), POLICY, True),  # revalidatable
    ("GET", 200, H(), H(last_modified=date(NOW)), POLICY, True),  # heuristic
    ("GET", 200, H(), H(), CachePolicy(default_ttl=60), True),
    ("GET", 404, H(), H(), POLICY, True),  # negative_ttl
    ("GET", 500, H(), H(etag='"a"'), POLICY, False),  # not heuristically cacheable
    ("GET", 500, H(), H(cache_control="max-age=5"), POLICY, True),
    ("GET", 500, H(), H(cache_control="public"), POLICY, True),
    # honour_origin=False: the origin's Cache-Control does not count, the status does.
    ("GET", 200, H(), H(cache_control="no-store, private"), IGNORE_ORIGIN, True),
    ("GET", 410, H(), H(cache_control="no-store"), IGNORE_ORIGIN, True),
    ("GET", 500, H(), H(cache_control="max-age=60"), IGNORE_ORIGIN, False),
    ("GET", 200, H(), H(cache_control="public", set_cookie="id=1"), IGNORE_ORIGIN, False),
    ("GET", 200, H(), H(vary="*"), IGNORE_ORIGIN, False),
    ("GET", 200, H(authorization="Bearer x"), H(cache_control="public"), IGNORE_ORIGIN, False),
    ("GET", 200, H(cache_control="no-store"), H(), IGNORE_ORIGIN, False),
])
def test_storable(method: str, status: int, request_headers: CIMultiDict[str], response: CIMultiDict[str],
                  policy: CachePolicy, expected: bool) -> None:
    assert storable(method, status, request_headers, response, policy) is expected


@pytest.mark.parametrize(("cache_control", "expected"), [
    ("max-age=60", set()),
    ('max-age=60, private="Set-Cookie, X-Session"', {"set-cookie", "x-session"}),
    ('no-cache="a", private="b"', {"a", "b"}),
    ("no-cache, private", set()),  # plain: the whole response, not fields
    ('no-cache=""', set()),
])
def test_withheld_fields(cache_control: str, expected: set[str]) -> None:
    assert withheld_fields(H(cache_control=cache_control), POLICY) == expected
    assert withheld_fields(H(cache_control=cache_control), IGNORE_ORIGIN) == set()


def test_a_qualified_no_cache_does_not_forbid_stale() -> None:
    assert stale_windows(H(cache_control='max-age=1, no-cache="a"'), WINDOWS) == (30, 300)
    assert stale_windows(H(cache_control='max-age=1, no-cache'), WINDOWS) == (0, 0)


def test_storable_reads_plain_dicts_of_any_case() -> None:
    assert storable("GET", 200, {}, {"Cache-Control": "max-age=60"}, POLICY)
    assert not storable("GET", 200, {"Authorization": "x"}, {"Cache-Control": "max-age=60"}, POLICY)
    assert storable("GET", 200, {}, CIMultiDictProxy(H(cache_control="max-age=60")), POLICY)


@given(st.sampled_from(["no-store", "private", "max-age=60", "public", "no-cache", "s-maxage=1", "x=\"y\""]),
       st.sampled_from([200, 204, 301, 404, 500, 503]), st.booleans())
def test_request_no_store_and_unsafe_methods_are_never_stored(directive: str, status: int, honour: bool) -> None:
    policy = CachePolicy(honour_origin=honour, default_ttl=60)
    response = H(cache_control=directive, etag='"a"')
    assert not storable("GET", status, H(cache_control="no-store"), response, policy)
    assert not storable("POST", status, H(), response, policy)
    if honour and directive in ("no-store", "private"):
        assert not storable("GET", status, H(), response, policy)


# -- freshness_lifetime (RFC 9111 §4.2.1, §4.2.2) ---------------------------------------


@pytest.mark.parametrize(("status", "headers", "policy", "expected"), [
    (200, H(cache_control="max-age=10, s-maxage=20"), POLICY, 20),  # s-maxage first (shared cache)
    (200, H(cache_control="max-age=10", expires=date(NOW + 99), date=date(NOW)), POLICY, 10),
    (200, H(expires=date(NOW + 99), date=date(NOW)), POLICY, 99),
    (200, H(expires=date(NOW + 99)), POLICY, 99),  # no Date: the response time stands in
    (200, H(expires=date(NOW + 99), date="yesterday"), POLICY, 99),
    (200, H(expires="0", date=date(NOW)), POLICY, 0),  # §5.3: invalid Expires is in the past
    (200, H(expires=date(NOW - 5), date=date(NOW)), POLICY, 0),
    (200, H(cache_control="max-age=soon", expires=date(NOW + 99)), POLICY, 0),  # invalid: stale
    (200, H(cache_control="max-age"), POLICY, 0),
    (200, H(cache_control="max-age=99999999999"), POLICY, 2**31),
    (200, H(cache_control="max-age=600"), CachePolicy(max_ttl=60), 60),
    (200, H(cache_control="no-cache, max-age=600"), POLICY, 0),  # §5.2.2.4
    (200, H(cache_control='no-cache="set-cookie", max-age=600'), POLICY, 600),  # withholds a field
    (200, H(cache_control='no-cache="", max-age=600'), POLICY, 0),  # an empty list counts as plain
    (200, H(("Cache-Control", "public"), ("Cache-Control", "max-age=30")), POLICY, 30),
    (200, H(last_modified=date(NOW - 1000), date=date(NOW)), POLICY, 100),  # §4.2.2: 10 %
    (200, H(last_modified=date(NOW - 1000)), POLICY, 100),
    (200, H(last_modified=date(NOW - 10**7), date=date(NOW)), POLICY, 86400),  # heuristic_max
    (200, H(last_modified=date(NOW + 50), date=date(NOW)), POLICY, 0),  # modified "in the future"
    (200, H(last_modified=date(NOW - 1000)), CachePolicy(heuristic_fraction=0.5, heuristic_max=300), 300),
    (200, H(last_modified=date(NOW - 1000)), CachePolicy(default_ttl=60), 60),  # the mount's TTL first
    (500, H(last_modified=date(NOW - 1000)), POLICY, 0),  # not heuristically cacheable
    (500, H(last_modified=date(NOW - 1000), cache_control="public"), POLICY, 100),
    (200, H(etag='"a"'), POLICY, 0),  # stored, revalidated on each use
    (404, H(), POLICY, 10),
    (410, H(last_modified=date(NOW - 1000)), CachePolicy(negative_ttl=5), 5),
    (404, H(cache_control="max-age=300"), POLICY, 300),
    (302, H(), CachePolicy(default_ttl=60), 0),  # default_ttl covers 200/203/204/300/301/308 only
    (308, H(), CachePolicy(default_ttl=60), 60),
    (200, H(cache_control="max-age=600, no-cache"), IGNORE_ORIGIN, 60),  # origin ignored
    (404, H(cache_control="max-age=600"), IGNORE_ORIGIN, 5),
    (500, H(cache_control="max-age=600"), IGNORE_ORIGIN, 0),
    (200, H(), CachePolicy(honour_origin=False, default_ttl=600, max_ttl=30), 30),
])
def test_freshness_lifetime(status: int, headers: CIMultiDict[str], policy: CachePolicy, expected: float) -> None:
    assert freshness_lifetime(status, headers, policy, response_time=NOW) == expected


def test_expires_without_any_clock_is_stale() -> None:
    assert freshness_lifetime(200, H(expires=date(NOW + 99)), POLICY) == 0


FRESHNESS_FIELD = st.one_of(
    st.tuples(st.just("cache-control"), st.sampled_from(
        ["max-age=60", "s-maxage=5", "max-age=99999999999", "no-cache", "public", "max-age=x", "max-age=-1"])),
    st.tuples(st.just("expires"), st.sampled_from([date(NOW + 3600), date(NOW - 60), "0", "garbage"])),
    st.tuples(st.just("date"), st.sampled_from([date(NOW), date(NOW - 3600), "nope"])),
    st.tuples(st.just("last-modified"), st.sampled_from([date(NOW - 10**6), date(NOW + 10), "x"])),
)


@given(st.lists(FRESHNESS_FIELD, max_size=5), st.sampled_from([200, 203, 301, 404, 410, 500, 599]),
       st.one_of(st.none(), st.floats(0, 10**6)), st.one_of(st.none(), st.floats(0, 10**6)), st.booleans())
def test_lifetime_is_never_negative_and_never_above_max_ttl(
    fields: list[tuple[str, str]], status: int, max_ttl: float | None, default_ttl: float | None, honour: bool,
) -> None:
    policy = CachePolicy(max_ttl=max_ttl, default_ttl=default_ttl, honour_origin=honour)
    lifetime = freshness_lifetime(status, H(*fields), policy, response_time=NOW)
    assert 0 <= lifetime <= (max_ttl if max_ttl is not None else 2**31)


# -- current_age (RFC 9111 §4.2.3) ------------------------------------------------------


def rfc_age(date_value: float | None, age_value: int, request_time: float, response_time: float, now: float) -> float:
    """The §4.2.3 calculation, transcribed."""
    apparent_age = max(0.0, response_time - (date_value if date_value is not None else response_time))
    response_delay = response_time - request_time
    corrected_age_value = age_value + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = now - response_time
    return corrected_initial_age + resident_time


@given(st.one_of(st.none(), st.integers(-10**5, 10**5)), st.integers(0, 10**6), st.integers(0, 100),
       st.integers(0, 10**6))
def test_current_age_is_the_rfc_formula(date_offset: int | None, age: int, delay: int, resident: int) -> None:
    request_time = NOW - delay
    date_value = None if date_offset is None else NOW - date_offset
    headers = H(age=str(age)) if date_value is None else H(age=str(age), date=date(date_value))
    expected = rfc_age(date_value, age, request_time, NOW, NOW + resident)
    assert current_age(headers, request_time, NOW, NOW + resident) == expected
    # It grows one for one with the clock (resident time).
    assert current_age(headers, request_time, NOW, NOW + resident + 7) == expected + 7


@pytest.mark.parametrize(("headers", "expected"), [
    (H(date=date(NOW - 10), age="3"), 10 + 5),  # apparent age 10 beats Age 3 + delay 2
    (H(date=date(NOW - 10), age="100"), 102 + 5),  # Age corrected by the response delay
    (H(date=date(NOW + 60)), 2 + 5),  # a Date in the future adds nothing
    (H(), 2 + 5),  # no Date: it is the response time
    (H(age="5, 10"), 7 + 5),  # §5.1: the first member of a list
    (H(("Age", "5"), ("Age", "10")), 7 + 5),
    (H(age="abc"), 2 + 5),  # invalid Age: ignored
    (H(age="-5"), 2 + 5),
])
def test_current_age_examples(headers: CIMultiDict[str], expected: float) -> None:
    assert current_age(headers, request_time=NOW - 2, response_time=NOW, now=NOW + 5) == expected


# -- stale windows (RFC 5861) -----------------------------------------------------------

WINDOWS = CachePolicy(stale_while_revalidate=30, stale_if_error=300)


@pytest.mark.parametrize(("cache_control", "policy", "expected"), [
    ("max-age=60", WINDOWS, (30, 300)),
    ("max-age=60, stale-while-revalidate=5", WINDOWS, (5, 300)),
    ("max-age=60, stale-if-error=0", WINDOWS, (30, 0)),
    ("max-age=60, stale-while-revalidate=x", WINDOWS, (30, 300)),  # invalid: the mount's
    ("max-age=60, stale-while-revalidate=5, stale-if-error=9", POLICY, (5, 9)),
    ("max-age=60, must-revalidate, stale-if-error=9", WINDOWS, (0, 0)),
    ("max-age=60, proxy-revalidate", WINDOWS, (0, 0)),
    ("s-maxage=60", WINDOWS, (0, 0)),  # §5.2.2.10: implies proxy-revalidate
    ("no-cache", WINDOWS, (0, 0)),
    ("must-revalidate, stale-if-error=9", CachePolicy(honour_origin=False, stale_if_error=7), (0, 7)),
])
def test_stale_windows(cache_control: str, policy: CachePolicy, expected: tuple[float, float]) -> None:
    assert stale_windows(H(cache_control=cache_control), policy) == expected


# -- classify (RFC 9111 §4.2, §5.2.1) ---------------------------------------------------


def state(response: CIMultiDict[str], request: CIMultiDict[str] | None = None, *, age: float,
          policy: CachePolicy = WINDOWS, status: int = 200) -> Freshness:
    """Classify a response received at NOW (no delay, no Date), `age` seconds later."""
    computed = current_age(response, NOW, NOW, NOW + age)
    assert computed == pytest.approx(age)
    lifetime = freshness_lifetime(status, response, policy, response_time=NOW)
    return classify(response_headers=response, request_headers=request or H(), age=computed, lifetime=lifetime,
                    policy=policy)


MAX_AGE_100 = H(cache_control="max-age=100")


def test_fresh_until_the_lifetime_is_reached() -> None:
    assert state(MAX_AGE_100, age=99.9) is Freshness.FRESH
    assert state(MAX_AGE_100, age=100) is Freshness.STALE_SERVABLE  # age == lifetime is stale
    assert state(MAX_AGE_100, age=129.9) is Freshness.STALE_SERVABLE  # within stale-while-revalidate
    assert state(MAX_AGE_100, age=130) is Freshness.STALE
    assert state(MAX_AGE_100, age=120, policy=POLICY) is Freshness.STALE  # no window


@pytest.mark.parametrize(("request_cc", "age", "expected"), [
    ("no-cache", 1, Freshness.STALE),
    ("max-age=10", 11, Freshness.STALE),
    ("max-age=10", 10, Freshness.FRESH),
    ("max-age=200", 110, Freshness.STALE),  # stale needs max-stale; no stale-while-revalidate
    ("min-fresh=60", 50, Freshness.STALE),
    ("min-fresh=50", 50, Freshness.FRESH),
    ("min-fresh=10", 105, Freshness.STALE),
    ("max-stale=60", 150, Freshness.STALE_SERVABLE),
    ("max-stale=60", 161, Freshness.STALE),
    ("max-stale", 10**6, Freshness.STALE_SERVABLE),  # no value: any staleness
    ("max-stale=soon", 150, Freshness.STALE),  # invalid: ignored
    ("max-age=200, max-stale=60", 150, Freshness.STALE_SERVABLE),
    ("only-if-cached", 110, Freshness.STALE_SERVABLE),  # does not narrow stale-while-revalidate
])
def test_request_directives(request_cc: str, age: float, expected: Freshness) -> None:
    assert state(MAX_AGE_100, H(cache_control=request_cc), age=age) is expected


def test_pragma_no_cache_counts_only_without_cache_control() -> None:
    assert state(MAX_AGE_100, H(pragma="no-cache"), age=1) is Freshness.STALE
    assert state(MAX_AGE_100, H(pragma="x, no-cache"), age=1) is Freshness.STALE
    assert state(MAX_AGE_100, H(pragma="no-cache", cache_control="max-stale"), age=1) is Freshness.FRESH


@pytest.mark.parametrize("cache_control", ["max-age=100, must-revalidate", "max-age=100, proxy-revalidate",
                                           "s-maxage=100", "max-age=100, no-cache"])
def test_response_directives_forbid_serving_stale(cache_control: str) -> None:
    response = H(cache_control=cache_control)
    assert state(response, H(cache_control="max-stale"), age=101) is Freshness.STALE
    assert state(response, age=101) is Freshness.STALE


def test_current_age_counts_the_age_header() -> None:
    assert current_age(H(cache_control="max-age=100", age="95"), NOW, NOW, NOW + 10) == 105


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 100))
def test_classify_agrees_with_the_model(lifetime: int, age: int, swr: int) -> None:
    policy = CachePolicy(stale_while_revalidate=swr)
    expected = (Freshness.FRESH if age < lifetime
                else Freshness.STALE_SERVABLE if age < lifetime + swr else Freshness.STALE)
    assert state(H(cache_control=f"max-age={lifetime}"), age=age, policy=policy) is expected


def test_only_if_cached() -> None:
    assert only_if_cached(H(cache_control="max-age=0, ONLY-IF-CACHED"))
    assert not only_if_cached(H(cache_control="no-cache")) and not only_if_cached(H())


# -- stale on error (RFC 5861 §4, RFC 9111 §4.2.4) --------------------------------------


@pytest.mark.parametrize(("response_cc", "request_cc", "age", "policy", "expected"), [
    ("max-age=100", None, 399, WINDOWS, True),
    ("max-age=100", None, 400, WINDOWS, False),
    ("max-age=100", None, 150, POLICY, False),  # no window at all
    ("max-age=100, stale-if-error=10", None, 109, POLICY, True),
    ("max-age=100, stale-if-error=10", None, 111, WINDOWS, False),  # the response's beats the mount's
    ("max-age=100", "stale-if-error=100", 199, POLICY, True),  # the request may widen it
    ("max-age=100", "stale-if-error=x", 101, POLICY, False),
    ("max-age=100, must-revalidate", "stale-if-error=100", 101, WINDOWS, False),
    ("s-maxage=100", None, 101, WINDOWS, False),
    ("max-age=100, must-revalidate", None, 101, CachePolicy(honour_origin=False, stale_if_error=5), True),
])
def test_may_serve_stale_on_error(response_cc: str, request_cc: str | None, age: float, policy: CachePolicy,
                                  expected: bool) -> None:
    request = H(cache_control=request_cc) if request_cc else H()
    assert may_serve_stale_on_error(response_headers=H(cache_control=response_cc), request_headers=request,
                                    current_age=age, lifetime=100, policy=policy) is expected


# -- freshening with a 304 (RFC 9111 §4.3.4, §3.2) --------------------------------------


def test_freshen_headers_replaces_what_the_304_carries() -> None:
    stored = H(("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Kept", "yes"),
               ("Content-Type", "image/png"), ("Content-Encoding", "br"), ("Content-Length", "10"),
               ("Age", "50"), ("Date", date(NOW - 100)), ("ETag", '"a"'))
    not_modified = H(("Cache-Control", "max-age=600"), ("Set-Cookie", "c=3"), ("Date", date(NOW)),
                     ("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Content-Length", "0"),
                     ("Connection", "x-hop"), ("X-Hop", "1"), ("Keep-Alive", "timeout=5"), ("Content-Range", "x"))
    before = stored.copy()
    result = freshen_headers(stored, not_modified)
    assert stored == before  # a new multidict; the stored one is untouched
    assert result.getall("cache-control") == ["max-age=600"]
    assert result.getall("set-cookie") == ["c=3"]  # every stored value of the name goes
    assert result["date"] == date(NOW) and result["x-kept"] == "yes" and result["etag"] == '"a"'
    # The body we hold keeps its own description; hop-by-hop fields are not stored.
    assert (result["content-type"], result["content-encoding"], result["content-length"]) == ("image/png", "br", "10")
    assert not {"connection", "x-hop", "keep-alive", "content-range", "age"} & {k.lower() for k in result}


def test_freshen_headers_dates_a_304_without_date() -> None:
    stored = H(date=date(NOW - 1000), cache_control="max-age=60")
    assert freshen_headers(stored, H(age="3"), response_time=NOW).getall("date") == [date(NOW)]
    assert freshen_headers(stored, H(age="3"), response_time=NOW)["age"] == "3"
    assert freshen_headers(stored, H(date=date(NOW - 1)), response_time=NOW)["date"] == date(NOW - 1)
    assert freshen_headers(stored, H())["date"] == date(NOW - 1000)  # no clock given: left alone


def test_freshened_entry_is_fresh_again() -> None:
    stored = H(cache_control="max-age=60", date=date(NOW - 1000), age="900")
    headers = freshen_headers(stored, H(etag='"a"'), response_time=NOW)
    assert current_age(headers, NOW, NOW, NOW) == 0
    assert freshness_lifetime(200, headers, POLICY, NOW) == 60


# -- invalidation, hop-by-hop, Vary ----------------------------------------------------


@pytest.mark.parametrize(("method", "status", "expected"), [
    ("POST", 200, True), ("PUT", 201, True), ("DELETE", 204, True), ("PATCH", 302, True),
    ("PURGE", 200, True),  # unknown methods count as unsafe
    ("POST", 404, False), ("POST", 500, False), ("POST", 100, False),
    ("GET", 200, False), ("HEAD", 200, False), ("OPTIONS", 200, False), ("TRACE", 200, False),
])
def test_invalidates(method: str, status: int, expected: bool) -> None:
    assert invalidates(method, status) is expected


def test_end_to_end_drops_hop_by_hop_and_connection_named_fields() -> None:
    headers = H(("Connection", "X-Trace, keep-alive"), ("Connection", "close, X-Other"), ("X-Trace", "1"),
                ("X-Other", "2"), ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"), ("TE", "trailers"),
                ("Upgrade", "h2c"), ("Proxy-Connection", "keep-alive"), ("Trailer", "x"), ("Proxy-Authenticate", "x"),
                ("Proxy-Authorization", "x"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("ETag", '"e"'))
    assert list(end_to_end(headers).items()) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("ETag", '"e"')]
    assert {k.lower() for k in headers} - {"x-trace", "x-other", "set-cookie", "etag"} == HOP_BY_HOP
    assert list(end_to_end({"Connection": "x-a", "X-A": "1", "X-B": "2"}).items()) == [("X-B", "2")]


def test_vary_names() -> None:
    assert vary_names(H(vary="User-Agent, Accept-Encoding, accept-encoding")) == ["accept-encoding", "user-agent"]
    assert vary_names(H(("Vary", "Accept"), ("Vary", "Origin"))) == ["accept", "origin"]
    assert vary_names(H(("Vary", "Accept"), ("Vary", " * "))) == "*"
    assert vary_names(H()) == [] and vary_names(H(vary=" , ")) == []


def test_vary_key() -> None:
    request = H(("Accept-Encoding", "gzip,  br"), ("Accept-Encoding", " zstd "), ("User-Agent", "x"))
    # By sorted lowercased name; absent fields are ""; weighted tokens in order of weight, then name.
    assert vary_key(["User-Agent", "origin", "accept-encoding"], request) == ("br, gzip, zstd", "", "x")
    assert vary_key(["accept-encoding", "Accept-Encoding"], request) == ("br, gzip, zstd",)
    assert vary_key([], request) == ()
    assert vary_key(["accept"], H(accept="a")) != vary_key(["accept"], H(accept="b"))


@given(st.lists(st.text(alphabet="abc ,;=", max_size=10).filter(str.strip), min_size=1, max_size=3),
       st.sampled_from([" ", "  ", "\t", " \t "]))
def test_vary_key_ignores_whitespace_runs(values: list[str], run: str) -> None:
    plain = H(*[("Accept", v) for v in values])
    spaced = H(*[("Accept", run + v.replace(" ", run) + run) for v in values])
    assert vary_key(["accept"], plain) == vary_key(["accept"], spaced)


@pytest.mark.parametrize(("name", "a", "b"), [
    ("foo", "1,2", " 1 , 2 "),  # whitespace around commas
    ("foo", "1, 2", ["1", "2"]),  # one line or two
    ("accept-language", "en, de", "de, en"),  # equal weights: order is no preference
    ("accept-language", "en, de", "eN, De"),  # tags are case-insensitive
    ("accept-language", "fr;q=0.5, de", "de;q=1.0, fr; q=0.50"),
    ("accept-encoding", "gzip, br;q=0.9", "br;q=0.90, GZIP"),
])
def test_vary_key_normalizes_equivalent_requests(name: str, a: str | list[str], b: str | list[str]) -> None:
    def request(value: str | list[str]) -> CIMultiDict[str]:
        return H(*[(name, v) for v in ([value] if isinstance(value, str) else value)])

    assert vary_key([name], request(a)) == vary_key([name], request(b))


@pytest.mark.parametrize(("name", "a", "b"), [
    ("accept-language", "en, de;q=0.5", "de, en;q=0.5"),  # the weights differ
    ("accept-language", "en", "en;q=0"),  # q=0: not acceptable at all
    ("foo", "1, 2", "2, 1"),  # order may matter in a field we do not know
    ("accept", "text/html;level=1", "text/html;LEVEL=1"),  # media type parameters are not folded
])
def test_vary_key_keeps_requests_that_may_differ_apart(name: str, a: str, b: str) -> None:
    assert vary_key([name], H((name, a))) != vary_key([name], H((name, b)))


@given(st.permutations(["en", "de", "fr;q=0.5", "it;q=0.5", "*;q=0.1"]))
def test_accept_language_order_among_equal_weights_does_not_matter(members: list[str]) -> None:
    assert vary_key(["accept-language"], H(accept_language=", ".join(members))) == ("de, en, fr;q=0.5, it;q=0.5, *;q=0.1",)


# -- targeted fields: CDN-Cache-Control (RFC 9213) ---------------------------------------


@pytest.mark.parametrize(("headers", "lifetime"), [
    (H(cdn_cache_control="max-age=3600"), 3600),
    (H(cdn_cache_control="max-age=3600", cache_control="max-age=1"), 3600),  # it wins over Cache-Control
    (H(cdn_cache_control="max-age=1", cache_control="max-age=3600"), 1),
    (H(cdn_cache_control="max-age=3600", expires=date(NOW - 10), date=date(NOW)), 3600),  # Expires set aside
    (H(cdn_cache_control="max-age=0", expires=date(NOW + 10), date=date(NOW)), 0),
    (H(cdn_cache_control="foobar", expires=date(NOW + 10), date=date(NOW)), 0),  # valid: Expires still aside
    (H(cdn_cache_control="max-age=10, &&&", cache_control="max-age=5"), 5),  # invalid: ignored whole
    (H(cdn_cache_control="max-age=99999999999"), 2**31),
    (H(cdn_cache_control='max-age="100"', cache_control="max-age=5"), 0),  # a String: no max-age
])
def test_a_targeted_field_sets_cache_control_and_expires_aside(headers: CIMultiDict[str], lifetime: float) -> None:
    assert freshness_lifetime(200, headers, POLICY, response_time=NOW) == lifetime


def test_targeted_directives_decide_storing() -> None:
    assert not storable("GET", 200, H(), H(cdn_cache_control="private", cache_control="max-age=99"), POLICY)
    assert not storable("GET", 200, H(), H(cdn_cache_control="no-store", cache_control="max-age=99"), POLICY)
    assert storable("GET", 200, H(), H(cdn_cache_control="max-age=99", cache_control="no-store"), POLICY)
    assert not storable("GET", 200, H(), H(cdn_cache_control="max-age=99, &", cache_control="no-store"), POLICY)
    assert freshness_lifetime(200, H(cdn_cache_control="no-cache", cache_control="max-age=99"), POLICY) == 0


def test_the_targeted_fields_are_the_mounts_choice() -> None:
    own = CachePolicy(targeted=("edge-cache-control", "cdn-cache-control"))
    headers = H(edge_cache_control="max-age=7", cdn_cache_control="max-age=9", cache_control="max-age=1")
    assert freshness_lifetime(200, headers, own, response_time=NOW) == 7
    assert freshness_lifetime(200, headers, CachePolicy(targeted=()), response_time=NOW) == 1
    assert CachePolicy().hidden_fields == {"cdn-cache-control"}
    assert CachePolicy(forward_targeted=True).hidden_fields == set()
