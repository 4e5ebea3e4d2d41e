"""A bucket as an origin: `s3://bucket/prefix`, through obstore.

The request path, percent-decoded, is the object key under the prefix. Object metadata
becomes HTTP: size → Content-Length, e_tag → ETag, last_modified → Last-Modified, and
the stored attributes (Content-Type, Cache-Control, …) as they are. A missing object is
an ordinary 404 response, so the cache can store it as a negative entry.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import obstore
from multidict import CIMultiDict
from obstore.exceptions import BaseError as ObstoreError
from obstore.exceptions import AlreadyExistsError, NotFoundError, NotModifiedError, PreconditionError

from ..cache.origin import (
    BadObjectPath,
    BadOriginURL,
    ConditionFailed,
    ListedObject,
    NoSuchObject,
    OriginBodyError,
    OriginResponse,
    OriginUnavailable,
    WriteCondition,
    one_line,
    single_range,
)
from ..castore.errors import BadStoreURL
from ..castore.s3 import s3_store
from .bucket_requests import BucketRequests, Refused, Unsupported, bucket_address
from .whole import put_file

READ_SIZE = 256 * 1024
# The longest key S3 holds, in UTF-8 bytes, the origin's prefix included.
MAX_KEY_BYTES = 1024
ATTRIBUTES = ("Content-Type", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language")


def object_key(path: str) -> str:
    """The key a request path names; BadObjectPath for one no bucket key should be."""
    return checked_key(unquote(path)[1:] if path.startswith("/") else unquote(path))


def checked_key(key: str) -> str:
    if not key or key.endswith("/"):
        raise BadObjectPath(f"{key!r} names no object")
    if "\x00" in key:
        raise BadObjectPath(f"{key!r}: NUL characters are not allowed")
    segments = key.split("/")
    if "" in segments:
        raise BadObjectPath(f"{key!r}: empty segments ('//') are not allowed")
    if any(seg in (".", "..") for seg in segments):
        raise BadObjectPath(f"{key!r}: '.' and '..' segments are not allowed")
    return key


def _http_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _since(value: str | None) -> datetime | None:
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class BucketOrigin:
    def __init__(self, url: str, options: Mapping[str, Any] | None = None) -> None:
        self.name = url.split("?")[0]
        if not url.lower().startswith("s3://") or not urlsplit(url).netloc:
            raise BadOriginURL(f"bad origin URL {url!r}: a bucket origin is s3://bucket/prefix")
        try:
            self._store: Any = s3_store(url, dict(options or {}))
        except BadStoreURL as exc:
            raise BadOriginURL(str(exc).replace("store URL", "origin URL")) from None
        # What the object-store client has no call for (tags, attributes) is asked signed.
        self.requests = BucketRequests(self.name, bucket_address(self.name, options or {}))
        prefix = urlsplit(self.name).path.strip("/")
        self._prefix_bytes = len(prefix.encode()) + 1 if prefix else 0

    def _too_long(self, key: str) -> bool:
        """A key longer than a bucket holds names nothing; asking would only get an
        error back, which would read as the origin failing."""
        return self._prefix_bytes + len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES

    def _headers(self, meta: Mapping[str, Any], attributes: Mapping[str, Any], key: str) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        headers["Content-Length"] = str(meta["size"])
        if meta.get("e_tag"):
            tag = str(meta["e_tag"])
            headers["ETag"] = tag if tag.startswith(('"', "W/")) else f'"{tag}"'
        if meta.get("last_modified"):
            headers["Last-Modified"] = _http_date(meta["last_modified"])
        for name, value in attributes.items():
            if value is None:
                continue
            if name in ATTRIBUTES:
                if value:  # an empty Content-Type or the like says nothing
                    headers[name] = str(value)
            elif name not in ("Storage-Class",):  # user metadata, as S3 names it (an empty value too)
                headers[f"x-amz-meta-{name.lower()}"] = str(value)
        if "Content-Type" not in headers:
            headers["Content-Type"] = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return headers

    async def fetch(self, method: str, path: str, query: str, headers: Mapping[str, str],
                    body: AsyncIterator[bytes] | None = None) -> OriginResponse:
        if method not in ("GET", "HEAD"):
            return OriginResponse(405, CIMultiDict({"Allow": "GET, HEAD", "Content-Length": "0"}), 0)
        key = object_key(path)
        if self._too_long(key):
            return OriginResponse(404, CIMultiDict({"Content-Type": "text/plain; charset=utf-8"}), 0)
        lowered = {k.lower(): v for k, v in headers.items()}
        options: dict[str, Any] = {"head": method == "HEAD"}
        wanted = single_range(lowered.get("range")) if method == "GET" else None
        if wanted is not None:
            options["range"] = (wanted[0], wanted[1]) if wanted[1] is not None else {"offset": wanted[0]}
        # The store evaluates the preconditions itself (RFC 9110 §13.2.2: If-None-Match
        # overrides If-Modified-Since, If-Match overrides If-Unmodified-Since).
        if lowered.get("if-match"):
            options["if_match"] = lowered["if-match"]
        elif (before := _since(lowered.get("if-unmodified-since"))) is not None:
            options["if_unmodified_since"] = before
        if lowered.get("if-none-match"):
            options["if_none_match"] = lowered["if-none-match"]
        elif (since := _since(lowered.get("if-modified-since"))) is not None:
            options["if_modified_since"] = since
        try:
            result = await obstore.get_async(self._store, key, options=options)
        except NotModifiedError:
            return await self._not_modified(key)
        except (NotFoundError, FileNotFoundError):  # obstore raises the builtin for some stores
            return OriginResponse(404, CIMultiDict({"Content-Type": "text/plain; charset=utf-8"}), 0)
        except PreconditionError:
            return OriginResponse(412, CIMultiDict(), 0)
        except (ObstoreError, OSError) as exc:
            unsatisfiable = await self._unsatisfiable(key, wanted) if wanted is not None else None
            if unsatisfiable is not None:
                return unsatisfiable
            message = one_line(exc)
            raise OriginUnavailable(f"origin {self.name}: {message}") from None
        meta = result.meta
        out = self._headers(meta, result.attributes, key)
        if method == "HEAD":
            return OriginResponse(200, out, int(meta["size"]))
        start, end = result.range
        length = end - start
        if wanted is not None:
            out["Content-Length"] = str(length)
            out["Content-Range"] = f"bytes {start}-{end - 1}/{meta['size']}"
            status = 206
        else:
            status = 200
        # aclose() before the end stops the stream, and with it the store's download.
        body = self._stream(result, length)
        return OriginResponse(status, out, length, body, closer=lambda: _stop(body))

    async def _unsatisfiable(self, key: str, wanted: tuple[int, int | None]) -> OriginResponse | None:
        """A 416 (RFC 9110 §15.5.17) when the store refused a range that starts past the
        object's end, which is the client's mistake, not an origin out of reach."""
        try:
            size = int((await obstore.head_async(self._store, key))["size"])
        except (ObstoreError, OSError):
            return None
        if wanted[0] < size:
            return None
        return OriginResponse(416, CIMultiDict({"Content-Range": f"bytes */{size}", "Content-Length": "0"}), 0)

    async def _not_modified(self, key: str) -> OriginResponse:
        try:
            meta = await obstore.head_async(self._store, key)
        except ObstoreError:
            return OriginResponse(304, CIMultiDict(), 0)
        full = self._headers(meta, {}, key)
        kept = CIMultiDict((k, v) for k, v in full.items() if k.lower() in ("etag", "last-modified"))
        return OriginResponse(304, kept, 0)

    async def _stream(self, result: Any, size: int) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for part in result.stream(min_chunk_size=READ_SIZE):
                received += len(part)
                yield bytes(part)
        except (ObstoreError, OSError) as exc:
            message = one_line(exc)
            raise OriginBodyError(f"origin {self.name}: body broke off after {received} bytes: {message}") from None
        if received != size:
            raise OriginBodyError(f"origin {self.name}: sent {received} of {size} bytes")

    async def list_after(self, prefix: str, start_after: str) -> AsyncIterator[ListedObject]:
        """Listed by the bucket itself (BucketRequests.list_objects: its keys as it holds
        them, a folder marker `a/` included), in its order."""
        try:
            async for item in self.requests.list_objects(prefix, start_after):
                yield item
        except (NoSuchObject, Unsupported, Refused) as exc:
            raise OriginUnavailable(f"origin {self.name}: cannot list: {one_line(exc)}") from None

    async def put_object(self, key: str, body: AsyncIterator[bytes], attributes: Mapping[str, str],
                         tags: Mapping[str, str] | None = None, part_size: int | None = None) -> str | None:
        checked_key(key)
        sized = {"chunk_size": part_size} if part_size else {}
        try:
            result = await obstore.put_async(self._store, key, body, attributes=dict(attributes) or None,
                                             tags=dict(tags) if tags else None, **sized)
        except (ObstoreError, OSError) as exc:
            message = one_line(exc)
            raise OriginUnavailable(f"origin {self.name}: cannot write {key}: {message}") from None
        tag = result.get("e_tag")
        return None if not tag else (tag if tag.startswith('"') else f'"{tag}"')

    async def put_file(self, key: str, path: str, attributes: Mapping[str, str],
                       tags: Mapping[str, str] | None = None, condition: WriteCondition | None = None) -> str | None:
        checked_key(key)
        try:
            mode = await self._mode(key, condition)
            result = await put_file(self._store, key, path, attributes, tags, mode)  # mapped, one request
        except (AlreadyExistsError, PreconditionError):
            raise ConditionFailed(key) from None
        except (NotFoundError, FileNotFoundError) as exc:
            if condition is not None and condition.if_match is not None:  # replaced, but gone meanwhile
                raise NoSuchObject(key) from None
            raise OriginUnavailable(f"origin {self.name}: cannot write {key}: {one_line(exc)}") from None
        except (ObstoreError, OSError) as exc:
            raise OriginUnavailable(f"origin {self.name}: cannot write {key}: {one_line(exc)}") from None
        tag = result.get("e_tag")
        return None if not tag else (tag if tag.startswith('"') else f'"{tag}"')

    async def _mode(self, key: str, condition: WriteCondition | None) -> Any:  # noqa: ANN401
        """The store's put mode that makes the bucket itself hold the condition as it
        writes: create-only, or replace-only-the-version-seen. The object is looked at
        first for what the bucket cannot check alone (that it exists, what it is now)."""
        if condition is None:
            return "overwrite"
        if condition.if_none_match is not None and condition.if_none_match.strip() == "*":
            return "create"
        try:
            meta = await obstore.head_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            if condition.if_match is not None:
                raise NoSuchObject(key) from None
            return "create"
        current = _quoted(str(meta.get("e_tag") or ""))
        if condition.if_match is not None and condition.if_match.strip() != "*":
            if current not in _etags(condition.if_match):
                raise ConditionFailed(key)
        if condition.if_none_match is not None and current in _etags(condition.if_none_match):
            raise ConditionFailed(key)
        return {"e_tag": current}

    async def copy_object(self, source: str, key: str) -> str | None:
        """Copy within this bucket, by the bucket itself (metadata kept); the copy's ETag."""
        checked_key(source)
        checked_key(key)
        try:
            await obstore.copy_async(self._store, source, key)
            meta = await obstore.head_async(self._store, key)
        except (ObstoreError, OSError) as exc:  # a source gone since it was read, too
            raise OriginUnavailable(f"origin {self.name}: cannot copy {source} to {key}: {one_line(exc)}") from None
        tag = meta.get("e_tag")
        return None if not tag else (tag if str(tag).startswith('"') else f'"{tag}"')

    async def delete_object(self, key: str) -> None:
        checked_key(key)
        try:
            await obstore.delete_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return
        except (ObstoreError, OSError) as exc:
            message = one_line(exc)
            raise OriginUnavailable(f"origin {self.name}: cannot delete {key}: {message}") from None

    @property
    def store(self) -> Any:
        """The object store client, for copying objects out whole (shadow buckets)."""
        return self._store

    async def close(self) -> None:
        return None


def _quoted(tag: str) -> str:
    tag = tag.strip().removeprefix("W/")
    return tag if tag.startswith('"') else f'"{tag}"'


def _etags(header: str) -> set[str]:
    """An If-Match / If-None-Match list, each ETag quoted (clients send them either way)."""
    return {_quoted(part) for part in header.split(",") if part.strip()}


async def _stop(body: AsyncIterator[bytes]) -> None:
    """End a body early; one being read in another task is left to that reader to end."""
    try:
        await body.aclose()  # type: ignore[attr-defined]
    except RuntimeError:
        pass
