"""What the cache needs of an origin: `fetch` answering an OriginResponse, and its errors.

The origins package implements this for each kind of origin (HTTP, buckets, later
generators); the cache knows only this protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from multidict import CIMultiDict

from .freshness import HOP_BY_HOP, end_to_end  # noqa: F401 - what origins strip


def single_range(value: str | None) -> tuple[int, int | None] | None:
    """`bytes=A-B` or `bytes=A-` as (A, B + 1 or None): the one form the edge sends an
    origin (for a Range far ahead of a fill). Anything else: None, the whole object."""
    if not value:
        return None
    unit, _, spec = value.strip().partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or not dash or not first.isdigit() or (last and not last.isdigit()):
        return None
    start, end = int(first), (int(last) + 1 if last else None)
    return None if end is not None and end <= start else (start, end)


def one_line(exc: BaseException) -> str:
    """An exception as one line for a log or an error reply (client libraries write pages)."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def origin_label(name: str) -> str:
    """An origin as the node's log names it: as configured, less any credentials its URL
    carries (`user:password@`), so that no log line ever holds a secret."""
    scheme, sep, rest = name.partition("://")
    if not sep:
        return name
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def failure_reason(exc: BaseException) -> str:
    """A failure's reason for the node's log, in one line: without the "origin NAME: " an
    origin puts in front of its messages, since the log's line names the origin itself."""
    text = one_line(exc)
    if text.startswith("origin ") and ": " in text:
        return text.partition(": ")[2]
    return text


class OriginError(Exception):
    """An origin could not give what was asked. The message is one line for the log (it
    may name the origin's address and a library's words); `public` is what a client is
    told, in words that give nothing of the origin away."""

    public_default = "the origin failed"

    def __init__(self, message: str = "", public: str | None = None) -> None:
        super().__init__(message)
        self.public = public or self.public_default


class OriginUnavailable(OriginError):
    """No response at all: no connection, a timeout before the headers, a store that is down."""

    public_default = "the origin could not be reached"


class OriginTimeout(OriginUnavailable):
    """The origin went quiet past its deadline before answering (a 504, not a 502)."""

    public_default = "the origin did not answer in time"


class OriginBodyError(OriginError):
    """The response began but its body broke off or ended short of its length."""

    public_default = "the origin broke off"


class BadOriginURL(OriginError):
    """A configured origin that cannot be used; raised when the configuration is checked."""


class BadObjectPath(OriginError):
    """A request path that names no object a bucket could hold."""


class NoSuchObject(Exception):
    """A write's condition, or a request about an object, named one the origin does not hold."""


class ConditionFailed(Exception):
    """A conditional write's If-Match / If-None-Match did not hold: nothing was written."""


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """A write's preconditions, as S3 takes them (RFC 9110 §13.1.1-2): If-Match (an ETag
    list, or `*`: the object exists) and If-None-Match (`*`: it does not; ETags: it is
    none of them)."""

    if_match: str | None = None
    if_none_match: str | None = None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


@dataclass
class OriginResponse:
    status: int
    headers: CIMultiDict[str]
    length: int | None = None
    body: AsyncIterator[bytes] = field(default_factory=_empty)
    closer: object = None  # called (maybe awaited) by aclose() to give the connection back
    # Why an origin made an error answer (a 5xx) itself, for the node's log: a transform's
    # refusal says it here; an HTTP server's answer has none.
    reason: str | None = None

    async def aclose(self) -> None:
        closer, self.closer = self.closer, None
        if closer is not None:
            result = closer()  # type: ignore[operator]
            if hasattr(result, "__await__"):
                await result


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str  # under the origin's base, as a bucket key
    size: int
    last_modified: float  # seconds since the epoch
    etag: str | None


class Origin(Protocol):
    """`fetch` gets the request headers to forward with lower-case names, the cache's
    validators (if-none-match, if-modified-since) among them on a revalidation."""

    name: str

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse: ...

    async def close(self) -> None: ...


class Listable(Protocol):
    """An origin that can say what it holds (buckets and directories; not HTTP servers)."""

    def list_after(self, prefix: str, start_after: str) -> AsyncIterator[ListedObject]:
        """The objects whose keys begin with `prefix` (a plain string prefix) and sort
        after `start_after`, in key order (code points, which is UTF-8 byte order)."""
        ...


class Writable(Protocol):
    """An origin that takes writes (a bucket, for mounts configured writable)."""

    async def put_object(self, key: str, body: AsyncIterator[bytes], attributes: Mapping[str, str],
                         tags: Mapping[str, str] | None = None, part_size: int | None = None) -> str | None:
        """Store the whole body under `key`, or nothing if the body raises; the new ETag.
        `attributes`: Content-Type, Cache-Control, ... and user metadata by bare name;
        `tags`: the object's tags, written with it; `part_size`: the size of the parts
        it is uploaded in (a client's multipart upload's), so that the bucket's parts
        and ETag are the ones that upload would have made."""
        ...

    async def put_file(self, key: str, path: str, attributes: Mapping[str, str],
                       tags: Mapping[str, str] | None = None, condition: WriteCondition | None = None) -> str | None:
        """Store a whole file (a checked body spooled to disk) under `key` in one request,
        so that the object's ETag is its MD5, as S3 clients expect of a single PUT. With a
        condition, the write happens only if it holds when the origin takes it
        (ConditionFailed, NoSuchObject otherwise)."""
        ...

    async def delete_object(self, key: str) -> None: ...
