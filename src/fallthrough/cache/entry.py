"""What the index keeps for a key: the stored response, its body's digest, its clocks.

An entry is created only for a complete, verified body whose blob is already in the
store (chunks, then manifest, then entry), so a reader that finds one can always serve it
or, if the store lost the blob since, treat it as a miss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote
from typing import Any

from multidict import CIMultiDict

from ..castore import B3Digest

# Headers the edge computes per response rather than stores.
COMPUTED = frozenset({"content-length", "age", "x-cache", "content-range", "accept-ranges"})
# Purge tags come in on these; they are for the edge, not for clients.
TAG_HEADERS = ("surrogate-key", "cache-tag")


def derived_tag(key: str) -> str:
    """The purge tag every entry derived from `key` carries (a resized image of a source),
    so that purging the source purges them too. Tags are space-separated tokens."""
    return "derived-from:" + quote(key, safe="/?=&")


def parse_tags(headers: CIMultiDict[str]) -> tuple[str, ...]:
    """Surrogate-Key lists tags separated by spaces, Cache-Tag by commas."""
    tags: list[str] = []
    for value in headers.getall("surrogate-key", []):
        tags += value.split()
    for value in headers.getall("cache-tag", []):
        tags += [t.strip() for t in value.split(",")]
    return tuple(dict.fromkeys(t for t in tags if t))


@dataclass(slots=True)
class Entry:
    key: str
    variant: tuple[str, ...]
    status: int
    headers: CIMultiDict[str]
    digest: B3Digest
    size: int
    request_time: float
    response_time: float
    lifetime: float
    stale_while_revalidate: float
    stale_if_error: float
    initial_age: float = 0.0  # RFC 9111 §4.2.3 corrected_initial_age: age when stored
    vary: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # The headers every hit sends, built once by the edge (not stored; rebuilt after a restart).
    wire: list[tuple[str, str]] | None = field(default=None, compare=False, repr=False)

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def body_key(self) -> tuple[str, tuple[str, ...]]:
        return self.key, self.variant

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "variant": list(self.variant), "status": self.status,
            "headers": [[k, v] for k, v in self.headers.items()], "digest": self.digest.hex(), "size": self.size,
            "request_time": self.request_time, "response_time": self.response_time, "lifetime": self.lifetime,
            "swr": self.stale_while_revalidate, "sie": self.stale_if_error, "age": self.initial_age, "vary": list(self.vary),
            "tags": list(self.tags),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            key=data["key"], variant=tuple(data["variant"]), status=int(data["status"]),
            headers=CIMultiDict((str(k), str(v)) for k, v in data["headers"]),
            digest=B3Digest.from_hex(data["digest"]), size=int(data["size"]),
            request_time=float(data["request_time"]), response_time=float(data["response_time"]),
            lifetime=float(data["lifetime"]), stale_while_revalidate=float(data["swr"]),
            stale_if_error=float(data["sie"]), initial_age=float(data.get("age", 0.0)), vary=tuple(data["vary"]), tags=tuple(data["tags"]),
        )
