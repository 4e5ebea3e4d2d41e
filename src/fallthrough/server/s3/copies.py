"""CopyObject and UploadPartCopy: a PUT with `x-amz-copy-source`.

The source is read from its mount's origin (not from the cache: a copy is of what the
origin holds), checked against the copy's conditions (x-amz-copy-source-if-*), and
written to the target as any PUT is: within one bucket origin with the metadata kept
(COPY, the default) the origin copies it itself; otherwise, or with REPLACE, the bytes
stream through the edge. UploadPartCopy reads the source (or its
x-amz-copy-source-range) into a part of an upload in progress.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote
from xml.sax.saxutils import escape

from ...cache.origin import OriginResponse
from ...cache.parts import content_range
from ..mounts import Mount
from .errors import S3Error
from .listing import XMLNS, iso8601
from .writes import attributes_of

MAX_COPY = 5 * 1024**3  # bytes: S3's limit for one CopyObject (larger: UploadPartCopy)


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str


def copy_source(value: str) -> CopySource:
    """`x-amz-copy-source`: `[/]bucket/key`, percent-encoded, maybe `?versionId=null`."""
    path, _, query = value.partition("?")
    if query and query not in ("versionId=null", "versionId="):
        raise S3Error("NotImplemented", "copying a version other than the current one is not implemented")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "x-amz-copy-source must name a bucket and a key: /bucket/key")
    return CopySource(bucket, key)


def check_conditions(headers: Mapping[str, str], source: OriginResponse) -> None:
    """x-amz-copy-source-if-match / -if-none-match / -if-modified-since /
    -if-unmodified-since against the source, as S3 weighs them (a 412 PreconditionFailed)."""
    etag = (source.headers.get("etag") or "").strip('"')
    modified = _date(source.headers.get("last-modified"))
    wanted = headers.get("x-amz-copy-source-if-match")
    unwanted = headers.get("x-amz-copy-source-if-none-match")
    since = _date(headers.get("x-amz-copy-source-if-modified-since"))
    before = _date(headers.get("x-amz-copy-source-if-unmodified-since"))
    matches = wanted is None or etag in [t.strip().strip('"') for t in wanted.split(",")] or wanted.strip() == "*"
    if not matches:
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    if wanted is None and before is not None and modified is not None and modified > before:
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    if unwanted is not None and (etag in [t.strip().strip('"') for t in unwanted.split(",")] or unwanted == "*"):
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    if unwanted is None and since is not None and modified is not None and modified <= since:
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp()


def copy_range(value: str | None, size: int | None) -> tuple[int, int] | None:
    """x-amz-copy-source-range `bytes=first-last` as (first, last + 1); None for all."""
    if value is None:
        return None
    unit, _, spec = value.strip().partition("=")
    first, dash, last = spec.partition("-")
    if unit != "bytes" or not dash or not first.isdigit() or not last.isdigit() or int(last) < int(first):
        raise S3Error("InvalidArgument", "x-amz-copy-source-range must be bytes=first-last")
    start, end = int(first), int(last) + 1
    if size is not None and end > size:
        raise S3Error("InvalidRange", "The requested range is not satisfiable")
    return start, end


def target_attributes(headers: Mapping[str, str], source: OriginResponse) -> dict[str, str]:
    """The copy's metadata: the source's (COPY, the default) or the request's (REPLACE)."""
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "x-amz-metadata-directive must be COPY or REPLACE")
    return attributes_of(headers if directive == "REPLACE" else source.headers)


def copy_result(tag: str, etag: str | None, when: float | None = None) -> str:
    return (f'<{tag} xmlns="{XMLNS}"><LastModified>{iso8601(when or time.time())}</LastModified>'
            f"<ETag>{escape(etag or '')}</ETag></{tag}>")


async def read_source(mount: Mount, key: str, span: tuple[int, int] | None = None) -> OriginResponse:
    """The source object from its mount's origin: NoSuchKey if it is not there."""
    headers = {"range": f"bytes={span[0]}-{span[1] - 1}"} if span is not None else {}
    response = await mount.origin.fetch("GET", mount.origin_path("/" + key), "", headers)
    if response.status == 404:
        await response.aclose()
        raise S3Error("NoSuchKey", "The specified key does not exist.")
    placed = content_range(response.headers.get("content-range")) if span is not None else None
    if response.status == 416 or (span is not None and (placed is None or placed[1] < span[1])):
        await response.aclose()  # a range past the source's end, cut short by the origin
        raise S3Error("InvalidRange", "The requested range is not satisfiable")
    if response.status not in (200, 206) or (span is not None and response.status != 206):
        await response.aclose()
        raise S3Error("InvalidRequest", f"the copy source answered {response.status}")
    return response


async def body_of(response: OriginResponse) -> AsyncIterator[bytes]:
    """The source's body, checked against the length it declared, then released."""
    received = 0
    try:
        async for piece in response.body:
            received += len(piece)
            yield piece
        if response.length is not None and received != response.length:
            raise S3Error("InternalError", "the copy source ended short", 500)
    finally:
        await response.aclose()
