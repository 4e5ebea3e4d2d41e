"""BLAKE3 digests: the names of blobs and chunks, and where they live in a store."""

from __future__ import annotations

import blake3

from .errors import BadDigest

DIGEST_SIZE = 32


class B3Digest(bytes):
    """32 raw bytes of BLAKE3, printed as 64 lower-case hex characters.

    A bytes subclass so that a digest can key dicts and be written to protobuf as is,
    while `str()` gives the form users type and see.
    """

    __slots__ = ()

    def __new__(cls, raw: bytes) -> B3Digest:
        if len(raw) != DIGEST_SIZE:
            raise BadDigest(f"a digest is {DIGEST_SIZE} bytes, got {len(raw)}")
        return super().__new__(cls, raw)

    @classmethod
    def from_hex(cls, text: str) -> B3Digest:
        """Parse a digest a user typed; the error says what is wrong with it."""
        cleaned = text.strip().lower()
        if cleaned.startswith("b3:"):
            cleaned = cleaned[3:]
        if len(cleaned) != 2 * DIGEST_SIZE:
            raise BadDigest(f"bad digest {text!r}: expected 64 hex characters, got {len(cleaned)}")
        try:
            return cls(bytes.fromhex(cleaned))
        except ValueError:
            raise BadDigest(f"bad digest {text!r}: not hexadecimal") from None

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> B3Digest:
        return cls(blake3.blake3(data).digest())

    def __str__(self) -> str:
        return self.hex()

    def __repr__(self) -> str:
        return f"B3Digest({self.hex()})"


def _sharded(kind: str, digest: B3Digest) -> str:
    text = digest.hex()
    return f"{kind}/b3/{text[:4]}/{text}"


def chunk_path(digest: B3Digest) -> str:
    """`chunks/b3/<first 2 bytes as 4 hex>/<64 hex>`: the castore object-store layout."""
    return _sharded("chunks", digest)


def blob_path(digest: B3Digest) -> str:
    """`blobs/b3/<4 hex>/<64 hex>`: where a blob's StatBlobResponse lives."""
    return _sharded("blobs", digest)


def digest_from_path(path: str) -> B3Digest | None:
    """The digest a store path names, or None for a path that is not ours."""
    name = path.rsplit("/", 1)[-1]
    try:
        return B3Digest.from_hex(name)
    except BadDigest:
        return None
