"""The S3 API end to end: boto3, unmodified, against `fallthrough serve` with [s3], and a
SeaweedFS bucket as the origin."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from edge_server import EdgeServer, free_port

BODY = os.urandom(300_000)
BIG = os.urandom(3 * 1024 * 1024)


class S3Edge:
    def __init__(self, server: EdgeServer, port: int) -> None:
        self.server = server
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.origin = None  # a boto3 client of the origin bucket itself

    def client(self, secret: str = "edgesecret", signature: str | None = None):  # noqa: ANN201 - a boto3 client
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="edgekey",
                            aws_secret_access_key=secret, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          signature_version=signature))

    def raw_request(self, method: str, target: str, headers: dict[str, str],
                    body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

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
    seaweedfs.create_bucket("s3mirror")
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
url_prefix = "/rw"
origin = "s3://s3origin/rw"
s3_bucket = "rwb"
writable = true
default_ttl = "1h"
allow_http = true
[[mount]]
url_prefix = "/both"
origin = "s3://s3origin/both"
s3_bucket = "both"
writable = true
mirror_to = "s3://s3mirror/both"
mirror_writes = true
allow_http = true
[[mount]]
url_prefix = "/mirrored"
origin = "s3://s3origin/site"
mirror_to = "s3://s3mirror/copy"
default_ttl = "1h"
allow_http = true
[[mount]]
url_prefix = "/unmirrored"
origin = "s3://s3origin/site"
mirror_to = "s3://no-such-mirror-bucket/copy"
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
        edge = S3Edge(server, port)
        edge.origin = origin
        yield edge


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
    assert names == ["assets", "both", "pub", "rwb"]
    status, _, body = s3_edge.raw("GET", f"{s3_edge.endpoint}/")
    assert status == 403 and b"AccessDenied" in body


def test_list_buckets_in_pages_and_by_prefix(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    pages = list(s3.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 3}))
    assert [[b["Name"] for b in page["Buckets"]] for page in pages] == [["assets", "both", "pub"], ["rwb"]]
    assert "ContinuationToken" in pages[0] and "ContinuationToken" not in pages[1]
    assert [b["Name"] for b in s3.list_buckets(Prefix="p")["Buckets"]] == ["pub"]
    assert s3.list_buckets(MaxBuckets=4)["Buckets"][0]["BucketRegion"] == "us-east-1"
    for bad in ("0", "10001", "x"):
        request = AWSRequest("GET", f"{s3_edge.endpoint}/?max-buckets={bad}")
        S3SigV4Auth(Credentials("edgekey", "edgesecret"), "s3", "us-east-1").add_auth(request)
        status, _, body = s3_edge.raw_request("GET", f"/?max-buckets={bad}", dict(request.headers.items()), b"")
        assert status == 400 and b"InvalidArgument" in body, bad


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


@pytest.fixture(scope="module")
def listed(seaweedfs, s3_edge: S3Edge) -> list[str]:  # noqa: ANN001
    """A tree of keys in the origin bucket, under the "assets" mount's prefix."""
    origin = boto3.client("s3", endpoint_url=seaweedfs.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=seaweedfs.env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=seaweedfs.env["AWS_SECRET_ACCESS_KEY"])
    keys = [f"tree/{d}/{i:03d}.txt" for d in ("a", "b", "c") for i in range(25)]
    keys += ["tree/top.txt", "tree/z é.txt", "tree/b-sibling.txt"]
    for key in keys:
        origin.put_object(Bucket="s3origin", Key="site/" + key, Body=key.encode())
    # The origin's own order, which is what a listing through the edge must give: SeaweedFS
    # lists folder by folder ("tree/b/000.txt" before "tree/b-sibling.txt").
    pages = origin.get_paginator("list_objects_v2").paginate(Bucket="s3origin", Prefix="site/tree/")
    in_order = [item["Key"].removeprefix("site/") for page in pages for item in page["Contents"]]
    assert sorted(in_order) == sorted(keys)
    return in_order


