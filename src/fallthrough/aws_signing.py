"""AWS Signature Version 4's arithmetic: canonical requests, signing keys, signatures.

Shared by the S3 API, which checks the signatures its clients send, and the bucket
origin, which signs the few requests its object-store client has no call for (an
object's tags). Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import parse_qsl, quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def uri_encode(text: str, keep_slash: bool) -> str:
    """RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_query(query: str | list[tuple[str, str]], drop: str | None = None) -> str:
    """`query`: the raw query string, or its pairs already parsed."""
    parsed = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else query
    pairs = [(uri_encode(k, False), uri_encode(v, False)) for k, v in parsed if k != drop]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_headers(headers: Mapping[str, str], signed: list[str]) -> str:
    """The signed headers' lines; KeyError names one the request lacks."""
    return "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)


def canonical_request(method: str, path: str, query: str | list[tuple[str, str]], headers: Mapping[str, str],
                      signed: list[str], payload: str, drop_query: str | None = None) -> str:
    return "\n".join([
        method, uri_encode(path, True), canonical_query(query, drop_query),
        canonical_headers(headers, signed), ";".join(signed), payload,
    ])


@lru_cache(maxsize=256)
def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The same for every request of a key on one day: derived once."""
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(secret: str, amz_date: str, scope: str, request: str) -> str:
    day, region, service, _ = scope.split("/")
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    return hmac.new(signing_key(secret, day, region, service), to_sign.encode(), hashlib.sha256).hexdigest()


def signed_headers(method: str, host: str, path: str, query: str, body: bytes, access_key: str, secret: str,
                   region: str, session_token: str | None = None, now: float | None = None,
                   extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers that sign a request to S3 at `host` (its Authorization among them),
    the `extra` ones (lowercase names) signed with them. `path` is the decoded path; it
    is encoded here as S3 expects."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    headers = {**(extra or {}), "host": host, "x-amz-date": amz_date,
               "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    request = canonical_request(method, path, query, headers, names, headers["x-amz-content-sha256"])
    headers["authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
                                f"Signature={signature(secret, amz_date, scope, request)}")
    del headers["host"]  # the HTTP client sends it from the URL
    return headers
