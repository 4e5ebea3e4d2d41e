"""Signature V4 checks against requests signed by the AWS SDK's own signer (botocore),
for any key, query and header: what it signs we accept, and any change is refused."""

from __future__ import annotations

import time
from urllib.parse import quote, unquote, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from fallthrough.server.s3.sigv4 import UNSIGNED, AuthError, authenticate

SECRETS = {"edgekey": "edgesecret"}
CREDENTIALS = Credentials("edgekey", "edgesecret")

keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
query_values = st.dictionaries(st.text("abcdefxyz-_.~ =&/%", min_size=1, max_size=8),
                               st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
                               max_size=4)


def signed(key: str, query: dict[str, str] | None = None, method: str = "GET",
           headers: dict[str, str] | None = None, presign: int | None = None) -> tuple[str, str, str, dict[str, str]]:
    """Sign like boto3 does; return what the server sees: method, decoded path, raw query,
    lowercase headers."""
    url = "http://127.0.0.1:9000/assets/" + quote(key, safe="/~")
    if query:
        url += "?" + "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in query.items())
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    request.headers["Host"] = "127.0.0.1:9000"
    if presign is None:
        S3SigV4Auth(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    else:
        S3SigV4QueryAuth(CREDENTIALS, "s3", "us-east-1", expires=presign).add_auth(request)
    parts = urlsplit(request.url)
    return method, unquote(parts.path), parts.query, {k.lower(): v for k, v in request.headers.items()}


@settings(max_examples=150, deadline=None)
@given(keys, query_values)
def test_what_the_sdk_signs_is_accepted(key: str, query: dict[str, str]) -> None:
    method, path, raw_query, headers = signed(key, query)
    identity = authenticate(method, path, raw_query, headers, SECRETS, time.time())
    assert identity is not None and identity.access_key == "edgekey"


@settings(max_examples=100, deadline=None)
@given(keys, query_values)
def test_presigned_urls_are_accepted(key: str, query: dict[str, str]) -> None:
    method, path, raw_query, headers = signed(key, query, presign=300)
    identity = authenticate(method, path, raw_query, {"host": headers["host"]}, SECRETS, time.time())
    assert identity is not None and identity.payload_sha256 == UNSIGNED


@settings(max_examples=100, deadline=None)
@given(keys, st.sampled_from(["path", "query", "method", "header", "secret"]))
def test_any_change_breaks_the_signature(key: str, what: str) -> None:
    method, path, raw_query, headers = signed(key, {"versionId": "1"}, headers={"X-Amz-Meta-Colour": "blue"})
    secrets = dict(SECRETS)
    if what == "path":
        path += "x"
    elif what == "query":
        raw_query = "versionId=2"
    elif what == "method":
        method = "DELETE"
    elif what == "header":
        headers["x-amz-meta-colour"] = "red"
    else:
        secrets["edgekey"] = "another secret"
    with pytest.raises(AuthError) as raised:
        authenticate(method, path, raw_query, headers, secrets, time.time())
    assert raised.value.code == "SignatureDoesNotMatch"


def test_an_expired_presigned_url_is_refused() -> None:
    method, path, raw_query, headers = signed("a.txt", presign=60)
    assert authenticate(method, path, raw_query, headers, SECRETS, time.time() + 30) is not None
    with pytest.raises(AuthError) as raised:
        authenticate(method, path, raw_query, headers, SECRETS, time.time() + 61)
    assert (raised.value.code, raised.value.message) == ("AccessDenied", "Request has expired")
    # A lifetime out of range (none, negative, past a week) is denied too, as S3 denies it.
    for lifetime in (0, -7, 7 * 24 * 3600 + 1):
        method, path, raw_query, headers = signed("a.txt", presign=lifetime)
        with pytest.raises(AuthError) as raised:
            authenticate(method, path, raw_query, headers, SECRETS, time.time())
        assert raised.value.code == "AccessDenied", lifetime


def test_a_stale_or_future_signature_is_refused() -> None:
    method, path, raw_query, headers = signed("a.txt")
    for skew in (-16 * 60, 16 * 60):
        with pytest.raises(AuthError) as raised:
            authenticate(method, path, raw_query, headers, SECRETS, time.time() + skew)
        assert raised.value.code == "RequestTimeTooSkewed"


def test_unknown_keys_and_malformed_headers_get_their_codes() -> None:
    method, path, raw_query, headers = signed("a.txt")
    with pytest.raises(AuthError) as raised:
        authenticate(method, path, raw_query, headers, {"other": "x"}, time.time())
    assert raised.value.code == "InvalidAccessKeyId"
    for bad in ("AWS4-HMAC-SHA256 Credential=edgekey", "AWS4-HMAC-SHA256 garbage",
                headers["authorization"].replace("/s3/", "/ec2/")):
        with pytest.raises(AuthError) as raised:
            authenticate(method, path, raw_query, {**headers, "authorization": bad}, SECRETS, time.time())
        assert raised.value.code == "AuthorizationHeaderMalformed"
    with pytest.raises(AuthError) as raised:
        authenticate(method, path, raw_query, {**headers, "authorization": "AWS edgekey:abc"}, SECRETS, time.time())
    assert raised.value.code == "AccessDenied"


def test_no_signature_is_anonymous() -> None:
    assert authenticate("GET", "/assets/a.txt", "", {"host": "h"}, SECRETS, time.time()) is None


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["authorization", "x-amz-date", "x-amz-content-sha256", "host"]),
                       st.text(max_size=80)),
       st.text(max_size=120))
def test_garbage_is_refused_with_a_code_never_a_crash(headers: dict[str, str], query: str) -> None:
    try:
        authenticate("GET", "/b/k", query, headers, SECRETS, time.time())
    except AuthError as exc:
        assert exc.code and exc.message