def _all_pages(s3, **kwargs: object) -> tuple[list[str], list[str], int]:  # noqa: ANN001
    keys, prefixes, pages = [], [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="assets", **kwargs):
        pages += 1
        keys += [item["Key"] for item in page.get("Contents", [])]
        prefixes += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
    return keys, prefixes, pages


def test_list_objects_with_pagination(s3_edge: S3Edge, listed: list[str]) -> None:
    s3 = s3_edge.client()
    keys, prefixes, pages = _all_pages(s3, Prefix="tree/", PaginationConfig={"PageSize": 10})
    assert keys == listed and prefixes == [] and pages == 8
    first = s3.list_objects_v2(Bucket="assets", Prefix="tree/a/", MaxKeys=5)
    assert first["IsTruncated"] and first["KeyCount"] == 5
    assert [o["Size"] for o in first["Contents"]] == [len(k) for k in listed[:5]]
    assert all(o["ETag"] and o["LastModified"] for o in first["Contents"])
    after = s3.list_objects_v2(Bucket="assets", Prefix="tree/", StartAfter="tree/c/020.txt")
    assert [o["Key"] for o in after["Contents"]] == listed[listed.index("tree/c/020.txt") + 1:]


def test_list_objects_with_a_delimiter(s3_edge: S3Edge, listed: list[str]) -> None:
    s3 = s3_edge.client()
    keys, prefixes, _ = _all_pages(s3, Prefix="tree/", Delimiter="/", PaginationConfig={"PageSize": 2})
    assert sorted(prefixes) == ["tree/a/", "tree/b/", "tree/c/"] and len(prefixes) == 3
    assert sorted(keys) == ["tree/b-sibling.txt", "tree/top.txt", "tree/z é.txt"] and len(keys) == 3
    root = s3.list_objects_v2(Bucket="assets", Delimiter="/")
    assert [p["Prefix"] for p in root["CommonPrefixes"]] == ["dir/", "tree/"]
    assert [o["Key"] for o in root["Contents"]] == ["a.txt", "big.bin"]
    partial = s3.list_objects_v2(Bucket="assets", Prefix="tree/b", Delimiter="/")
    assert [p["Prefix"] for p in partial["CommonPrefixes"]] == ["tree/b/"]
    assert [o["Key"] for o in partial["Contents"]] == ["tree/b-sibling.txt"]
    old = s3.list_objects(Bucket="assets", Prefix="tree/", Delimiter="/", MaxKeys=2)
    assert old["IsTruncated"] and [p["Prefix"] for p in old["CommonPrefixes"]] == ["tree/a/", "tree/b/"]
    rest = s3.list_objects(Bucket="assets", Prefix="tree/", Delimiter="/", Marker=old["NextMarker"])
    assert sorted(p["Prefix"] for p in rest["CommonPrefixes"]) == ["tree/c/"]
    assert sorted(o["Key"] for o in rest["Contents"]) == ["tree/b-sibling.txt", "tree/top.txt", "tree/z é.txt"]


