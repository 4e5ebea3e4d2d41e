"""Header value parsers (RFC 9110 §5.6, RFC 9111 §5.2): examples per rule, and properties."""

from __future__ import annotations

import calendar
import email.utils
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.cache.headers import (
    DATE_MAX,
    DATE_MIN,
    DELTA_MAX,
    delta_seconds,
    format_http_date,
    parse_cache_control,
    parse_etag_list,
    parse_http_date,
    split_list,
    strong_match,
    unquote,
    weak_match,
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TOKEN = st.text(alphabet=TCHARS, min_size=1, max_size=10)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
OWS = st.sampled_from(["", " ", "  ", "\t"])
RFC_EXAMPLE = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 §5.6.7 example
ETAG_RE = re.compile(r'(?:W/)?"[^"\x00-\x20\x7f]*"')


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- Cache-Control --------------------------------------------------------------------

DIRECTIVE_VALUE = st.one_of(st.none(), TOKEN, ANY_TEXT.map(quote))


@given(st.lists(st.tuples(TOKEN, DIRECTIVE_VALUE), max_size=8), st.lists(OWS, min_size=2, max_size=2),
       st.booleans())
def test_cache_control_round_trip(directives: list[tuple[str, str | None]], ows: list[str], one_line: bool) -> None:
    members = [name if value is None else f"{name}={value}" for name, value in directives]
    separator = f"{ows[0]},{ows[1]}"
    header: str | list[str] = separator.join(members) if one_line else members
    expected: dict[str, str | None] = {}
    for name, value in directives:  # the model: lowercased names, first occurrence wins, unquoted
        expected.setdefault(name.lower(), None if value is None else unquote(value))
    assert parse_cache_control(header) == expected


@given(st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=3), st.none()))
def test_cache_control_never_raises_and_yields_tokens(values: str | list[str] | None) -> None:
    result = parse_cache_control(values)
    for name, value in result.items():
        assert name == name.lower() and re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9a-z]+", name)
        assert value is None or isinstance(value, str)


def test_cache_control_examples() -> None:
    assert parse_cache_control(None) == {}
    assert parse_cache_control("Max-Age=60, PUBLIC") == {"max-age": "60", "public": None}
    # Junk members are skipped, the rest still counts.
    assert parse_cache_control('max-age=60, ===, bad value, no-cache="a, b", , s-maxage=5') == {
        "max-age": "60", "no-cache": "a, b", "s-maxage": "5",
    }
    assert parse_cache_control('private="a\\"b"') == {"private": 'a"b'}
    assert parse_cache_control('max-age="120"') == {"max-age": "120"}  # §5.2: quoted form accepted
    assert parse_cache_control('max-age="12') == {}  # an unclosed quote is junk


def test_cache_control_first_value_wins_across_lines() -> None:
    assert parse_cache_control("max-age=10, max-age=20") == {"max-age": "10"}
    assert parse_cache_control(["max-age=10", "MAX-AGE=20, public"]) == {"max-age": "10", "public": None}


# -- delta-seconds ----------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**40), st.integers(min_value=0, max_value=3))
def test_delta_seconds_round_trip(n: int, zeros: int) -> None:
    assert delta_seconds("0" * zeros + str(n)) == min(n, 2**31)


@given(ANY_TEXT)
def test_delta_seconds_agrees_with_model(text: str) -> None:
    model = min(int(text), DELTA_MAX) if text and all(c in "0123456789" for c in text) else None
    assert delta_seconds(text) == model


@pytest.mark.parametrize("value", [None, "", "-1", "+5", " 5", "5 ", "1.5", "1e3", "\u0663", "0x10", "five"])
def test_delta_seconds_rejects(value: str | None) -> None:
    assert delta_seconds(value) is None


def test_delta_seconds_clamps_without_int_limits() -> None:
    assert delta_seconds("9" * 5000) == 2**31  # more digits than int() accepts by default
    assert delta_seconds("0" * 5000 + "7") == 7
    assert delta_seconds("2147483648") == delta_seconds("2147483649") == 2**31


