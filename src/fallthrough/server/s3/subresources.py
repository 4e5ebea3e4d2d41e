"""S3's subresources: query parameters that turn a request on a key or a bucket into
another operation (`PUT key?acl` sets an ACL, it does not write the object).

A request is dispatched by its method and the subresources it names, never by its
method alone: one whose operation the API does not implement is refused with S3's
`NotImplemented` before anything is read or written, so that `PUT key?tagging` can never
replace an object with an XML document, nor `DELETE key?tagging` delete it. Parameters
that are not subresources (response-* overrides, a presigned URL's X-Amz-*, a client's
x-id, anything else) do not change the operation, as in S3.
"""

from __future__ import annotations

from ...cache.origin import WriteCondition
from .errors import S3Error
from .listing import OWNER, XMLNS

# Every subresource S3 knows on a key or on a bucket (from its API reference).
SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "location", "logging", "metadataTable", "metrics", "notification",
    "object-lock", "ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock", "renameObject",
    "replication", "requestPayment", "restore", "retention", "select", "select-type", "session", "tagging",
    "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
})

# (method, subresources named) → the operation, for what the API implements.
OBJECT_OPERATIONS = {
    ("GET", frozenset()): "GetObject",
    ("HEAD", frozenset()): "HeadObject",
    ("GET", frozenset({"partNumber"})): "GetObject",  # one part of a multipart-uploaded object
    ("HEAD", frozenset({"partNumber"})): "HeadObject",
    ("PUT", frozenset()): "PutObject",
    ("DELETE", frozenset()): "DeleteObject",
    ("POST", frozenset({"uploads"})): "CreateMultipartUpload",
    ("PUT", frozenset({"partNumber", "uploadId"})): "UploadPart",
    ("POST", frozenset({"uploadId"})): "CompleteMultipartUpload",
    ("DELETE", frozenset({"uploadId"})): "AbortMultipartUpload",
    ("GET", frozenset({"uploadId"})): "ListParts",
    ("GET", frozenset({"acl"})): "GetObjectAcl",
    ("GET", frozenset({"tagging"})): "GetObjectTagging",
    ("PUT", frozenset({"tagging"})): "PutObjectTagging",
    ("DELETE", frozenset({"tagging"})): "DeleteObjectTagging",
    ("GET", frozenset({"attributes"})): "GetObjectAttributes",
}
TAGGING = frozenset({"GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"})
BUCKET_OPERATIONS = {
    ("GET", frozenset()): "ListObjects",
    ("HEAD", frozenset()): "HeadBucket",
    ("PUT", frozenset()): "CreateBucket",
    ("GET", frozenset({"location"})): "GetBucketLocation",
    ("GET", frozenset({"versioning"})): "GetBucketVersioning",
    ("GET", frozenset({"acl"})): "GetBucketAcl",
    ("GET", frozenset({"uploads"})): "ListMultipartUploads",
    ("POST", frozenset({"delete"})): "DeleteObjects",
    ("POST", frozenset()): "PostObject",
}


def operation(method: str, params: dict[str, str], on_bucket: bool) -> str:
    """The S3 operation a request asks for; S3Error NotImplemented for any the API does
    not implement (the request must then touch nothing)."""
    named = frozenset(params) & SUBRESOURCES
    if "versionId" in named and params["versionId"] in ("", "null") and method in ("GET", "HEAD", "DELETE"):
        named -= {"versionId"}  # the one version an unversioned bucket has
    table = BUCKET_OPERATIONS if on_bucket else OBJECT_OPERATIONS
    found = table.get((method, named))
    if found is None:
        what = f"{method} ?{'&'.join(sorted(named))}" if named else method
        raise S3Error("NotImplemented", f"{what} on {'a bucket' if on_bucket else 'an object'} is not implemented")
    return found


