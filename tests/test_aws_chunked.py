"""aws-chunked uploads through the S3 API: checksum trailers encoded by the AWS SDK's own
encoder, and signed chunks built here from the published algorithm; a damaged or forged
chunk stores nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import os
import zlib

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from fallthrough.server.s3.chunked import AwsChunked
from fallthrough.server.s3.errors import S3Error
from fallthrough.server.s3.sigv4 import Identity

from test_s3_api import S3Edge, s3_edge  # noqa: F401 - the shared server fixture

CREDENTIALS = Credentials("edgekey", "edgesecret")
EMPTY = hashlib.sha256(b"").hexdigest()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def unsigned_trailer_put(s3_edge: S3Edge, key: str, body: bytes, damage: bool = False) -> tuple[int, bytes]:
    encoded = AwsChunkedWrapper(io.BytesIO(body), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32",
                                chunk_size=64 * 1024).read()
    if damage:  # one byte of the data changed, the trailer's checksum left as it was
        at = encoded.index(b"\r\n") + 10
        encoded = encoded[:at] + bytes([encoded[at] ^ 1]) + encoded[at + 1:]
    request = AWSRequest("PUT", f"{s3_edge.endpoint}/rwb/{key}", data=encoded, headers={
        "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(body)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
    })
    request.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32",
                                                         "name": "x-amz-checksum-crc32"}}
    S3SigV4Auth(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    status, _, reply = s3_edge.raw_request("PUT", f"/rwb/{key}", dict(request.headers.items()), encoded)
    return status, reply


def signed_chunks_put(s3_edge: S3Edge, key: str, body: bytes, forge: bool = False) -> tuple[int, bytes]:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD with a CRC32 trailer, every chunk signed."""
    size = 64 * 1024
    pieces = [body[i:i + size] for i in range(0, len(body), size)] + [b""]
    trailer = f"x-amz-checksum-crc32:{crc32_b64(body)}\n"
    encoded_length = sum(len(f"{len(p):x};chunk-signature={'0' * 64}\r\n") + len(p) + 2 for p in pieces[:-1])
    encoded_length += len(f"0;chunk-signature={'0' * 64}\r\n") + len(trailer) + 1 \
        + len(f"x-amz-trailer-signature:{'0' * 64}\r\n") + 2
    request = AWSRequest("PUT", f"{s3_edge.endpoint}/rwb/{key}", headers={
        "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(body)),
        "X-Amz-Trailer": "x-amz-checksum-crc32", "Content-Length": str(encoded_length),
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    })
    auth = S3SigV4Auth(CREDENTIALS, "s3", "us-east-1")
    auth.payload = lambda _request: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"  # what the seed signs
    auth.add_auth(request)
    authorization = request.headers["Authorization"]
    previous = authorization.rsplit("Signature=", 1)[1]
    amz_date = request.headers["X-Amz-Date"]
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/", 1)[1]
    key_bytes = ("AWS4" + "edgesecret").encode()
    for part in scope.split("/"):
        key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()

    def sign(kind: str, last: str) -> str:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-" + kind, amz_date, scope, previous, last])
        return hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()

    out = bytearray()
    for piece in pieces:
        data = piece if not (forge and piece) else piece[:-1] + bytes([piece[-1] ^ 1])
        previous = sign("PAYLOAD", f"{EMPTY}\n{hashlib.sha256(piece).hexdigest()}")
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + data + (b"\r\n" if piece else b"")
    previous = sign("TRAILER", hashlib.sha256(trailer.encode()).hexdigest())
    out += trailer.replace("\n", "\r\n").encode() + f"x-amz-trailer-signature:{previous}\r\n\r\n".encode()
    assert len(out) == encoded_length
    status, _, reply = s3_edge.raw_request("PUT", f"/rwb/{key}", dict(request.headers.items()), bytes(out))
    return status, reply


@pytest.mark.parametrize(("put", "damage", "refusal"), [
    (lambda edge, key, body, bad: unsigned_trailer_put(edge, key, body, damage=bad), "damaged", (400, b"BadDigest")),
    (lambda edge, key, body, bad: signed_chunks_put(edge, key, body, forge=bad), "forged",
     (403, b"SignatureDoesNotMatch")),
], ids=["checksum-trailer", "signed-chunks"])
def test_chunked_uploads_store_whole_bodies_and_refuse_damaged_ones(
    s3_edge: S3Edge, put, damage: str, refusal: tuple[int, bytes],  # noqa: ANN001, F811
) -> None:
    body = os.urandom(300_000)
    status, reply = put(s3_edge, f"chunked/{damage}-good.bin", body, False)
    assert status == 200, reply
    assert s3_edge.client().get_object(Bucket="rwb", Key=f"chunked/{damage}-good.bin")["Body"].read() == body
    status, reply = put(s3_edge, f"chunked/{damage}.bin", body, True)
    assert status == refusal[0] and refusal[1] in reply
    with pytest.raises(ClientError):
        s3_edge.origin.head_object(Bucket="s3origin", Key=f"rw/chunked/{damage}.bin")


async def _decode(encoded: bytes, pieces: list[int]) -> tuple[bytes, dict[str, str]]:
    async def source():  # noqa: ANN202 - the body as the server hands it over, in arbitrary pieces
        at = 0
        for size in pieces:
            yield encoded[at:at + size]
            at += size
        yield encoded[at:]

    decoder = AwsChunked(source(), Identity("edgekey", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
    out = b"".join([part async for part in decoder])
    return out, decoder.trailers


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=5000), st.integers(1, 700), st.lists(st.integers(0, 300), max_size=30))
def test_decoding_gives_back_what_the_sdk_encoded(body: bytes, chunk: int, pieces: list[int]) -> None:
    encoded = AwsChunkedWrapper(io.BytesIO(body), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32",
                                chunk_size=chunk).read()
    decoded, trailers = asyncio.run(_decode(encoded, pieces))
    assert decoded == body and trailers == {"x-amz-checksum-crc32": crc32_b64(body)}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 50), max_size=10))
def test_garbage_is_an_s3_error_never_a_crash(garbage: bytes, pieces: list[int]) -> None:
    try:
        asyncio.run(_decode(garbage, pieces))
    except S3Error as exc:
        assert exc.code == "IncompleteBody" and exc.status == 400
