"""S3's error replies: an XML document with a code, and the status that goes with it.

S3 clients decide what to do from the code (retry, raise NoSuchKey, re-sign), so every
refusal the S3 API makes, and every error the edge would have answered in plain text,
goes out in this form.
"""

from __future__ import annotations

import secrets
from xml.sax.saxutils import escape

STATUS = {
    "AccessDenied": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "InvalidURI": 400,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NotImplemented": 501,
    "PreconditionFailed": 412,
    "RequestTimeTooSkewed": 403,
    "SignatureDoesNotMatch": 403,
    "InternalError": 500,
    "BadGateway": 502,
    "ServiceUnavailable": 503,
    "GatewayTimeout": 504,
    "KeyTooLongError": 400,
    "NoSuchUpload": 404,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "BadDigest": 400,
    "XAmzContentSHA256Mismatch": 400,
    "IncompleteBody": 400,
    "InvalidDigest": 400,
    "MissingContentLength": 411,
    "EntityTooLarge": 400,
    "BucketAlreadyOwnedByYou": 409,
    "MalformedPOSTRequest": 400,
    "MaxPostPreDataLengthExceeded": 400,
    "InvalidPolicyDocument": 400,
    "EntityTooSmall": 400,
    "InvalidTag": 400,
    "MaxMessageLengthExceeded": 400,
}

# The code for an error the edge answered by status alone.
CODE_OF_STATUS = {
    400: "InvalidRequest", 403: "AccessDenied", 404: "NoSuchKey", 405: "MethodNotAllowed", 412: "PreconditionFailed",
    414: "KeyTooLongError", 416: "InvalidRange", 431: "InvalidRequest", 501: "NotImplemented", 502: "BadGateway",
    503: "ServiceUnavailable", 504: "GatewayTimeout",
}


class S3Error(Exception):
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS.get(code, 400)


def request_id() -> str:
    return secrets.token_hex(8).upper()


def error_document(code: str, message: str, resource: str, rid: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{rid}</RequestId></Error>"
    ).encode()


def send_error(proto, method: str, error: S3Error, resource: str) -> None:  # noqa: ANN001
    rid = request_id()
    headers = [("content-type", "application/xml"), ("x-amz-request-id", rid), ("cache-control", "no-store")]
    if method == "HEAD":  # a HEAD's error has no body: the client reads the status alone
        proto.response_empty(error.status, headers)
    else:
        proto.response_bytes(error.status, headers, error_document(error.code, error.message, resource, rid))
