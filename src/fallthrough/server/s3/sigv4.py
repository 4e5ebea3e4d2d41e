"""AWS Signature Version 4, checked: the Authorization header and presigned query strings.

Pure functions of the request and the clock, no I/O, so the rules can be tested alone.
The HTTP server hands over the path percent-decoded; S3 clients encode every byte but
the unreserved ones and '/', so encoding the decoded path the same way gives back the
path they signed.

Errors carry the S3 error code the client expects (AccessDenied, SignatureDoesNotMatch,
InvalidAccessKeyId, AuthorizationHeaderMalformed, RequestTimeTooSkewed).
"""

from __future__ import annotations

import calendar
import hmac
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from ...aws_signing import ALGORITHM, UNSIGNED, canonical_request, signature, signing_key

MAX_SKEW = 15 * 60  # seconds between the client's clock and ours
MAX_EXPIRES = 7 * 24 * 3600  # the longest a presigned URL may live

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-fA-F]{64})\s*"
)
_AMZ_DATE = re.compile(r"(\d{8})T(\d{6})Z")


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Seed:
    """What signed chunks of an aws-chunked body chain from: the request's signature."""

    key: bytes
    amz_date: str
    scope: str
    signature: str


@dataclass(frozen=True, slots=True)
class Identity:
    access_key: str
    payload_sha256: str  # what the signature covers of the body: a hex digest, or UNSIGNED-PAYLOAD, ...
    seed: Seed | None = None


def _canonical_request(method: str, path: str, query: str | list[tuple[str, str]], headers: Mapping[str, str],
                       signed: list[str], payload: str, drop_query: str | None = None) -> str:
    missing = next((name for name in signed if name not in headers), None)
    if missing is not None:
        raise AuthError("AccessDenied", f"the signed header {missing!r} is missing from the request")
    return canonical_request(method, path, query, headers, signed, payload, drop_query)


def _parse_amz_date(value: str | None) -> float:
    match = _AMZ_DATE.fullmatch(value or "")
    if match is None:
        raise AuthError("AccessDenied", "X-Amz-Date is missing or not of the form YYYYMMDDTHHMMSSZ")
    day, clock = match.groups()
    fields = (int(day[:4]), int(day[4:6]), int(day[6:]), int(clock[:2]), int(clock[2:4]), int(clock[4:]))
    year, month, mday, hour, minute, second = fields
    if not (1 <= month <= 12 and 1 <= mday <= calendar.monthrange(year or 1, month)[1] and hour < 24
            and minute < 60 and second < 61):
        raise AuthError("AccessDenied", f"X-Amz-Date {value!r} is not a valid time")
    return float(calendar.timegm((*fields, 0, 0, 0)))


