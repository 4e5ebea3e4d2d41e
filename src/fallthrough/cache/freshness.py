"""RFC 9111 decisions for a shared cache, as pure functions of headers and clocks.

Nothing here does I/O or reads the clock: the caller passes `now`, the request and
response times, and the mount's policy, so every rule can be tested on its own.
Headers are any mapping; a multidict's `getall` is used when it has one, so a field
sent on several lines counts as one list (RFC 9110 §5.3).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from multidict import CIMultiDict

from .headers import (
    delta_seconds,
    format_http_date,
    parse_cache_control,
    parse_http_date,
    parse_targeted,
    split_list,
)

# RFC 9110 §15.1 / RFC 9111 §4.2.2: statuses a cache may reuse with heuristic freshness.
# 206 is left out: we never store a partial body.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# The statuses a mount's default_ttl and negative_ttl apply to.
DEFAULT_TTL_STATUSES = frozenset({200, 203, 204, 300, 301, 308})
NEGATIVE_STATUSES = frozenset({404, 410})
# RFC 9111 §5.2.2.3: the final statuses whose caching rules we implement (those RFC 9110
# defines), for `must-understand`. 206 and 304 are never stored.
UNDERSTOOD_STATUSES = frozenset({
    200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 305, 307, 308,
    *range(400, 418), 421, 422, 426, *range(500, 506),
})
NEVER_STORED = frozenset({206, 304})
# RFC 9110 §7.6.1: fields for one connection only, never stored or passed on.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "proxy-connection",
})
# RFC 9111 §3.2: a 304 updates the stored headers, except Content-Length and the fields
# the stored body depends upon. The body is the one we hold, so its encoding, range and
# media type stand: a 304 says the representation is unchanged, and a default
# Content-Type some servers put on every response must not relabel it.
NOT_UPDATED_BY_304 = frozenset({"content-length", "content-encoding", "content-range", "content-type"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10: directives that forbid serving stale (and so
# does a plain no-cache, §5.2.2.4).
_NO_STALE = frozenset({"must-revalidate", "proxy-revalidate", "s-maxage"})
# RFC 9111 §3.5: directives that let a shared cache store an answer to an authorized request.
_AUTHORIZED_OK = frozenset({"public", "s-maxage", "must-revalidate"})


@dataclass(frozen=True)
class CachePolicy:
    """One mount's choices where RFC 9111 leaves them to the cache."""

    default_ttl: float | None = None  # lifetime without explicit freshness; None: RFC rules only
    max_ttl: float | None = None  # cap on every lifetime; None: no cap
    stale_while_revalidate: float = 0.0  # window when the response names none (RFC 5861 §3)
    stale_if_error: float = 0.0  # ditto (RFC 5861 §4)
    # How long past its lifetime a stored response stands in when the origin cannot be
    # reached at all (RFC 9111 §4.2.4 allows stale when "disconnected"); not for 5xx.
    stale_if_unreachable: float = 3600.0
    negative_ttl: float = 10.0  # 404/410 without explicit freshness
    honour_origin: bool = True  # False: the origin's Cache-Control and Expires are ignored
    heuristic_fraction: float = 0.1  # RFC 9111 §4.2.2
    heuristic_max: float = 86400.0
    # Store a response that sets a cookie when the origin gave it explicit freshness
    # (False: only when it is marked `public`).
    store_set_cookie: bool = True
    # RFC 9213 targeted fields this cache obeys, the first present and valid one winning
    # over Cache-Control and Expires (lowercased names).
    targeted: tuple[str, ...] = ("cdn-cache-control",)
    forward_targeted: bool = False  # pass those fields on to clients (they are for us)

    @property
    def hidden_fields(self) -> frozenset[str]:
        """Response fields meant for this cache alone, never sent to clients."""
        return frozenset() if self.forward_targeted else frozenset(self.targeted)


class Freshness(enum.Enum):
    FRESH = "fresh"  # serve it
    STALE_SERVABLE = "stale, servable while revalidating"  # serve it, revalidate in background
    STALE = "stale"  # revalidate first; on an origin error, see may_serve_stale_on_error


