"""Writes through the S3 API, on mounts configured `writable`: PutObject, DeleteObject and
multipart uploads, sent on to the origin bucket; each success purges the key's cache entry.

A body is checked as it streams: its length against Content-Length, and every digest
the client sent (the signed x-amz-content-sha256, Content-MD5, x-amz-checksum-crc32 /
-sha1 / -sha256). A mismatch raises at the body's end, before the origin commits the
write, so a damaged upload stores nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from xml.etree import ElementTree

from ...aws_signing import UNSIGNED
from .chunked import STREAMING, AwsChunked
from .errors import S3Error
from .sigv4 import Identity

MAX_XML = 1024 * 1024
# Request headers kept with an object, by the names the origin's attributes use.
STORED_HEADERS = {
    "content-type": "Content-Type",
    "cache-control": "Cache-Control",
    "content-disposition": "Content-Disposition",
    "content-encoding": "Content-Encoding",
    "content-language": "Content-Language",
}


def attributes_of(headers: Mapping[str, str]) -> dict[str, str]:
    """What an object keeps of request or response headers, as a bucket stores it: the
    content headers, and x-amz-meta-* as user metadata by bare name."""
    out = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == "content-encoding":  # aws-chunked is how the body came, not what it is
            value = ", ".join(t.strip() for t in value.split(",") if t.strip() and t.strip().lower() != "aws-chunked")
            if not value:
                continue
        if lowered in STORED_HEADERS:
            out[STORED_HEADERS[lowered]] = value
        elif lowered.startswith("x-amz-meta-") and len(lowered) > len("x-amz-meta-"):
            out[lowered[len("x-amz-meta-"):]] = value
    return out


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


_CHECKSUMS = (("content-md5", lambda: hashlib.md5(usedforsecurity=False)), ("x-amz-checksum-crc32", _Crc32),
              ("x-amz-checksum-sha1", hashlib.sha1), ("x-amz-checksum-sha256", hashlib.sha256))


def expected_digests(headers: Mapping[str, str], payload: str, trailer: str = "") -> list[tuple[str, Any, bytes, str]]:
    """(header, hasher, the digest it must give, the error code) for each digest sent;
    a digest named in x-amz-trailer is checked once the trailer has come (wanted b"")."""
    checks: list[tuple[str, Any, bytes, str]] = []
    if payload != UNSIGNED and payload not in STREAMING:
        try:
            checks.append(("x-amz-content-sha256", hashlib.sha256(), bytes.fromhex(payload),
                           "XAmzContentSHA256Mismatch"))
        except ValueError:
            raise S3Error("InvalidArgument", "x-amz-content-sha256 must be a hex SHA-256 or UNSIGNED-PAYLOAD") from None
    for header, make in _CHECKSUMS:
        if header == trailer:
            checks.append((header, make(), b"", "BadDigest"))
        elif header in headers:
            try:
                wanted = base64.b64decode(headers[header], validate=True)
            except (binascii.Error, ValueError):
                raise S3Error("InvalidDigest", f"{header} is not base64") from None
            checks.append((header, make(), wanted, "BadDigest"))
    return checks


class CheckedBody:
    """A request body that raises S3Error at its end if it is short or any digest differs;
    an aws-chunked body is decoded (and its chunk signatures checked) on the way. `error`
    keeps what it raised, for when the origin's client reports it as its own."""

    def __init__(self, proto, headers: Mapping[str, str], identity: Identity) -> None:  # noqa: ANN001
        payload = identity.payload_sha256
        # A STREAMING-* payload (or the decoded length it comes with) is aws-chunked; a
        # Content-Encoding that names aws-chunked over a plain payload is only a header.
        chunked = payload in STREAMING or "x-amz-decoded-content-length" in headers
        length = headers.get("x-amz-decoded-content-length" if chunked else "content-length")
        if length is None or not length.isdigit():
            raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header "
                                                  "(x-amz-decoded-content-length for aws-chunked bodies).")
        if chunked and payload not in STREAMING:
            raise S3Error("InvalidArgument", "an aws-chunked body needs a STREAMING-* x-amz-content-sha256")
        self.length = int(length)
        self._chunks = AwsChunked(proto, identity) if chunked else None
        self._source = self._chunks if self._chunks is not None else proto
        trailer = headers.get("x-amz-trailer", "").strip().lower() if chunked else ""
        self._checks = expected_digests(headers, payload, trailer)
        self.error: S3Error | None = None

    def _fail(self, error: S3Error) -> S3Error:
        self.error = error
        return error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for data in self._source:
                received += len(data)
                if received > self.length:
                    raise S3Error("InvalidRequest", "the body is longer than its declared length")
                for _, hasher, _, _ in self._checks:
                    hasher.update(data)
                yield data
        except S3Error as exc:
            raise self._fail(exc) from None
        if received < self.length:
            raise self._fail(S3Error("IncompleteBody", "You did not provide the number of bytes specified by the "
                                                       "Content-Length HTTP header."))
        trailers = self._chunks.trailers if self._chunks is not None else {}
        for header, hasher, wanted, code in self._checks:
            if not wanted:
                try:
                    wanted = base64.b64decode(trailers.get(header, ""), validate=True)
                except (binascii.Error, ValueError):
                    raise self._fail(S3Error("InvalidDigest", f"the trailer's {header} is not base64")) from None
            if hasher.digest() != wanted:
                raise self._fail(S3Error(code, f"the body does not match its {header}"))


