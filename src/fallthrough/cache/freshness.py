"""RFC 9111 decisions for a shared cache, as pure functions of headers and clocks.

Nothing here does I/O or reads the clock: the caller passes `now`, the request and
response times, and the mount's policy, so every rule can be tested on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from multidict import CIMultiDict

from .headers import delta_seconds, parse_cache_control, parse_http_date, split_list
from .origin import HOP_BY_HOP
# RFC 9110 §15.1: statuses a cache may reuse with heuristic freshness. 206 is left out:
# we never store a partial body.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
DEFAULT_TTL_STATUSES = frozenset({200, 203, 204, 300, 301, 308})
NEGATIVE_STATUSES = frozenset({404, 410})
# RFC 9111 §3.2: a 304 updates the stored headers, except these, which describe the body.
NOT_UPDATED_BY_304 = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-range"})


@dataclass(frozen=True)
class CachePolicy:
    """One mount's choices where RFC 9111 leaves them to the cache."""

    default_ttl: float | None = None
    max_ttl: float | None = None
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0
    negative_ttl: float = 10.0
    honour_origin: bool = True
    heuristic_fraction: float = 0.1
    heuristic_max: float = 86400.0


class Freshness(enum.Enum):
    FRESH = "fresh"
    STALE_SERVABLE = "stale, servable while revalidating"
    STALE = "stale"


def _cc(headers: Mapping[str, str]) -> dict[str, str | None]:
    getall = getattr(headers, "getall", None)
    values = getall("cache-control", []) if getall is not None else headers.get("cache-control")
    return parse_cache_control(values)


def _explicit_lifetime(headers: Mapping[str, str], cc: dict[str, str | None], response_time: float) -> float | None:
    """s-maxage, then max-age, then Expires − Date (RFC 9111 §4.2.1)."""
    for name in ("s-maxage", "max-age"):
        if name in cc:
            seconds = delta_seconds(cc[name])
            return 0.0 if seconds is None else float(seconds)  # an invalid value: treat as stale
    if "expires" in headers:
        expires = parse_http_date(headers.get("expires"))
        if expires is None:
            return 0.0  # §5.3: an invalid Expires is a time in the past
        date = parse_http_date(headers.get("date"))
        return max(0.0, expires - (date if date is not None else response_time))
    return None


def _policy_lifetime(status: int, policy: CachePolicy) -> float | None:
    if status in NEGATIVE_STATUSES:
        return policy.negative_ttl
    if status in DEFAULT_TTL_STATUSES:
        return policy.default_ttl
    return None


def _cap(lifetime: float, policy: CachePolicy) -> float:
    return min(lifetime, policy.max_ttl) if policy.max_ttl is not None else lifetime


def freshness_lifetime(status: int, response_headers: Mapping[str, str], policy: CachePolicy,
                       response_time: float = 0.0) -> float:
    """How long a stored response stays fresh (RFC 9111 §4.2.1, §4.2.2), capped by max_ttl."""
    if not policy.honour_origin:
        return _cap(_policy_lifetime(status, policy) or 0.0, policy)
    cc = _cc(response_headers)
    if "no-cache" in cc and cc["no-cache"] is None:
        return 0.0  # stored, but revalidated before every reuse (§5.2.2.4)
    explicit = _explicit_lifetime(response_headers, cc, response_time)
    if explicit is not None:
        return _cap(explicit, policy)
    by_policy = _policy_lifetime(status, policy)
    if by_policy is not None:
        return _cap(by_policy, policy)
    last_modified = parse_http_date(response_headers.get("last-modified"))
    if last_modified is not None and status in HEURISTIC_STATUSES:
        date = parse_http_date(response_headers.get("date"))
        since = (date if date is not None else response_time) - last_modified
        return _cap(min(max(since, 0.0) * policy.heuristic_fraction, policy.heuristic_max), policy)
    return 0.0


def storable(method: str, status: int, request_headers: Mapping[str, str], response_headers: Mapping[str, str],
             policy: CachePolicy) -> bool:
    """May a shared cache store this response (RFC 9111 §3)?

    A shared edge must never hand one user's cookie to another, so a response that sets
    one is stored only when the origin marks it `public`.
    """
    if method != "GET" or status < 200 or status == 206:
        return False
    if "*" in [v.lower() for v in split_list(response_headers.get("vary"))]:
        return False
    cc = _cc(response_headers)
    if "set-cookie" in response_headers and "public" not in cc:
        return False
    if not policy.honour_origin:
        return _policy_lifetime(status, policy) is not None or status in HEURISTIC_STATUSES
    request_cc = _cc(request_headers)
    if "no-store" in cc or "no-store" in request_cc or "private" in cc:
        return False
    if "authorization" in request_headers and not ({"public", "s-maxage", "must-revalidate"} & cc.keys()):
        return False
    if _explicit_lifetime(response_headers, cc, 0.0) is not None or "public" in cc:
        return True
    if status in HEURISTIC_STATUSES and (
        _policy_lifetime(status, policy) is not None
        or "last-modified" in response_headers
        or "etag" in response_headers
    ):
        return True
    return False


def current_age(response_headers: Mapping[str, str], request_time: float, response_time: float, now: float) -> float:
    """RFC 9111 §4.2.3, exactly."""
    date = parse_http_date(response_headers.get("date"))
    apparent_age = max(0.0, response_time - date) if date is not None else 0.0
    age_value = delta_seconds((response_headers.get("age") or "").strip()) or 0
    response_delay = response_time - request_time
    corrected_age_value = age_value + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = now - response_time
    return corrected_initial_age + resident_time


