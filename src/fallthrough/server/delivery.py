"""Sending a representation to a client, once for every kind of object.

Conditional requests (304/412), Range (one part, or multipart/byteranges), If-Range and
HEAD are decided here from the status, the headers and the size alone, whatever the
body's source: a stored blob, a small body in memory, or a fill still streaming in.
No response begins before its body's first bytes are in hand, and a body that fits in
one piece is gathered whole first: a source that fails before then raises NotStarted,
and the client gets an error status instead of a response that was promised and then
cut. A body that fails after it began raises out of the handler with its Content-Length
promised, so the client sees a failed transfer rather than a short body that looks whole.
Every response here has a length: the HTTP server ends an unframed (chunked) body as if
it were whole when the handler fails, so a body of unknown length is never streamed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from ..cache.fill import FileSpan
from ..cache.headers import parse_http_date
from .conditional import evaluate, not_modified_headers
from .pipes import BodyOut, ClientGone, Pipes
from .ranges import Unsatisfiable, content_range, if_range_allows, multipart_length, multipart_parts, \
    multipart_trailer, parse_range, unsatisfied_range

# Yields the bytes [start, end): as bytes, or as places in a file (spliced, not read).
BodySource = Callable[[int, int], AsyncIterator[bytes | FileSpan]]
CONDITIONAL_OR_RANGE = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "range")


# A body up to this size is gathered whole before its response begins.
WHOLE_UP_TO = 1024 * 1024


class BodyBroken(Exception):
    """The body's source failed after the response began; the connection is cut."""


class NotStarted(Exception):
    """The body's source failed before the response began: nothing was sent, so the
    handler may still answer with an error (the cause is `__cause__`)."""


@dataclass(slots=True)
class Representation:
    status: int
    # Everything but Content-Length and Accept-Ranges; a Content-Range only as the stored
    # response's own (a range answer cut here replaces it).
    headers: list[tuple[str, str]]
    size: int
    body: BodySource | bytes


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


async def deliver(proto, pipes: Pipes, method: str, request_headers: Mapping[str, str],  # noqa: ANN001
                  rep: Representation) -> None:
    head_only = method == "HEAD"
    status, headers, size = rep.status, rep.headers, rep.size
    ranges: list[tuple[int, int]] | None = None
    if 200 <= status < 300 and any(name in request_headers for name in CONDITIONAL_OR_RANGE):
        etag = _get(headers, "etag")
        last_modified = parse_http_date(_get(headers, "last-modified"))
        verdict = evaluate(method, request_headers, etag=etag, last_modified=last_modified, status=status,
                           date=parse_http_date(_get(headers, "date")) if last_modified is None else None)
        if verdict == 304:
            proto.response_empty(304, not_modified_headers(headers))
            return
        if verdict == 412:
            proto.response_bytes(412, [("content-type", "text/plain")], b"precondition failed\n")
            return
        range_header = request_headers.get("range")
        if status == 200 and range_header is not None and if_range_allows(
            request_headers.get("if-range"), etag, last_modified
        ):
            parsed = parse_range(range_header, size)
            if isinstance(parsed, Unsatisfiable):
                proto.response_bytes(
                    416, [("content-range", unsatisfied_range(size)), ("content-type", "text/plain")],
                    b"range not satisfiable\n",
                )
                return
            ranges = parsed
    accept = [("accept-ranges", "bytes")] if status == 200 else []
    if not ranges or (len(ranges) == 1 and ranges[0] == (0, size)):
        await _send(proto, pipes, status, headers + accept + [("content-length", str(size))], rep.body,
                    (0, size), head_only)
        return
    headers = [(k, v) for k, v in headers if k.lower() != "content-range"]
    if len(ranges) == 1:
        start, end = ranges[0]
        extra = [("content-range", content_range(start, end, size)), ("content-length", str(end - start))]
        await _send(proto, pipes, 206, headers + accept + extra, rep.body, ranges[0], head_only)
        return
    await _send_multipart(proto, pipes, headers, rep.body, ranges, size, head_only)


