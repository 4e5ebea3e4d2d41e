"""The S3 API end to end: boto3, unmodified, against `fallthrough serve` with [s3], and a
SeaweedFS bucket as the origin."""

from __future__ import annotations

import http.client
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from edge_server import EdgeServer, free_port

BODY = os.urandom(300_000)
BIG = os.urandom(3 * 1024 * 1024)


class S3Edge:
    def __init__(self, server: EdgeServer, port: int) -> None:
        self.server = server
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self, secret: str = "edgesecret", signature: str | None = None):  # noqa: ANN201 - a boto3 client
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="edgekey",
                            aws_secret_access_key=secret, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          signature_version=signature))

    def raw(self, method: str, url: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            conn.putrequest(method, target, skip_host=True)
            conn.putheader("Host", host or parts.netloc)
            conn.endheaders()
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def s3_edge(tmp_path_factory: pytest.TempPathFactory, seaweedfs) -> Iterator[S3Edge]:  # noqa: ANN001
    seaweedfs.create_bucket("s3origin")
    origin = boto3.client("s3", endpoint_url=seaweedfs.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=seaweedfs.env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=seaweedfs.env["AWS_SECRET_ACCESS_KEY"])
    origin.put_object(Bucket="s3origin", Key="site/a.txt", Body=BODY, ContentType="text/plain")
    origin.put_object(Bucket="s3origin", Key="site/big.bin", Body=BIG, ContentType="application/octet-stream")
    origin.put_object(Bucket="s3origin", Key="site/dir/ünï cødé.txt", Body=b"unicode", ContentType="text/plain")
    origin.put_object(Bucket="s3origin", Key="public/p.txt", Body=b"open to all", ContentType="text/plain")
    port = free_port()
    config = f"""
[s3]
listen = "127.0.0.1:{port}"
domain = "s3.test"
[[s3.credentials]]
access_key = "edgekey"
secret_key = "edgesecret"
[[mount]]
url_prefix = "/assets"
origin = "s3://s3origin/site"
s3_bucket = "assets"
default_ttl = "1h"
allow_http = true
[[mount]]
url_prefix = "/pub"
origin = "s3://s3origin/public"
s3_bucket = "pub"
s3_public = true
default_ttl = "1h"
allow_http = true
"""
    with EdgeServer(tmp_path_factory.mktemp("s3api"), config) as server:
        wait_port(port)
        yield S3Edge(server, port)


def test_get_object_falls_through_the_cache(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    first = s3.get_object(Bucket="assets", Key="a.txt")
    assert first["Body"].read() == BODY
    assert (first["ContentType"], first["ContentLength"]) == ("text/plain", len(BODY))
    assert first["ETag"].strip('"') and first["LastModified"]
    second = s3.get_object(Bucket="assets", Key="a.txt")
    assert second["Body"].read() == BODY
    assert second["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "HIT"
    assert second["ETag"] == first["ETag"]
    # the edge's own path serves the same cache entry
    assert s3_edge.server.get("/assets/a.txt").header("x-cache") == "HIT"


def test_head_range_and_large_objects(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    head = s3.head_object(Bucket="assets", Key="big.bin")
    assert head["ContentLength"] == len(BIG)
    part = s3.get_object(Bucket="assets", Key="big.bin", Range="bytes=1000000-2999999")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == f"bytes 1000000-2999999/{len(BIG)}"
    assert part["Body"].read() == BIG[1_000_000:3_000_000]
    assert s3.get_object(Bucket="assets", Key="big.bin")["Body"].read() == BIG
    assert s3.get_object(Bucket="assets", Key="dir/ünï cødé.txt")["Body"].read() == b"unicode"


def test_conditional_requests(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    etag = s3.head_object(Bucket="assets", Key="a.txt")["ETag"]
    assert s3.get_object(Bucket="assets", Key="a.txt", IfMatch=etag)["Body"].read() == BODY
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="assets", Key="a.txt", IfNoneMatch=etag)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="assets", Key="a.txt", IfMatch='"not-the-etag"')
    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="assets", Key="a.txt", Range="bytes=999999999-")
    assert raised.value.response["Error"]["Code"] == "InvalidRange"


def test_response_overrides(s3_edge: S3Edge) -> None:
    got = s3_edge.client().get_object(Bucket="assets", Key="a.txt", ResponseContentType="application/x-mine",
                                      ResponseContentDisposition='attachment; filename="a.txt"')
    assert got["ContentType"] == "application/x-mine"
    assert got["ContentDisposition"] == 'attachment; filename="a.txt"'
    assert got["Body"].read() == BODY


def test_missing_keys_and_buckets_get_their_codes(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="assets", Key="nope.txt")
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket="assets", Key="nope.txt")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="nobucket", Key="a.txt")
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