# -- HTTP-date --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
    "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
    "Sun Nov  6 08:49:37 1994",  # ANSI C asctime()
    "sun, 06 nov 1994 08:49:37 gmt",  # names are case-insensitive
    "  Sun, 06 Nov 1994 08:49:37 GMT ",
    "Sun Nov 06 08:49:37 1994",
])
def test_http_date_accepts_the_three_formats(text: str) -> None:
    assert parse_http_date(text, now=1_700_000_000) == RFC_EXAMPLE


@pytest.mark.parametrize("text", [
    None, "", "garbage", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 +0000",
    "Sat, 31 Feb 2024 00:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
    "Sun, 06 Nov 1994 08:49:61 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
    "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT trailing", "1994-11-06T08:49:37Z",
    "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 0000 08:49:37 GMT", "784111777",
    "Sun, 06  Nov  1994 08:49:37 GMT", "Sun,  06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994  08:49:37 GMT",
    "Sunday,  06-Nov-94 08:49:37 GMT", "Sun  Nov  6 08:49:37 1994",
    "Sun Nov   6 08:49:37 1994",
])
def test_http_date_rejects(text: str | None) -> None:
    assert parse_http_date(text) is None


def test_http_date_leap_second_is_the_next_second() -> None:
    assert parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == calendar.timegm((2017, 1, 1, 0, 0, 0, 0, 0, 0))


def test_rfc850_two_digit_years_are_placed_within_50_years() -> None:
    now = calendar.timegm((2025, 6, 1, 0, 0, 0, 0, 0, 0))

    def year(yy: str) -> int:
        parsed = parse_http_date(f"Monday, 01-Jan-{yy} 00:00:00 GMT", now=now)
        assert parsed is not None
        return time.gmtime(parsed).tm_year

    assert (year("25"), year("75"), year("76"), year("99"), year("00")) == (2025, 2075, 1976, 1999, 2000)


@given(st.integers(min_value=int(DATE_MIN), max_value=int(DATE_MAX)))
def test_http_date_round_trip(ts: int) -> None:
    text = format_http_date(ts)
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", text)
    assert parse_http_date(text) == ts


@given(st.integers(min_value=0, max_value=int(DATE_MAX)))
def test_http_date_agrees_with_the_stdlib(ts: int) -> None:
    assert parse_http_date(email.utils.formatdate(ts, usegmt=True)) == ts
    assert email.utils.parsedate_to_datetime(format_http_date(ts)).timestamp() == ts


@given(st.integers(min_value=-49 * 365 * 86400, max_value=49 * 365 * 86400))
def test_http_date_obsolete_forms_round_trip(offset: int) -> None:
    now = 1_700_000_000
    t = time.gmtime(now + offset)
    day = time.strftime("%A", t)
    rfc850 = f"{day}, {t.tm_mday:02d}-{time.strftime('%b', t)}-{t.tm_year % 100:02d} {time.strftime('%H:%M:%S', t)} GMT"
    asctime = f"{time.strftime('%a %b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)} {t.tm_year}"
    assert parse_http_date(rfc850, now=now) == now + offset
    assert parse_http_date(asctime) == now + offset


@given(ANY_TEXT)
def test_http_date_never_raises_and_is_stable(text: str) -> None:
    parsed = parse_http_date(text, now=1_700_000_000)
    assert parsed is None or parse_http_date(format_http_date(parsed)) == parsed


def test_format_http_date_floors_and_clamps() -> None:
    assert format_http_date(RFC_EXAMPLE + 0.9) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(float("inf")) == "Fri, 31 Dec 9999 23:59:59 GMT"
    assert format_http_date(-1e30) == "Mon, 01 Jan 0001 00:00:00 GMT"
    assert format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


# -- entity-tags ------------------------------------------------------------------------