def test_bad_listing_parameters(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    with pytest.raises(ClientError) as raised:
        s3.list_objects_v2(Bucket="assets", ContinuationToken="%%%not-a-token")
    assert raised.value.response["Error"]["Code"] == "InvalidArgument"
    status, _, body = s3_edge.raw("GET", f"{s3_edge.endpoint}/pub?list-type=2&max-keys=-3")
    assert status == 400 and b"InvalidArgument" in body


def test_a_directory_origin_lists_in_key_order_and_an_http_origin_cannot(tmp_path: Path) -> None:
    from origin_server import OriginServer

    site = tmp_path / "site"
    for name in ("b/2.txt", "b/1.txt", "b-c.txt", "a.txt", "deep/er/x.txt"):
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(name)
    (site / "outside").symlink_to("/etc/hostname")  # links are not listed
    port = free_port()
    with OriginServer() as origin:
        config = (f'[s3]\nlisten = "127.0.0.1:{port}"\n[[s3.credentials]]\naccess_key = "edgekey"\n'
                  f'secret_key = "edgesecret"\n[[mount]]\nurl_prefix = "/files"\norigin = "file://{site}"\n'
                  f's3_bucket = "files"\n[[mount]]\nurl_prefix = "/web"\norigin = "{origin.url}"\n'
                  's3_bucket = "web"\n')
        (tmp_path / "edge").mkdir()
        with EdgeServer(tmp_path / "edge", config) as server:
            wait_port(port)
            s3 = S3Edge(server, port).client()
            flat = s3.list_objects_v2(Bucket="files")
            assert [o["Key"] for o in flat["Contents"]] == ["a.txt", "b-c.txt", "b/1.txt", "b/2.txt", "deep/er/x.txt"]
            assert [o["Size"] for o in flat["Contents"]] == [5, 7, 7, 7, 13]
            level = s3.list_objects_v2(Bucket="files", Delimiter="/", Prefix="b")
            assert [o["Key"] for o in level["Contents"]] == ["b-c.txt"]
            assert [p["Prefix"] for p in level["CommonPrefixes"]] == ["b/"]
            assert s3.get_object(Bucket="files", Key="b/1.txt")["Body"].read() == b"b/1.txt"
            with pytest.raises(ClientError) as raised:
                s3.list_objects_v2(Bucket="web")
            assert raised.value.response["Error"]["Code"] == "NotImplemented"


def test_put_then_get_and_overwrite(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    put = s3.put_object(Bucket="rwb", Key="notes/one.txt", Body=b"first", ContentType="text/x-notes",
                        Metadata={"colour": "blue"}, CacheControl="max-age=60")
    assert put["ETag"]
    got = s3.get_object(Bucket="rwb", Key="notes/one.txt")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"first", "text/x-notes", {"colour": "blue"})
    direct = s3_edge.origin.get_object(Bucket="s3origin", Key="rw/notes/one.txt")
    assert (direct["Body"].read(), direct["Metadata"]) == (b"first", {"colour": "blue"})
    assert s3.get_object(Bucket="rwb", Key="notes/one.txt")["ResponseMetadata"]["HTTPHeaders"]["x-cache"] == "HIT"
    s3.put_object(Bucket="rwb", Key="notes/one.txt", Body=b"second")
    assert s3.get_object(Bucket="rwb", Key="notes/one.txt")["Body"].read() == b"second"  # the cache was purged
    assert s3_edge.server.get("/rw/notes/one.txt").body == b"second"


def test_delete(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    s3.put_object(Bucket="rwb", Key="gone.txt", Body=b"soon gone")
    assert s3.get_object(Bucket="rwb", Key="gone.txt")["Body"].read() == b"soon gone"
    assert s3.delete_object(Bucket="rwb", Key="gone.txt")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="rwb", Key="gone.txt")
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError):
        s3_edge.origin.head_object(Bucket="s3origin", Key="rw/gone.txt")


def test_multipart_upload(s3_edge: S3Edge, tmp_path: Path) -> None:
    from boto3.s3.transfer import TransferConfig

    s3 = s3_edge.client()
    body = os.urandom(13 * 1024 * 1024)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(__import__("io").BytesIO(body), "rwb", "big/multi.bin", Config=config,
                      ExtraArgs={"ContentType": "video/mp4"})
    got = s3.get_object(Bucket="rwb", Key="big/multi.bin")
    assert got["ContentType"] == "video/mp4" and got["Body"].read() == body
    uploads = s3_edge.server.workdir / "store" / "uploads"  # no parts left; a completion's answer is kept
    assert not uploads.exists() or all(p.name.startswith("done-") for p in uploads.iterdir())
    started = s3.create_multipart_upload(Bucket="rwb", Key="big/abandoned.bin")
    s3.upload_part(Bucket="rwb", Key="big/abandoned.bin", UploadId=started["UploadId"], PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="rwb", Key="big/abandoned.bin", UploadId=started["UploadId"])
    with pytest.raises(ClientError) as raised:
        s3.upload_part(Bucket="rwb", Key="big/abandoned.bin", UploadId=started["UploadId"], PartNumber=2, Body=b"y")
    assert raised.value.response["Error"]["Code"] == "NoSuchUpload"


