"""ListObjectsV2 (and the older ListObjects): pages of an origin's keys, rolled up by a
delimiter into common prefixes.

The origin lists flat, in key order, from a marker; a key with the delimiter after the
prefix becomes its common prefix, and the listing then jumps past everything under that
prefix instead of reading it. The continuation token is the last key or prefix a page
gave, so a page is as cheap as its keys whatever lies before it.
"""

from __future__ import annotations

import base64
import binascii
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.sax.saxutils import escape

from ...cache.origin import Listable, ListedObject
from .errors import S3Error

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000
PAST = "\U0010ffff"  # sorts after every key that begins with what it follows


@dataclass
class Page:
    contents: list[ListedObject] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""  # the last key or prefix given: where the next page starts


async def list_page(origin: Listable, prefix: str, delimiter: str, marker: str, max_keys: int) -> Page:
    page = Page()
    if max_keys == 0:
        return page  # as S3 answers it: nothing, and not truncated
    position = marker
    while True:
        jump = None
        async with aclosing(origin.list_after(prefix, position)) as listed:
            async for item in listed:
                rest = item.key[len(prefix):]
                cut = rest.find(delimiter) if delimiter else -1
                common = prefix + rest[: cut + len(delimiter)] if cut >= 0 else None
                if common is not None and marker.startswith(common):
                    jump = common + PAST  # given on an earlier page
                    break
                if len(page.contents) + len(page.prefixes) >= max_keys:
                    page.truncated = True
                    return page
                if common is not None:
                    page.prefixes.append(common)
                    page.last = common
                    jump = common + PAST
                    break
                page.contents.append(item)
                page.last = item.key
        if jump is None:
            return page
        position = jump


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect") from None


def max_keys(value: str | None) -> int:
    if value is None:
        return MAX_KEYS
    if not value.isdigit():
        raise S3Error("InvalidArgument", "max-keys must be a non-negative integer")
    return min(int(value), MAX_KEYS)


# The one owner of everything the edge serves: its buckets, objects and uploads.
OWNER = "<Owner><ID>fallthrough</ID><DisplayName>fallthrough</DisplayName></Owner>"


def iso8601(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


def listing_document(bucket: str, params: dict[str, str], page: Page, version: int, limit: int) -> bytes:
    """The ListBucketResult for a page; keys %-encoded when the client asked for
    encoding-type=url (the AWS SDKs always do), as S3 encodes them: in a version 1
    listing the Prefix it was asked for goes back as it came. Each object's Owner is
    told in version 1 listings, and in version 2 ones with fetch-owner=true."""
    url = params.get("encoding-type") == "url"

    def text(value: str) -> str:
        return escape(quote(value, safe="/~") if url else value)

    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    told_prefix = text(prefix) if version == 2 else escape(prefix)
    owner = OWNER if version == 1 or params.get("fetch-owner", "").lower() == "true" else ""
    parts = [f"<Name>{escape(bucket)}</Name><Prefix>{told_prefix}</Prefix>"]
    if version == 2:
        parts.append(f"<KeyCount>{len(page.contents) + len(page.prefixes)}</KeyCount>")
        if "continuation-token" in params:
            parts.append(f"<ContinuationToken>{escape(params['continuation-token'])}</ContinuationToken>")
        if "start-after" in params:
            parts.append(f"<StartAfter>{text(params['start-after'])}</StartAfter>")
        if page.truncated:
            parts.append(f"<NextContinuationToken>{encode_token(page.last)}</NextContinuationToken>")
    else:
        parts.append(f"<Marker>{text(params.get('marker', ''))}</Marker>")
        if page.truncated:
            parts.append(f"<NextMarker>{text(page.last)}</NextMarker>")
    parts.append(f"<MaxKeys>{limit}</MaxKeys>")
    if delimiter:
        parts.append(f"<Delimiter>{text(delimiter)}</Delimiter>")
    if url:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<IsTruncated>{'true' if page.truncated else 'false'}</IsTruncated>")
    for item in page.contents:
        etag = f"<ETag>{escape(item.etag)}</ETag>" if item.etag else ""
        parts.append(f"<Contents><Key>{text(item.key)}</Key><LastModified>{iso8601(item.last_modified)}"
                     f"</LastModified>{etag}<Size>{item.size}</Size>{owner}<StorageClass>STANDARD</StorageClass>"
                     "</Contents>")
    for common in page.prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{text(common)}</Prefix></CommonPrefixes>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{XMLNS}">'
            + "".join(parts) + "</ListBucketResult>").encode()