ETAGC = st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_characters='"\x7f')
ETAG = st.tuples(st.booleans(), st.text(alphabet=ETAGC, max_size=8)).map(lambda t: ("W/" if t[0] else "") + f'"{t[1]}"')


@given(st.lists(ETAG, min_size=1, max_size=6), st.lists(st.sampled_from([",", ", ", " ,", ",,", " , ,\t"]),
                                                       min_size=6, max_size=6), OWS)
def test_etag_list_round_trip(tags: list[str], separators: list[str], edge: str) -> None:
    text = edge + "".join(tag + sep for tag, sep in zip(tags, separators, strict=False)).rstrip(", \t") + edge
    assert parse_etag_list(text) == tags


@given(ANY_TEXT)
def test_etag_list_never_raises(text: str) -> None:
    result = parse_etag_list(text)
    assert result is None or result == "*" or (result and all(ETAG_RE.fullmatch(t) for t in result))


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("  ", None), (",", None),
    ("*", "*"), (" * ", "*"), ('*, "a"', None),
    ('"xyzzy"', ['"xyzzy"']),
    ('W/"a", "b"', ['W/"a"', '"b"']),
    ('"a,b", "c"', ['"a,b"', '"c"']),  # a comma is an etagc
    ('"a\\"', ['"a\\"']),  # a backslash is a plain character, not an escape
    ('"a" "b"', None), ("a", None), ('"a', None), ('w/"a"', None),  # W/ is case-sensitive
    ('"a", b', None), ('"a b"', None),
])
def test_etag_list_examples(value: str | None, expected: object) -> None:
    assert parse_etag_list(value) == expected


@pytest.mark.parametrize(("a", "b", "strong", "weak"), [
    # The table of RFC 9110 §8.8.3.2.
    ('W/"1"', 'W/"1"', False, True),
    ('W/"1"', 'W/"2"', False, False),
    ('W/"1"', '"1"', False, True),
    ('"1"', '"1"', True, True),
    ('"1"', '"2"', False, False),
    (None, '"1"', False, False),
    ('"1"', None, False, False),
])
def test_etag_comparison_table(a: str | None, b: str | None, strong: bool, weak: bool) -> None:
    assert (strong_match(a, b), weak_match(a, b)) == (strong, weak)
    assert (strong_match(b, a), weak_match(b, a)) == (strong, weak)


@given(ETAG, ETAG)
def test_strong_match_implies_weak_match(a: str, b: str) -> None:
    assert not strong_match(a, b) or weak_match(a, b)
    assert weak_match(a, b) == (a.removeprefix("W/") == b.removeprefix("W/"))


# -- lists ------------------------------------------------------------------------------

MEMBER = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=',"\\'),
                 min_size=1, max_size=8).map(str.strip).filter(bool)


@given(st.lists(MEMBER, max_size=6), st.lists(st.sampled_from([",", ", ", " ,\t", ", ,"]), min_size=6, max_size=6))
def test_split_list_round_trip(members: list[str], separators: list[str]) -> None:
    text = "".join(m + s for m, s in zip(members, separators, strict=False))
    assert split_list(text) == members
    assert split_list([text, ", ".join(members)]) == members + members  # lines are one list


@given(ANY_TEXT)
def test_split_list_agrees_with_model_without_quotes(text: str) -> None:
    members = split_list(text)
    assert all(m and m == m.strip(" \t") for m in members)
    if '"' not in text:
        assert members == [p.strip(" \t") for p in text.split(",") if p.strip(" \t")]


def test_split_list_keeps_quoted_commas() -> None:
    assert split_list('a, "b, c", d') == ["a", '"b, c"', "d"]
    assert split_list('"x\\", y", z') == ['"x\\", y"', "z"]
    assert split_list(None) == [] and split_list(" , ,") == []
    assert split_list(["Accept-Encoding", "User-Agent, Accept"]) == ["Accept-Encoding", "User-Agent", "Accept"]
