"""Parsing HTTP header values that caching decisions rest on (RFC 9110, RFC 9111).

Every parser here is total: a garbled value never raises, it is treated as absent or as
the RFC says (an invalid Expires means "already expired", RFC 9111 §5.3). Digits are
ASCII only (RFC 5234 DIGIT), and long digit strings are never handed to int() whole.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import math
import re
import time
from collections.abc import Iterable
from typing import Literal

import http_sf

DELTA_MAX = 2**31  # RFC 9111 §1.2.2: larger delta-seconds are passed on as this

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_MEMBER = re.compile(rf"[ \t]*({_TOKEN})[ \t]*(?:=[ \t]*({_TOKEN}|{_QUOTED}))?[ \t]*", re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _values(values: str | Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    return [values] if isinstance(values, str) else [v for v in values if isinstance(v, str)]


def split_list(values: str | Iterable[str] | None) -> list[str]:
    """Members of a comma-separated list (RFC 9110 §5.6.1), trimmed, empties dropped.

    Several field lines are one list (RFC 9110 §5.3); a comma inside a quoted-string
    (RFC 9110 §5.6.4) does not split it.
    """
    members: list[str] = []
    for value in _values(values):
        current: list[str] = []
        quoted = escaped = False
        for char in value:
            if escaped:
                escaped = False
            elif quoted and char == "\\":
                escaped = True
            elif char == '"':
                quoted = not quoted
            elif char == "," and not quoted:
                members.append("".join(current).strip(" \t"))
                current = []
                continue
            current.append(char)
        members.append("".join(current).strip(" \t"))
    return [m for m in members if m]


def unquote(value: str) -> str:
    """The content of a quoted-string, escapes undone (RFC 9110 §5.6.4); a token as is."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _ESCAPE.sub(r"\1", value[1:-1])
    return value


def parse_cache_control(values: str | Iterable[str] | None) -> dict[str, str | None]:
    """Cache-Control directives (RFC 9111 §5.2): names lowercased, values unquoted.

    A value-less directive maps to None. A directive given twice keeps its first value
    (RFC 9111 §4.2.1 allows "use the first"); members that do not parse are skipped.
    """
    directives: dict[str, str | None] = {}
    for member in split_list(values):
        match = _MEMBER.fullmatch(member)
        if match is None:
            continue
        name = match.group(1).lower()
        if name not in directives:
            raw = match.group(2)
            directives[name] = None if raw is None else unquote(raw)
    return directives


# RFC 9213 §2.1: the directives whose values a targeted field gives as Integers, and
# those given as Strings (field-name lists) or bare (True). A member of another type is
# ignored, as a directive Cache-Control could not parse would be.
_INTEGER_DIRECTIVES = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"})
_LIST_DIRECTIVES = frozenset({"no-cache", "private"})


def parse_targeted(values: str | Iterable[str] | None) -> dict[str, str | None] | None:
    """A targeted cache-control field (RFC 9213, a Structured Field Dictionary, RFC 8941)
    as Cache-Control-style directives; None when absent or when it does not parse (then
    the field is ignored as a whole, RFC 9213 §2.1). Several field lines are one field."""
    lines = _values(values)
    return _parse_targeted(", ".join(lines)) if lines else None


@functools.lru_cache(maxsize=1024)
def _parse_targeted(value: str) -> dict[str, str | None] | None:
    try:
        members = http_sf.parse(value.encode("latin-1", "replace"), tltype="dictionary")
    except Exception:  # noqa: BLE001 - the field is the origin's text: any failure means "ignore it"
        return None
    directives: dict[str, str | None] = {}
    for name, (member, _params) in members.items():  # type: ignore[union-attr]
        if member is True:
            directives[name] = None
        elif name in _INTEGER_DIRECTIVES and type(member) is int and member >= 0:
            directives[name] = str(member)
        elif name in _LIST_DIRECTIVES and isinstance(member, str):
            directives[name] = member
    return directives


def _digits(value: str) -> str | None:
    """`value` without leading zeros if it is 1*DIGIT (ASCII), else None."""
    if not value or not value.isascii() or not value.isdigit():
        return None
    return value.lstrip("0") or "0"