def test_bad_multipart_completions(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    upload = s3.create_multipart_upload(Bucket="rwb", Key="bad.bin")["UploadId"]
    etag = s3.upload_part(Bucket="rwb", Key="bad.bin", UploadId=upload, PartNumber=1, Body=b"part one")["ETag"]
    for parts, code in (([{"PartNumber": 2, "ETag": etag}], "InvalidPart"),
                        ([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}], "InvalidPart")):
        with pytest.raises(ClientError) as raised:
            s3.complete_multipart_upload(Bucket="rwb", Key="bad.bin", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
        assert raised.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError):
        s3_edge.origin.head_object(Bucket="s3origin", Key="rw/bad.bin")
    done = s3.complete_multipart_upload(Bucket="rwb", Key="bad.bin", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done["ETag"] and s3.get_object(Bucket="rwb", Key="bad.bin")["Body"].read() == b"part one"


def test_damaged_uploads_store_nothing(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    wrong_md5 = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket="rwb", Key="damaged.txt", Body=b"the real body", ContentMD5=wrong_md5)
    assert raised.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3_edge.origin.head_object(Bucket="s3origin", Key="rw/damaged.txt")
    # signed for one body, sent with another of the same length
    request = AWSRequest("PUT", f"{s3_edge.endpoint}/rwb/swapped.txt", data=b"signed body")
    S3SigV4Auth(Credentials("edgekey", "edgesecret"), "s3", "us-east-1").add_auth(request)
    status, _, reply = s3_edge.raw_request("PUT", "/rwb/swapped.txt", dict(request.headers.items()), b"other body!")
    assert status == 400 and b"XAmzContentSHA256Mismatch" in reply
    with pytest.raises(ClientError):
        s3_edge.origin.head_object(Bucket="s3origin", Key="rw/swapped.txt")


def test_writes_need_a_writable_mount_and_a_signature(s3_edge: S3Edge) -> None:
    with pytest.raises(ClientError) as raised:
        s3_edge.client().put_object(Bucket="assets", Key="a.txt", Body=b"overwrite?")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert s3_edge.client().get_object(Bucket="assets", Key="a.txt")["Body"].read() == BODY
    status, _, body = s3_edge.raw("DELETE", f"{s3_edge.endpoint}/pub/p.txt")
    assert status == 403 and b"AccessDenied" in body


def test_lazy_mirroring_copies_exactly_what_was_read(s3_edge: S3Edge) -> None:
    s3_edge.origin.put_object(Bucket="s3origin", Key="site/meta.txt", Body=b"with metadata",
                              ContentType="text/x-meta", Metadata={"owner": "edge"})
    parts = [os.urandom(6 << 20), os.urandom(1 << 20)]  # not the 5 MiB parts a streamed copy makes by default
    upload = s3_edge.origin.create_multipart_upload(Bucket="s3origin", Key="site/parts.bin")["UploadId"]
    sent = [{"PartNumber": n, "ETag": s3_edge.origin.upload_part(Bucket="s3origin", Key="site/parts.bin",
                                                                 UploadId=upload, PartNumber=n, Body=part)["ETag"]}
            for n, part in enumerate(parts, 1)]
    s3_edge.origin.complete_multipart_upload(Bucket="s3origin", Key="site/parts.bin", UploadId=upload,
                                             MultipartUpload={"Parts": sent})
    read = {"a.txt": BODY, "dir/ünï cødé.txt": b"unicode", "meta.txt": b"with metadata",
            "parts.bin": b"".join(parts)}
    for key in read:
        assert s3_edge.server.get("/mirrored/" + quote(key)).status == 200
    assert s3_edge.server.get("/mirrored/missing.txt").status == 404  # a 404 is not mirrored
    deadline = time.monotonic() + 20
    while True:
        listing = s3_edge.origin.list_objects_v2(Bucket="s3mirror", Prefix="copy/")
        keys = sorted(item["Key"].removeprefix("copy/") for item in listing.get("Contents", []))
        if len(keys) >= len(read) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert keys == sorted(read)  # what was read, and nothing else (big.bin was never asked for)
    for key, body in read.items():
        copy = s3_edge.origin.get_object(Bucket="s3mirror", Key="copy/" + key)
        assert copy["Body"].read() == body
        # Written as the origin's was (one PUT, or parts of its size): the mirror's ETag is the origin's.
        assert copy["ETag"] == s3_edge.origin.head_object(Bucket="s3origin", Key="site/" + key)["ETag"]
    meta = s3_edge.origin.head_object(Bucket="s3mirror", Key="copy/meta.txt")
    assert (meta["ContentType"], meta["Metadata"]) == ("text/x-meta", {"owner": "edge"})
    assert s3_edge.origin.head_object(Bucket="s3mirror", Key="copy/a.txt")["ContentType"] == "text/plain"


def test_a_mirror_that_fails_costs_the_client_nothing_and_is_logged(s3_edge: S3Edge) -> None:
    assert s3_edge.server.get("/unmirrored/a.txt").status == 200
    deadline = time.monotonic() + 20
    while "mirroring /unmirrored/a.txt" not in s3_edge.server.log.read_text():
        assert time.monotonic() < deadline, "the failed copy was never reported"
        time.sleep(0.1)
    log = s3_edge.server.log.read_text()
    line = next(x for x in log.splitlines() if "mirroring /unmirrored/a.txt" in x)
    assert "failed" in line and "Traceback" not in log
    assert s3_edge.server.get("/unmirrored/a.txt").status == 200


def test_write_through_reaches_both_buckets(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    s3.put_object(Bucket="both", Key="w.txt", Body=b"twice", ContentType="text/x-twice", Metadata={"k": "v"})
    for bucket, key in (("s3origin", "both/w.txt"), ("s3mirror", "both/w.txt")):
        got = s3_edge.origin.get_object(Bucket=bucket, Key=key)
        assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"twice", "text/x-twice", {"k": "v"})
        assert got["ETag"] == f'"{hashlib.md5(b"twice").hexdigest()}"'
    s3.delete_object(Bucket="both", Key="w.txt")
    for bucket in ("s3origin", "s3mirror"):
        with pytest.raises(ClientError):
            s3_edge.origin.head_object(Bucket=bucket, Key="both/w.txt")


def test_delete_objects_and_malformed_documents(s3_edge: S3Edge) -> None:
    s3 = s3_edge.client()
    for i in range(3):
        s3.put_object(Bucket="rwb", Key=f"batch/{i}.txt", Body=b"x")
    done = s3.delete_objects(Bucket="rwb", Delete={"Objects": [{"Key": f"batch/{i}.txt"} for i in range(3)]})
    assert sorted(d["Key"] for d in done["Deleted"]) == [f"batch/{i}.txt" for i in range(3)]
    assert "Contents" not in s3.list_objects_v2(Bucket="rwb", Prefix="batch/")
    upload = s3.create_multipart_upload(Bucket="rwb", Key="m.bin")["UploadId"]
    for document in (b"<CompleteMultipartUpload><Part>", b"<Other/>", b"not xml at all"):
        request = AWSRequest("POST", f"{s3_edge.endpoint}/rwb/m.bin?uploadId={upload}", data=document)
        S3SigV4Auth(Credentials("edgekey", "edgesecret"), "s3", "us-east-1").add_auth(request)
        status, _, body = s3_edge.raw_request("POST", f"/rwb/m.bin?uploadId={upload}", dict(request.headers.items()),
                                              document)
        assert status == 400 and b"<Code>MalformedXML</Code>" in body
    with pytest.raises(ClientError):
        s3_edge.origin.head_object(Bucket="s3origin", Key="rw/m.bin")
