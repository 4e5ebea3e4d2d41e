"""Content-addressed chunk store: FastCDC chunks, BLAKE3 names, zstd frames, tiers.

Knows nothing of HTTP. Layout compatible with castore object stores:
`chunks/b3/<4 hex>/<64 hex>` (zstd frames) and `blobs/b3/<4 hex>/<64 hex>`
(StatBlobResponse manifests).
"""

from .blobstore import BlobStore
from .digest import B3Digest, blob_path, chunk_path
from .errors import (
    BadDigest,
    BadStoreURL,
    BlobMismatch,
    BlobNotFound,
    CastoreError,
    ChunkCorrupt,
    ChunkNotFound,
    ManifestCorrupt,
    StoreUnavailable,
)
from .manifest import EMPTY_MANIFEST, ChunkMeta, manifest_digest
from .open import TierSpec, open_store, open_tier, tier_scheme
from .reader import BlobInfo, BlobReader
from .stack import TierStack
from .writer import BlobWriter

__all__ = [
    "B3Digest",
    "BadDigest",
    "BadStoreURL",
    "BlobInfo",
    "BlobMismatch",
    "BlobNotFound",
    "BlobReader",
    "BlobStore",
    "BlobWriter",
    "CastoreError",
    "ChunkCorrupt",
    "ChunkMeta",
    "ChunkNotFound",
    "EMPTY_MANIFEST",
    "ManifestCorrupt",
    "StoreUnavailable",
    "TierSpec",
    "TierStack",
    "blob_path",
    "chunk_path",
    "manifest_digest",
    "open_store",
    "open_tier",
    "tier_scheme",
]