def test_signatures_are_checked(s3_edge: S3Edge) -> None:
    with pytest.raises(ClientError) as raised:
        s3_edge.client(secret="not-the-secret").get_object(Bucket="assets", Key="a.txt")
    assert raised.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    status, _, body = s3_edge.raw("GET", f"{s3_edge.endpoint}/assets/a.txt")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    status, _, body = s3_edge.raw("GET", f"{s3_edge.endpoint}/pub/p.txt")  # a public bucket
    assert (status, body) == (200, b"open to all")


@pytest.mark.parametrize("signature", [None, "s3v4"])  # the SDK's default presigned form, and V4's
def test_presigned_urls(s3_edge: S3Edge, signature: str | None) -> None:
    s3 = s3_edge.client(signature=signature)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "assets", "Key": "a.txt"}, ExpiresIn=60)
    status, headers, body = s3_edge.raw("GET", url)
    assert (status, body) == (200, BODY)
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "assets", "Key": "a.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    status, _, body = s3_edge.raw("GET", short)
    assert status == 403 and b"<Message>Request has expired</Message>" in body
    tampered = url.replace("a.txt", "big.bin")
    status, _, body = s3_edge.raw("GET", tampered)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body


def test_virtual_host_style(s3_edge: S3Edge) -> None:
    s3 = boto3.client("s3", endpoint_url=f"http://s3.test:{s3_edge.port}", aws_access_key_id="edgekey",
                      aws_secret_access_key="edgesecret", region_name="us-east-1",
                      config=Config(s3={"addressing_style": "virtual"}))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "assets", "Key": "a.txt"}, ExpiresIn=60)
    assert urlsplit(url).netloc == f"assets.s3.test:{s3_edge.port}"
    status, _, body = s3_edge.raw("GET", url)
    assert (status, body) == (200, BODY)


def test_list_buckets(s3_edge: S3Edge) -> None:
    names = [b["Name"] for b in s3_edge.client().list_buckets()["Buckets"]]
    assert names == ["assets", "pub"]
    status, _, body = s3_edge.raw("GET", f"{s3_edge.endpoint}/")
    assert status == 403 and b"AccessDenied" in body


def test_bad_requests_get_s3_errors(s3_edge: S3Edge) -> None:
    for path in ("/assets/..%2fsecret", "/assets/a.txt?X-Amz-Credential=x"):
        status, headers, body = s3_edge.raw("GET", f"{s3_edge.endpoint}{path}")
        assert 400 <= status < 500 and headers["content-type"] == "application/xml" and b"<Code>" in body
    status, _, body = s3_edge.raw("GET", f"{s3_edge.endpoint}/assets/a.txt",)
    assert status == 403


def test_the_edge_keeps_serving_beside_the_s3_api(s3_edge: S3Edge, tmp_path: Path) -> None:
    assert s3_edge.server.get("/pub/p.txt").body == b"open to all"


def test_a_large_error_page_from_an_http_origin_becomes_an_s3_error(tmp_path: Path) -> None:
    from origin_server import OriginServer

    port = free_port()
    with OriginServer() as origin:
        origin.put("/gone", os.urandom(3 * 1024 * 1024), status=404, headers={"Content-Type": "text/html"})
        origin.put("/here", b"here", headers={"Cache-Control": "max-age=60"})
        config = (f'[s3]\nlisten = "127.0.0.1:{port}"\n[[s3.credentials]]\naccess_key = "edgekey"\n'
                  f'secret_key = "edgesecret"\n[[mount]]\nurl_prefix = "/web"\norigin = "{origin.url}"\n'
                  's3_bucket = "web"\n')
        with EdgeServer(tmp_path, config) as server:
            wait_port(port)
            s3 = S3Edge(server, port).client()
            for _ in range(2):  # the origin's answer, then the negative-cached one
                with pytest.raises(ClientError) as raised:
                    s3.get_object(Bucket="web", Key="gone")
                assert raised.value.response["Error"]["Code"] == "NoSuchKey"
            assert s3.get_object(Bucket="web", Key="here")["Body"].read() == b"here"
            assert "Traceback" not in server.log.read_text()
