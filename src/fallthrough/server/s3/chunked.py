"""Request bodies in the aws-chunked encoding, decoded as they stream.

    <hex size>[;chunk-signature=<64 hex>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=...]\\r\\n
    [<trailer>:<value>\\r\\n ...][x-amz-trailer-signature:<64 hex>\\r\\n]\\r\\n

SDKs send uploads this way when they sign each chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
the request's signature seeding a chain of chunk signatures) or when they put a checksum
after the body (…-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER). Every chunk signature and
the trailer's are checked, and a checksum in the trailer is checked against the bytes,
before the body's end is reported, so a forged or damaged chunk stores nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

from ...aws_signing import EMPTY_SHA256
from .errors import S3Error
from .sigv4 import Identity

MAX_LINE = 4096
SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING = (*SIGNED, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")


def _broken(message: str) -> S3Error:
    return S3Error("IncompleteBody", f"the aws-chunked body is malformed: {message}")


class AwsChunked:
    """The decoded bytes of an aws-chunked body; `trailers` are filled in at its end."""

    def __init__(self, source: AsyncIterator[bytes], identity: Identity) -> None:
        self._source = source.__aiter__()
        self._buffer = bytearray()
        self._signed = identity.payload_sha256 in SIGNED
        if self._signed and identity.seed is None:
            raise S3Error("AccessDenied", "signed chunks need a request signed in the Authorization header")
        self._seed = identity.seed
        self._previous = identity.seed.signature if identity.seed is not None else ""
        self.trailers: dict[str, str] = {}

    async def _fill(self) -> bool:
        try:
            self._buffer += await self._source.__anext__()
        except StopAsyncIteration:
            return False
        return True

    async def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_LINE:
                raise _broken("a chunk header or trailer line is too long")
            if not await self._fill():
                raise _broken("it ends in the middle of a line")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._fill():
                raise _broken("it ends inside a chunk")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _check(self, kind: str, given: str, digest_of: Callable[[], str]) -> None:
        if not self._signed:
            return
        seed: Any = self._seed
        to_sign = "\n".join([kind, seed.amz_date, seed.scope, self._previous, *digest_of().split("\n")])
        expected = hmac.new(seed.key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given.lower()):
            raise S3Error("SignatureDoesNotMatch", "a chunk signature does not match")
        self._previous = expected

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            header = await self._line()
            size_text, _, extension = header.partition(b";")
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _broken(f"bad chunk size {size_text[:20]!r}") from None
            given = extension.partition(b"chunk-signature=")[2].decode("ascii", "replace")
            if self._signed and not given:
                raise S3Error("SignatureDoesNotMatch", "a chunk carries no chunk-signature")
            data = await self._exactly(size) if size else b""
            self._check("AWS4-HMAC-SHA256-PAYLOAD", given,
                        lambda: f"{EMPTY_SHA256}\n{hashlib.sha256(data).hexdigest()}")
            if size == 0:
                break
            if await self._exactly(2) != b"\r\n":
                raise _broken("a chunk is longer than its size")
            yield data
        await self._read_trailers()

    async def _read_trailers(self) -> None:
        lines = []
        signature = ""
        while line := await self._line():
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise _broken("a trailer line without ':'")
            if name.strip().lower() == "x-amz-trailer-signature":
                signature = value.strip()
            else:
                self.trailers[name.strip().lower()] = value.strip()
                lines.append(f"{name.strip().lower()}:{value.strip()}\n")
        if self._signed and self.trailers:
            if not signature:
                raise S3Error("SignatureDoesNotMatch", "the trailer carries no x-amz-trailer-signature")
            self._check("AWS4-HMAC-SHA256-TRAILER", signature, lambda: hashlib.sha256("".join(lines).encode()).hexdigest())
        while not self._buffer and await self._fill():  # the server may hand over empty pieces
            pass
        if self._buffer:
            raise _broken("bytes after the final chunk")