def delta_seconds(value: str | None) -> int | None:
    """RFC 9111 §1.2.2: a non-negative integer; too large → 2^31; anything else → None."""
    digits = None if value is None else _digits(value)
    if digits is None:
        return None
    return DELTA_MAX if len(digits) > 10 else min(int(digits), DELTA_MAX)


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = {m.lower(): i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_CLOCK = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
# One space between the parts, as the grammar has it; only asctime's day may be padded
# with a second one ("Nov  6").
_IMF = re.compile(rf"{_DAY}, ([0-9]{{1,2}}) ([a-z]{{3}}) ([0-9]{{4}}) {_CLOCK} gmt")
_RFC850 = re.compile(rf"{_LONG_DAY}, ([0-9]{{2}})-([a-z]{{3}})-([0-9]{{2}}) {_CLOCK} gmt")
_ASCTIME = re.compile(rf"{_DAY} ([a-z]{{3}}) ( [0-9]|[0-9]{{2}}) {_CLOCK} ([0-9]{{4}})")
# IMF-fixdate has a four-digit year: these are the first and last instants it can name.
DATE_MIN = -62135596800.0  # Mon, 01 Jan 0001 00:00:00 GMT
DATE_MAX = 253402300799.0  # Fri, 31 Dec 9999 23:59:59 GMT


def _rfc850_year(two_digits: str, now: float | None) -> int:
    """RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past century."""
    this_year = time.gmtime(time.time() if now is None else now).tm_year
    year = this_year - this_year % 100 + int(two_digits)
    return year - 100 if year > this_year + 50 else year


def _timestamp(year: int, month: str, day: int, hour: int, minute: int, second: int) -> float | None:
    month_number = _MONTHS.get(month)
    if month_number is None or second > 60:
        return None
    try:  # validates the calendar date (no 31 February) and the clock
        datetime.datetime(year, month_number, day, hour, minute, min(second, 59))
    except ValueError:
        return None
    # A leap second (:60, RFC 9110 §5.6.7 allows it) lands on the next second.
    return float(calendar.timegm((year, month_number, day, hour, minute, second, 0, 0, 0)))


def parse_http_date(value: str | None, *, now: float | None = None) -> float | None:
    """RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms; else None.

    Names are matched case-insensitively; the spaces are the grammar's (a doubled space
    makes a date invalid, which for Expires means already expired, RFC 9111 §5.3); `now`
    (default: the clock) only places RFC 850's two-digit years.
    """
    if value is None:
        return None
    text = value.strip(" \t").lower()
    if (m := _IMF.fullmatch(text)) is not None:
        day, month, year, hh, mm, ss = m.groups()
        return _timestamp(int(year), month, int(day), int(hh), int(mm), int(ss))
    if (m := _RFC850.fullmatch(text)) is not None:
        day, month, yy, hh, mm, ss = m.groups()
        return _timestamp(_rfc850_year(yy, now), month, int(day), int(hh), int(mm), int(ss))
    if (m := _ASCTIME.fullmatch(text)) is not None:
        month, day, hh, mm, ss, year = m.groups()
        return _timestamp(int(year), month, int(day), int(hh), int(mm), int(ss))
    return None


def format_http_date(timestamp: float) -> str:
    """IMF-fixdate, the form RFC 9110 §5.6.7 says senders generate.

    Fractions are dropped (floor); instants outside years 1-9999 are clamped, since the
    format has four year digits.
    """
    if not math.isfinite(timestamp):
        timestamp = DATE_MAX if timestamp > 0 else DATE_MIN
    t = time.gmtime(min(max(math.floor(timestamp), DATE_MIN), DATE_MAX))
    return (f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {_MONTH_NAMES[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E /
# obs-text. Characters beyond Latin-1 are let through too: a header decoded as UTF-8
# should still compare equal to itself.
_ENTITY_TAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\U0010ffff]*"')


def parse_etag_list(value: str | None) -> list[str] | Literal["*"] | None:
    """If-Match / If-None-Match (RFC 9110 §13.1.1, §13.1.2): entity-tags as written, or "*".

    None when absent, empty or not a valid list (a backslash in an entity-tag is a plain
    character, not an escape). Empty list elements are skipped (RFC 9110 §5.6.1.2).
    """
    if value is None:
        return None
    text = value.strip(" \t")
    if text == "*":
        return "*"
    tags: list[str] = []
    position, end = 0, len(text)
    while True:
        while position < end and text[position] in " \t,":
            position += 1
        if position >= end:
            break
        match = _ENTITY_TAG.match(text, position)
        if match is None:
            return None
        tags.append(match.group())
        position = match.end()
        while position < end and text[position] in " \t":
            position += 1
        if position < end and text[position] != ",":
            return None
    return tags or None


def is_weak(tag: str) -> bool:
    """RFC 9110 §8.8.3: the weakness indicator is a case-sensitive "W/"."""
    return tag.startswith("W/")


def opaque_tag(tag: str) -> str:
    """The quoted part of an entity-tag, weakness indicator dropped."""
    return tag[2:] if is_weak(tag) else tag


def strong_match(a: str | None, b: str | None) -> bool:
    """RFC 9110 §8.8.3.2 strong comparison: both strong and character for character equal."""
    if a is None or b is None:
        return False
    a, b = a.strip(" \t"), b.strip(" \t")
    return not is_weak(a) and not is_weak(b) and a == b


def weak_match(a: str | None, b: str | None) -> bool:
    """RFC 9110 §8.8.3.2 weak comparison: the opaque tags match, either may be weak."""
    if a is None or b is None:
        return False
    return opaque_tag(a.strip(" \t")) == opaque_tag(b.strip(" \t"))
