"""CopyObject and UploadPartCopy through the edge's S3 API (boto3 on real SeaweedFS
buckets): within a bucket by the origin itself, across buckets streamed through the edge,
metadata kept or replaced, conditions honoured, the target's cache entry purged."""

from __future__ import annotations

import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from edge_server import EdgeServer, free_port
from test_s3_api import BIG, BODY, S3Edge, s3_edge, wait_port  # noqa: F401 - the module's edge, shared


def code_of(call, *args, **kwargs) -> str:  # noqa: ANN001
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return raised.value.response["Error"]["Code"]


def fresh(prefix: str) -> str:
    return f"{prefix}/{os.urandom(4).hex()}"


def test_a_copy_within_a_bucket_keeps_the_bytes_and_the_metadata(s3_edge: S3Edge) -> None:  # noqa: F811
    s3 = s3_edge.client()
    source, target = fresh("copy"), fresh("copy")
    s3.put_object(Bucket="rwb", Key=source, Body=b"copied bytes", ContentType="text/x-copy", Metadata={"a": "1"})
    answer = s3.copy_object(Bucket="rwb", Key=target, CopySource={"Bucket": "rwb", "Key": source})
    got = s3.get_object(Bucket="rwb", Key=target)
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"copied bytes", "text/x-copy", {"a": "1"})
    assert answer["CopyObjectResult"]["ETag"] == s3.head_object(Bucket="rwb", Key=target)["ETag"]
    held = s3_edge.origin.get_object(Bucket="s3origin", Key=f"rw/{target}")
    assert held["Body"].read() == b"copied bytes" and held["Metadata"] == {"a": "1"}


def test_replace_gives_the_copy_the_request_s_metadata(s3_edge: S3Edge) -> None:  # noqa: F811
    s3 = s3_edge.client()
    key = fresh("replace")
    s3.put_object(Bucket="rwb", Key=key, Body=b"same bytes", ContentType="text/plain", Metadata={"old": "1"})
    assert code_of(s3.copy_object, Bucket="rwb", Key=key, CopySource=f"rwb/{key}") == "InvalidRequest"  # to itself
    s3.copy_object(Bucket="rwb", Key=key, CopySource=f"rwb/{key}", MetadataDirective="REPLACE",
                   ContentType="text/x-new", Metadata={"new": "2"})
    got = s3.get_object(Bucket="rwb", Key=key)
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"same bytes", "text/x-new", {"new": "2"})


def test_a_copy_from_another_bucket_streams_through_the_edge_and_purges_the_target(s3_edge: S3Edge) -> None:  # noqa: F811
    s3 = s3_edge.client()
    target = fresh("across")
    s3.put_object(Bucket="rwb", Key=target, Body=b"before")
    assert s3.get_object(Bucket="rwb", Key=target)["Body"].read() == b"before"  # cached now
    s3.copy_object(Bucket="rwb", Key=target, CopySource={"Bucket": "assets", "Key": "big.bin"})
    assert s3.get_object(Bucket="rwb", Key=target)["Body"].read() == BIG
    assert s3_edge.origin.get_object(Bucket="s3origin", Key=f"rw/{target}")["Body"].read() == BIG


def test_copy_conditions_and_missing_sources(s3_edge: S3Edge) -> None:  # noqa: F811
    s3 = s3_edge.client()
    etag = s3.head_object(Bucket="assets", Key="a.txt")["ETag"]
    target = fresh("cond")
    source = {"Bucket": "assets", "Key": "a.txt"}
    assert code_of(s3.copy_object, Bucket="rwb", Key=target, CopySource=source,
                   CopySourceIfMatch='"0123"') == "PreconditionFailed"
    assert code_of(s3.copy_object, Bucket="rwb", Key=target, CopySource=source,
                   CopySourceIfNoneMatch=etag) == "PreconditionFailed"
    assert code_of(s3_edge.origin.head_object, Bucket="s3origin", Key=f"rw/{target}") == "404"  # nothing written
    s3.copy_object(Bucket="rwb", Key=target, CopySource=source, CopySourceIfMatch=etag)
    assert s3.get_object(Bucket="rwb", Key=target)["Body"].read() == BODY
    assert code_of(s3.copy_object, Bucket="rwb", Key=fresh("cond"),
                   CopySource={"Bucket": "assets", "Key": "no-such.txt"}) == "NoSuchKey"
    assert code_of(s3.copy_object, Bucket="rwb", Key=fresh("cond"),
                   CopySource={"Bucket": "no-such-bucket", "Key": "a.txt"}) == "NoSuchBucket"
    assert code_of(s3.copy_object, Bucket="assets", Key="copy.txt", CopySource=source) == "AccessDenied"  # read-only