def _credential(credential: str, amz_date: str) -> tuple[str, str]:
    """The access key and the scope (day/region/service/aws4_request)."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise AuthError("AuthorizationHeaderMalformed",
                        "the Credential must be ACCESS_KEY/YYYYMMDD/REGION/s3/aws4_request")
    if parts[1] != amz_date[:8]:
        raise AuthError("AuthorizationHeaderMalformed", "the Credential's date is not the day of X-Amz-Date")
    if parts[3] != "s3":
        raise AuthError("AuthorizationHeaderMalformed", f"the Credential names the service {parts[3]!r}, not 's3'")
    return parts[0], "/".join(parts[1:])


def _signed_headers(value: str) -> list[str]:
    names = value.split(";")
    if not names or any(not n or n != n.lower() for n in names) or "host" not in names:
        raise AuthError("AuthorizationHeaderMalformed", "SignedHeaders must be lowercase names including host")
    return names


def _secret(secrets: Mapping[str, str], access_key: str) -> str:
    secret = secrets.get(access_key)
    if secret is None:
        raise AuthError("InvalidAccessKeyId", "the access key is not one this server knows")
    return secret


def _check(expected: str, given: str) -> None:
    if not hmac.compare_digest(expected, given.lower()):
        raise AuthError("SignatureDoesNotMatch",
                        "the request signature does not match the one computed with the key given")


def authenticate(method: str, path: str, query: str, headers: Mapping[str, str],
                 secrets: Mapping[str, str], now: float) -> Identity | None:
    """Who signed this request, or None when it carries no signature (anonymous).

    `headers`: lowercase names. Raises AuthError for a signature that is malformed,
    wrong, expired or from a clock too far from ours."""
    authorization = headers.get("authorization")
    if authorization is None and "X-Amz-" not in query and "AWSAccessKeyId" not in query:
        return None
    if authorization is None:
        known = _PRESIGNED.lookup(method, path, query, headers, secrets, now)
        if known is not None:
            return known
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    if authorization is None and "X-Amz-Signature" not in params:
        if "X-Amz-Credential" in params or "AWSAccessKeyId" in params:
            raise AuthError("AccessDenied", "a presigned URL without its signature")
        return None
    if authorization is not None:
        return _from_header(method, path, pairs, headers, authorization, secrets, now)
    return _PRESIGNED.check(method, path, query, pairs, headers, params, secrets, now)


def _from_header(method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str], authorization: str,
                 secrets: Mapping[str, str], now: float) -> Identity:
    if not authorization.startswith(ALGORITHM):
        raise AuthError("AccessDenied", f"only {ALGORITHM} signatures are accepted")
    match = _AUTH.fullmatch(authorization)
    if match is None:
        raise AuthError("AuthorizationHeaderMalformed",
                        "expected 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'")
    credential, signed_value, given = match.groups()
    amz_date = headers.get("x-amz-date", "")
    when = _parse_amz_date(amz_date)
    if abs(now - when) > MAX_SKEW:
        raise AuthError("RequestTimeTooSkewed", "the difference between the request time and ours is too large")
    access_key, scope = _credential(credential, amz_date)
    secret = _secret(secrets, access_key)
    signed = _signed_headers(signed_value)
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        raise AuthError("AccessDenied", "x-amz-content-sha256 is required with a signed request")
    request = _canonical_request(method, path, query, headers, signed, payload)
    _check(signature(secret, amz_date, scope, request), given)
    day, region, service, _ = scope.split("/")
    return Identity(access_key, payload, Seed(signing_key(secret, day, region, service), amz_date, scope,
                                              given.lower()))


def _from_query(method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str], params: Mapping[str, str],
                secrets: Mapping[str, str], now: float) -> Identity:
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise AuthError("AuthorizationQueryParametersError", f"X-Amz-Algorithm must be {ALGORITHM}")
    amz_date = params.get("X-Amz-Date", "")
    when = _parse_amz_date(amz_date)
    expires_text = params.get("X-Amz-Expires", "")
    if not expires_text.lstrip("-").isdigit():
        raise AuthError("AuthorizationQueryParametersError", "X-Amz-Expires must be a number of seconds")
    if not 1 <= int(expires_text) <= MAX_EXPIRES:  # refused as S3 refuses it: access denied, not a bad request
        raise AuthError("AccessDenied", f"X-Amz-Expires must be from 1 to {MAX_EXPIRES} seconds")
    if now > when + int(expires_text):
        raise AuthError("AccessDenied", "Request has expired")
    if when > now + MAX_SKEW:
        raise AuthError("AccessDenied", "the presigned URL is dated in the future")
    access_key, scope = _credential(params.get("X-Amz-Credential", ""), amz_date)
    secret = _secret(secrets, access_key)
    signed = _signed_headers(params.get("X-Amz-SignedHeaders", ""))
    given = params.get("X-Amz-Signature", "")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", given):
        raise AuthError("AuthorizationQueryParametersError", "X-Amz-Signature must be 64 hex digits")
    # A presigned URL covers no body unless the client signed a digest of one.
    payload = headers.get("x-amz-content-sha256", UNSIGNED) if "x-amz-content-sha256" in signed else UNSIGNED
    request = _canonical_request(method, path, query, headers, signed, payload, drop_query="X-Amz-Signature")
    _check(signature(secret, amz_date, scope, request), given)
    return Identity(access_key, payload)


class _VerifiedURLs:
    """Presigned URLs already verified, so the same URL fetched again (a link many clients
    follow) costs a dict lookup: the signature of a given request never changes, only
    whether it has expired, which is checked each time. Keyed by everything signed."""

    SIZE = 4096

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, ...], tuple[Identity, float, str]] = OrderedDict()

    @staticmethod
    def _key(method: str, path: str, query: str, headers: Mapping[str, str]) -> tuple[str, ...]:
        at = query.find("X-Amz-SignedHeaders=")
        if at < 0:
            names: list[str] = []
        else:
            at += len("X-Amz-SignedHeaders=")
            end = query.find("&", at)
            names = unquote(query[at:] if end < 0 else query[at:end]).split(";")
        return (method, path, query, *(headers.get(name, "") for name in names))

    def lookup(self, method: str, path: str, query: str, headers: Mapping[str, str],
               secrets: Mapping[str, str], now: float) -> Identity | None:
        key = self._key(method, path, query, headers)
        seen = self._seen.get(key)
        if seen is None:
            return None
        identity, expires, secret = seen
        if now > expires or secrets.get(identity.access_key) != secret:
            return None  # verified afresh, to give the right error
        self._seen.move_to_end(key)
        return identity

    def check(self, method: str, path: str, query: str, pairs: list[tuple[str, str]], headers: Mapping[str, str],
              params: Mapping[str, str], secrets: Mapping[str, str], now: float) -> Identity:
        identity = _from_query(method, path, pairs, headers, params, secrets, now)
        expires = _parse_amz_date(params.get("X-Amz-Date")) + int(params["X-Amz-Expires"])
        self._seen[self._key(method, path, query, headers)] = (identity, expires, secrets[identity.access_key])
        if len(self._seen) > self.SIZE:
            self._seen.popitem(last=False)
        return identity

_PRESIGNED = _VerifiedURLs()
