"""What an origin bucket keeps beside an object's bytes: its tags (GetObjectTagging,
PutObjectTagging, DeleteObjectTagging) and its attributes (GetObjectAttributes: the
parts it was uploaded in), and its keys exactly as it holds them (ListObjectsV2), asked
of the bucket in requests signed here.

The object-store client reads and writes objects and lists them as paths, so these few
requests are made here, with Signature V4 and the same endpoint, region and keys the
client uses: the mount's options where it names them, else the standard AWS_* variables
(keys the client could find elsewhere, an instance role's, are not looked for). A bucket
that does not implement one answers NotImplemented, and that is what the caller is told.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import aiohttp

from ..aws_signing import signed_headers
from ..cache.origin import ListedObject, NoSuchObject, OriginUnavailable, one_line
from ..castore.s3 import truthy

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
MAX_ANSWER = 64 * 1024  # a tag set, an object's attributes: a few kilobytes
MAX_LISTING = 8 * 1024 * 1024  # a page of 1000 keys of up to 1 KiB each, and their details


class Unsupported(Exception):
    """The origin bucket does not implement the request (it keeps no tags, say)."""


class Refused(Exception):
    """The origin bucket refused the request as a client's mistake (its S3 error code is `code`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BucketAddress:
    """Where a bucket's requests go and who signs them."""

    endpoint: str  # scheme://host[:port], no path
    bucket: str
    prefix: str  # the origin's folder in the bucket, "" or "a/b"
    region: str
    access_key: str | None
    secret_key: str | None
    session_token: str | None
    virtual_hosted: bool

    def url_and_path(self, key: str | None) -> tuple[str, str, str]:
        """The request's URL (query left out), its host and its decoded path for `key`
        (None: the bucket itself, as a listing asks it)."""
        full = "" if key is None else f"{self.prefix}/{key}" if self.prefix else key
        parts = urlsplit(self.endpoint)
        host, path = parts.netloc, f"/{self.bucket}/{full}" if key is not None else f"/{self.bucket}"
        if self.virtual_hosted:
            host, path = f"{self.bucket}.{parts.netloc}", f"/{full}"
        return f"{parts.scheme}://{host}{quote(path, safe='/~')}", host, path


