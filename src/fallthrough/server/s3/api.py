"""The S3 API: the mounts that name an `s3_bucket`, served as buckets on their own listener.

    receive → address (path-style /BUCKET/KEY, or BUCKET.domain/KEY) → Signature V4
        no bucket            → ListBuckets                     (signed requests only)
        unknown bucket       → NoSuchBucket
        anonymous, not public → AccessDenied
        GET / HEAD of a key  → the edge's own path through the cache (S3Reply dresses it)
        HEAD of the bucket   → 200

Reads fall through the cache like any other request (the same key as the edge's path
under the mount), so an object cached by either front serves the other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from email.utils import formatdate
from typing import TypeVar
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

from ...aws_signing import UNSIGNED
from ...cache.origin import BadObjectPath, ConditionFailed, NoSuchObject, OriginError, WriteCondition
from ...castore import CastoreError
from ...config import S3Settings
from ...origins.bucket_requests import BucketRequests, Refused, Unsupported, tagging_document
from ..delivery import BodyBroken, NotStarted
from ..edge import Edge, log_failure, upstream_failure
from ..mirror import Mirror
from ..mounts import Mount, Router
from ..pipes import ClientGone
from ..requests import BadRequest, check_path
from .attributes import attributes_asked, attributes_document
from .copies import (
    MAX_COPY,
    body_of,
    check_conditions,
    copy_range,
    copy_result,
    copy_source,
    read_source,
    target_attributes,
)
from .errors import S3Error, send_error
from .post_object import Form, FormReader, check_form, length_range
from .listing import OWNER, XMLNS, decode_token, encode_token, iso8601, list_page, listing_document, max_keys
from .reply import OVERRIDES, S3Reply
from .uploads import Uploads, part_size
from .writes import CheckedBody, attributes_of, completed_parts, expected_digests, objects_to_delete, read_document
from .subresources import (
    TAGGING,
    acl_document,
    check_canned_acl,
    operation,
    refuse_unimplemented_headers,
    write_condition,
)
from .tagging import tags_of, tags_of_document
from .sigv2 import authenticate_query as authenticate_v2_query
from .sigv4 import AuthError, Identity, authenticate

log = logging.getLogger(__name__)

MAX_KEY = 1024  # bytes of UTF-8, as in S3
MAX_BUCKETS = 10000  # the most one ListBuckets page gives
MAX_PART_NUMBER = 10000
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_PART_PAGE = 1000
T = TypeVar("T")


async def _told(call: Awaitable[T]) -> T:
    """What the origin bucket answered about an object's tags or attributes, in S3's words."""
    try:
        return await call
    except NoSuchObject:
        raise S3Error("NoSuchKey", "The specified key does not exist.") from None
    except Unsupported as exc:
        raise S3Error("NotImplemented", str(exc)) from None
    except Refused as exc:
        raise S3Error(exc.code, str(exc), 400) from None


class S3Api:
    def __init__(self, edge: Edge, router: Router, settings: S3Settings, uploads_dir: str,
                 mirror: Mirror) -> None:
        self.edge = edge
        self.mirror = mirror
        self.settings = settings
        self.uploads = Uploads(uploads_dir)
        self.buckets: dict[str, Mount] = {
            m.settings.s3_bucket: m for m in router.mounts if m.settings.s3_bucket is not None
        }
        self.created = time.time()

    async def handle(self, scope, proto) -> None:  # noqa: ANN001
        method = scope.method
        resource = scope.path
        try:
            await self._handle(scope, proto)
        except S3Error as exc:
            send_error(proto, method, exc, resource)
        except AuthError as exc:
            send_error(proto, method, S3Error(exc.code, exc.message), resource)
        except BadRequest as exc:
            send_error(proto, method, S3Error("InvalidURI" if exc.status == 400 else "InvalidRequest",
                                              exc.message, exc.status), resource)
        except BadObjectPath as exc:
            send_error(proto, method, S3Error("InvalidArgument", str(exc)), resource)
        except ClientGone as exc:
            log.info("%s %s: %s", method, resource, exc)
        except BodyBroken as exc:  # begun and cut short: the server cuts the connection
            log_failure(*self._where(scope), exc)
        except (OriginError, CastoreError, NotStarted) as exc:
            status, words = upstream_failure(exc)
            log_failure(*self._where(scope), exc, status)
            code = "GatewayTimeout" if status == 504 else "BadGateway"
            self._fail(proto, method, S3Error(code, words, status), resource)
        except Exception:
            log.exception("%s %s failed", method, resource)
            self._fail(proto, method, S3Error("InternalError", "internal error (logged on the server)"), resource)

    def _where(self, scope) -> tuple[str, str | None]:  # noqa: ANN001
        """The key and the origin of a request that failed, for the node's log."""
        bucket, key = self._address(scope.path, scope.headers.get("host") or "")
        mount = self.buckets.get(bucket) if bucket is not None else None
        if mount is None:
            return scope.path, None
        return mount.key("/" + key, ""), mount.origin.name

    @staticmethod
    def _fail(proto, method: str, error: S3Error, resource: str) -> None:  # noqa: ANN001
        try:
            send_error(proto, method, error, resource)
        except RuntimeError:  # the response had begun: its short body makes the server cut it
            log.warning("%s %s: the response had begun; it is cut short instead", method, resource)

    async def _handle(self, scope, proto) -> None:  # noqa: ANN001
        method = scope.method
        if _CONTROL.search(scope.path):  # as S3 refuses a key with a control character (C0 or C1)
            raise S3Error("InvalidURI", "Couldn't parse the specified URI.")
        check_path(scope.path)
        headers = {name.lower(): value for name, value in scope.headers.items()}
        params = dict(parse_qsl(scope.query_string, keep_blank_values=True))
        bucket, key = self._address(scope.path, headers.get("host", ""))
        identity = self._identity(method, scope, headers, bucket, key)
        if bucket is None:
            if method not in ("GET", "HEAD"):
                raise S3Error("MethodNotAllowed", f"{method} is not allowed on the service")
            if identity is None:
                raise S3Error("AccessDenied", "listing buckets needs a signed request")
            self._list_buckets(proto, method, params)
            return
        # Dispatched by the subresources named as well as the method: what is not
        # implemented is refused here, before anything is read or written.
        op = operation(method, params, on_bucket=not key)
        mount = self.buckets.get(bucket)
        refuse_unimplemented_headers(op, headers, public=mount is not None and mount.settings.s3_public)
        if mount is None:
            if op == "CreateBucket":
                raise S3Error("AccessDenied", "this edge's buckets are the mounts its configuration names; "
                                              "it cannot create one")
            raise S3Error("NoSuchBucket", "The specified bucket does not exist.")
        if op == "PostObject":  # a browser's form: its signed policy is its authority
            await self._post_object(proto, headers, bucket, mount)
            return
        if identity is None and not mount.settings.s3_public:
            raise S3Error("AccessDenied", "this bucket needs a signed request")
        if not key:
            await self._bucket_operation(proto, op, bucket, mount, params, headers, identity)
            return
        if len(key.encode()) > MAX_KEY:
            raise S3Error("KeyTooLongError", f"keys are at most {MAX_KEY} bytes")
        if op in ("GetObject", "HeadObject"):
            await self._get_object(proto, method, scope.path, params, headers, mount, key, identity)
            return
        if op == "GetObjectAcl":
            self._xml(proto, acl_document(mount.settings.s3_public))
            return
        if op == "ListParts":
            self._require_signed(identity)
            self._xml(proto, self.uploads.list_parts(params.get("uploadId", ""), bucket, key, params))
            return
        if op in TAGGING:
            await self._tagging(proto, op, headers, mount, key, identity)
            return
        if op == "GetObjectAttributes":
            await self._attributes(proto, headers, mount, key, identity)
            return
        self._check_writable(mount, identity)
        await self._write(proto, method, params, headers, bucket, mount, key, identity)
        self.edge.invalidate([mount.key("/" + key, "")], "written")

    async def _tagging(self, proto, op: str, headers: dict[str, str], mount: Mount, key: str,  # noqa: ANN001
                       identity: Identity | None) -> None:
        """An object's tags, kept by the origin bucket (the edge caches bodies, not tags)."""
        requests = self._bucket_requests(mount, "object tags")
        if op == "GetObjectTagging":
            self._require_signed(identity)
            self._xml(proto, tagging_document(await _told(requests.get_tags(key))).decode())
            return
        self._check_writable(mount, identity)
        if op == "PutObjectTagging":
            document = await read_document(proto, headers, identity)
            await _told(requests.put_tags(key, tags_of_document(document)))
            proto.response_empty(200, [])
        else:
            await _told(requests.delete_tags(key))
            proto.response_empty(204, [])

    async def _attributes(self, proto, headers: dict[str, str], mount: Mount, key: str,  # noqa: ANN001
                          identity: Identity | None) -> None:
        """GetObjectAttributes, as the origin bucket keeps them (the parts it was uploaded in)."""
        self._require_signed(identity)
        names, max_parts, marker = attributes_asked(headers)
        requests = self._bucket_requests(mount, "object attributes")
        found = await _told(requests.get_attributes(key, names, max_parts, marker))
        extra = [("last-modified", found.last_modified)] if found.last_modified else []
        proto.response_bytes(200, [("content-type", "application/xml"), *extra],
                             attributes_document(found, names).encode())

    @staticmethod
    def _bucket_requests(mount: Mount, what: str) -> BucketRequests:
        requests = getattr(mount.origin, "requests", None)
        if not isinstance(requests, BucketRequests):
            raise S3Error("NotImplemented", f"this bucket's origin is not a bucket: it keeps no {what}")
        return requests

    async def _bucket_operation(self, proto, op: str, bucket: str, mount: Mount, params: dict[str, str],  # noqa: ANN001
                                headers: dict[str, str], identity: Identity | None) -> None:
        if op == "HeadBucket":
            proto.response_empty(200, [("x-amz-bucket-region", self.settings.region)])
        elif op == "ListObjects":
            await self._get_bucket(proto, bucket, mount, params)
        elif op == "GetBucketLocation":
            region = "" if self.settings.region == "us-east-1" else escape(self.settings.region)
            self._xml(proto, f'<LocationConstraint xmlns="{XMLNS}">{region}</LocationConstraint>')
        elif op == "GetBucketVersioning":  # never enabled: the edge keeps one version of a key
            self._xml(proto, f'<VersioningConfiguration xmlns="{XMLNS}"/>')
        elif op == "GetBucketAcl":
            self._require_signed(identity)
            self._xml(proto, acl_document(mount.settings.s3_public))
        elif op == "ListMultipartUploads":
            self._require_signed(identity)
            self._xml(proto, self.uploads.list_uploads(bucket, params))
        elif op == "CreateBucket":
            self._require_signed(identity)
            if self.settings.region != "us-east-1":  # as S3 answers the owner outside us-east-1
                raise S3Error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                                                         "succeeded and you already own it.")
            proto.response_empty(200, [("location", f"/{bucket}")])
        else:  # DeleteObjects
            self._check_writable(mount, identity)
            await self._delete_objects(proto, headers, mount, identity)  # type: ignore[arg-type]

    async def _post_object(self, proto, headers: dict[str, str], bucket: str, mount: Mount) -> None:  # noqa: ANN001
        """PostObject (post_object.py): checked whole before the origin sees a byte."""
        if not mount.settings.writable or not hasattr(mount.origin, "put_file"):
            raise S3Error("AccessDenied", "this bucket is read-only (its mount is not writable)")
        limit = self.settings.single_put_max
        policy: dict = {}
        os.makedirs(self.uploads.root, exist_ok=True)
        spool = os.path.join(self.uploads.root, f"form-{secrets.token_hex(8)}")
        try:
            with open(spool, "xb") as f:
                checks: list = []

                def ready(form: Form) -> None:
                    policy.update(check_form(form, bucket, self.settings.credentials, self.settings.region,
                                             time.time()))
                    checks.extend(expected_digests(form.fields, UNSIGNED))  # the digests the form gives

                def sink(data: bytes) -> None:
                    if reader.form.size > limit:
                        raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
                    for _, hasher, _, _ in checks:
                        hasher.update(data)
                    f.write(data)

                reader = FormReader(headers.get("content-type", ""), ready, sink)
                async for data in proto:
                    reader.feed(data)
            form = reader.form
            if not policy or not reader.ended:
                raise S3Error("InvalidArgument", "POST requires exactly one file upload per request.")
            for name, hasher, wanted, code in checks:
                if hasher.digest() != wanted:
                    raise S3Error(code, f"the file does not match its {name}")
            allowed = length_range(policy)
            if allowed is not None and not allowed[0] <= form.size <= allowed[1]:
                raise S3Error("EntityTooLarge" if form.size > allowed[1] else "EntityTooSmall",
                              "Your proposed upload is outside the size the policy allows")
            check_canned_acl(form.fields.get("acl"), mount.settings.s3_public)
            key = form.fields["key"]
            if not key or len(key.encode()) > MAX_KEY:
                raise S3Error("InvalidArgument", f"the key must be 1 to {MAX_KEY} bytes")
            check_path("/" + key)
            attributes = attributes_of(form.fields)
            if "Content-Type" not in attributes and form.file_type:
                attributes["Content-Type"] = form.file_type
            tags = dict(tags_of_document(form.fields["tagging"].encode())) if "tagging" in form.fields else None
            etag = await mount.origin.put_file(key, spool, attributes, tags)  # type: ignore[attr-defined]
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)
        await self.mirror.put_through(mount, key)
        self.edge.invalidate([mount.key("/" + key, "")], "written")
        self._posted(proto, form.fields, bucket, key, etag)

    def _posted(self, proto, fields: dict[str, str], bucket: str, key: str, etag: str | None) -> None:  # noqa: ANN001
        """PostObject's answer: success_action_redirect, or success_action_status 200,
        201 (with a PostResponse document) or 204 (the default)."""
        tag = [("etag", etag)] if etag else []
        redirect = fields.get("success_action_redirect") or fields.get("redirect")
        if redirect and redirect.startswith(("http://", "https://")):
            joiner = "&" if "?" in redirect else "?"
            query = f"bucket={quote(bucket)}&key={quote(key)}&etag={quote(etag or '')}"
            proto.response_empty(303, [("location", f"{redirect}{joiner}{query}"), *tag])
            return
        status = fields.get("success_action_status", "204")
        if status == "201":
            location = f"/{quote(bucket)}/{quote(key)}"
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>{escape(location)}</Location>'
                    f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><ETag>{escape(etag or '')}</ETag>"
                    "</PostResponse>").encode()
            proto.response_bytes(201, [("content-type", "application/xml"), ("location", location), *tag], body)
        else:
            proto.response_empty(200 if status == "200" else 204, tag)

    @staticmethod
    def _require_signed(identity: Identity | None) -> None:
        if identity is None:
            raise S3Error("AccessDenied", "this needs a signed request")

    def _identity(self, method: str, scope, headers: dict[str, str], bucket: str | None,  # noqa: ANN001
                  key: str) -> Identity | None:
        query, secrets, now = scope.query_string, self.settings.credentials, time.time()
        if "AWSAccessKeyId=" in query and "Signature=" in query and "authorization" not in headers:
            resource = f"/{bucket}/{key}" if bucket is not None else "/"
            return authenticate_v2_query(method, resource, query, headers, secrets, now)
        return authenticate(method, scope.path, query, headers, secrets, now)

    @staticmethod
    def _check_writable(mount: Mount, identity: Identity | None) -> None:
        if identity is None:
            raise S3Error("AccessDenied", "writes need a signed request")
        if not mount.settings.writable:
            raise S3Error("AccessDenied", "this bucket is read-only (its mount is not writable)")

    async def _delete_objects(self, proto, headers: dict[str, str], mount: Mount,  # noqa: ANN001
                              identity: Identity) -> None:
        """DeleteObjects: up to 1000 keys in one request, each reported deleted or failed."""
        document = await read_document(proto, headers, identity)
        keys, quiet = objects_to_delete(document)
        results = []
        for key in keys:
            try:
                await self._delete(mount, key)
                self.edge.invalidate([mount.key("/" + key, "")], "deleted")
                if not quiet:
                    results.append(f"<Deleted><Key>{escape(key)}</Key></Deleted>")
            except (OriginError, BadObjectPath) as exc:
                code = "InvalidArgument" if isinstance(exc, BadObjectPath) else "InternalError"
                results.append(f"<Error><Key>{escape(key)}</Key><Code>{code}</Code>"
                               f"<Message>{escape(str(exc) if code == 'InvalidArgument' else exc.public)}</Message>"
                               "</Error>")
        self._xml(proto, f'<DeleteResult xmlns="{XMLNS}">{"".join(results)}</DeleteResult>')

    async def _write(self, proto, method: str, params: dict[str, str], headers: dict[str, str],  # noqa: ANN001
                     bucket: str, mount: Mount, key: str, identity: Identity) -> None:
        origin = mount.origin
        upload_id = params.get("uploadId")
        if method == "PUT" and "x-amz-copy-source" in headers:
            await self._copy(proto, params, headers, bucket, mount, key, identity)
            return
        if method == "PUT" and upload_id is not None:
            number = params.get("partNumber", "")
            if not number.isdigit():
                raise S3Error("InvalidArgument", "partNumber must be a number from 1 to 10000")
            body = CheckedBody(proto, headers, identity)
            etag = await self.uploads.put_part(upload_id, bucket, key, int(number), body)
            proto.response_empty(200, [("etag", etag)])
        elif method == "PUT":
            body = CheckedBody(proto, headers, identity)
            condition = write_condition(headers)
            if condition is not None and not self._whole(origin, body.length):
                raise S3Error("NotImplemented", "a conditional write is one PUT to the origin: of a known length, at "
                                                "most s3.single_put_max")
            try:
                etag = await self._put_whole(origin, key, body, body.length, attributes_of(headers),
                                             tags_of(headers), condition)
            except ConditionFailed:
                raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not "
                                                    "hold") from None
            except NoSuchObject:
                raise S3Error("NoSuchKey", "The specified key does not exist.") from None
            await self.mirror.put_through(mount, key)
            proto.response_empty(200, [("etag", etag)] if etag else [])
        elif method == "POST" and "uploads" in params:
            upload_id = self.uploads.create(bucket, key, attributes_of(headers), tags_of(headers))
            self._xml(proto, f'<InitiateMultipartUploadResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket>'
                             f"<Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
                             "</InitiateMultipartUploadResult>")
        elif method == "POST" and upload_id is not None:
            document = await read_document(proto, headers, identity)
            etag = self.uploads.completed_etag(upload_id, bucket, key)  # sent again: the same answer
            if etag is None:
                files = self.uploads.check_parts(upload_id, bucket, key, completed_parts(document))
                attributes, tags = self.uploads.attributes(upload_id, bucket, key)
                etag = await self._put(origin, key, self.uploads.read_parts(files), attributes, tags,
                                       part_size(files))
                self.uploads.completed(upload_id, bucket, key, etag)
                await self.mirror.put_through(mount, key)
            self._xml(proto, f'<CompleteMultipartUploadResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket>'
                             f"<Key>{escape(key)}</Key><ETag>{escape(etag or '')}</ETag>"
                             "</CompleteMultipartUploadResult>")
        elif method == "DELETE" and upload_id is not None:
            self.uploads.remove(upload_id, bucket, key)
            proto.response_empty(204, [])
        elif method == "DELETE":
            await self._delete(mount, key)
            proto.response_empty(204, [])
        else:
            raise S3Error("NotImplemented", f"this {method} is not implemented")

    async def _copy(self, proto, params: dict[str, str], headers: dict[str, str], bucket: str,  # noqa: ANN001
                    mount: Mount, key: str, identity: Identity) -> None:
        """CopyObject, or UploadPartCopy with ?uploadId (see copies.py)."""
        source = copy_source(headers["x-amz-copy-source"])
        if "if-match" in headers or "if-none-match" in headers:
            raise S3Error("NotImplemented", "conditions on a copy's target (If-Match, If-None-Match) are not "
                                            "implemented")
        if "x-amz-tagging" in headers or headers.get("x-amz-tagging-directive", "COPY").upper() != "COPY":
            raise S3Error("NotImplemented", "tags given with a copy (x-amz-tagging, a REPLACE directive) are not "
                                            "implemented")
        from_mount = self.buckets.get(source.bucket)
        if from_mount is None:
            raise S3Error("NoSuchBucket", "The specified copy source bucket does not exist.")
        upload_id = params.get("uploadId")
        if upload_id is not None:
            number = params.get("partNumber", "")
            if not number.isdigit():
                raise S3Error("InvalidArgument", "partNumber must be a number from 1 to 10000")
            response = await read_source(from_mount, source.key, copy_range(headers.get("x-amz-copy-source-range"),
                                                                              None))
            try:
                check_conditions(headers, response)
            except S3Error:
                await response.aclose()
                raise
            etag = await self.uploads.put_part(upload_id, bucket, key, int(number), body_of(response))
            self._xml(proto, copy_result("CopyPartResult", etag))
            return
        response = await read_source(from_mount, source.key)
        try:
            check_conditions(headers, response)
            attributes = target_attributes(headers, response)
            replace = headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
            if (source.bucket, source.key) == (bucket, key) and not replace:
                raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an "
                                                "object to itself without changing the object's metadata.")
            if response.length is not None and response.length > MAX_COPY:
                raise S3Error("InvalidRequest", "The specified copy source is larger than the maximum allowable "
                                                "size for a copy source: 5368709120")
        except S3Error:
            await response.aclose()
            raise
        copier = getattr(mount.origin, "copy_object", None)
        if from_mount is mount and not replace and copier is not None:
            await response.aclose()
            etag = await copier(source.key, key)  # the origin copies it itself
        else:
            etag = await self._put_whole(mount.origin, key, body_of(response), response.length, attributes)
        await self.mirror.put_through(mount, key)
        self._xml(proto, copy_result("CopyObjectResult", etag))

    async def _delete(self, mount: Mount, key: str) -> None:
        await mount.origin.delete_object(key)  # type: ignore[attr-defined]
        await self.mirror.delete_through(mount, key)

    async def _put_whole(self, origin, key: str, body: AsyncIterator[bytes], length: int | None,  # noqa: ANN001
                         attributes: dict[str, str], tags: dict[str, str] | None = None,
                         condition: WriteCondition | None = None) -> str | None:
        """A body of a known length up to s3.single_put_max goes to the origin in one PUT
        (its ETag the MD5 S3 clients expect), spooled to disk first so that it is checked
        whole before the origin sees a byte; any other streams as a multipart upload."""
        if not self._whole(origin, length):
            return await self._put(origin, key, body, attributes, tags)
        os.makedirs(self.uploads.root, exist_ok=True)
        spool = os.path.join(self.uploads.root, f"whole-{secrets.token_hex(8)}")
        try:
            with open(spool, "xb") as f:
                async for data in body:
                    f.write(data)
            return await origin.put_file(key, spool, attributes, tags, condition)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)

    def _whole(self, origin, length: int | None) -> bool:  # noqa: ANN001
        """Whether a write of `length` bytes goes to `origin` in one PUT."""
        return length is not None and length <= self.settings.single_put_max and hasattr(origin, "put_file")

    @staticmethod
    async def _put(origin, key: str, body, attributes: dict[str, str],  # noqa: ANN001
                   tags: dict[str, str] | None = None, part_size: int | None = None) -> str | None:
        """Write through to the origin; a body that failed its checks raises its own error."""
        try:
            return await origin.put_object(key, body, attributes, tags, part_size)
        except S3Error:
            raise
        except Exception:
            error = getattr(body, "error", None)
            if error is not None:
                raise error from None
            raise

    def _address(self, path: str, host: str) -> tuple[str | None, str]:
        """(bucket, key) from a virtual-host-style Host or from a path-style path."""
        domain = self.settings.domain
        name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
        if domain and name.endswith("." + domain):
            return name[: -len(domain) - 1], path[1:]
        bucket, _, key = path[1:].partition("/")
        return (bucket or None), key

    async def _get_object(self, proto, method: str, path: str, params: dict[str, str],  # noqa: ANN001
                          headers: dict[str, str], mount: Mount, key: str, identity: Identity | None) -> None:
        overrides = {OVERRIDES[name]: value for name, value in params.items() if name in OVERRIDES}
        if overrides and identity is None:
            raise S3Error("InvalidRequest", "Request specific response headers cannot be used for anonymous "
                                            "GET requests.")
        # The client's signature and S3 parameters are for us, not for the origin.
        forwarded = {k: v for k, v in headers.items() if k != "authorization" and not k.startswith("x-amz-")}
        if "partNumber" in params:
            if "range" in headers:
                raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
            wanted, count = await self._part(mount, key, params["partNumber"])
            if wanted is not None:
                forwarded["range"] = f"bytes={wanted[0]}-{wanted[1] - 1}"
            if count is not None:
                overrides["x-amz-mp-parts-count"] = str(count)
        reply = S3Reply(proto, method, path, overrides)
        await self.edge.serve_object(reply, method, forwarded, mount, "/" + key)

    async def _part(self, mount: Mount, key: str, number_text: str) -> tuple[tuple[int, int] | None, int | None]:
        """GetObject's partNumber: the bytes of that part, as the origin bucket lists the
        object's parts ((start, end), or None for the whole of a one-part object), and the
        object's part count (None for an object not uploaded in parts)."""
        if not number_text.isdigit() or not 1 <= int(number_text) <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", f"partNumber must be a number from 1 to {MAX_PART_NUMBER}")
        number = int(number_text)
        requests = getattr(mount.origin, "requests", None)
        parts: list[tuple[int, int]] = []
        count: int | None = None
        marker = 0
        while isinstance(requests, BucketRequests):  # the parts before it, page by page
            found = await _told(requests.get_attributes(key, ["ObjectParts"], MAX_PART_PAGE, marker))
            count = found.parts_count
            parts += found.parts
            if count is None or not found.truncated or not found.parts or parts[-1][0] >= number:
                break
            marker = found.parts[-1][0]
        if count is None:  # one PUT made it: its one part is the whole object
            if number != 1:
                raise S3Error("InvalidPart", "the object was not uploaded in parts: its only part is 1", 400)
            return None, None
        start = sum(size for n, size in parts if n < number)
        size = next((size for n, size in parts if n == number), None)
        if size is None:
            raise S3Error("InvalidPart", f"the object has {count} parts", 400)
        return (start, start + size), count

    async def _get_bucket(self, proto, bucket: str, mount: Mount, params: dict[str, str]) -> None:  # noqa: ANN001
        if not hasattr(mount.origin, "list_after"):
            raise S3Error("NotImplemented", "this bucket's origin cannot list its objects (an HTTP server)")
        version = 2 if params.get("list-type") == "2" else 1
        if version == 2:
            token = params.get("continuation-token")
            marker = decode_token(token) if token is not None else params.get("start-after", "")
        else:
            marker = params.get("marker", "")
        limit = max_keys(params.get("max-keys"))
        delimiter = params.get("delimiter", "")
        page = await list_page(mount.origin, params.get("prefix", ""), delimiter, marker, limit)  # type: ignore[arg-type]
        proto.response_bytes(200, [("content-type", "application/xml")],
                             listing_document(bucket, params, page, version, limit))

    @staticmethod
    def _xml(proto, document: str) -> None:  # noqa: ANN001
        proto.response_bytes(200, [("content-type", "application/xml")],
                             f'<?xml version="1.0" encoding="UTF-8"?>\n{document}'.encode())

    def _list_buckets(self, proto, method: str, params: dict[str, str]) -> None:  # noqa: ANN001
        """ListBuckets: the mounts' buckets by name, paged by max-buckets and a
        continuation token (the last name given, encoded), narrowed by prefix."""
        created = iso8601(self.created)
        prefix = params.get("prefix", "")
        after = decode_token(params["continuation-token"]) if "continuation-token" in params else ""
        limit = params.get("max-buckets")
        if limit is not None and (not limit.isdigit() or not 1 <= int(limit) <= MAX_BUCKETS):
            raise S3Error("InvalidArgument", f"max-buckets must be from 1 to {MAX_BUCKETS}")
        names = [name for name in sorted(self.buckets) if name.startswith(prefix) and name > after]
        page = names[:int(limit)] if limit is not None else names
        buckets = "".join(f"<Bucket><Name>{escape(name)}</Name><CreationDate>{created}</CreationDate>"
                          f"<BucketRegion>{escape(self.settings.region)}</BucketRegion></Bucket>" for name in page)
        more = f"<ContinuationToken>{encode_token(page[-1])}</ContinuationToken>" if len(page) < len(names) else ""
        told_prefix = f"<Prefix>{escape(prefix)}</Prefix>" if "prefix" in params else ""
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="{XMLNS}">'
                f"{OWNER}"
                f"<Buckets>{buckets}</Buckets>{more}{told_prefix}</ListAllMyBucketsResult>").encode()
        headers = [("content-type", "application/xml"), ("date", formatdate(usegmt=True))]
        if method == "HEAD":
            proto.response_empty(200, headers + [("content-length", str(len(body)))])
        else:
            proto.response_bytes(200, headers, body)
