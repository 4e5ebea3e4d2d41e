"""Sending a representation to a client, once for every kind of object.

Conditional requests (304/412), Range (one part, or multipart/byteranges), If-Range and
HEAD are decided here from the status, the headers and the size alone, whatever the
body's source: a stored blob, a small body in memory, or a fill still streaming in.
A body that fails part-way raises out of the handler after its Content-Length was
promised, so the client sees a failed transfer rather than a short body that looks whole.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Mapping
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


class BodyBroken(Exception):
    """The body's source failed after the response began; the connection is cut."""


@dataclass(slots=True)
class Representation:
    status: int
    headers: list[tuple[str, str]]  # everything but Content-Length, Content-Range, Accept-Ranges
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
        verdict = evaluate(method, request_headers, etag=etag, last_modified=last_modified, status=status)
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
    out = await pipes.open(proto, status, headers, end - start)
    try:
        await _pump(out, body, start, end)
    finally:
        out.close()


async def _pump(out: BodyOut, body: BodySource, start: int, end: int) -> None:
    sent = start
    try:
        async for part in body(start, end):
            await out.send(part)
            sent += part.length if isinstance(part, FileSpan) else len(part)
    except ClientGone:
        raise
    except Exception as exc:
        raise BodyBroken(str(exc)) from exc
    if sent != end:
        raise BodyBroken(f"the body ended at byte {sent} of {end}")


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
    sender = await pipes.open(proto, 206, out, length)
    try:
        for part_header, start, end in parts:
            await sender.send(part_header)
            if isinstance(body, bytes):
                await sender.send(body[start:end])
            else:
                await _pump(sender, body, start, end)
        await sender.send(multipart_trailer(boundary))
    finally:
        sender.close()
