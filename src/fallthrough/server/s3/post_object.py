"""Browser uploads: PostObject, an HTML form posted to a bucket (multipart/form-data).

The form carries its own authority: a base64 policy document (an expiry and the
conditions every field must meet) signed with Signature V4. Its fields come before the
file; once the file's part begins, the signature, the expiry and every condition but the
length are checked, and only then is the file read, into a spool file (at most
`s3.single_put_max` bytes). Its length is checked against content-length-range at the
end, and nothing reaches the origin before every check has passed.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from ...aws_signing import ALGORITHM, signing_key
from .errors import S3Error

MAX_FIELDS = 64 * 1024  # bytes of form fields other than the file (S3: 20 KB of policy and fields)
# Fields the policy need not name (S3's rule), besides those starting x-ignore-.
# Fields a policy need not name: the signature's own, and the digests of the file (checked).
UNCONDITIONED = frozenset({"x-amz-signature", "file", "policy", "awsaccesskeyid", "signature", "content-md5",
                           "x-amz-checksum-crc32", "x-amz-checksum-sha1", "x-amz-checksum-sha256"})


@dataclass
class Form:
    """The form as it is read: its fields (lowercase names), then its file."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    file_type: str | None = None
    size: int = 0


class FormReader:
    """Feeds a multipart/form-data body to the parser; the fields are kept (bounded), the
    file's bytes go to `sink` once `ready(form)` has approved the fields."""

    def __init__(self, content_type: str, ready, sink) -> None:  # noqa: ANN001
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise S3Error("InvalidRequest", "a POST to a bucket is a form: multipart/form-data with a boundary")
        self.form = Form()
        self._ready, self._sink = ready, sink
        self._header = b""
        self._headers: dict[str, str] = {}
        self._value = bytearray()
        self._name: str | None = None
        self._in_file = False
        self._fields_bytes = 0
        self.ended = False  # the closing boundary was read
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin, "on_part_data": self._part_data, "on_part_end": self._part_end,
            "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_finished,
            "on_end": self._end,
        })

    def feed(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except S3Error:
            raise
        except Exception as exc:  # noqa: BLE001 - the parser's own errors: the client's form is broken
            raise S3Error("MalformedPOSTRequest", f"The body of your POST request is not well-formed "
                                                  f"multipart/form-data ({exc})") from None

    def _part_begin(self) -> None:
        self._headers, self._value, self._name = {}, bytearray(), None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        name = self._header.decode("latin-1").lower()
        self._headers[name] = self._headers.get(name, "") + data[start:end].decode("utf-8", "replace")

    def _header_end(self) -> None:
        self._header = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        name = options.get(b"name")
        if name is None:
            raise S3Error("MalformedPOSTRequest", "a form field without a name")
        self._name = name.decode("utf-8", "replace").lower()
        if self._name == "file":
            self.form.filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self.form.file_type = self._headers.get("content-type")
            self._in_file = True
            self._ready(self.form)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.form.size += end - start
            self._sink(data[start:end])
            return
        self._fields_bytes += end - start
        if self._fields_bytes > MAX_FIELDS:
            raise S3Error("MaxPostPreDataLengthExceeded", "Your POST request fields preceding the upload file "
                                                          "were too large.")
        self._value += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
        elif self._name is not None:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")

    def _end(self) -> None:
        self.ended = True


def check_form(form: Form, bucket: str, secrets: Mapping[str, str], region: str, now: float) -> dict[str, Any]:
    """The signature, expiry and conditions of a form's policy, all but the file's length
    (the policy, parsed, is returned for that). S3's codes: AccessDenied for a policy
    that does not allow the form, InvalidArgument / InvalidPolicyDocument for a broken one."""
    fields = form.fields
    if "key" not in fields:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.")
    fields["key"] = fields["key"].replace("${filename}", form.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    if "policy" not in fields:
        raise S3Error("AccessDenied", "this bucket takes signed forms only: a policy and its signature")
    _check_signature(fields, secrets, region)
    policy = _policy(fields["policy"])
    if _when(policy["expiration"]) < now:
        raise S3Error("AccessDenied", "Invalid according to Policy: Policy expired.")
    named = {"bucket"}
    values = {**fields, "bucket": bucket}
    for condition in policy["conditions"]:
        named.add(_meet(condition, values))
    missing = [name for name in fields if name not in named and name not in UNCONDITIONED
               and not name.startswith("x-ignore-")]
    if missing:
        raise S3Error("AccessDenied", f"Invalid according to Policy: Extra input fields: {missing[0]}")
    return policy


def _check_signature(fields: Mapping[str, str], secrets: Mapping[str, str], region: str) -> None:
    """The policy's signature: Signature V4 (x-amz-algorithm, x-amz-credential,
    x-amz-signature), or the older form (AWSAccessKeyId, signature: HMAC-SHA1 in base64)
    that the AWS SDK for Python makes by default."""
    policy = fields["policy"].encode()
    if "x-amz-algorithm" not in fields and "awsaccesskeyid" in fields:
        if "signature" not in fields:
            raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'Signature'.")
        secret = _secret_of(secrets, fields["awsaccesskeyid"])
        expected = base64.b64encode(hmac.new(secret.encode(), policy, "sha1").digest()).decode()
        given = fields["signature"]
    else:
        if fields.get("x-amz-algorithm") != ALGORITHM:
            raise S3Error("InvalidArgument", f"x-amz-algorithm must be {ALGORITHM}")
        credential = fields.get("x-amz-credential", "").split("/")
        if len(credential) != 5 or credential[3] != "s3" or credential[4] != "aws4_request":
            raise S3Error("InvalidArgument", "x-amz-credential must be ACCESS_KEY/YYYYMMDD/REGION/s3/aws4_request")
        access_key, day, scope_region = credential[0], credential[1], credential[2]
        if scope_region != region:
            raise S3Error("AuthorizationHeaderMalformed", f"the credential's region {scope_region!r} is not {region!r}")
        if "x-amz-signature" not in fields:
            raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'X-Amz-Signature'.")
        key = signing_key(_secret_of(secrets, access_key), day, scope_region, "s3")
        expected, given = hmac.new(key, policy, "sha256").hexdigest(), fields.get("x-amz-signature", "").lower()
    if not hmac.compare_digest(expected, given):
        raise S3Error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                                               "you provided.")


def _secret_of(secrets: Mapping[str, str], access_key: str) -> str:
    secret = secrets.get(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    return secret


def length_range(policy: dict[str, Any]) -> tuple[int, int] | None:
    for condition in policy["conditions"]:
        if isinstance(condition, list) and condition and str(condition[0]).lower() == "content-length-range":
            return int(condition[1]), int(condition[2])
    return None


def _policy(encoded: str) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: the policy is not base64 JSON") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("expiration"), str) \
            or not isinstance(policy.get("conditions"), list):
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: it needs an expiration and a list of conditions")
    return policy


def _when(value: str) -> float:
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z", value)
    if match is None:
        raise S3Error("InvalidPolicyDocument", f"Invalid Policy: expiration {value!r} is not an ISO 8601 UTC time")
    return float(calendar.timegm(tuple(int(g) for g in match.groups()) + (0, 0, 0)))  # type: ignore[arg-type]


def _meet(condition: object, values: Mapping[str, str]) -> str:
    """Check one condition against the form; the field it names."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, wanted),) = condition.items()
        name = str(name).lower().removeprefix("$")
        if values.get(name) != str(wanted):
            raise S3Error("AccessDenied", f"Invalid according to Policy: Policy Condition failed: "
                                          f'["eq", "${name}", "{wanted}"]')
        return name
    if isinstance(condition, list) and len(condition) == 3:
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            return "content-length-range"
        name = str(condition[1]).lower().removeprefix("$")
        given, wanted = values.get(name, ""), str(condition[2])
        if operator == "eq" and given == wanted or operator == "starts-with" and given.startswith(wanted):
            return name
        if operator in ("eq", "starts-with"):
            raise S3Error("AccessDenied", f"Invalid according to Policy: Policy Condition failed: "
                                          f'["{operator}", "${name}", "{wanted}"]')
    raise S3Error("InvalidPolicyDocument", f"Invalid Policy: a condition S3 does not know: {condition!r}")