def _forbids_stale(cc: dict[str, str | None]) -> bool:
    # §5.2.2.2, §5.2.2.8; s-maxage implies proxy-revalidate (§5.2.2.10); no-cache (§5.2.2.4).
    return bool({"must-revalidate", "proxy-revalidate", "s-maxage", "no-cache"} & cc.keys())


def stale_windows(response_headers: Mapping[str, str], policy: CachePolicy) -> tuple[float, float]:
    """(stale-while-revalidate, stale-if-error) seconds: the response's (RFC 5861) or the mount's."""
    cc = _cc(response_headers)
    if policy.honour_origin and _forbids_stale(cc):
        return 0.0, 0.0
    windows = []
    for name, default in (("stale-while-revalidate", policy.stale_while_revalidate),
                          ("stale-if-error", policy.stale_if_error)):
        given = delta_seconds(cc.get(name)) if policy.honour_origin and name in cc else None
        windows.append(float(given) if given is not None else default)
    return windows[0], windows[1]


def only_if_cached(request_headers: Mapping[str, str]) -> bool:
    return "only-if-cached" in _cc(request_headers)


def classify(*, status: int, response_headers: Mapping[str, str], request_headers: Mapping[str, str],
             request_time: float, response_time: float, now: float, policy: CachePolicy) -> tuple[Freshness, float]:
    """Fresh, stale but servable while revalidating, or stale; with the current age.

    Request directives (RFC 9111 §5.2.1) narrow it: no-cache, max-age, min-fresh; max-stale
    allows a stale response to be served (and revalidated in the background).
    """
    age = current_age(response_headers, request_time, response_time, now)
    lifetime = freshness_lifetime(status, response_headers, policy, response_time)
    request_cc = _cc(request_headers)
    if "pragma" in request_headers and "cache-control" not in request_headers and \
            "no-cache" in (request_headers.get("pragma") or "").lower():
        request_cc = {"no-cache": None}  # RFC 9111 §5.4
    if "no-cache" in request_cc:
        return Freshness.STALE, age
    max_age = delta_seconds(request_cc.get("max-age")) if "max-age" in request_cc else None
    if max_age is not None and age > max_age:
        return Freshness.STALE, age
    min_fresh = delta_seconds(request_cc.get("min-fresh")) or 0
    if age + min_fresh < lifetime:
        return Freshness.FRESH, age
    swr, _ = stale_windows(response_headers, policy)
    if "max-stale" in request_cc and not _forbids_stale(_cc(response_headers)):
        allowed = delta_seconds(request_cc["max-stale"]) if request_cc["max-stale"] is not None else None
        if allowed is None or age - lifetime <= allowed:
            return Freshness.STALE_SERVABLE, age
    if lifetime <= age < lifetime + swr and not request_cc:
        return Freshness.STALE_SERVABLE, age
    return Freshness.STALE, age


def may_serve_stale_on_error(*, response_headers: Mapping[str, str], request_headers: Mapping[str, str],
                             current_age: float, lifetime: float, policy: CachePolicy) -> bool:
    """Within stale-if-error (RFC 5861 §4), the response's, the request's or the mount's."""
    cc = _cc(response_headers)
    if policy.honour_origin and _forbids_stale(cc):
        return False
    _, window = stale_windows(response_headers, policy)
    request_cc = _cc(request_headers)
    if "stale-if-error" in request_cc:
        window = max(window, float(delta_seconds(request_cc["stale-if-error"]) or 0))
    return current_age < lifetime + window


def freshen_headers(stored: Mapping[str, str], not_modified: Mapping[str, str]) -> CIMultiDict[str]:
    """The stored headers updated by a 304's (RFC 9111 §4.3.4, §3.2)."""
    updates = CIMultiDict(
        (k, v) for k, v in _items(not_modified) if k.lower() not in NOT_UPDATED_BY_304 | HOP_BY_HOP
    )
    result = CIMultiDict((k, v) for k, v in _items(stored) if k not in updates)
    result.extend(updates)
    return result


def _items(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    items: Any = headers.items()
    return list(items)


def invalidates(method: str, status: int) -> bool:
    """RFC 9111 §4.4: an unsafe method's non-error response invalidates the target URI."""
    return method not in ("GET", "HEAD", "OPTIONS", "TRACE") and 200 <= status < 400


def vary_names(response_headers: Mapping[str, str]) -> list[str] | Literal["*"]:
    getall = getattr(response_headers, "getall", None)
    values = getall("vary", []) if getall is not None else response_headers.get("vary")
    names = [n.lower() for n in split_list(values)]
    return "*" if "*" in names else sorted(set(names))


def vary_key(vary_names: list[str], request_headers: Mapping[str, str]) -> tuple[str, ...]:
    """The request's values of the Vary'd headers, normalized (RFC 9111 §4.1)."""
    key = []
    for name in sorted(n.lower() for n in vary_names):
        getall = getattr(request_headers, "getall", None)
        values = getall(name, []) if getall is not None else (
            [request_headers[name]] if name in request_headers else
            [v for k, v in _items(request_headers) if k.lower() == name]
        )
        key.append(", ".join(" ".join(v.split()) for v in values))
    return tuple(key)
