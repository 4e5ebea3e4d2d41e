"""Parsing HTTP header values that caching decisions rest on (RFC 9110, RFC 9111).

Every function here is total: a garbled value never raises, it is treated as absent
or as the RFC says (an invalid Expires means "already expired", RFC 9111 §5.3).
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable
from typing import Literal

DELTA_MAX = 2**31  # RFC 9111 §1.2.2: larger delta-seconds are passed on as this

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_MEMBER = re.compile(rf"\s*({_TOKEN})\s*(?:=\s*({_TOKEN}|{_QUOTED}))?\s*$")


def _values(values: str | Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    return [values] if isinstance(values, str) else list(values)


def split_list(values: str | Iterable[str] | None) -> list[str]:
    """Members of a comma-separated list (RFC 9110 §5.6.1), quoted commas kept inside."""
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
                members.append("".join(current).strip())
                current = []
                continue
            current.append(char)
        members.append("".join(current).strip())
    return [m for m in members if m]


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_cache_control(values: str | Iterable[str] | None) -> dict[str, str | None]:
    """Cache-Control directives (RFC 9111 §5.2): names lowercased, values unquoted.

    A directive given twice keeps its first value; members that do not parse are skipped.
    """
    directives: dict[str, str | None] = {}
    for member in split_list(values):
        match = _MEMBER.match(member)
        if match is None:
            continue
        name = match.group(1).lower()
        if name not in directives:
            raw = match.group(2)
            directives[name] = None if raw is None else unquote(raw)
    return directives


def delta_seconds(value: str | None) -> int | None:
    """RFC 9111 §1.2.2: a non-negative integer; too large → 2^31; anything else → None."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return min(int(value), DELTA_MAX)


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                        "nov", "dec"), 1)}
_DAYS = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAYS = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_IMF = re.compile(rf"^{_DAYS}, (\d\d) ([a-z]{{3}}) (\d{{4}}) (\d\d):(\d\d):(\d\d) gmt$")
_RFC850 = re.compile(rf"^{_LONG_DAYS}, (\d\d)-([a-z]{{3}})-(\d\d) (\d\d):(\d\d):(\d\d) gmt$")
_ASCTIME = re.compile(rf"^{_DAYS} ([a-z]{{3}}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{{4}})$")


def parse_http_date(value: str | None) -> float | None:
    """RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms."""
    if value is None:
        return None
    text = value.strip().lower()
    if (m := _IMF.match(text)) is not None:
        day, month, year, hh, mm, ss = m.groups()
    elif (m := _RFC850.match(text)) is not None:
        day, month, yy, hh, mm, ss = m.groups()
        # Two-digit years more than 50 years in the future are in the past century.
        this_year = time.gmtime().tm_year
        year_int = this_year - this_year % 100 + int(yy)
        if year_int > this_year + 50:
            year_int -= 100
        year = str(year_int)
    elif (m := _ASCTIME.match(text)) is not None:
        month, day, hh, mm, ss, year = m.groups()
    else:
        return None
    month_number = _MONTHS.get(month)
    if month_number is None:
        return None
    try:
        parts = (int(year), month_number, int(day), int(hh), int(mm), int(ss))
        if not (1 <= parts[2] <= 31 and parts[3] < 24 and parts[4] < 60 and parts[5] <= 60):
            return None
        time.struct_time((*parts, 0, 0, 0))
        return float(calendar.timegm((*parts, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


def format_http_date(timestamp: float) -> str:
    """IMF-fixdate, the form RFC 9110 §5.6.7 says senders use."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(timestamp))


_ETAG = re.compile(r'\s*((?:W/)?"[\x21\x23-\x7e\x80-\xff]*")\s*')


def parse_etag_list(value: str | None) -> list[str] | Literal["*"] | None:
    """If-Match / If-None-Match (RFC 9110 §13.1.1): entity-tags as written, or "*"."""
    if value is None:
        return None
    if value.strip() == "*":
        return "*"
    tags: list[str] = []
    position = 0
    while position < len(value):
        match = _ETAG.match(value, position)
        if match is None:
            return None
        tags.append(match.group(1))
        position = match.end()
        if position < len(value):
            if value[position] != ",":
                return None
            position += 1
            while position < len(value) and value[position] in " \t,":
                position += 1
    return tags or None


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def strong_match(a: str | None, b: str | None) -> bool:
    """RFC 9110 §8.8.3.2: both strong and identical."""
    return a is not None and b is not None and not a.startswith("W/") and a == b


def weak_match(a: str | None, b: str | None) -> bool:
    """RFC 9110 §8.8.3.2: the opaque tags match, weak or not."""
    return a is not None and b is not None and _opaque(a) == _opaque(b)