def bucket_address(url: str, options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> BucketAddress:
    """The address the object-store client would use for `s3://bucket/prefix`."""
    parts = urlsplit(url)
    region = str(options.get("region") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
                 or "us-east-1")
    endpoint = str(options.get("endpoint") or environ.get("AWS_ENDPOINT_URL") or f"https://s3.{region}.amazonaws.com")
    endpoint_parts = urlsplit(endpoint)
    hosted = options.get("virtual_hosted_style_request", environ.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", ""))
    return BucketAddress(
        endpoint=f"{endpoint_parts.scheme}://{endpoint_parts.netloc}",
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        region=region,
        access_key=options.get("access_key_id") or environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=options.get("secret_access_key") or environ.get("AWS_SECRET_ACCESS_KEY"),
        session_token=options.get("session_token") or environ.get("AWS_SESSION_TOKEN"),
        virtual_hosted=truthy(hosted),
    )


def tagging_document(tags: list[tuple[str, str]]) -> bytes:
    """A tag set as S3's Tagging document."""
    items = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags)
    return f'<Tagging xmlns="{XMLNS}"><TagSet>{items}</TagSet></Tagging>'.encode()


def _document(document: bytes, name: str) -> ElementTree.Element:
    """The root of an S3 XML document named `name`; ValueError for anything else."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from None
    if _local(root.tag) != name:
        raise ValueError(f"the document is not a {name} document")
    return root


def parse_tag_set(document: bytes) -> list[tuple[str, str]]:
    """The (key, value) pairs of a Tagging document; ValueError for one that is not."""
    root = _document(document, "Tagging")
    tags = []
    for tag_set in root:
        if _local(tag_set.tag) != "TagSet":
            continue
        for tag in tag_set:
            if _local(tag.tag) != "Tag":
                raise ValueError(f"unexpected {_local(tag.tag)!r} in a TagSet")
            fields = {_local(child.tag): child.text or "" for child in tag}
            if "Key" not in fields:
                raise ValueError("a Tag without its Key")
            tags.append((fields["Key"], fields.get("Value", "")))
    return tags


async def _read_all(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole answer (a read returns what has arrived, not all of it), at most `limit`
    bytes: more is no answer to these requests."""
    parts, size = [], 0
    while data := await stream.read(limit):
        size += len(data)
        if size > limit:
            raise aiohttp.ClientPayloadError(f"an answer of more than {limit} bytes")
        parts.append(data)
    return b"".join(parts)


def parse_listing(document: bytes) -> tuple[list[ListedObject], str | None]:
    """A ListObjectsV2 page: its objects and the token of the next page, if any. Keys
    are decoded when the bucket says it encoded them (EncodingType url), as form values:
    some buckets write a space as `+` (and a plus as %2B), others as %20."""
    root = _document(document, "ListBucketResult")
    fields = {_local(child.tag): (child.text or "") for child in root if len(child) == 0}
    encoded = fields.get("EncodingType", "").strip().lower() == "url"
    keys = []
    for item in root:
        if _local(item.tag) != "Contents":
            continue
        found = {_local(child.tag): child.text or "" for child in item}
        if "Key" not in found or not found.get("Size", "").strip().isdigit():
            raise ValueError("a listed object without its key or size")
        try:
            modified = datetime.fromisoformat(found.get("LastModified", "").strip()).timestamp()
        except ValueError:
            raise ValueError(f"a listed object's LastModified {found.get('LastModified')!r} is no time") from None
        etag = found.get("ETag", "").strip() or None
        keys.append(ListedObject(unquote_plus(found["Key"]) if encoded else found["Key"], int(found["Size"]), modified,
                                 etag if etag is None or etag.startswith('"') else f'"{etag}"'))
    truncated = fields.get("IsTruncated", "").strip().lower() == "true"
    token = fields.get("NextContinuationToken") or None
    if truncated and not token:
        raise ValueError("a truncated listing without its next continuation token")
    return keys, token if truncated else None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _error_code(document: bytes) -> str:
    try:
        return ElementTree.fromstring(document).findtext("Code") or ""
    except ElementTree.ParseError:
        return ""


@dataclass(frozen=True)
class ObjectAttributes:
    """GetObjectAttributes' answer, as the bucket gave it."""

    etag: str | None
    size: int | None
    storage_class: str | None
    parts_count: int | None  # of a multipart object, else None
    parts: list[tuple[int, int]]  # (number, size), the page asked for
    part_number_marker: int
    next_part_number_marker: int | None
    max_parts: int | None
    truncated: bool
    last_modified: str | None  # the answer's Last-Modified header


def parse_attributes(document: bytes, last_modified: str | None) -> ObjectAttributes:
    """GetObjectAttributesResponse; ValueError for a document that is not one."""
    root = _document(document, "GetObjectAttributesResponse")
    fields = {_local(child.tag): child for child in root}

    def number(element: ElementTree.Element | None, name: str) -> int | None:
        found = None if element is None else next((c for c in element if _local(c.tag) == name), None)
        if found is None or not (found.text or "").strip().isdigit():
            return None
        return int(found.text)  # type: ignore[arg-type]

    parts_element = fields.get("ObjectParts")
    parts = []
    if parts_element is not None:
        for part in parts_element:
            if _local(part.tag) == "Part":
                n, size = number(part, "PartNumber"), number(part, "Size")
                if n is not None and size is not None:
                    parts.append((n, size))
    etag = fields["ETag"].text if "ETag" in fields else None
    truncated = parts_element is not None and any(
        _local(c.tag) == "IsTruncated" and (c.text or "").strip().lower() == "true" for c in parts_element)
    return ObjectAttributes(
        etag=etag.strip().strip('"') if etag else None,
        size=number(root, "ObjectSize"),
        storage_class=fields["StorageClass"].text if "StorageClass" in fields else None,
        parts_count=number(parts_element, "TotalPartsCount") or number(parts_element, "PartsCount"),
        parts=parts,
        part_number_marker=number(parts_element, "PartNumberMarker") or 0,
        next_part_number_marker=number(parts_element, "NextPartNumberMarker"),
        max_parts=number(parts_element, "MaxParts"),
        truncated=truncated,
        last_modified=last_modified,
    )


class BucketRequests:
    """The signed requests of one bucket origin that its object-store client cannot make."""

    def __init__(self, name: str, address: BucketAddress) -> None:
        self.name = name
        self.address = address

    async def get_tags(self, key: str) -> list[tuple[str, str]]:
        answer, _ = await self._send("GET", key, "tagging=", "tags")
        try:
            return parse_tag_set(answer)
        except ValueError as exc:
            raise OriginUnavailable(f"origin {self.name}: its tags of {key} are unreadable: {exc}") from None

    async def put_tags(self, key: str, tags: list[tuple[str, str]]) -> None:
        await self._send("PUT", key, "tagging=", "tags", tagging_document(tags))

    async def delete_tags(self, key: str) -> None:
        await self._send("DELETE", key, "tagging=", "tags")

    async def get_attributes(self, key: str, names: list[str], max_parts: int | None,
                             part_number_marker: int | None) -> ObjectAttributes:
        headers = {"x-amz-object-attributes": ",".join(names)}
        if max_parts is not None:
            headers["x-amz-max-parts"] = str(max_parts)
        if part_number_marker is not None:
            headers["x-amz-part-number-marker"] = str(part_number_marker)
        answer, answered = await self._send("GET", key, "attributes=", "attributes", extra=headers)
        try:
            return parse_attributes(answer, answered.get("last-modified"))
        except ValueError as exc:
            raise OriginUnavailable(f"origin {self.name}: its attributes of {key} are unreadable: {exc}") from None

    async def even_part_size(self, key: str, etag: str | None, size: int) -> int | None:
        """The part size a multipart-uploaded object was sent in, when the bucket tells it
        and its parts are even (all but the last of one size): a copy uploaded in parts of
        that size has the same ETag. None when that cannot be known."""
        tag = (etag or "").strip().strip('"')
        count = tag.rpartition("-")[2]
        if "-" not in tag or not count.isdigit():
            return None
        try:
            found = await self.get_attributes(key, ["ObjectParts"], 1, None)
        except (NoSuchObject, Unsupported, Refused, OriginUnavailable):
            return None
        if not found.parts or found.parts[0][0] != 1 or found.parts_count != int(count):
            return None
        first = found.parts[0][1]
        return first if first > 0 and math.ceil(size / first) == int(count) else None

    async def list_objects(self, prefix: str = "", start_after: str = "") -> AsyncIterator[ListedObject]:
        """Every key under the origin's folder that starts with `prefix` (and sorts after
        `start_after`), in the bucket's order, exactly as the bucket holds it: the
        object-store client's own listing takes keys for paths (`a/` comes out as `a`, a
        key that is not there), which neither a listing nor a copy of a bucket can afford."""
        base = f"{self.address.prefix}/" if self.address.prefix else ""
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": base + prefix, "max-keys": "1000", "encoding-type": "url"}
            if token:
                params["continuation-token"] = token
            elif start_after:
                params["start-after"] = base + start_after
            query = urlencode(sorted(params.items()), quote_via=quote, safe="~")
            answer, _ = await self._send("GET", None, query, "listing", limit=MAX_LISTING)
            try:
                keys, token = parse_listing(answer)
            except ValueError as exc:
                raise OriginUnavailable(f"origin {self.name}: its listing is unreadable: {exc}") from None
            # Held to the prefix asked (some buckets filter loosely); "after" is the bucket's
            # own idea, as is its order (some put "a/b/x" before "a/b-c").
            for item in keys:
                if item.key.startswith(base + prefix):
                    yield ListedObject(item.key[len(base):], item.size, item.last_modified, item.etag)
            if not token:
                return

    async def put_empty(self, key: str) -> None:
        """An empty object (a folder marker) under a key the object-store client cannot name."""
        await self._send("PUT", key, "", "folder marker")

    async def size_of(self, key: str) -> int:
        """An object's size, as the bucket says it (HEAD)."""
        _, answered = await self._send("HEAD", key, "", "size")
        return int(answered.get("content-length", "-1"))

    async def _send(self, method: str, key: str | None, query: str, what: str, body: bytes = b"",
                    extra: dict[str, str] | None = None, limit: int = MAX_ANSWER) -> tuple[bytes, dict[str, str]]:
        address = self.address
        url, host, path = address.url_and_path(key)
        where = key if key is not None else "the bucket"
        headers: dict[str, str] = {}
        if address.access_key and address.secret_key:
            headers = signed_headers(method, host, path, query, body, address.access_key, address.secret_key,
                                     address.region, address.session_token, extra=extra)
        elif extra:
            headers = dict(extra)
        if body:
            headers["content-type"] = "application/xml"
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                async with session.request(method, f"{url}?{query}" if query else url,
                                           data=body if method in ("PUT", "POST") else None, headers=headers,
                                           skip_auto_headers=("Content-Type",) if not body else ()) as response:
                    answer = await _read_all(response.content, limit)
                    status = response.status
                    answered = {k.lower(): v for k, v in response.headers.items()}
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise OriginUnavailable(f"origin {self.name}: cannot reach it for the {what} of {where}: "
                                    f"{one_line(exc) or type(exc).__name__}") from None
        if status < 300:
            return answer, answered
        code = _error_code(answer)
        if status == 404 and code != "NoSuchBucket" and key is not None:
            raise NoSuchObject(key)
        if status == 501 or code in ("NotImplemented", "MethodNotAllowed"):
            raise Unsupported(f"origin {self.name} does not answer for the {what} of its objects")
        if status == 400:
            raise Refused(code or "InvalidArgument",
                          f"the origin bucket refused the {what} of {where} ({code or status})")
        raise OriginUnavailable(
            f"origin {self.name}: {method} of the {what} of {where} answered {status} {code}".rstrip())
