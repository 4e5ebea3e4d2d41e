"""What the index keeps for a key: the stored response, its body's digest, its clocks.

An entry is created only for a complete, verified body whose blob is already in the
store (chunks, then manifest, then entry), so a reader that finds one can always serve it
or, if the store lost the blob since, treat it as a miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from multidict import CIMultiDict

from ..castore import B3Digest

# Headers the edge computes per response rather than stores.
# (Content-Range is stored: on a 200 it is the origin's to say, RFC 9111 §3.1; delivery
# puts its own on the ranges it cuts.)
COMPUTED = frozenset({"content-length", "age", "x-cache", "accept-ranges"})
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
    # The digest of the blob's manifest as the writer stored it (None in entries stored
    # before it was kept): a read checks the manifest against it before serving a byte.
    manifest: B3Digest | None = None
    # The headers every hit sends, built once by the edge (not stored; rebuilt after a restart).
    wire: list[tuple[str, str]] | None = field(default=None, compare=False, repr=False)
    # The whole header list of a fresh hit, for the second of age it was built in: a hot
    # object is served many times a second, and its Age changes once a second.
    hot: tuple[int, list[tuple[str, str]]] | None = field(default=None, compare=False, repr=False)
    # The period of the use log in which a lookup last found this entry (cache/uses.py):
    # one comparison per hit decides whether the period has noted it yet.
    used: object = field(default=None, compare=False, repr=False)

    def age_at(self, now: float) -> float:
        """RFC 9111 §4.2.3 current_age: the age when stored plus the time resident since.

        The one source of an entry's age: the stored headers have no Age field (it is
        computed per response), so nothing may recompute the age from them.
        """
        return self.initial_age + max(0.0, now - self.response_time)

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
            **({"manifest": self.manifest.hex()} if self.manifest is not None else {}),
        }

    @classmethod
    def from_json(cls, data: object) -> Entry:
        """An entry from its journal record; ValueError naming the field for any record
        that is not one (a journal is data from disk: its CRC says it is whole, not right).

        Every field is checked for its type here, so that nothing wrong gets into the
        index and fails later, on a lookup or a sweep, far from the record that caused it.
        """
        if not isinstance(data, dict):
            raise ValueError(f"an entry is an object, not {type(data).__name__}")
        manifest = data.get("manifest")
        return cls(
            key=_text(data, "key"), variant=_texts(data, "variant"), status=_status(data),
            headers=CIMultiDict(_pairs(data, "headers")),
            digest=B3Digest.from_hex(_text(data, "digest")), size=_count(data, "size"),
            request_time=_number(data, "request_time"), response_time=_number(data, "response_time"),
            lifetime=_number(data, "lifetime"), stale_while_revalidate=_number(data, "swr"),
            stale_if_error=_number(data, "sie"), initial_age=_number(data, "age", 0.0), vary=_texts(data, "vary"),
            tags=_texts(data, "tags"),
            manifest=None if manifest is None else B3Digest.from_hex(_text(data, "manifest")),
        )


def _field(data: dict[str, Any], name: str) -> Any:  # noqa: ANN401 - checked by the callers
    if name not in data:
        raise ValueError(f"entry field {name!r} is missing")
    return data[name]


def _text(data: dict[str, Any], name: str) -> str:
    value = _field(data, name)
    if not isinstance(value, str):
        raise ValueError(f"entry field {name!r} is not a string")
    return value


def _texts(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = _field(data, name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"entry field {name!r} is not a list of strings")
    return tuple(value)


def _pairs(data: dict[str, Any], name: str) -> list[tuple[str, str]]:
    value = _field(data, name)
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], str) for p in value
    ):
        raise ValueError(f"entry field {name!r} is not a list of [name, value] strings")
    return [(k, v) for k, v in value]


def _number(data: dict[str, Any], name: str, default: float | None = None) -> float:
    value = data.get(name, default) if default is not None else _field(data, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"entry field {name!r} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer past any float
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"entry field {name!r} is not a finite number")
    return number


def _count(data: dict[str, Any], name: str) -> int:
    value = _field(data, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"entry field {name!r} is not a count")
    return value


def _status(data: dict[str, Any]) -> int:
    status = _count(data, "status")
    if not 100 <= status <= 999:
        raise ValueError(f"entry field 'status' is not an HTTP status: {status}")
    return status