async def _send(proto, pipes: Pipes, status: int, headers: list[tuple[str, str]],  # noqa: ANN001
                body: BodySource | bytes, span: tuple[int, int], head_only: bool) -> None:
    if head_only:
        proto.response_empty(status, headers)
        return
    start, end = span
    if isinstance(body, bytes):
        proto.response_bytes(status, headers, body if (start, end) == (0, len(body)) else body[start:end])
        return
    await send_stream(proto, pipes, status, headers, end - start, body(start, end))


async def send_stream(proto, pipes: Pipes, status: int, headers: list[tuple[str, str]], length: int,  # noqa: ANN001
                      parts: AsyncIterator[bytes | FileSpan]) -> None:
    """A response of `length` bytes from `parts`, begun only once its first bytes (or,
    for a small body, all of it) are in hand."""
    source = aiter(parts)
    if length <= WHOLE_UP_TO:
        whole = await _gather(source, length)
        proto.response_bytes(status, headers, whole)
        return
    first = await _first(source)
    out = await pipes.open(proto, status, headers, length)
    try:
        await out.send(first)
        sent = _size(first)
        await _pump_from(out, source, sent, length)
    finally:
        out.close()


@contextmanager
def _failing_as(kind: type[Exception]) -> Iterator[None]:
    """A body source's failure as `kind` (NotStarted before the response began,
    BodyBroken after); a client that went away stays what it is."""
    try:
        yield
    except ClientGone:
        raise
    except Exception as exc:
        raise kind(str(exc)) from exc


async def _first(source: AsyncIterator[bytes | FileSpan]) -> bytes | FileSpan:
    with _failing_as(NotStarted):
        async for part in source:
            if _size(part):
                return part
    raise NotStarted("the body ended before its first byte")


async def _gather(source: AsyncIterator[bytes | FileSpan], length: int) -> bytes:
    pieces: list[bytes] = []
    got = 0
    with _failing_as(NotStarted):
        async for part in source:
            data = os.pread(part.fd, part.length, part.offset) if isinstance(part, FileSpan) else bytes(part)
            pieces.append(data)
            got += len(data)
            if got > length:
                break
    if got != length:
        raise NotStarted(f"the body has {got} bytes, {length} were promised")
    return b"".join(pieces)


async def _pump_from(out: BodyOut, source: AsyncIterator[bytes | FileSpan], sent: int, length: int) -> None:
    with _failing_as(BodyBroken):
        async for part in source:
            await out.send(part)
            sent += _size(part)
    if sent != length:
        raise BodyBroken(f"the body ended at byte {sent} of {length}")


async def _send_multipart(proto, pipes: Pipes, headers: list[tuple[str, str]],  # noqa: ANN001
                          body: BodySource | bytes, ranges: list[tuple[int, int]], size: int,
                          head_only: bool) -> None:
    boundary = secrets.token_hex(12)
    content_type = _get(headers, "content-type")
    parts = multipart_parts(ranges, size, content_type, boundary)
    length = multipart_length(ranges, size, content_type, boundary)
    kept = [(k, v) for k, v in headers if k.lower() != "content-type"]
    out = kept + [
        ("accept-ranges", "bytes"),
        ("content-type", f"multipart/byteranges; boundary={boundary}"),
        ("content-length", str(length)),
    ]
    if head_only:
        proto.response_empty(206, out)
        return
    await send_stream(proto, pipes, 206, out, length, _multipart_body(body, parts, boundary))


async def _multipart_body(body: BodySource | bytes, parts: list[tuple[bytes, int, int]],
                          boundary: str) -> AsyncIterator[bytes | FileSpan]:
    """Each part's header after the first bytes of its range are in hand, so that the
    response, which begins with a part header, begins only once there is a body."""
    for part_header, start, end in parts:
        if isinstance(body, bytes):
            yield part_header
            yield body[start:end]
            continue
        source = aiter(body(start, end))
        first = await anext(source, None)
        yield part_header
        got = 0
        if first is not None:
            got += _size(first)
            yield first
        async for piece in source:
            got += _size(piece)
            yield piece
        if got != end - start:
            raise BodyBroken(f"a part ended at byte {start + got} of {end}")
    yield multipart_trailer(boundary)


def _size(part: bytes | FileSpan) -> int:
    return part.length if isinstance(part, FileSpan) else len(part)
