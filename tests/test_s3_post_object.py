"""Browser uploads (PostObject) through the edge's S3 API: a form whose policy boto3
signed stores its file in the origin bucket; a form the policy does not allow, a wrong
signature, an expired policy or a file outside the allowed size stores nothing."""

from __future__ import annotations

import base64
import hashlib
import os
from xml.etree import ElementTree

import pytest

from test_s3_api import S3Edge, s3_edge  # noqa: F401 - the module's edge, shared


def form_body(fields: dict[str, str], file: bytes, filename: str = "photo.jpg",
              file_type: str = "image/jpeg") -> tuple[bytes, str]:
    boundary = "----fallthrough" + os.urandom(8).hex()
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: {file_type}\r\n\r\n".encode() + file + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post(s3_edge: S3Edge, bucket: str, fields: dict[str, str], file: bytes) -> tuple[int, dict[str, str], bytes]:  # noqa: F811
    body, content_type = form_body(fields, file)
    return s3_edge.raw_request("POST", f"/{bucket}", {"Content-Type": content_type,
                                                      "Content-Length": str(len(body))}, body)


def presigned(s3_edge: S3Edge, key: str, v4: bool = True, **kwargs: object) -> dict[str, str]:  # noqa: F811
    """A form's fields as boto3 signs them: Signature V4, or the SDK's default older form."""
    client = s3_edge.client(signature="s3v4" if v4 else None)
    return client.generate_presigned_post("rwb", key, **kwargs)["fields"]  # type: ignore[arg-type]


def in_origin(s3_edge: S3Edge, key: str) -> bytes | None:  # noqa: F811
    try:
        return s3_edge.origin.get_object(Bucket="s3origin", Key=f"rw/{key}")["Body"].read()
    except s3_edge.origin.exceptions.NoSuchKey:
        return None


@pytest.mark.parametrize("v4", [True, False], ids=["sigv4", "sdk-default"])
def test_a_signed_form_uploads_its_file(s3_edge: S3Edge, v4: bool) -> None:  # noqa: F811
    photo = os.urandom(200_000)
    folder = f"forms/{'v4' if v4 else 'v2'}"
    fields = presigned(s3_edge, folder + "/${filename}", v4,
                       Conditions=[["starts-with", "$key", folder + "/"], ["content-length-range", 1, 1_000_000]])
    status, headers, _ = post(s3_edge, "rwb", fields, photo)
    assert status == 204 and headers["etag"] == f'"{hashlib.md5(photo).hexdigest()}"'
    assert in_origin(s3_edge, f"{folder}/photo.jpg") == photo
    got = s3_edge.client().get_object(Bucket="rwb", Key=f"{folder}/photo.jpg")
    assert got["Body"].read() == photo and got["ContentType"] == "image/jpeg"


def test_success_action_status_201_answers_a_post_response(s3_edge: S3Edge) -> None:  # noqa: F811
    fields = presigned(s3_edge, "forms/made.txt", Fields={"success_action_status": "201",
                                                          "Content-Type": "text/plain"},
                       Conditions=[{"success_action_status": "201"}, {"Content-Type": "text/plain"}])
    status, _, body = post(s3_edge, "rwb", fields, b"made by a form")
    assert status == 201
    answer = ElementTree.fromstring(body)
    assert answer.findtext("Key") == "forms/made.txt" and answer.findtext("Bucket") == "rwb"
    assert s3_edge.client().get_object(Bucket="rwb", Key="forms/made.txt")["ContentType"] == "text/plain"


def test_a_forms_tagging_field_tags_the_object(s3_edge: S3Edge) -> None:  # noqa: F811
    tagging = "<Tagging><TagSet><Tag><Key>from</Key><Value>form</Value></Tag></TagSet></Tagging>"
    fields = presigned(s3_edge, "forms/tagged.txt", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}])
    status, _, _ = post(s3_edge, "rwb", fields, b"tagged by a form")
    assert status == 204
    held = s3_edge.origin.get_object_tagging(Bucket="s3origin", Key="rw/forms/tagged.txt")["TagSet"]
    assert held == [{"Key": "from", "Value": "form"}]


def test_a_forms_digests_are_checked_before_anything_is_stored(s3_edge: S3Edge) -> None:  # noqa: F811
    file = b"checked by its digest" * 100
    good = base64.b64encode(hashlib.sha256(file).digest()).decode()
    bad = base64.b64encode(hashlib.sha256(b"another file").digest()).decode()
    for digest, status in ((bad, 400), ("not base64!", 400), (good, 204)):
        fields = presigned(s3_edge, "forms/digest.bin")
        fields["x-amz-checksum-sha256"] = digest  # a digest needs no condition of the policy
        got, _, body = post(s3_edge, "rwb", fields, file)
        assert got == status, body
        stored = in_origin(s3_edge, "forms/digest.bin")
        assert stored == (file if status == 204 else None)


@pytest.mark.parametrize("spoil, code", [
    ("key", "AccessDenied"),            # outside what the policy allows
    ("signature", "SignatureDoesNotMatch"),
    ("extra", "AccessDenied"),          # a field the policy does not name
    ("expired", "AccessDenied"),
    ("too-big", "EntityTooLarge"),
    ("no-policy", "AccessDenied"),
    ("no-signature", "InvalidArgument"),
])
def test_a_form_the_policy_does_not_allow_stores_nothing(s3_edge: S3Edge, spoil: str, code: str) -> None:  # noqa: F811
    key = f"forms/{spoil}-{os.urandom(3).hex()}.bin"
    fields = presigned(s3_edge, key, Conditions=[["starts-with", "$key", "forms/"], ["content-length-range", 1, 100]],
                       ExpiresIn=-60 if spoil == "expired" else 3600)
    if spoil == "key":
        fields["key"] = key = "elsewhere/" + key
    elif spoil == "signature":
        fields["x-amz-signature"] = "0" * 64
    elif spoil == "extra":
        fields["x-amz-meta-sneaky"] = "1"
    elif spoil == "no-policy":
        del fields["policy"]
    elif spoil == "no-signature":
        del fields["x-amz-signature"]
    status, _, body = post(s3_edge, "rwb", fields, b"x" * (500 if spoil == "too-big" else 50))
    assert status in (400, 403) and f"<Code>{code}</Code>".encode() in body, body
    assert in_origin(s3_edge, key) is None


def test_a_form_to_a_read_only_bucket_is_refused(s3_edge: S3Edge) -> None:  # noqa: F811
    fields = s3_edge.client(signature="s3v4").generate_presigned_post("assets", "a.txt")["fields"]
    status, _, body = post(s3_edge, "assets", fields, b"overwrite?")
    assert status == 403 and b"AccessDenied" in body
    assert s3_edge.client().get_object(Bucket="assets", Key="a.txt")["Body"].read() != b"overwrite?"
