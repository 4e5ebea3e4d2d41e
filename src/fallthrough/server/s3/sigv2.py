"""The older presigned URL form (AWSAccessKeyId, Expires, Signature: HMAC-SHA1), which
the AWS SDK for Python still makes by default with generate_presigned_url. Only this
query form is taken; signed requests must use Signature V4."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from ...aws_signing import UNSIGNED, uri_encode
from .sigv4 import AuthError, Identity

# Query parameters that are part of the signed resource (the rest are not signed).
SUBRESOURCES = frozenset({
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
    "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore", "tagging", "torrent",
    "uploadId", "uploads", "versionId", "versioning", "versions", "website",
})


def string_to_sign(method: str, resource: str, query: str, headers: Mapping[str, str], expires: str) -> str:
    """`resource`: /BUCKET/KEY, decoded."""
    params = sorted((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k in SUBRESOURCES)
    sub = "&".join(f"{k}={v}" if v else k for k, v in params)
    amz = "".join(f"{k}:{headers[k].strip()}\n" for k in sorted(headers) if k.startswith("x-amz-"))
    canonical = uri_encode(resource, True) + (f"?{sub}" if sub else "")
    return "\n".join([method, headers.get("content-md5", ""), headers.get("content-type", ""), expires]) \
        + "\n" + amz + canonical


def authenticate_query(method: str, resource: str, query: str, headers: Mapping[str, str],
                       secrets: Mapping[str, str], now: float) -> Identity:
    params = dict(parse_qsl(query, keep_blank_values=True))
    access_key, given, expires = params.get("AWSAccessKeyId", ""), params.get("Signature", ""), params.get("Expires", "")
    if not expires.isdigit():
        raise AuthError("AccessDenied", "Expires must be a time in seconds since the epoch")
    if now > int(expires):
        raise AuthError("AccessDenied", "Request has expired")
    secret = secrets.get(access_key)
    if secret is None:
        raise AuthError("InvalidAccessKeyId", "the access key is not one this server knows")
    digest = hmac.new(secret.encode(), string_to_sign(method, resource, query, headers, expires).encode(),
                      hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), given):
        raise AuthError("SignatureDoesNotMatch",
                        "the request signature does not match the one computed with the key given")
    return Identity(access_key, UNSIGNED)
