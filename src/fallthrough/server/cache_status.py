"""The Cache-Status response field (RFC 9211): how this cache handled the request.

X-Cache says it in one word for people; Cache-Status says it in the standard's terms for
tools: `hit`, or `fwd=<why>` with the origin's `fwd-status`, whether the response was
`stored`, whether the request `collapsed` into another's fill, and the `ttl` left.
"""

from __future__ import annotations

NAME = "fallthrough"  # this cache's entry in the list (RFC 9211 §2)


def hit(ttl: float) -> str:
    """Served from the store without asking the origin; a negative ttl: served stale."""
    return f"{NAME}; hit; ttl={int(ttl)}"


def forwarded(reason: str, status: int, *, stored: bool = False, collapsed: bool = False,
              ttl: float | None = None) -> str:
    """The origin was asked (RFC 9211 §2.2: `reason` is bypass, method, uri-miss,
    vary-miss, miss, request, stale or partial)."""
    parts = [NAME, f"fwd={reason}", f"fwd-status={status}"]
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if ttl is not None:
        parts.append(f"ttl={int(ttl)}")
    return "; ".join(parts)