def _getall(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of `name`, whatever the mapping (multidict, or a plain dict of any case)."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    return [v for k, v in headers.items() if k.lower() == name]


def _first(headers: Mapping[str, str], name: str) -> str | None:
    values = _getall(headers, name)
    return values[0] if values else None


def _has(headers: Mapping[str, str], name: str) -> bool:
    return bool(_getall(headers, name))


def _cc(headers: Mapping[str, str]) -> dict[str, str | None]:
    return parse_cache_control(_getall(headers, "cache-control"))


class _Directives(dict[str, str | None]):
    """A response's cache directives for this cache. `targeted`: they come from a targeted
    field (RFC 9213), which sets Cache-Control and Expires aside, so Expires gives no
    lifetime."""

    targeted = False


def _response_cc(response_headers: Mapping[str, str], policy: CachePolicy) -> _Directives:
    """The directives this cache follows: the first valid targeted field's, else
    Cache-Control's."""
    for name in policy.targeted:
        values = _getall(response_headers, name)
        targeted = parse_targeted(values) if values else None
        if targeted is not None:
            directives = _Directives(targeted)
            directives.targeted = True
            return directives
    return _Directives(_cc(response_headers))


def _expires(response_headers: Mapping[str, str], cc: _Directives) -> bool:
    """An Expires field that counts (not one set aside by a targeted field)."""
    return not cc.targeted and _has(response_headers, "expires")


def _request_cc(request_headers: Mapping[str, str]) -> dict[str, str | None]:
    """Request directives; `Pragma: no-cache` counts as no-cache without Cache-Control (§5.4)."""
    if _has(request_headers, "cache-control"):
        return _cc(request_headers)
    pragma = [m.lower() for m in split_list(_getall(request_headers, "pragma"))]
    return {"no-cache": None} if "no-cache" in pragma else {}


def _plain(directives: Mapping[str, str | None], name: str) -> bool:
    """The directive is present without a field-name list (`no-cache`, not `no-cache="a"`);
    an empty list (`no-cache=""`) counts as none, the stricter reading."""
    return name in directives and not directives[name]


def withheld_fields(response_headers: Mapping[str, str], policy: CachePolicy) -> frozenset[str]:
    """The fields a shared cache keeps out of what it stores (RFC 9111 §5.2.2.4, §5.2.2.7):
    those a qualified `no-cache="..."` or `private="..."` names, lowercased. The rest of
    the response may be stored and reused; the named fields go only to the client whose
    request fetched it."""
    if not policy.honour_origin:
        return frozenset()
    cc = _response_cc(response_headers, policy)
    return frozenset(
        name.lower() for directive in ("no-cache", "private") if cc.get(directive)
        for name in split_list(cc[directive])
    )


def _seconds(directives: Mapping[str, str | None], name: str) -> int | None:
    """A directive's delta-seconds; None when absent or invalid."""
    return delta_seconds(directives[name]) if name in directives else None


def _items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def end_to_end(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """The end-to-end fields: hop-by-hop ones and those Connection names dropped (RFC 9110 §7.6.1)."""
    drop = HOP_BY_HOP | {n.lower() for n in split_list(_getall(headers, "connection"))}
    return CIMultiDict((k, v) for k, v in _items(headers) if k.lower() not in drop)


def vary_names(response_headers: Mapping[str, str]) -> list[str] | Literal["*"]:
    """The request fields a response varies on (RFC 9110 §12.5.5), lowercased and sorted, or "*"."""
    names = {n.lower() for n in split_list(_getall(response_headers, "vary"))}
    return "*" if "*" in names else sorted(names)


# Request fields whose members are case-insensitive tokens with q weights, so that their
# order among equal weights carries no meaning (RFC 9110 §12.4.2, §12.5.3-§12.5.4).
_WEIGHTED_TOKENS = frozenset({"accept-language", "accept-encoding", "accept-charset"})


def _weighted(member: str) -> tuple[float, str]:
    """(−q, the member without its weight), lowercased; an invalid q counts as 1."""
    value, *params = [p.strip(" \t") for p in member.lower().split(";")]
    weight = 1.0
    kept = []
    for param in params:
        name, _, given = param.partition("=")
        if name.strip(" \t") == "q":
            try:
                weight = min(max(float(given.strip(" \t")), 0.0), 1.0)
            except ValueError:
                pass
        elif param:
            kept.append(param.replace(" ", ""))
    return -weight, ";".join([value, *kept])


def _normalized(name: str, values: list[str]) -> str:
    """One Vary'd field's value in a form equivalent requests share (RFC 9111 §4.1 allows
    normalizing "in a way that is known to have identical semantics"): its lines and
    list members joined with ", ", whitespace around commas and runs of it dropped; for
    the weighted token fields also lowercased and ordered by weight, then by token."""
    members = [" ".join(m.split()) for m in split_list(values)]
    if name in _WEIGHTED_TOKENS:
        ordered = sorted(_weighted(m) for m in members)
        members = [token if weight == -1.0 else f"{token};q={-weight:g}" for weight, token in ordered]
    return ", ".join(members)


def vary_key(vary_names: list[str], request_headers: Mapping[str, str]) -> tuple[str, ...]:
    """The request's values of the Vary'd fields, by sorted lowercased name (RFC 9111 §4.1),
    each normalized (_normalized) so that equivalent requests share a variant; "" when
    the field is absent."""
    return tuple(
        _normalized(name, _getall(request_headers, name))
        for name in sorted({n.lower() for n in vary_names})
    )


def _policy_lifetime(status: int, policy: CachePolicy) -> float | None:
    if status in NEGATIVE_STATUSES:
        return policy.negative_ttl
    if status in DEFAULT_TTL_STATUSES:
        return policy.default_ttl
    return None


def _has_explicit(response_headers: Mapping[str, str], cc: _Directives) -> bool:
    """Explicit freshness present (RFC 9111 §3), valid or not."""
    return "s-maxage" in cc or "max-age" in cc or _expires(response_headers, cc)


def storable(method: str, status: int, request_headers: Mapping[str, str], response_headers: Mapping[str, str],
             policy: CachePolicy) -> bool:
    """May this shared cache store the response (RFC 9111 §3)?

    Only GET, and never a partial (206) or a 304. A response that sets a cookie is stored
    when the origin says any client may have it: `public`, or explicit freshness
    (s-maxage, max-age, Expires) with policy.store_set_cookie; one whose Set-Cookie is
    withheld by `private="Set-Cookie"` or `no-cache="Set-Cookie"` is stored without it
    (withheld_fields), like any other response. A qualified `private="..."` withholds
    its fields; only a plain `private` keeps the response out. Beyond the RFC's list the
    response must also be reusable: explicit
    freshness, `public`, or a heuristically cacheable status with a mount TTL or a
    validator to revalidate with. With honour_origin=False only the status (200/203/
    204/300/301/308/404/410) and the request decide, and an answer to an authorized
    request is never stored, since the origin's `public` is not consulted.
    """
    if method != "GET" or not 200 <= status <= 599 or status in NEVER_STORED:
        return False
    if vary_names(response_headers) == "*":  # RFC 9111 §4.1: never matches a request
        return False
    if "no-store" in _request_cc(request_headers):  # §5.2.1.5
        return False
    if not policy.honour_origin:
        return (status in DEFAULT_TTL_STATUSES | NEGATIVE_STATUSES
                and not _has(response_headers, "set-cookie") and not _has(request_headers, "authorization"))
    cc = _response_cc(response_headers, policy)
    if "must-understand" in cc:  # §5.2.2.3: overrides no-store when we know the status
        if status not in UNDERSTOOD_STATUSES:
            return False
    elif "no-store" in cc:  # §5.2.2.5
        return False
    if _plain(cc, "private"):  # §5.2.2.7
        return False
    if (_has(response_headers, "set-cookie") and "public" not in cc
            and "set-cookie" not in withheld_fields(response_headers, policy)
            and not (policy.store_set_cookie and _has_explicit(response_headers, cc))):
        return False
    if _has(request_headers, "authorization") and not _AUTHORIZED_OK & cc.keys():  # §3.5
        return False
    if "public" in cc or _has_explicit(response_headers, cc):
        return True
    return status in HEURISTIC_STATUSES and (
        _policy_lifetime(status, policy) is not None
        or _has(response_headers, "last-modified")
        or _has(response_headers, "etag")
    )


def reusable_post(status: int, request_headers: Mapping[str, str], response_headers: Mapping[str, str],
                  policy: CachePolicy) -> bool:
    """May a POST's response be stored for later GETs (RFC 9110 §9.3.3)? Only a 200 or
    203 with explicit freshness that a GET's would be stored with too; the caller checks
    that its Content-Location names the POST's own target."""
    return (policy.honour_origin and status in (200, 203)
            and storable("GET", status, request_headers, response_headers, policy)
            and _has_explicit(response_headers, _response_cc(response_headers, policy)))


def _date_or(response_headers: Mapping[str, str], response_time: float | None) -> float | None:
    """The Date field, or the time the response arrived when it is missing or invalid (RFC 9110 §6.6.1)."""
    date = parse_http_date(_first(response_headers, "date"))
    return date if date is not None else response_time


def _explicit_lifetime(response_headers: Mapping[str, str], cc: _Directives,
                       response_time: float | None) -> float | None:
    """s-maxage, then max-age, then Expires − Date (RFC 9111 §4.2.1); None without any.

    Invalid values make the response stale (§4.2.1 encourages it; §5.3 for Expires).
    """
    for name in ("s-maxage", "max-age"):
        if name in cc:
            seconds = delta_seconds(cc[name])
            return 0.0 if seconds is None else float(seconds)
    if not _expires(response_headers, cc):
        return None
    expires = parse_http_date(_first(response_headers, "expires"))
    date = _date_or(response_headers, response_time)
    if expires is None or date is None:
        return 0.0
    return max(0.0, expires - date)


def _heuristic_lifetime(response_headers: Mapping[str, str], policy: CachePolicy,
                        response_time: float | None) -> float | None:
    """RFC 9111 §4.2.2: a fraction of the time since Last-Modified, capped."""
    last_modified = parse_http_date(_first(response_headers, "last-modified"))
    date = _date_or(response_headers, response_time)
    if last_modified is None or date is None:
        return None
    return min(max(date - last_modified, 0.0) * policy.heuristic_fraction, policy.heuristic_max)


def _cap(lifetime: float, policy: CachePolicy) -> float:
    lifetime = max(lifetime, 0.0)
    return min(lifetime, policy.max_ttl) if policy.max_ttl is not None else lifetime


def freshness_lifetime(status: int, response_headers: Mapping[str, str], policy: CachePolicy,
                       response_time: float | None = None) -> float:
    """How long a stored response stays fresh (RFC 9111 §4.2.1), capped by max_ttl.

    Order: `no-cache` → 0 (stored, revalidated before every reuse, §5.2.2.4; a qualified
    no-cache withholds its fields instead, see withheld_fields), then s-maxage, max-age,
    Expires − Date (Date missing: `response_time`), then the mount's TTL for its statuses (an operator's default_ttl
    beats the heuristic, so a mount over a bucket that always sends Last-Modified gets
    the TTL it configured), then the §4.2.2 Last-Modified heuristic for heuristically
    cacheable or `public` responses, else 0. honour_origin=False: the mount's TTL only.
    """
    if not policy.honour_origin:
        return _cap(_policy_lifetime(status, policy) or 0.0, policy)
    cc = _response_cc(response_headers, policy)
    if _plain(cc, "no-cache"):
        return 0.0
    lifetime = _explicit_lifetime(response_headers, cc, response_time)
    if lifetime is None:
        lifetime = _policy_lifetime(status, policy)
    if lifetime is None and (status in HEURISTIC_STATUSES or "public" in cc):
        lifetime = _heuristic_lifetime(response_headers, policy, response_time)
    return _cap(lifetime or 0.0, policy)


def _age_value(response_headers: Mapping[str, str]) -> int:
    """RFC 9111 §5.1: the first member of Age; an invalid value is ignored (0)."""
    members = split_list(_getall(response_headers, "age"))
    return (delta_seconds(members[0]) or 0) if members else 0


def current_age(response_headers: Mapping[str, str], request_time: float, response_time: float, now: float) -> float:
    """RFC 9111 §4.2.3, exactly: corrected initial age plus resident time.

    A missing or invalid Date counts as `response_time` (RFC 9110 §6.6.1), so it adds no
    apparent age.
    """
    date = parse_http_date(_first(response_headers, "date"))
    apparent_age = max(0.0, response_time - date) if date is not None else 0.0
    response_delay = response_time - request_time
    corrected_age_value = _age_value(response_headers) + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = now - response_time
    return corrected_initial_age + resident_time


def _forbids_stale(response_headers: Mapping[str, str], policy: CachePolicy) -> bool:
    """must-revalidate, proxy-revalidate, s-maxage (implies proxy-revalidate, §5.2.2.10) or
    an unqualified no-cache (a qualified one withholds fields instead)."""
    if not policy.honour_origin:
        return False
    cc = _response_cc(response_headers, policy)
    return bool(_NO_STALE & cc.keys()) or _plain(cc, "no-cache")


def stale_windows(response_headers: Mapping[str, str], policy: CachePolicy) -> tuple[float, float]:
    """(stale-while-revalidate, stale-if-error) seconds (RFC 5861 §3, §4).

    The response's own values override the mount's; (0, 0) when the response forbids
    serving stale (RFC 9111 §4.2.4). honour_origin=False: the mount's windows.
    """
    swr, sie = max(policy.stale_while_revalidate, 0.0), max(policy.stale_if_error, 0.0)
    if not policy.honour_origin:
        return swr, sie
    if _forbids_stale(response_headers, policy):
        return 0.0, 0.0
    cc = _response_cc(response_headers, policy)
    given_swr, given_sie = _seconds(cc, "stale-while-revalidate"), _seconds(cc, "stale-if-error")
    return (float(given_swr) if given_swr is not None else swr,
            float(given_sie) if given_sie is not None else sie)


def only_if_cached(request_headers: Mapping[str, str]) -> bool:
    """RFC 9111 §5.2.1.7: answer from the cache or with 504, never go to the origin."""
    return "only-if-cached" in _cc(request_headers)


def classify(*, response_headers: Mapping[str, str], request_headers: Mapping[str, str], age: float,
             lifetime: float, policy: CachePolicy) -> Freshness:
    """Fresh, stale but servable while revalidating, or stale.

    `age` and `lifetime` are the stored response's current age and freshness lifetime as
    the entry keeps them (computed once, from the response as it arrived: stored headers
    lack the Age field, so they cannot give the age again).

    Fresh when age < lifetime (RFC 9111 §4.2). Request directives (§5.2.1) narrow it:
    no-cache (or Pragma: no-cache) and max-age=N with age > N make it STALE; min-fresh=N
    needs N more seconds of freshness. A stale response is STALE_SERVABLE within the
    request's max-stale (no value: any staleness), or, when the request asks for no
    fresher answer (no max-age or min-fresh), within stale-while-revalidate; never when
    the response forbids stale (must-revalidate, proxy-revalidate, s-maxage, no-cache).
    """
    request_cc = _request_cc(request_headers)
    if "no-cache" in request_cc:
        return Freshness.STALE
    max_age = _seconds(request_cc, "max-age")
    if max_age is not None and age > max_age:
        return Freshness.STALE
    if age < lifetime:
        min_fresh = _seconds(request_cc, "min-fresh") or 0
        return Freshness.FRESH if lifetime - age >= min_fresh else Freshness.STALE
    if _forbids_stale(response_headers, policy):
        return Freshness.STALE
    if "max-stale" in request_cc:
        value = request_cc["max-stale"]
        allowed = float("inf") if value is None else delta_seconds(value)
        if allowed is not None and age - lifetime <= allowed:
            return Freshness.STALE_SERVABLE
    swr, _ = stale_windows(response_headers, policy)
    if age < lifetime + swr and not {"max-age", "min-fresh"} & request_cc.keys():
        return Freshness.STALE_SERVABLE
    return Freshness.STALE


def may_serve_stale_on_error(*, response_headers: Mapping[str, str], request_headers: Mapping[str, str],
                             current_age: float, lifetime: float, policy: CachePolicy,
                             unreachable: bool = False) -> bool:
    """May a stale response stand in for an origin error (RFC 5861 §4, RFC 9111 §4.2.4)?

    Within the larger of the response's (else the mount's) stale-if-error and the
    request's, and, when the origin gave no answer at all (`unreachable`: no connection,
    or closed before its response), the mount's stale_if_unreachable; never when the
    response forbids serving stale.
    """
    if _forbids_stale(response_headers, policy):
        return False
    _, window = stale_windows(response_headers, policy)
    requested = _seconds(_cc(request_headers), "stale-if-error")
    if requested is not None:
        window = max(window, float(requested))
    if unreachable:
        window = max(window, policy.stale_if_unreachable)
    return current_age < lifetime + window


def freshen_headers(stored: Mapping[str, str], not_modified: Mapping[str, str],
                    response_time: float | None = None) -> CIMultiDict[str]:
    """The stored headers updated by a 304's (RFC 9111 §4.3.4, §3.2), as a new multidict.

    Each field the 304 carries replaces every stored value of that name, except
    Content-Length, the fields the stored body depends upon (NOT_UPDATED_BY_304), and
    hop-by-hop fields (§3.1). A stored Age is dropped: it described the old message.
    When the 304 has no Date, `response_time` (if given) becomes the Date, as RFC 9110
    §6.6.1 asks of a cache; else the stored Date would age the entry at once.
    """
    skip = NOT_UPDATED_BY_304 | HOP_BY_HOP | {n.lower() for n in split_list(_getall(not_modified, "connection"))}
    updates = [(k, v) for k, v in _items(not_modified) if k.lower() not in skip]
    replaced = {k.lower() for k, _ in updates} | {"age"}
    result: CIMultiDict[str] = CIMultiDict((k, v) for k, v in _items(stored) if k.lower() not in replaced)
    result.extend(updates)
    if response_time is not None and "date" not in replaced:
        result["Date"] = format_http_date(response_time)
    return result


def invalidates(method: str, status: int) -> bool:
    """RFC 9111 §4.4: a non-error (2xx/3xx) answer to an unsafe method invalidates the target URI."""
    return method not in SAFE_METHODS and 200 <= status < 400