MAX_DELETE = 1000
# The largest XML document a request may carry (DeleteObjects of 1000 keys, a completion
# of 10,000 parts, a tag set): read whole into memory, so bounded before the first byte.
MAX_DOCUMENT = 4 * 1024 * 1024


async def read_document(proto, headers: Mapping[str, str], identity: Identity) -> bytes:  # noqa: ANN001
    """A request's XML document, checked as every body is; MaxMessageLengthExceeded for one
    longer than MAX_DOCUMENT, refused before it is read."""
    body = CheckedBody(proto, headers, identity)
    if body.length > MAX_DOCUMENT:
        raise S3Error("MaxMessageLengthExceeded", "Your request was too big.")
    return b"".join([part async for part in body])


def _parse(document: bytes) -> ElementTree.Element:
    if len(document) > MAX_XML:
        raise S3Error("MalformedXML", "the document is too large")
    try:
        return ElementTree.fromstring(document)
    except ElementTree.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed.") from None


def _name(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def objects_to_delete(document: bytes) -> tuple[list[str], bool]:
    """The keys of a DeleteObjects body, and whether it asked for a quiet answer."""
    root = _parse(document)
    if _name(root) != "Delete":
        raise S3Error("MalformedXML", "expected a Delete document")
    keys, quiet = [], False
    for element in root:
        if _name(element) == "Quiet":
            quiet = (element.text or "").strip().lower() == "true"
        elif _name(element) == "Object":
            fields = {_name(child): (child.text or "") for child in element}
            key = fields.get("Key", "")
            if not key:
                raise S3Error("MalformedXML", "each Object needs a Key")
            if {"ETag", "LastModifiedTime", "Size"} & fields.keys() or fields.get("VersionId", "null") != "null":
                # A condition or a version it cannot honour: refused whole, never ignored.
                raise S3Error("NotImplemented", "conditional and versioned deletes are not implemented")
            keys.append(key)
    if not keys or len(keys) > MAX_DELETE:
        raise S3Error("MalformedXML", f"a Delete lists from 1 to {MAX_DELETE} objects")
    return keys, quiet


def completed_parts(document: bytes) -> list[tuple[int, str]]:
    """(part number, ETag) from a CompleteMultipartUpload body."""
    root = _parse(document)
    parts = []
    for element in root.iter():
        if _name(element) != "Part":
            continue
        fields = {_name(child): (child.text or "").strip() for child in element}
        number, etag = fields.get("PartNumber", ""), fields.get("ETag", "")
        if not number.isdigit() or not etag:
            raise S3Error("MalformedXML", "each Part needs a PartNumber and an ETag")
        parts.append((int(number), etag))
    if _name(root) != "CompleteMultipartUpload":
        raise S3Error("MalformedXML", "expected a CompleteMultipartUpload document")
    return parts
