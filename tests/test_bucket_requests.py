"""The bucket origin's own signed requests (tags, attributes, listings): the address it
sends them to, the signature it makes, and the documents it writes and reads."""

from __future__ import annotations

import datetime
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.aws_signing import signed_headers
from fallthrough.origins.bucket_requests import bucket_address, parse_listing, parse_tag_set, tagging_document

# What XML 1.0 can carry: no control characters but tab, newline and carriage return, no
# surrogates; and XML turns a carriage return into a newline, so none of those either.
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@given(st.lists(st.tuples(XML_TEXT.filter(bool), XML_TEXT), max_size=12))
def test_a_tag_set_reads_back_as_it_was_written(tags: list[tuple[str, str]]) -> None:
    assert parse_tag_set(tagging_document(tags)) == tags


@given(st.lists(st.tuples(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30),
                          st.integers(0, 10**12)), max_size=8),
       st.sampled_from([quote, quote_plus]), st.booleans())
def test_a_listing_page_reads_back_its_keys_however_the_bucket_encoded_them(
        objects: list[tuple[str, int]], encode, truncated: bool) -> None:  # noqa: ANN001 - quote or quote_plus
    """Keys are url-encoded in the page (any character, a control one too), as AWS (%20)
    or as some S3 servers (+ for a space) write them."""
    items = "".join(f"<Contents><Key>{escape(encode(key, safe='/'))}</Key><LastModified>2026-12-06T21:19:01.000Z"
                    f'</LastModified><ETag>"abc"</ETag><Size>{size}</Size></Contents>' for key, size in objects)
    token = "<NextContinuationToken>next</NextContinuationToken>" if truncated else ""
    document = (f'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><EncodingType>url</EncodingType>'
                f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{token}{items}</ListBucketResult>")
    listed, next_token = parse_listing(document.encode())
    assert [(o.key, o.size, o.etag) for o in listed] == [(key, size, '"abc"') for key, size in objects]
    assert next_token == ("next" if truncated else None)


def test_the_address_is_the_mounts_options_else_the_standard_variables() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:8333/", "AWS_ACCESS_KEY_ID": "envkey",
           "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_REGION": "eu-west-1"}
    from_env = bucket_address("s3://photos/site/v1", {}, env)
    assert from_env.url_and_path("a b/c.jpg") == ("http://127.0.0.1:8333/photos/site/v1/a%20b/c.jpg",
                                                  "127.0.0.1:8333", "/photos/site/v1/a b/c.jpg")
    assert (from_env.access_key, from_env.secret_key, from_env.region) == ("envkey", "envsecret", "eu-west-1")
    own = bucket_address("s3://photos", {"endpoint": "https://s3.example.com", "access_key_id": "mine",
                                         "secret_access_key": "s", "virtual_hosted_style_request": "true"}, env)
    assert own.url_and_path("k") == ("https://photos.s3.example.com/k", "photos.s3.example.com", "/k")
    assert own.access_key == "mine" and own.region == "eu-west-1"
    aws = bucket_address("s3://photos", {}, {})
    assert aws.url_and_path("k")[0] == "https://s3.us-east-1.amazonaws.com/photos/k" and aws.access_key is None


def test_the_signature_is_the_one_an_sdk_makes_for_the_same_request(monkeypatch: pytest.MonkeyPatch) -> None:
    when = datetime.datetime(2026, 12, 6, 12, 30, 5, tzinfo=datetime.timezone.utc)
    body = b"<Tagging><TagSet/></Tagging>"
    ours = signed_headers("PUT", "127.0.0.1:8333", "/photos/a b/c.jpg", "tagging=", body, "key", "secret",
                          "us-east-1", session_token="token", now=when.timestamp())
    request = AWSRequest("PUT", "http://127.0.0.1:8333/photos/a%20b/c.jpg?tagging=", data=body)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when.replace(tzinfo=None))
    request.headers["X-Amz-Content-SHA256"] = ours["x-amz-content-sha256"]
    S3SigV4Auth(Credentials("key", "secret", "token"), "s3", "us-east-1").add_auth(request)
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    sdk_signature = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    assert ours["authorization"].rsplit("Signature=", 1)[1] == sdk_signature
