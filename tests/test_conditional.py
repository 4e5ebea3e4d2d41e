"""Conditional requests (RFC 9110 §13.2.2): each precondition, their precedence, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from fallthrough.cache.headers import format_http_date
from fallthrough.server.conditional import evaluate, not_modified_headers

NOW = 1_700_000_000.0
MODIFIED = NOW - 3600
ETAG = '"v2"'
OLDER, SAME, NEWER = (format_http_date(MODIFIED + d) for d in (-60, 0, 60))


def check(method: str = "GET", *, status: int = 200, etag: str | None = ETAG, last_modified: float | None = MODIFIED,
          **fields: str | list[str]) -> int | None:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in fields.items():
        for line in [value] if isinstance(value, str) else value:
            headers.add(name.replace("_", "-"), line)
    return evaluate(method, headers, etag=etag, last_modified=last_modified, status=status, now=NOW)


def test_no_preconditions_proceed() -> None:
    assert check() is None
    assert check("PUT") is None


@pytest.mark.parametrize(("if_match", "etag", "expected"), [
    ('"v2"', ETAG, None),
    ('"v1", "v2"', ETAG, None),
    ('"v1"', ETAG, 412),
    ('W/"v2"', ETAG, 412),  # strong comparison (§13.1.1)
    ('W/"v2"', 'W/"v2"', 412),
    ('"v2"', None, 412),
    ("*", ETAG, None),  # any current representation
    ("*", None, None),
    ("garbage", ETAG, 412),  # matches nothing
])
def test_if_match(if_match: str, etag: str | None, expected: int | None) -> None:
    assert check(if_match=if_match, etag=etag) == expected
    assert check("DELETE", if_match=if_match, etag=etag) == expected


def test_if_match_across_field_lines() -> None:
    assert check(if_match=['"v1"', '"v2"']) is None


@pytest.mark.parametrize(("since", "last_modified", "expected"), [
    (OLDER, MODIFIED, 412),
    (SAME, MODIFIED, None),
    (NEWER, MODIFIED, None),
    (OLDER, None, None),  # nothing to compare with (§13.1.4)
    ("not a date", MODIFIED, None),  # invalid: ignored
    ([OLDER, NEWER], MODIFIED, None),  # more than one member: ignored
])
def test_if_unmodified_since(since: str | list[str], last_modified: float | None, expected: int | None) -> None:
    assert check(if_unmodified_since=since, last_modified=last_modified) == expected


def test_if_match_takes_precedence_over_if_unmodified_since() -> None:
    assert check(if_match=ETAG, if_unmodified_since=OLDER) is None  # step 2 only without If-Match
    assert check(if_match='"v1"', if_unmodified_since=NEWER) == 412


@pytest.mark.parametrize(("if_none_match", "etag", "get", "put"), [
    ('"v2"', ETAG, 304, 412),
    ('W/"v2"', ETAG, 304, 412),  # weak comparison (§13.1.2)
    ('"v2"', 'W/"v2"', 304, 412),
    ('"v0", "v1",  W/"v2"', ETAG, 304, 412),
    ("*", ETAG, 304, 412),
    ('"v1"', ETAG, None, None),
    ('"v2"', None, None, None),
    ("garbage", ETAG, None, None),
])
def test_if_none_match(if_none_match: str, etag: str | None, get: int | None, put: int | None) -> None:
    assert check("GET", if_none_match=if_none_match, etag=etag) == get
    assert check("HEAD", if_none_match=if_none_match, etag=etag) == get
    assert check("PUT", if_none_match=if_none_match, etag=etag) == put


def test_if_none_match_across_field_lines() -> None:
    assert check(if_none_match=['"v0"', '"v2"']) == 304


def test_precedence_of_the_steps() -> None:
    # Step 1 before step 3: a failed If-Match is 412 even when If-None-Match would be 304.
    assert check(if_match='"v1"', if_none_match=ETAG) == 412
    # Step 2 before step 3.
    assert check(if_unmodified_since=OLDER, if_none_match=ETAG) == 412
    # Step 3 present and false skips step 4: If-Modified-Since is not looked at.
    assert check(if_none_match='"v1"', if_modified_since=NEWER) is None
    assert check(if_none_match="garbage", if_modified_since=NEWER) is None
    # Step 3 true wins over a step 4 that would be false.
    assert check(if_none_match=ETAG, if_modified_since=OLDER) == 304


@pytest.mark.parametrize(("method", "since", "last_modified", "expected"), [
    ("GET", SAME, MODIFIED, 304),
    ("GET", NEWER, MODIFIED, 304),
    ("HEAD", NEWER, MODIFIED, 304),
    ("GET", OLDER, MODIFIED, None),
    ("GET", SAME, None, None),
    ("GET", "yesterday", MODIFIED, None),  # invalid: ignored
    ("GET", format_http_date(NOW + 60), MODIFIED, None),  # in the future: ignored
    ("GET", format_http_date(NOW), MODIFIED, 304),
    ("GET", [SAME, NEWER], MODIFIED, None),  # more than one member: ignored (§13.1.3)
    ("POST", NEWER, MODIFIED, None),  # GET and HEAD only
    ("PUT", NEWER, MODIFIED, None),
])
def test_if_modified_since(method: str, since: str | list[str], last_modified: float | None,
                           expected: int | None) -> None:
    assert check(method, if_modified_since=since, last_modified=last_modified) == expected


def test_if_modified_since_falls_back_to_the_stored_date() -> None:
    """RFC 9111 §4.3.2: without Last-Modified, a cache compares with the stored Date."""
    headers = {"if-modified-since": NEWER}
    assert evaluate("GET", headers, etag=None, last_modified=None, date=MODIFIED) == 304
    assert evaluate("GET", {"if-modified-since": OLDER}, etag=None, last_modified=None, date=MODIFIED) is None
    assert evaluate("GET", headers, etag=None, last_modified=None) is None  # neither: not evaluated
    # If-Unmodified-Since has no such fallback: a precondition on a date not stored fails open.
    assert evaluate("PUT", {"if-unmodified-since": OLDER}, etag=None, last_modified=None, date=MODIFIED) is None


@pytest.mark.parametrize("status", [301, 304, 404, 410, 500])
def test_preconditions_apply_to_2xx_only(status: int) -> None:
    assert check(status=status, if_match='"v1"') is None
    assert check(status=status, if_none_match=ETAG) is None
    assert check(status=status, if_modified_since=NEWER) is None


def test_other_2xx_statuses_are_evaluated() -> None:
    assert check(status=203, if_none_match=ETAG) == 304
    assert check(status=204, if_match='"v1"') == 412


def test_now_defaults_to_the_clock() -> None:
    headers = CIMultiDict({"If-Modified-Since": format_http_date(MODIFIED)})
    assert evaluate("GET", headers, etag=None, last_modified=MODIFIED) == 304
    future = CIMultiDict({"If-Modified-Since": format_http_date(4_000_000_000)})
    assert evaluate("GET", future, etag=None, last_modified=MODIFIED) is None


TAG = st.builds(lambda weak, text: ("W/" if weak else "") + f'"{text}"', st.booleans(),
                st.text(alphabet="abcv012", max_size=3))
FIELD_VALUE = st.one_of(st.text(max_size=30), TAG, st.lists(TAG, max_size=3).map(", ".join),
                        st.integers(-10**6, 10**6).map(lambda d: format_http_date(MODIFIED + d)))
FIELDS = st.dictionaries(st.sampled_from(["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]),
                         FIELD_VALUE, max_size=4)


@given(FIELDS, st.one_of(st.none(), TAG), st.one_of(st.none(), st.floats(0, 2 * NOW)),
       st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]))
def test_evaluate_never_raises_and_head_is_get(fields: dict[str, str], etag: str | None,
                                               last_modified: float | None, method: str) -> None:
    headers = CIMultiDict(fields)
    result = evaluate(method, headers, etag=etag, last_modified=last_modified, now=NOW)
    assert result in (None, 304, 412)
    if method in ("GET", "HEAD"):
        other = "HEAD" if method == "GET" else "GET"
        assert evaluate(other, headers, etag=etag, last_modified=last_modified, now=NOW) == result
    else:
        assert result != 304  # only a GET or HEAD is ever "not modified"


@given(st.lists(TAG, max_size=4), st.lists(TAG, max_size=4), TAG, st.booleans(), FIELD_VALUE)
def test_if_none_match_listing_the_current_tag_is_304(before: list[str], after: list[str], etag: str,
                                                       weaken: bool, since: str) -> None:
    listed = "W/" + etag.removeprefix("W/") if weaken else etag.removeprefix("W/")
    value = ", ".join([*before, listed, *after])
    assert check(if_none_match=value, etag=etag, if_modified_since=since) == 304


# -- what a 304 carries (RFC 9110 §15.4.5) ----------------------------------------------


def test_not_modified_headers() -> None:
    stored = [("Content-Type", "text/html"), ("ETag", ETAG), ("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1"),
              ("Date", "d"), ("Vary", "Accept"), ("Vary", "Origin"), ("Expires", "e"), ("Last-Modified", SAME),
              ("Content-Location", "/x"), ("Content-Length", "10"), ("Age", "5"), ("X-Cache", "HIT"),
              ("Content-Encoding", "br")]
    expected = [("ETag", ETAG), ("Cache-Control", "max-age=60"), ("Date", "d"), ("Vary", "Accept"),
                ("Vary", "Origin"), ("Expires", "e"), ("Last-Modified", SAME), ("Content-Location", "/x"),
                ("Age", "5"), ("X-Cache", "HIT")]
    assert not_modified_headers(stored) == expected
    assert not_modified_headers(CIMultiDict(stored)) == expected
