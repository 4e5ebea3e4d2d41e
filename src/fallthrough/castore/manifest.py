"""Blob manifests: the castore `StatBlobResponse` protobuf.

    message StatBlobResponse {
      message ChunkMeta { bytes digest = 1; uint64 size = 2; }
      repeated ChunkMeta chunks = 2;
      bytes bao = 3;
    }

The message classes are built at import time from a descriptor, so the wire format is
the protobuf library's own and no generated module has to be kept in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from .digest import DIGEST_SIZE, B3Digest
from .errors import ManifestCorrupt


def _build_message_class():  # noqa: ANN202 - a generated protobuf class
    proto = descriptor_pb2.FileDescriptorProto(
        name="fallthrough/castore/blobs.proto", package="snix.castore.v1", syntax="proto3"
    )
    stat = proto.message_type.add(name="StatBlobResponse")
    meta = stat.nested_type.add(name="ChunkMeta")
    f = descriptor_pb2.FieldDescriptorProto
    meta.field.add(name="digest", number=1, type=f.TYPE_BYTES, label=f.LABEL_OPTIONAL)
    meta.field.add(name="size", number=2, type=f.TYPE_UINT64, label=f.LABEL_OPTIONAL)
    stat.field.add(
        name="chunks",
        number=2,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_REPEATED,
        type_name=".snix.castore.v1.StatBlobResponse.ChunkMeta",
    )
    stat.field.add(name="bao", number=3, type=f.TYPE_BYTES, label=f.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("snix.castore.v1.StatBlobResponse"))


StatBlobResponse = _build_message_class()


@dataclass(frozen=True, slots=True)
class ChunkMeta:
    """One chunk of a blob: its digest and its uncompressed size."""

    digest: B3Digest
    size: int


def encode_manifest(chunks: list[ChunkMeta]) -> bytes:
    """Serialize a chunk list; a blob of fewer than 2 chunks gets an empty list."""
    msg = StatBlobResponse()
    if len(chunks) >= 2:
        for chunk in chunks:
            msg.chunks.add(digest=bytes(chunk.digest), size=chunk.size)
    return msg.SerializeToString()


def manifest_digest(data: bytes) -> B3Digest:
    """The name of a manifest's bytes, kept beside the blob's name by whoever stored it.

    The blob's own digest cannot be checked before the whole blob has been read, so a
    manifest that belongs to another blob would go unnoticed by a range read; this one
    can be checked against the bytes stat reads anyway, at the cost of one small hash.
    """
    return B3Digest.of(data)


def decode_manifest(data: bytes, blob: B3Digest) -> list[ChunkMeta]:
    """Parse a manifest read from a store; anything malformed names the blob."""
    msg = StatBlobResponse()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise ManifestCorrupt(f"manifest of blob {blob} is not a StatBlobResponse: {exc}") from None
    chunks = []
    for entry in msg.chunks:
        if len(entry.digest) != DIGEST_SIZE:
            raise ManifestCorrupt(f"manifest of blob {blob} lists a chunk digest of {len(entry.digest)} bytes")
        chunks.append(ChunkMeta(B3Digest(entry.digest), entry.size))
    return chunks


# What a blob of fewer than two chunks records: stores that hold no manifest at all for
# such a blob match it too.
EMPTY_MANIFEST = manifest_digest(encode_manifest([]))