# Request headers that ask for what the API does not do, by the operations they change:
# refused rather than ignored (an object the client believes encrypted, locked or written
# only if absent must not be stored plainly, unlocked or over another).
_WRITES = frozenset({"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"})
_REFUSED_ON_WRITES = (
    ("x-amz-server-side-encryption", "server-side encryption"),
    ("x-amz-server-side-encryption-aws-kms-key-id", "server-side encryption"),
    ("x-amz-server-side-encryption-customer-algorithm", "server-side encryption with a customer key"),
    ("x-amz-object-lock-mode", "object lock"),
    ("x-amz-object-lock-retain-until-date", "object lock"),
    ("x-amz-object-lock-legal-hold", "object lock"),
    ("x-amz-website-redirect-location", "website redirects"),
    ("expires", "an object's Expires"),
)
# PutObject honours these (origins/bucket.py); the multipart operations do not yet.
_CONDITIONS = (("if-none-match", "If-None-Match"), ("if-match", "If-Match"))
_REFUSED_ON_DELETES = (
    ("if-match", "conditional deletes (If-Match)"),
    ("x-amz-if-match-last-modified-time", "conditional deletes"),
    ("x-amz-if-match-size", "conditional deletes"),
)
# Canned ACLs that say what the edge does anyway: on a private bucket the owner alone may
# read, on a public one (s3_public) anyone may; the owner has full control of either.
_TRUE_ACLS = {False: frozenset({"private", "bucket-owner-full-control"}),
              True: frozenset({"public-read", "bucket-owner-full-control"})}


def check_canned_acl(acl: str | None, public: bool) -> None:
    """A canned ACL (x-amz-acl, a form's acl field) must say what is true of the bucket."""
    if acl is not None and acl.strip() not in _TRUE_ACLS[public]:
        kind = "public" if public else "private"
        raise S3Error("NotImplemented", f"the canned ACL {acl!r} is not implemented (this bucket is {kind})")


def refuse_unimplemented_headers(op: str, headers: dict[str, str], public: bool = False) -> None:
    """Refuse a request whose headers ask for what the edge would not do. `public`: the
    bucket is readable by anyone (a canned ACL must say so, or say nothing)."""
    kind = "public" if public else "private"
    if op in _WRITES:
        for name, what in _REFUSED_ON_WRITES:
            if name in headers:
                raise S3Error("NotImplemented", f"{what} ({name}) is not implemented")
        for name, what in _CONDITIONS:
            if name in headers and op != "PutObject":
                raise S3Error("NotImplemented", f"conditional {op} ({what}) is not implemented")
        check_canned_acl(headers.get("x-amz-acl"), public)
        if any(name.startswith("x-amz-grant-") for name in headers):
            raise S3Error("NotImplemented", f"ACL grants are not implemented (this bucket's objects are {kind})")
    elif op == "DeleteObject":
        for name, what in _REFUSED_ON_DELETES:
            if name in headers:
                raise S3Error("NotImplemented", f"{what} ({name}) is not implemented")
    elif op == "CreateBucket":  # the bucket exists as configured: what would change it is refused
        if headers.get("x-amz-bucket-object-lock-enabled", "").strip().lower() == "true":
            raise S3Error("NotImplemented", "object lock is not implemented")
        check_canned_acl(headers.get("x-amz-acl"), public)
        if any(n.startswith("x-amz-grant-") for n in headers):
            raise S3Error("NotImplemented", f"bucket ACL grants are not implemented (this bucket is {kind})")
    elif op in ("GetObject", "HeadObject") and "x-amz-server-side-encryption-customer-algorithm" in headers:
        raise S3Error("NotImplemented", "server-side encryption with a customer key is not implemented")


def write_condition(headers: dict[str, str]) -> WriteCondition | None:
    """A PutObject's If-Match / If-None-Match, or None when it names neither."""
    if "if-match" not in headers and "if-none-match" not in headers:
        return None
    if "if-match" in headers and "if-none-match" in headers:
        raise S3Error("NotImplemented", "If-Match and If-None-Match together are not implemented")
    return WriteCondition(headers.get("if-match"), headers.get("if-none-match"))


_GRANTEE = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def acl_document(public: bool = False) -> str:
    """The ACL the edge has: the owner with full control, and on a public bucket
    (s3_public) everyone with read, as S3's public-read canned ACL."""
    grants = (f'<Grant><Grantee {_GRANTEE} xsi:type="CanonicalUser"><ID>fallthrough</ID>'
              "<DisplayName>fallthrough</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>")
    if public:
        grants += (f'<Grant><Grantee {_GRANTEE} xsi:type="Group"><URI>{ALL_USERS}</URI></Grantee>'
                   "<Permission>READ</Permission></Grant>")
    return (f'<AccessControlPolicy xmlns="{XMLNS}">{OWNER}<AccessControlList>{grants}</AccessControlList>'
            "</AccessControlPolicy>")