def test_upload_part_copy_with_ranges(s3_edge: S3Edge) -> None:  # noqa: F811
    s3 = s3_edge.client()
    source, key = fresh("partsource"), fresh("partcopy")
    whole = os.urandom(6 * 1024 * 1024 + 4096)  # every part but the last holds 5 MiB at least, as in S3
    s3.put_object(Bucket="rwb", Key=source, Body=whole)
    upload = s3.create_multipart_upload(Bucket="rwb", Key=key)["UploadId"]
    cut = 5 * 1024 * 1024
    parts = []
    for number, span in ((1, f"bytes=0-{cut - 1}"), (2, f"bytes={cut}-{len(whole) - 1}")):
        copied = s3.upload_part_copy(Bucket="rwb", Key=key, UploadId=upload, PartNumber=number,
                                     CopySource={"Bucket": "rwb", "Key": source}, CopySourceRange=span)
        parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
    for bad, code in (("bytes=9-1", "InvalidArgument"), (f"bytes=0-{len(whole)}", "InvalidRange")):  # past its end
        assert code_of(s3.upload_part_copy, Bucket="rwb", Key=key, UploadId=upload, PartNumber=3,
                       CopySource={"Bucket": "rwb", "Key": source}, CopySourceRange=bad) == code, bad
    s3.complete_multipart_upload(Bucket="rwb", Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket="rwb", Key=key)["Body"].read() == whole


def test_a_part_but_the_last_under_5_mib_is_too_small(s3_edge: S3Edge) -> None:  # noqa: F811
    s3 = s3_edge.client()
    key = fresh("small-parts")
    upload = s3.create_multipart_upload(Bucket="rwb", Key=key)["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="rwb", Key=key, UploadId=upload, PartNumber=n,
                                                      Body=b"p" * 10240)["ETag"]} for n in (1, 2)]
    assert code_of(s3.complete_multipart_upload, Bucket="rwb", Key=key, UploadId=upload,
                   MultipartUpload={"Parts": parts}) == "EntityTooSmall"
    assert code_of(s3_edge.origin.head_object, Bucket="s3origin", Key=f"rw/{key}") == "404"


def test_a_put_of_a_known_length_is_one_put_whose_etag_is_the_md5(s3_edge: S3Edge) -> None:  # noqa: F811
    s3 = s3_edge.client()
    for body in (b"", b"small", os.urandom(6 * 1024 * 1024)):  # past obstore's 5 MiB part size too
        key = fresh("single")
        md5 = f'"{hashlib.md5(body).hexdigest()}"'
        assert s3.put_object(Bucket="rwb", Key=key, Body=body)["ETag"] == md5
        assert s3_edge.origin.head_object(Bucket="s3origin", Key=f"rw/{key}")["ETag"] == md5
        assert s3.get_object(Bucket="rwb", Key=key)["Body"].read() == body
    copied = fresh("single")
    answer = s3.copy_object(Bucket="rwb", Key=copied, CopySource={"Bucket": "assets", "Key": "big.bin"})
    assert answer["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(BIG).hexdigest()}"'  # the source's, as S3 keeps it
    uploads = s3_edge.server.workdir / "store" / "uploads"
    assert not any(p.name.startswith("whole-") for p in uploads.iterdir())  # no spool left behind


def test_a_write_past_single_put_max_goes_as_a_multipart_upload(tmp_path, seaweedfs) -> None:  # noqa: ANN001
    port = free_port()
    config = f"""
[s3]
listen = "127.0.0.1:{port}"
single_put_max = "1MiB"
[[s3.credentials]]
access_key = "edgekey"
secret_key = "edgesecret"
[[mount]]
url_prefix = "/rw"
origin = "s3://s3origin/small-puts"
s3_bucket = "rwb"
writable = true
allow_http = true
"""
    seaweedfs.create_bucket("s3origin")
    with EdgeServer(tmp_path, config) as server:
        wait_port(port)
        s3 = S3Edge(server, port).client()
        at_most, past = os.urandom(1024 * 1024), os.urandom(1024 * 1024 + 1)
        assert s3.put_object(Bucket="rwb", Key="at.bin", Body=at_most)["ETag"] == f'"{hashlib.md5(at_most).hexdigest()}"'
        assert "-" in s3.put_object(Bucket="rwb", Key="past.bin", Body=past)["ETag"]  # a multipart upload's
        assert s3.get_object(Bucket="rwb", Key="past.bin")["Body"].read() == past
